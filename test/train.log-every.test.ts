// Growth of a long run's files (issue 13 item 6): --log-every N writes every N-th step record to
// metrics.jsonl (epoch and eval records always), the default keeps a run's file to about 10,000 step
// records, and checkpoints keep a bounded history; resume still rewrites metrics.jsonl exactly.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { train } from '../src/index.js';
import { decodeCheckpoint } from '../src/train/index.js';
import { readRunMetrics } from '../src/study/metrics.js';
import { makeClassification, runCli, tempDir } from './helpers.js';

type Row = { type: string; step?: number; epoch?: number; ms?: number; timing?: unknown; samplesPerSec?: number };
const records = (dir: string): Row[] => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
/** A record without its wall-clock fields, which differ between any two runs. */
const content = (r: Row) => JSON.stringify({ ...r, ms: undefined, timing: undefined, samplesPerSec: undefined });

// 180 training samples in batches of 16: 12 steps per epoch.
const DATA = ['--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'mlp:4-8-3', '--batch-size', '16'];

test('`dptrain train --log-every 10` writes the step records of steps 0, 10, 20, ... and every epoch record', () => {
  const out = tempDir();
  const run = runCli(['train', '--log-every', '10', ...DATA, '--epochs', '3', '--out', out]);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /a step record every 10 steps/);
  const rows = records(out);
  assert.deepEqual(rows.filter((r) => r.type === 'step').map((r) => r.step), [0, 10, 20, 30]);
  assert.deepEqual(rows.filter((r) => r.type === 'epoch').map((r) => r.epoch), [0, 1, 2]);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).steps, 36);
});

test('`dptrain train` by default writes every step record of a run of up to 10,000 steps', () => {
  const out = tempDir();
  const run = runCli(['train', ...DATA, '--epochs', '2', '--out', out]);
  assert.equal(run.status, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /a step record every/);
  assert.deepEqual(records(out).filter((r) => r.type === 'step').map((r) => r.step), Array.from({ length: 24 }, (_, i) => i));
});

test('--log-every 0 (the default) thins a run of more than 10,000 steps to about 10,000 step records', async () => {
  const out = tempDir();
  const stop = new AbortController();
  stop.abort(); // config.json is written before the first step; the run then ends at once
  // 90 training samples one at a time: 90 steps per epoch, 20,070 steps in 223 epochs.
  await train({ model: 'mlp:5-4-3', batchSize: 1, epochs: 223, engine: 'inline', workers: 1, out }, { data: makeClassification(100, 5, 3), signal: stop.signal });
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).resolved.logEvery, 3);
  const given = tempDir();
  await train({ model: 'mlp:5-4-3', batchSize: 1, epochs: 223, engine: 'inline', workers: 1, logEvery: 1, out: given }, { data: makeClassification(100, 5, 3), signal: stop.signal });
  assert.equal(JSON.parse(fs.readFileSync(path.join(given, 'config.json'), 'utf8')).resolved.logEvery, 1);
});

test('with --log-every 5, a run resumed from each checkpoint rewrites metrics.jsonl with the same records', async () => {
  const data = makeClassification(150, 5, 3);
  const options = { model: 'mlp:5-6-3', batchSize: 16, epochs: 3, lr: 0.1, logEvery: 5, evalEvery: 7, engine: 'inline', workers: 1 } as const;
  const root = tempDir();
  const full = path.join(root, 'full');
  await train({ ...options, out: full, checkpointDir: path.join(full, 'ckpt'), checkpointEvery: '6steps', keep: 100 }, { data });
  // 27 steps: checkpoints at 6, 12, 18, 24, and the run's end (27), which a resume finds finished.
  const saved = fs.readdirSync(path.join(full, 'ckpt')).sort().slice(0, -1);
  assert.equal(saved.length, 4);
  const expected = records(full).map(content);
  assert.deepEqual(records(full).filter((r) => r.type === 'step').map((r) => r.step), [0, 5, 10, 15, 20, 25]);
  for (const file of saved) {
    const dir = path.join(root, file);
    fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
    fs.copyFileSync(path.join(full, 'ckpt', file), path.join(dir, 'ckpt', file));
    fs.copyFileSync(path.join(full, 'metrics.jsonl'), path.join(dir, 'metrics.jsonl'));
    await train({ resume: path.join(dir, 'ckpt'), out: dir }, { data });
    assert.deepEqual(records(dir).map(content), expected, `resumed from ${file}`);
  }
});

test('checkpoints keep the last 100 epoch records; a resumed run recovers the whole history from metrics.jsonl', async () => {
  // 18 training samples as one batch: one step per epoch, 130 epochs.
  const data = makeClassification(20, 3, 2);
  const options = { model: 'logreg:3-2', batchSize: 'full', epochs: 130, lr: 0.1, engine: 'inline', workers: 1 } as const;
  const root = tempDir();
  const full = path.join(root, 'full');
  const ckpt = path.join(full, 'ckpt');
  const uninterrupted = await train({ ...options, out: full, checkpointDir: ckpt, checkpointEvery: '10epochs', keep: 20 }, { data });
  const files = fs.readdirSync(ckpt).sort();
  const last = files.at(-1)!;
  const checkpoint = decodeCheckpoint(fs.readFileSync(path.join(ckpt, last)), last);
  assert.equal(checkpoint.meta.epoch, 130);
  assert.equal((checkpoint.meta.loop.history as unknown[]).length, 100);
  // Resume from the checkpoint after epoch 120, with and without the run directory.
  const epochs = (h: typeof uninterrupted.history) => h.map((e) => [e.epoch, e.trainLoss, e.valLoss]);
  const before = files.find((f) => f.endsWith('000000120.safetensors'))!;
  for (const out of [true, false]) {
    const dir = path.join(root, `resume-${out}`);
    fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
    fs.copyFileSync(path.join(ckpt, before), path.join(dir, 'ckpt', before));
    if (out) fs.copyFileSync(path.join(full, 'metrics.jsonl'), path.join(dir, 'metrics.jsonl'));
    const resumed = await train({ resume: path.join(dir, 'ckpt'), out: out ? dir : null }, { data });
    assert.equal(resumed.summary.epochs, 130);
    assert.deepEqual(Buffer.from(resumed.params.buffer), Buffer.from(uninterrupted.params.buffer));
    if (out) assert.deepEqual(epochs(resumed.history), epochs(uninterrupted.history));
    else assert.deepEqual(epochs(resumed.history), epochs(uninterrupted.history.slice(20)));
  }
});

test('the study\'s metrics reader counts the same steps and samples at every validation when steps were thinned', async () => {
  const data = makeClassification(150, 5, 3);
  const options = { model: 'mlp:5-6-3', batchSize: 16, epochs: 3, lr: 0.1, evalEvery: 4, engine: 'inline', workers: 1 } as const;
  const [every, thinned] = [tempDir(), tempDir()];
  await train({ ...options, logEvery: 1, out: every }, { data });
  await train({ ...options, logEvery: 5, out: thinned }, { data });
  const [a, b] = [await readRunMetrics(every), await readRunMetrics(thinned)];
  const points = (m: typeof a) => m.checkpoints.map((c) => [c.kind, c.epoch, c.steps, c.samples, c.valLoss]);
  assert.deepEqual(points(b), points(a));
  assert.equal(b.steps, a.steps);
  assert.equal(a.steps, 27);
  assert.ok(b.meanStepMs! > 0);
});
