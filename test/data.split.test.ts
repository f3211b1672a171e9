import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyStandardization, createDataset, fitStandardization, loadDataset, splitDataset, type Dataset } from '../src/data/index.js';

/** Rows tagged by their original index in feature 0, so parts can be traced back. */
function tagged(n: number): Dataset {
  const x = new Float32Array(n * 2);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[2 * i] = i;
    x[2 * i + 1] = i * i;
    y[i] = i % 3;
  }
  return createDataset({ spec: 'test', n, inputDim: 2, x, targetDim: 1, y, task: 'classification', numClasses: 3 });
}

describe('splitDataset', () => {
  test('holds out round(n·f) samples; train and val are disjoint, complete and in ascending order', () => {
    const ds = tagged(1050);
    const { train, val } = splitDataset(ds, 0.1, 7);
    assert.ok(val);
    assert.equal(val.n, 105);
    assert.equal(train.n, 945);
    const ids = (part: Dataset): number[] => Array.from({ length: part.n }, (_, i) => part.x[2 * i]);
    const all = [...ids(train), ...ids(val)].sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: 1050 }, (_, i) => i));
    for (const part of [train, val]) {
      const list = ids(part);
      for (let i = 1; i < list.length; i++) assert.ok(list[i] > list[i - 1]);
      for (let i = 0; i < part.n; i++) assert.equal(part.y[i], part.x[2 * i] % 3, 'labels travel with their rows');
    }
  });

  test('is deterministic per seed and differs between seeds', () => {
    const ds = tagged(200);
    assert.deepEqual(splitDataset(ds, 0.25, 1).val!.x, splitDataset(ds, 0.25, 1).val!.x);
    assert.notDeepEqual(splitDataset(ds, 0.25, 1).val!.x, splitDataset(ds, 0.25, 2).val!.x);
  });

  test('a fraction of 0 gives no validation set', () => {
    const ds = tagged(10);
    const { train, val } = splitDataset(ds, 0, 0);
    assert.equal(val, null);
    assert.equal(train.n, 10);
  });

  test('fractions outside [0, 1), or leaving a part empty, are badValSplit', () => {
    const ds = tagged(10);
    for (const f of [-0.1, 1, 1.5, NaN]) assert.throws(() => splitDataset(ds, f, 0), { code: 'dptrain.data.badValSplit' });
    assert.throws(() => splitDataset(ds, 0.01, 0), { code: 'dptrain.data.badValSplit', message: /leaves no validation samples/ });
    assert.throws(() => splitDataset(ds, 0.99, 0), { code: 'dptrain.data.badValSplit', message: /leaves no training samples/ });
  });

  test('the range a refused fraction names works at both ends (a user try was told "between 1.0 and 0.0" for one sample)', () => {
    assert.throws(() => splitDataset(tagged(1), 0.1, 0), { message: /of 1 sample leaves no validation samples — one sample cannot be split: use --val-split 0 \(no validation\)$/ });
    assert.throws(() => splitDataset(tagged(2), 0.1, 0), { message: / — use --val-split 0\.5, or 0 for no validation$/ });
    for (const n of [3, 7, 10, 999, 10_000]) {
      let message = '';
      try {
        splitDataset(tagged(n), 1e-9, 0);
      } catch (error) {
        message = (error as Error).message;
      }
      const [, low, high] = /use a fraction from ([\d.]+) to ([\d.]+), or 0 for no validation$/.exec(message) ?? assert.fail(message);
      for (const f of [Number(low), Number(high)]) {
        const { train, val } = splitDataset(tagged(n), f, 0);
        assert.ok(train.n >= 1 && val !== null && val.n >= 1, `n ${n}, --val-split ${f}`);
      }
      assert.ok(Number(high) < 1, `n ${n}: ${high}`);
    }
  });
});

describe('standardization', () => {
  test('standardized training features have mean ≈ 0 and std ≈ 1', async () => {
    const { train, val } = splitDataset(await loadDataset('synthetic:blobs?n=2000&d=5&seed=3'), 0.2, 0);
    const s = fitStandardization(train);
    const z = applyStandardization(train, s);
    assert.notEqual(z.x, train.x, 'a new array');
    assert.equal(z.y, train.y);
    for (let j = 0; j < z.inputDim; j++) {
      let sum = 0;
      let sq = 0;
      for (let i = 0; i < z.n; i++) sum += z.x[i * z.inputDim + j];
      const mean = sum / z.n;
      for (let i = 0; i < z.n; i++) sq += (z.x[i * z.inputDim + j] - mean) ** 2;
      assert.ok(Math.abs(mean) < 1e-5, `feature ${j} mean ${mean}`);
      assert.ok(Math.abs(Math.sqrt(sq / z.n) - 1) < 1e-4, `feature ${j} std`);
    }
    assert.ok(applyStandardization(val!, s).x.every(Number.isFinite));
  });

  test('a constant feature keeps std 1 and becomes exactly 0', () => {
    const x = Float32Array.from([0.1, 1, 0.1, 2, 0.1, 4]);
    const ds = createDataset({ spec: 't', n: 3, inputDim: 2, x, targetDim: 1, y: new Float32Array(3), task: 'regression', numClasses: 0 });
    const s = fitStandardization(ds);
    assert.equal(s.std[0], 1);
    const z = applyStandardization(ds, s);
    assert.ok(z.x.every(Number.isFinite));
    assert.deepEqual([z.x[0], z.x[2], z.x[4]], [0, 0, 0]);
  });

  test('mnist, with its always-dark border pixels, standardizes to finite values', async () => {
    const ds = await loadDataset('mnist');
    const z = applyStandardization(ds, fitStandardization(ds));
    assert.ok(z.x.every(Number.isFinite));
  });

  test('a standardization of another width is refused', () => {
    const ds = tagged(4);
    assert.throws(() => applyStandardization(ds, { mean: new Float32Array(3), std: new Float32Array(3) }), { code: 'dptrain.data.standardizationMismatch' });
  });
});
