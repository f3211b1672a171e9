import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanSquaredError, softmaxCrossEntropy } from '../src/kernels/index.js';
import { Rng } from '../src/util/rng.js';

function close(got: number, want: number, tol: number, what = 'value'): void {
  assert.ok(Math.abs(got - want) <= tol * (1 + Math.abs(want)), `${what}: got ${got}, expected ${want}`);
}

/** −log softmax[label], straight from the formula (fine for small logits only). */
function directCrossEntropy(logits: number[], label: number): number {
  const sum = logits.reduce((s, v) => s + Math.exp(v), 0);
  return -Math.log(Math.exp(logits[label]) / sum);
}

test('softmaxCrossEntropy matches the direct formula on small logits', () => {
  const logits = Float64Array.from([0.1, -0.3, 0.7, 0.2, 0.5, -1.1, 0.0, 0.3]);
  const labels = Float32Array.from([2, 0]);
  const d = new Float64Array(8);
  const { lossSum, correct } = softmaxCrossEntropy(logits, labels, 2, 4, d);
  const want =
    directCrossEntropy([0.1, -0.3, 0.7, 0.2], 2) + directCrossEntropy([0.5, -1.1, 0.0, 0.3], 0);
  close(lossSum, want, 1e-14, 'lossSum');
  assert.equal(correct, 2);
  // dlogits = softmax − onehot: each row sums to zero.
  close(d[0] + d[1] + d[2] + d[3], 0, 1e-15);
  const e = [0.1, -0.3, 0.7, 0.2].map(Math.exp);
  const s = e.reduce((a, b) => a + b);
  close(d[2], e[2] / s - 1, 1e-15, 'dlogits[2]');
  close(d[1], e[1] / s, 1e-15, 'dlogits[1]');
});

test('softmaxCrossEntropy stays finite and exact for logits of ±1000', () => {
  const logits = Float32Array.from([1000, -1000, 0, -1000, 1000, 999]);
  const d = new Float32Array(6);
  const { lossSum, correct } = softmaxCrossEntropy(logits, Float32Array.from([0, 2]), 2, 3, d);
  // Row 0: the label holds all the mass (loss ~ e^-1000 = 0). Row 1: loss = log(e^0 + e^-1) + 1.
  close(lossSum, Math.log(1 + Math.exp(-1)) + 1, 1e-12, 'lossSum');
  assert.equal(correct, 1);
  assert.ok(d.every(Number.isFinite), 'dlogits are finite');
  close(d[0], 0, 1e-12);
  close(d[5], Math.exp(-1) / (1 + Math.exp(-1)) - 1, 1e-6, 'dlogits[5]');
  const huge = softmaxCrossEntropy(Float64Array.from([-1000, 1000]), Float32Array.from([0]), 1, 2, null);
  close(huge.lossSum, 2000, 1e-12, 'loss of a confident wrong answer');
});

test('softmaxCrossEntropy counts the first maximum as the prediction on ties', () => {
  const logits = Float64Array.from([1, 3, 3, 2, 2, 0]);
  assert.equal(softmaxCrossEntropy(logits, Float32Array.from([1, 0]), 2, 3, null).correct, 2);
  assert.equal(softmaxCrossEntropy(logits, Float32Array.from([2, 1]), 2, 3, null).correct, 0);
});

test('softmaxCrossEntropy gives the gradient of the summed loss (finite differences)', () => {
  const rng = new Rng(1, 'ce');
  const [n, classes] = [5, 4];
  const logits = Float64Array.from({ length: n * classes }, () => 3 * rng.normal());
  const labels = Float32Array.from({ length: n }, () => rng.int(classes));
  const d = new Float64Array(n * classes);
  softmaxCrossEntropy(logits, labels, n, classes, d);
  const h = 1e-6;
  for (let i = 0; i < logits.length; i++) {
    const keep = logits[i];
    logits[i] = keep + h;
    const up = softmaxCrossEntropy(logits, labels, n, classes, null).lossSum;
    logits[i] = keep - h;
    const down = softmaxCrossEntropy(logits, labels, n, classes, null).lossSum;
    logits[i] = keep;
    close(d[i], (up - down) / (2 * h), 1e-8, `dlogits[${i}]`);
  }
});

test('meanSquaredError sums the per-sample mean of squared errors over rows', () => {
  const pred = Float64Array.from([1, 2, 3, 0, 0, 0]);
  const targets = Float64Array.from([1, 0, 0, 1, 1, 1]);
  const d = new Float64Array(6);
  const { lossSum } = meanSquaredError(pred, targets, 2, 3, d);
  close(lossSum, (0 + 4 + 9) / 3 + (1 + 1 + 1) / 3, 1e-15);
  assert.deepEqual(Array.from(d), [0, 4 / 3, 6 / 3, -2 / 3, -2 / 3, -2 / 3]);
  assert.equal(meanSquaredError(pred, targets, 2, 3, null).lossSum, lossSum);
});

test('meanSquaredError gives the gradient of the summed loss (finite differences)', () => {
  const rng = new Rng(2, 'mse');
  const [n, dim] = [4, 3];
  const pred = Float64Array.from({ length: n * dim }, () => rng.normal());
  const targets = Float64Array.from({ length: n * dim }, () => rng.normal());
  const d = new Float64Array(n * dim);
  meanSquaredError(pred, targets, n, dim, d);
  const h = 1e-6;
  for (let i = 0; i < pred.length; i++) {
    const keep = pred[i];
    pred[i] = keep + h;
    const up = meanSquaredError(pred, targets, n, dim, null).lossSum;
    pred[i] = keep - h;
    const down = meanSquaredError(pred, targets, n, dim, null).lossSum;
    pred[i] = keep;
    close(d[i], (up - down) / (2 * h), 1e-8, `dpred[${i}]`);
  }
});
