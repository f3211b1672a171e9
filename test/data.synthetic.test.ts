import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { datasetHash, loadDataset, type Dataset } from '../src/data/index.js';

describe('synthetic:blobs', () => {
  test('has the requested shape and balanced classes', async () => {
    const ds = await loadDataset('synthetic:blobs?n=1000&d=20&classes=3&seed=0');
    assert.equal(ds.spec, 'synthetic:blobs?n=1000&d=20&classes=3&seed=0');
    assert.equal(ds.n, 1000);
    assert.equal(ds.inputDim, 20);
    assert.equal(ds.x.length, 20000);
    assert.equal(ds.task, 'classification');
    assert.equal(ds.numClasses, 3);
    const counts = [0, 0, 0];
    for (const label of ds.y) counts[label]++;
    assert.deepEqual(counts, [334, 333, 333]);
    assert.ok(ds.x.every(Number.isFinite));
  });

  test('is deterministic per seed and differs between seeds', async () => {
    const a = await loadDataset('synthetic:blobs?n=500&d=5&seed=1');
    const b = await loadDataset('synthetic:blobs?n=500&d=5&seed=1');
    const c = await loadDataset('synthetic:blobs?n=500&d=5&seed=2');
    assert.deepEqual(a.x, b.x);
    assert.equal(datasetHash(a), datasetHash(b));
    assert.notDeepEqual(a.x, c.x);
    assert.notEqual(datasetHash(a), datasetHash(c));
  });

  test('spread=0 puts every sample of a class on its centre', async () => {
    const ds = await loadDataset('synthetic:blobs?n=30&d=4&classes=3&spread=0');
    for (let i = 3; i < 30; i++) assert.deepEqual(ds.x.subarray(i * 4, i * 4 + 4), ds.x.subarray((i % 3) * 4, (i % 3) * 4 + 4));
  });

  test('the 60000×784 benchmark set generates (time printed, not asserted)', async () => {
    const start = performance.now();
    const ds = await loadDataset('synthetic:blobs?n=60000&d=784&classes=10&seed=0');
    console.log(`# synthetic:blobs?n=60000&d=784 generated in ${(performance.now() - start).toFixed(0)} ms`);
    assert.equal(ds.x.length, 60000 * 784);
    assert.equal(ds.numClasses, 10);
    // Features are N(centre, 0.5²) with centres ~ N(0, 1): overall variance near 1.25.
    let sum = 0;
    let sq = 0;
    for (const v of ds.x) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / ds.x.length;
    const variance = sq / ds.x.length - mean * mean;
    assert.ok(Math.abs(variance - 1.25) < 0.2, `variance ${variance}`);
  });
});

describe('synthetic:spirals', () => {
  test('gives 2-D points of the requested classes, deterministic per seed', async () => {
    const a = await loadDataset('synthetic:spirals?n=300&classes=3&noise=0.1&seed=4');
    const b = await loadDataset('synthetic:spirals?n=300&classes=3&noise=0.1&seed=4');
    const c = await loadDataset('synthetic:spirals?n=300&classes=3&noise=0.1&seed=5');
    assert.equal(a.inputDim, 2);
    assert.equal(a.n, 300);
    assert.equal(a.numClasses, 3);
    assert.deepEqual(a.x, b.x);
    assert.notDeepEqual(a.x, c.x);
  });

  test('without noise every point lies within the unit disc', async () => {
    const ds = await loadDataset('synthetic:spirals?noise=0');
    assert.equal(ds.n, 1000);
    for (let i = 0; i < ds.n; i++) assert.ok(Math.hypot(ds.x[2 * i], ds.x[2 * i + 1]) < 1 + 1e-6);
  });
});

/** Least squares in float64: solves [x 1]·w = y for one output via the normal equations. */
function fitAffine(ds: Dataset, output: number): { w: Float64Array; maxResidual: number } {
  const d = ds.inputDim + 1;
  const a = Array.from({ length: d }, () => new Float64Array(d + 1));
  const row = new Float64Array(d);
  for (let i = 0; i < ds.n; i++) {
    for (let j = 0; j < ds.inputDim; j++) row[j] = ds.x[i * ds.inputDim + j];
    row[d - 1] = 1;
    const target = ds.y[i * ds.targetDim + output];
    for (let p = 0; p < d; p++) {
      for (let q = 0; q < d; q++) a[p][q] += row[p] * row[q];
      a[p][d] += row[p] * target;
    }
  }
  // Gauss-Jordan with partial pivoting.
  for (let c = 0; c < d; c++) {
    let pivot = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) pivot = r;
    [a[c], a[pivot]] = [a[pivot], a[c]];
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let k = c; k <= d; k++) a[r][k] -= f * a[c][k];
    }
  }
  const w = new Float64Array(d);
  for (let c = 0; c < d; c++) w[c] = a[c][d] / a[c][c];
  let maxResidual = 0;
  for (let i = 0; i < ds.n; i++) {
    let pred = w[d - 1];
    for (let j = 0; j < ds.inputDim; j++) pred += w[j] * ds.x[i * ds.inputDim + j];
    maxResidual = Math.max(maxResidual, Math.abs(pred - ds.y[i * ds.targetDim + output]));
  }
  return { w, maxResidual };
}

describe('synthetic:teacher', () => {
  test('is regression with the requested shape', async () => {
    const ds = await loadDataset('synthetic:teacher?n=200&d=6&outputs=3&hidden=8&noise=0.1&seed=1');
    assert.equal(ds.task, 'regression');
    assert.equal(ds.numClasses, 0);
    assert.equal(ds.inputDim, 6);
    assert.equal(ds.targetDim, 3);
    assert.equal(ds.y.length, 600);
    assert.ok(ds.y.every(Number.isFinite));
  });

  test('with noise=0 and hidden=0 y is exactly a linear map of x (up to float32 rounding)', async () => {
    const ds = await loadDataset('synthetic:teacher?n=500&d=8&outputs=2&noise=0&seed=3');
    for (let k = 0; k < 2; k++) {
      const { maxResidual } = fitAffine(ds, k);
      assert.ok(maxResidual < 1e-5, `output ${k}: max residual ${maxResidual}`);
    }
  });

  test('noise makes y no longer exactly linear', async () => {
    const ds = await loadDataset('synthetic:teacher?n=500&d=8&noise=0.1&seed=3');
    const { maxResidual } = fitAffine(ds, 0);
    assert.ok(maxResidual > 0.1, `max residual ${maxResidual}`);
  });

  test('a tanh teacher (hidden > 0) is not linear', async () => {
    const ds = await loadDataset('synthetic:teacher?n=500&d=4&hidden=16&noise=0&seed=3');
    assert.ok(fitAffine(ds, 0).maxResidual > 1e-3);
  });

  test('is deterministic per seed and differs between seeds', async () => {
    const a = await loadDataset('synthetic:teacher?n=100&seed=1');
    const b = await loadDataset('synthetic:teacher?n=100&seed=1');
    const c = await loadDataset('synthetic:teacher?n=100&seed=2');
    assert.equal(datasetHash(a), datasetHash(b));
    assert.notDeepEqual(a.y, c.y);
  });
});
