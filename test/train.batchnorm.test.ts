// BatchNorm under data parallelism (docs/models.md#batchnorm): --batchnorm sync equals the inline
// engine at any thread count, --reduce-chunks makes it bit-identical, ghost batches do not depend
// on the workers, local does; the running statistics are replicated state, checkpointed and resumed
// byte-identically.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { train } from '../src/index.js';
import { createDataset } from '../src/data/index.js';
import { Rng } from '../src/util/rng.js';
import { maxRelativeDifference, tempDir } from './helpers.js';

/** Small images whose class shows as a bright row, with an offset per sample so statistics matter. */
function imagesLike(n: number, seed: number) {
  const rng = new Rng(seed, 'images-like');
  const x = Float32Array.from({ length: n * 100 }, () => Math.max(0, rng.normal()));
  const y = Float32Array.from({ length: n }, (_, i) => i % 4);
  for (let i = 0; i < n; i++) for (let p = 0; p < 10; p++) x[i * 100 + (y[i] * 2 + 1) * 10 + p] += 2 + (i % 3);
  return createDataset({ spec: 'test:images-like', n, inputDim: 100, x, targetDim: 1, y, task: 'classification', numClasses: 4, sampleShape: [1, 10, 10] });
}

const data = imagesLike(72, 1);
const model = 'cnn:1x10x10 conv6k3p1 bn relu maxpool2 conv8k3 bn relu flatten dense16 bn relu dense4';
const options = { model, batchSize: 24, maxSteps: 5, epochs: 2, lr: 0.05, momentum: 0.9, valSplit: 0, seed: 5, kernels: 'wasm' } as const;

/** Parameters and running statistics of a run as one array, for comparisons. */
const state = (r: { params: Float32Array; buffers: Float32Array }) => Float32Array.from([...r.params, ...r.buffers]);

test('--batchnorm sync: 1, 2 and 3 threads end with the inline engine\'s parameters and running statistics (relative < 1e-5)', { timeout: 300_000 }, async () => {
  const reference = await train({ ...options, engine: 'inline', workers: 1 }, { data });
  assert.equal(reference.buffers.length, 2 * (6 + 8 + 16) + 3);
  assert.equal(reference.buffers[12], 5, 'num_batches_tracked counts the steps');
  for (const workers of [1, 2, 3]) {
    const threads = await train({ ...options, engine: 'threads', workers, batchnorm: 'sync' }, { data });
    const worst = maxRelativeDifference(state(reference), state(threads));
    assert.ok(worst < 1e-5, `${workers} threads: max relative difference ${worst}`);
  }
});

test('--batchnorm sync with --reduce-chunks 3 is bit-identical on 1, 2 and 3 threads and inline', { timeout: 300_000 }, async () => {
  const runs = [await train({ ...options, maxSteps: 3, engine: 'inline', workers: 1, reduceChunks: 3 }, { data })];
  for (const workers of [1, 2, 3]) runs.push(await train({ ...options, maxSteps: 3, engine: 'threads', workers, reduceChunks: 3 }, { data }));
  for (const run of runs.slice(1)) assert.deepEqual(Buffer.from(state(run).buffer), Buffer.from(state(runs[0]).buffer));
});

test('--batchnorm ghost:4 gives the same run on 1, 2 and 3 threads; --batchnorm local does not', { timeout: 300_000 }, async () => {
  const ghost = await train({ ...options, engine: 'inline', workers: 1, batchnorm: 'ghost:4' }, { data });
  for (const workers of [2, 3]) {
    const threads = await train({ ...options, engine: 'threads', workers, batchnorm: 'ghost:4' }, { data });
    const worst = maxRelativeDifference(state(ghost), state(threads));
    assert.ok(worst < 1e-5, `ghost:4 on ${workers} threads: max relative difference ${worst}`);
  }
  const local1 = await train({ ...options, engine: 'threads', workers: 1, batchnorm: 'local' }, { data });
  const local3 = await train({ ...options, engine: 'threads', workers: 3, batchnorm: 'local' }, { data });
  assert.ok(maxRelativeDifference(local1.params, local3.params) > 1e-3, 'local statistics depend on the shard');
  const sync = await train({ ...options, engine: 'inline', workers: 1 }, { data });
  assert.ok(maxRelativeDifference(sync.params, ghost.params) > 1e-3, 'ghost batches of 4 normalize differently from batches of 24');
});

test('a BatchNorm net resumed from a checkpoint ends with the uninterrupted run\'s final.safetensors bytes (running statistics included)', { timeout: 300_000 }, async () => {
  const root = tempDir();
  const full = path.join(root, 'full');
  const opts = { ...options, maxSteps: 6, engine: 'threads', workers: 2 } as const;
  await train({ ...opts, out: full, checkpointDir: path.join(full, 'ckpt'), checkpointEvery: '3steps', keep: 10 }, { data });
  const dir = path.join(root, 'resumed');
  fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
  fs.copyFileSync(path.join(full, 'ckpt', 'ckpt-000000003.safetensors'), path.join(dir, 'ckpt', 'ckpt-000000003.safetensors'));
  const resumed = await train({ resume: path.join(dir, 'ckpt'), out: dir }, { data });
  assert.equal(resumed.buffers[12], 6);
  const bytes = fs.readFileSync(path.join(dir, 'final.safetensors'));
  assert.ok(bytes.equals(fs.readFileSync(path.join(full, 'final.safetensors'))));
  assert.ok(bytes.includes(Buffer.from('"layers.1.running_var"')) && bytes.includes(Buffer.from('"layers.1.num_batches_tracked":{"dtype":"I64","shape":[]')));
});

test('--restore-best ends with the best epoch\'s running statistics too, and keeps them through a resume', { timeout: 300_000 }, async () => {
  const root = tempDir();
  const full = path.join(root, 'full');
  const opts = { ...options, maxSteps: 0, epochs: 4, lr: 0.4, valSplit: 0.25, restoreBest: true, engine: 'threads', workers: 2 } as const;
  const result = await train({ ...opts, out: full, checkpointDir: path.join(full, 'ckpt'), checkpointEvery: '1epoch', keep: 10 }, { data });
  const best = result.summary.best!;
  assert.equal(best.restored, true);
  const stepsPerEpoch = result.summary.stepsPerEpoch;
  assert.equal(result.buffers[12], (best.epoch + 1) * stepsPerEpoch, `num_batches_tracked of the best epoch ${best.epoch}`);
  const dir = path.join(root, 'resumed');
  fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
  const second = `ckpt-${String(2 * stepsPerEpoch).padStart(9, '0')}.safetensors`;
  fs.copyFileSync(path.join(full, 'ckpt', second), path.join(dir, 'ckpt', second));
  await train({ resume: path.join(dir, 'ckpt'), out: dir }, { data });
  assert.ok(fs.readFileSync(path.join(dir, 'final.safetensors')).equals(fs.readFileSync(path.join(full, 'final.safetensors'))));
});
