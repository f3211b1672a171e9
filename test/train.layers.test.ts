// Data-parallel contracts with layer models: conv nets with dropout equal the inline engine at
// every worker count (dropout masks are keyed by seed, step and sample, never by the worker).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { train } from '../src/index.js';
import { createDataset } from '../src/data/index.js';
import { Rng } from '../src/util/rng.js';
import { maxRelativeDifference } from './helpers.js';

/** MNIST-shaped random images, labels from a fixed rule so that training has something to learn. */
function digitsLike(n: number, seed: number) {
  const rng = new Rng(seed, 'digits-like');
  const x = Float32Array.from({ length: n * 784 }, () => Math.max(0, rng.normal()));
  const y = Float32Array.from({ length: n }, (_, i) => i % 10);
  for (let i = 0; i < n; i++) for (let p = 0; p < 28; p++) x[i * 784 + (y[i] * 2 + 3) * 28 + p] += 2; // a bright row per class
  return createDataset({ spec: 'test:digits-like', n, inputDim: 784, x, targetDim: 1, y, task: 'classification', numClasses: 10, sampleShape: [1, 28, 28] });
}

const data = digitsLike(96, 1);
// cnn-mnist (W4) with dropout before the classifier.
const model = 'cnn:1x28x28 conv32k3p1 relu maxpool2 conv64k3p1 relu maxpool2 flatten dense128 relu dropout0.5 dense10';
const options = { model, batchSize: 32, maxSteps: 4, epochs: 2, lr: 0.05, momentum: 0.9, valSplit: 0, seed: 5, kernels: 'wasm' } as const;

test('a conv net with dropout trains to the same parameters on 1, 2 and 3 threads as inline (relative < 1e-5)', { timeout: 300_000 }, async () => {
  const reference = await train({ ...options, engine: 'inline', workers: 1 }, { data });
  for (const workers of [1, 2, 3]) {
    const threads = await train({ ...options, engine: 'threads', workers }, { data });
    const worst = maxRelativeDifference(reference.params, threads.params);
    assert.ok(worst < 1e-5, `${workers} threads: max relative difference ${worst}`);
  }
  // And dropout did act: without it the run ends elsewhere.
  const plain = await train({ ...options, model: model.replace(' dropout0.5', ''), engine: 'inline', workers: 1 }, { data });
  assert.ok(maxRelativeDifference(reference.params, plain.params) > 1e-3);
});

test('with --reduce-chunks 3 a conv net with dropout is bit-identical on 1, 2 and 3 threads', { timeout: 300_000 }, async () => {
  const runs = [];
  for (const workers of [1, 2, 3]) runs.push(await train({ ...options, maxSteps: 2, engine: 'threads', workers, reduceChunks: 3 }, { data }));
  for (const run of runs.slice(1)) assert.deepEqual(Buffer.from(run.params.buffer), Buffer.from(runs[0].params.buffer));
});

test('the same seed gives bit-identical parameters for a conv net with dropout', { timeout: 300_000 }, async () => {
  const a = await train({ ...options, maxSteps: 2, engine: 'threads', workers: 2 }, { data });
  const b = await train({ ...options, maxSteps: 2, engine: 'threads', workers: 2 }, { data });
  assert.deepEqual(Buffer.from(a.params.buffer), Buffer.from(b.params.buffer));
});

test('a conv net with dropout resumed from a checkpoint ends with the uninterrupted run\'s final.safetensors bytes', { timeout: 300_000 }, async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { tempDir } = await import('./helpers.js');
  const root = tempDir();
  const full = path.join(root, 'full');
  const opts = { ...options, maxSteps: 6, engine: 'threads', workers: 2 } as const;
  await train({ ...opts, out: full, checkpointDir: path.join(full, 'ckpt'), checkpointEvery: '3steps', keep: 10 }, { data });
  const dir = path.join(root, 'resumed');
  fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
  fs.copyFileSync(path.join(full, 'ckpt', 'ckpt-000000003.safetensors'), path.join(dir, 'ckpt', 'ckpt-000000003.safetensors'));
  await train({ resume: path.join(dir, 'ckpt'), out: dir }, { data });
  assert.ok(fs.readFileSync(path.join(dir, 'final.safetensors')).equals(fs.readFileSync(path.join(full, 'final.safetensors'))));
});
