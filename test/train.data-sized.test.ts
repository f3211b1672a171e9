/**
 * Issue 16 items 4-5 through the CLI: models sized from the data (`--model` omitted, `mlp`,
 * `mlp:H1-H2` hidden sizes, the full form checked), and `--test SPEC` / `--eval-on test`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sizeModelToData } from '../src/train/index.js';
import { runCli, tempDir } from './helpers.js';

let dir = '';
let train = '';
let test = '';
let wide = '';

/** n rows of 4 features and a class 0-2 that depends on them. */
function rows(n: number, offset: number, features = 4): string {
  const header = [...Array.from({ length: features }, (_, j) => `f${j}`), 'label'].join(',');
  const lines = Array.from({ length: n }, (_, k) => {
    const i = k + offset;
    const x = Array.from({ length: features }, (_, j) => (((i * (j + 3)) % 17) / 17).toFixed(3));
    return [...x, i % 3].join(',');
  });
  return [header, ...lines].join('\n') + '\n';
}

before(() => {
  dir = tempDir('dptrain-sized-');
  train = path.join(dir, 'train.csv');
  test = path.join(dir, 'test.csv');
  wide = path.join(dir, 'wide.csv');
  fs.writeFileSync(train, rows(240, 0));
  fs.writeFileSync(test, rows(60, 1000));
  fs.writeFileSync(wide, rows(60, 0, 5));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const summaryOf = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
const QUICK = ['--epochs', '1', '--engine', 'inline'];

describe('models sized from the data', () => {
  it('sizes mlp, mlp:H1-H2, logreg from the data and keeps a full form', () => {
    const data = { inputDim: 4, task: 'classification' as const, numClasses: 3, targetDim: 1 };
    for (const [given, resolved] of [
      ['mlp', 'mlp:4-128-3'],
      ['mlp:32-16', 'mlp:4-32-16-3'],
      ['mlp:8:tanh', 'mlp:4-8-3:tanh'],
      ['mlp:256', 'mlp:4-256-3'],
      ['logreg', 'logreg:4-3'],
      ['mlp:4-20-3', 'mlp:4-20-3'],
      ['mlp:784-128-3', 'mlp:784-128-3'],
      ['cnn-mnist', 'cnn-mnist'],
    ]) {
      assert.equal(sizeModelToData(given, data), resolved, given);
    }
    assert.equal(sizeModelToData('linreg', { inputDim: 13, task: 'regression', numClasses: 0, targetDim: 2 }), 'linreg:13-2');
  });

  it('dptrain train --dataset csv:FILE with no --model fits the data; --test scores a test set into summary.json', () => {
    const out = path.join(dir, 'default');
    const r = runCli(['train', '--dataset', `csv:${train}`, '--test', `csv:${test}`, '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const summary = summaryOf(out);
    assert.equal(summary.model, 'mlp:4-128-3');
    assert.equal(summary.test.spec, `csv:${test}`);
    assert.equal(summary.test.samples, 60);
    assert.ok(summary.test.loss > 0 && summary.test.accuracy >= 0 && summary.test.accuracy <= 1);
    assert.equal(summary.trainSamples, 216, '--val-split still carves validation from train');
  });

  it('refuses a full form for other data in one line (exit 2)', () => {
    const r = runCli(['train', '--dataset', `csv:${train}`, '--model', 'mlp:784-128-3', ...QUICK]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /784 inputs.*4 features.*hidden sizes only.*dptrain\.model\.inputMismatch/);
  });
});

describe('--eval-on test', () => {
  it('--model mlp:32-16 --eval-on test: hidden sizes only, test figures in every epoch record; validation unchanged', () => {
    const out = path.join(dir, 'eval-on-test');
    const r = runCli(['train', '--dataset', `csv:${train}`, '--model', 'mlp:32-16', '--test', `csv:${test}`, '--eval-on', 'test', '--epochs', '2', '--engine', 'inline', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(summaryOf(out).model, 'mlp:4-32-16-3');
    const epochs = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((rec) => rec.type === 'epoch');
    assert.equal(epochs.length, 2);
    for (const rec of epochs) {
      assert.ok(Number.isFinite(rec.testLoss) && Number.isFinite(rec.valLoss));
      assert.ok(rec.testLoss !== rec.valLoss);
    }
    // The final epoch's test figures are the end-of-run ones (same parameters).
    assert.equal(summaryOf(out).test.loss, epochs[1].testLoss);
  });

  it('refuses --eval-on test without a test set, and a test set with other features (exit 2, one line)', () => {
    const none = runCli(['train', '--dataset', `csv:${train}`, '--eval-on', 'test', ...QUICK]);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /--eval-on test needs a test set.*--test SPEC/);
    const other = runCli(['train', '--dataset', `csv:${train}`, '--test', `csv:${wide}`, ...QUICK]);
    assert.equal(other.status, 2);
    assert.equal(other.stderr.trim().split('\n').length, 1, other.stderr);
    assert.match(other.stderr, /5 features per sample, not 4.*dptrain\.data\.testSetMismatch/);
  });
});
