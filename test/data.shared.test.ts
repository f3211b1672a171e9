/**
 * Every loader puts the samples in shared memory, so that the threads engine (and the ws worker's
 * compute threads) map that very memory instead of holding a second copy (docs/datasets.md,
 * "Memory"): 188 MB less per process for the 60,000 x 784 benchmark blobs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadDataset, type Dataset } from '../src/data/index.js';
import { shareDataset } from '../src/engine/shared-memory.js';
import { ShippedData } from '../src/engine/ws/run-setup.js';
import { tempDir } from './helpers.js';

function assertShared(ds: Dataset, what: string): void {
  assert.ok(ds.x.buffer instanceof SharedArrayBuffer, `${what}: x is in shared memory`);
  assert.ok(ds.y.buffer instanceof SharedArrayBuffer, `${what}: y is in shared memory`);
  const shared = shareDataset(ds);
  assert.equal(shared.x, ds.x, `${what}: the engine maps x without a copy`);
  assert.equal(shared.y, ds.y, `${what}: the engine maps y without a copy`);
}

test('synthetic, mnist and csv datasets load into shared memory that the engine uses as it is', async () => {
  for (const spec of ['synthetic:blobs?n=300&d=8&classes=3', 'synthetic:spirals?n=200', 'synthetic:teacher?n=100&d=4&hidden=3', 'mnist']) {
    assertShared(await loadDataset(spec), spec);
  }
  const dir = tempDir('dptrain-data-shared-');
  const file = path.join(dir, 'small.csv');
  fs.writeFileSync(file, 'a,b,label\n1,2,0\n3,4,1\n5,6,0\n');
  assertShared(await loadDataset(`csv:${file}`), 'csv');
});

test('a dataset shipped to a ws worker is received into shared memory', () => {
  const received = new ShippedData({ spec: 'shipped', n: 2, inputDim: 3, targetDim: 1, task: 'classification', numClasses: 2 }, 1_000);
  received.add('x', 0, Float32Array.of(1, 2, 3, 4, 5, 6));
  received.add('y', 0, Float32Array.of(0, 1));
  assert.ok(received.complete);
  const ds = received.dataset();
  assert.deepEqual([...ds.x], [1, 2, 3, 4, 5, 6]);
  assertShared(ds, 'shipped');
});
