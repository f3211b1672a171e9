// --restore-best (Keras EarlyStopping(restore_best_weights=True)): the run ends with the weights of
// the epoch with the best --monitor value, says which in the log and summary.json, and keeps them
// across a resume. And train() with in-memory data records that data's spec, not the default "mnist".
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { train } from '../src/index.js';
import { decodeCheckpoint } from '../src/train/index.js';
import { makeClassification, runCli, tempDir } from './helpers.js';

// 140 training samples of overlapping blobs, a wide MLP: the validation loss falls for six epochs, then rises.
const DATA = ['--dataset', 'synthetic:blobs?n=200&d=20&classes=3&spread=2', '--model', 'mlp:20-64-3', '--batch-size', '16', '--lr', '0.01', '--val-split', '0.3'];
const library = { dataset: 'synthetic:blobs?n=200&d=20&classes=3&spread=2', model: 'mlp:20-64-3', batchSize: 16, lr: 0.01, valSplit: 0.3, engine: 'inline', workers: 1 } as const;

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const epochRecords = (dir: string) =>
  fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'epoch');

test('`dptrain train --patience 2 --restore-best` stops early and writes the best epoch\'s weights as final.safetensors', () => {
  const root = tempDir();
  const best = path.join(root, 'best');
  const run = runCli(['train', '--patience', '2', '--restore-best', ...DATA, '--epochs', '40', '--out', best]);
  assert.equal(run.status, 0, run.stderr);
  const summary = readJson(path.join(best, 'summary.json'));
  assert.equal(summary.stopReason, 'earlyStopping');
  // The best epoch is the one with the lowest validation loss in metrics.jsonl, two epochs before the last.
  const epochs = epochRecords(best);
  const lowest = epochs.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
  assert.deepEqual(summary.best, { monitor: 'valLoss', value: lowest.valLoss, epoch: lowest.epoch, restored: true });
  assert.equal(epochs.length, lowest.epoch + 3);
  assert.match(run.stderr, new RegExp(`early stopping after epoch ${epochs.length}: valLoss did not improve for 2 epochs; best valLoss ${lowest.valLoss.toPrecision(4)} at epoch ${lowest.epoch + 1}`));
  assert.match(run.stderr, new RegExp(`restoring the weights of epoch ${lowest.epoch + 1}, the best by valLoss`));
  // The last line scores the weights it ends with, the best epoch's, not the last epoch's.
  assert.match(run.stderr, new RegExp(`done: .*, val loss ${lowest.valLoss.toFixed(4)}, val accuracy [\\d.]+%, with the weights of epoch ${lowest.epoch + 1} \\(--restore-best\\)`));

  // The same run stopped after the best epoch (same seed, same workers) ends with the same bytes.
  const short = path.join(root, 'short');
  assert.equal(runCli(['train', ...DATA, '--epochs', String(lowest.epoch + 1), '--out', short]).status, 0);
  assert.ok(fs.readFileSync(path.join(best, 'final.safetensors')).equals(fs.readFileSync(path.join(short, 'final.safetensors'))));
});

test('`dptrain train --restore-best` without --patience trains every epoch and still ends with the best weights', () => {
  const out = tempDir();
  const run = runCli(['train', '--restore-best', ...DATA, '--epochs', '9', '--out', out]);
  assert.equal(run.status, 0, run.stderr);
  const summary = readJson(path.join(out, 'summary.json'));
  assert.equal(summary.stopReason, 'epochs');
  assert.equal(summary.epochs, 9);
  assert.equal(summary.best.restored, true);
  assert.ok(summary.best.epoch < 8, `the best epoch (${summary.best.epoch}) is not the last`);
});

// Without --monitor, --val-split 0 makes it trainLoss (test/cli.defaults.test.ts); a typed val… monitor has nothing to watch.
test('`dptrain train --restore-best --val-split 0 --monitor valLoss` is refused: the monitored valLoss needs a validation set', () => {
  const run = runCli(['train', '--restore-best', '--val-split', '0', '--monitor', 'valLoss', '--epochs', '1']);
  assert.equal(run.status, 2);
  assert.match(run.stderr, /--restore-best keeps the best epoch by --monitor valLoss, which needs a validation set.*\[dptrain\.config\.badOption\]/);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
});

test('the best weights travel in the checkpoints: a run resumed after its best epoch still ends with them', async () => {
  const root = tempDir();
  const ckpt = path.join(root, 'ckpt');
  const full = await train({ ...library, epochs: 40, patience: 2, restoreBest: true, checkpointDir: ckpt, checkpointEvery: '1epoch', keep: 100 });
  const best = full.summary.best!;
  assert.equal(full.summary.stopReason, 'earlyStopping');
  // The checkpoint written after the epoch following the best one holds the best weights beside the live ones.
  const files = fs.readdirSync(ckpt).sort();
  const after = files[best.epoch + 1];
  const checkpoint = decodeCheckpoint(fs.readFileSync(path.join(ckpt, after)), after);
  assert.ok(checkpoint.best, `${after} holds best.* tensors`);
  assert.notDeepEqual(Array.from(checkpoint.best!), Array.from(checkpoint.params));
  assert.deepEqual(Array.from(checkpoint.best!), Array.from(full.params));

  // Resume from it, as if the run had died there.
  const dir = path.join(root, 'resume');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(ckpt, after), path.join(dir, after));
  const resumed = await train({ resume: dir });
  assert.deepEqual(resumed.summary.best, best);
  assert.equal(resumed.summary.epochs, full.summary.epochs);
  assert.deepEqual(Buffer.from(resumed.params.buffer), Buffer.from(full.params.buffer));
});

test('train() with in-memory data records its spec (config.json, summary.json, the result), not the default dataset', async () => {
  const data = makeClassification(120, 5, 3);
  const out = tempDir();
  const logged: string[] = [];
  const result = await train({ model: 'mlp:5-8-3', epochs: 1, engine: 'inline', workers: 1, out }, { data, logger: { info: (_, m) => logged.push(m), warn() {} } });
  assert.equal(result.summary.dataset, data.spec);
  assert.equal(result.config.dataset, data.spec);
  assert.equal(readJson(path.join(out, 'config.json')).dataset, data.spec);
  assert.equal(readJson(path.join(out, 'summary.json')).dataset, data.spec);
  assert.ok(logged[0].includes(`samples of ${data.spec}`), logged[0]);
  assert.ok(!logged[0].includes('mnist'), logged[0]);
});
