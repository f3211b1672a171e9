/**
 * `dptrain train --test csv:TEST` matches the test file to the training data as `dptrain evaluate`
 * does (src/inference/matching.ts): columns by name (and the label column by the training file's
 * label name), classes by name; so its score is the one evaluate reports for the final model.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { runCli, tempDir } from './helpers.js';
import { writeSeparableCsv } from './use.helpers.js';

let dir = '';
let train = '';

/** An iris-like CSV of n separable rows (test/use.helpers.ts) in this file's directory. */
const flowers = (name: string, n: number, seed: number, options: { order?: number[]; classes?: string[] } = {}) => writeSeparableCsv(dir, name, n, seed, options);

/** `dptrain train --dataset csv:TRAIN --test csv:TEST` with default flags; summary.json's test figures. */
function trainWithTest(test: string, out: string): { loss: number; accuracy: number; samples: number } {
  const r = runCli(['train', '--dataset', `csv:${train}`, '--test', `csv:${test}`, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).test;
}

/** `dptrain evaluate FINAL --dataset csv:TEST --json`. */
function evaluate(out: string, test: string): { loss: number; accuracy: number; samples: number; classes: { name: string; support: number }[] } {
  const r = runCli(['evaluate', path.join(out, 'final.safetensors'), '--dataset', `csv:${test}`, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function assertSameScore(test: { loss: number; accuracy: number; samples: number }, evaluation: { loss: number; accuracy: number; samples: number }): void {
  assert.equal(test.samples, evaluation.samples);
  assert.equal(test.accuracy, evaluation.accuracy);
  assert.ok(Math.abs(test.loss - evaluation.loss) <= 1e-5 * Math.max(evaluation.loss, 1e-3), `test loss ${test.loss} vs evaluate's ${evaluation.loss}`);
}

before(() => {
  dir = tempDir('dptrain-test-set-');
  train = flowers('train.csv', 60, 1);
});

describe('train --test csv:', () => {
  it('a test file with the same columns in another order (the label first) scores as evaluate scores it', () => {
    const test = flowers('reordered.csv', 30, 2, { order: [3, 2, 0, 1] });
    const out = path.join(dir, 'reordered');
    const score = trainWithTest(test, out);
    const evaluation = evaluate(out, test);
    assertSameScore(score, evaluation);
    assert.ok(score.accuracy >= 0.9, `separable classes: accuracy ${score.accuracy}`);
  });

  it('a test file holding only some of the classes has its labels mapped by class name', () => {
    const test = flowers('two-classes.csv', 20, 3, { classes: ['versicolor', 'virginica'] });
    const out = path.join(dir, 'two-classes');
    const score = trainWithTest(test, out);
    const evaluation = evaluate(out, test);
    assertSameScore(score, evaluation);
    assert.ok(score.accuracy >= 0.9, `separable classes: accuracy ${score.accuracy}`);
    assert.deepEqual(evaluation.classes.map((c) => [c.name, c.support]), [['versicolor', 10], ['virginica', 10]]);
  });

  it('a test file whose columns or classes do not match by name is one line, exit 2, before training', () => {
    const oneLine = (test: string, code: string, pattern: RegExp) => {
      const r = runCli(['train', '--dataset', `csv:${train}`, '--test', `csv:${test}`, '--out', path.join(dir, 'refused')]);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(r.stderr.includes(`[${code}]`), r.stderr);
      assert.match(r.stderr, pattern);
      assert.ok(!fs.existsSync(path.join(dir, 'refused', 'summary.json')));
    };
    const renamed = path.join(dir, 'renamed.csv');
    fs.writeFileSync(renamed, fs.readFileSync(train, 'utf8').replace('sepal_width', 'width'));
    oneLine(renamed, 'dptrain.data.featuresMismatch', /has the features "sepal_length", "width", "petal_length" but the model \(trained on csv:.*train\.csv\) takes .*missing: "sepal_width"; not in the model: "width"/);
    const unknown = path.join(dir, 'unknown-class.csv');
    fs.writeFileSync(unknown, fs.readFileSync(train, 'utf8').replace(/setosa/g, 'rose'));
    oneLine(unknown, 'dptrain.data.classesMismatch', /has the classes "rose" that the model \(trained on csv:.*train\.csv\) does not know \(its classes: "setosa", "versicolor", "virginica"\)/);
    const indexed = path.join(dir, 'indexed-classes.csv');
    fs.writeFileSync(indexed, fs.readFileSync(train, 'utf8').replace(/setosa/g, '0').replace(/versicolor/g, '1').replace(/virginica/g, '2'));
    oneLine(indexed, 'dptrain.data.classesMismatch', /gives its labels as class indices, but the model \(trained on csv:.*train\.csv\) names its classes/);
  });
});
