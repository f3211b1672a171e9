import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDataset, datasetHash, loadDataset, subset } from '../src/data/index.js';

test('equal content gives an equal hash, whatever the spec', async () => {
  const a = await loadDataset('synthetic:blobs?n=100&d=3&seed=9');
  const b = createDataset({ ...a, spec: 'another name', x: a.x.slice(), y: a.y.slice() });
  assert.equal(datasetHash(a), datasetHash(b));
  assert.match(datasetHash(a), /^sha256:[0-9a-f]{64}$/);
});

test('changing one x value, one label, or the class count changes the hash', async () => {
  const a = await loadDataset('synthetic:blobs?n=100&d=3&seed=9');
  const x = a.x.slice();
  x[150] += 1e-3;
  assert.notEqual(datasetHash(createDataset({ ...a, x })), datasetHash(a));
  const y = a.y.slice();
  y[5] = (y[5] + 1) % 3;
  assert.notEqual(datasetHash(createDataset({ ...a, y })), datasetHash(a));
  assert.notEqual(datasetHash(createDataset({ ...a, numClasses: 4 })), datasetHash(a));
});

test('the hash covers only the viewed part of a typed array', async () => {
  const a = await loadDataset('synthetic:blobs?n=10&d=2&seed=1');
  const padded = new Float32Array(a.x.length + 8);
  padded.set(a.x, 4);
  const view = createDataset({ ...a, x: padded.subarray(4, 4 + a.x.length) });
  assert.equal(datasetHash(view), datasetHash(a));
});

test('subset copies the chosen rows in order and checks the indices', async () => {
  const a = await loadDataset('synthetic:blobs?n=10&d=2&seed=1');
  const s = subset(a, [3, 0, 3]);
  assert.equal(s.n, 3);
  assert.deepEqual(Array.from(s.x), [a.x[6], a.x[7], a.x[0], a.x[1], a.x[6], a.x[7]]);
  assert.deepEqual(Array.from(s.y), [a.y[3], a.y[0], a.y[3]]);
  assert.equal(s.spec, a.spec);
  assert.equal(subset(a, [1], 'part').spec, 'part');
  assert.throws(() => subset(a, [10]), { code: 'dptrain.data.badIndex' });
  assert.throws(() => subset(a, [1.5]), { code: 'dptrain.data.badIndex' });
});

test('createDataset refuses mismatched shapes and out-of-range labels', () => {
  const base = { spec: 't', n: 2, inputDim: 2, x: new Float32Array(4), targetDim: 1, y: new Float32Array(2), task: 'classification' as const, numClasses: 2 };
  assert.throws(() => createDataset({ ...base, x: new Float32Array(3) }), { code: 'dptrain.data.badShape' });
  assert.throws(() => createDataset({ ...base, y: Float32Array.from([0, 2]) }), { code: 'dptrain.data.badShape', message: /label 2 of sample 1/ });
});
