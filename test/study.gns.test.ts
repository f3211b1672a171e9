import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDataset } from '../src/data/index.js';
import { Model, parseModelSpec } from '../src/model/index.js';
import {
  batchGradientError,
  exactGradientStats,
  gnsEstimate,
  GnsTracker,
  measureNoiseScale,
  shardGradientSums,
} from '../src/study/index.js';
import { permutation, Rng } from '../src/util/index.js';

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

test('with equal shards the estimator equals McCandlish A.1 with B_small = b and B_big = B', () => {
  // K = 4 shards of b = 5: |g_k|² of the shard MEANS and |ḡ|² of the global mean.
  const b = 5;
  const meanSq = [2.0, 3.5, 1.25, 4.0];
  const globalMeanSq = 1.1;
  const B = 4 * b;
  const shards = meanSq.map((m) => ({ count: b, gradSumSq: m * b * b }));
  const got = gnsEstimate(shards, globalMeanSq * B * B, B)!;
  const sSmall = meanSq.reduce((a, v) => a + v, 0) / 4;
  const gradSq = (B * globalMeanSq - b * sSmall) / (B - b);
  const trSigma = (sSmall - globalMeanSq) / (1 / b - 1 / B);
  assert.ok(relative(got.gradSq, gradSq) < 1e-12, `${got.gradSq} vs ${gradSq}`);
  assert.ok(relative(got.trSigma, trSigma) < 1e-12, `${got.trSigma} vs ${trSigma}`);
});

test('fewer than two non-empty shards give no estimate, and empty shards are ignored', () => {
  assert.equal(gnsEstimate([{ count: 8, gradSumSq: 3 }], 3, 8), null);
  assert.equal(gnsEstimate([{ count: 8, gradSumSq: 3 }, { count: 0, gradSumSq: 0 }], 3, 8), null);
  const two = gnsEstimate([{ count: 4, gradSumSq: 3 }, { count: 4, gradSumSq: 5 }], 7, 8);
  const withEmpty = gnsEstimate([{ count: 4, gradSumSq: 3 }, { count: 0, gradSumSq: 0 }, { count: 4, gradSumSq: 5 }], 7, 8);
  assert.deepEqual(withEmpty, two);
  assert.equal(new GnsTracker().update([{ count: 8, gradSumSq: 3 }], 3, 8), null);
});

test('a non-finite shard norm gives no estimate and leaves the tracker unchanged', () => {
  const tracker = new GnsTracker(0.5);
  tracker.update([{ count: 4, gradSumSq: 3 }, { count: 4, gradSumSq: 5 }], 7, 8);
  const before = tracker.current();
  assert.equal(tracker.update([{ count: 4, gradSumSq: Number.NaN }, { count: 4, gradSumSq: 5 }], 7, 8), null);
  assert.deepEqual(tracker.current(), before);
  assert.equal(tracker.steps, 1);
});

test('shard counts that do not add up to the global count are an error', () => {
  assert.throws(() => gnsEstimate([{ count: 4, gradSumSq: 1 }, { count: 4, gradSumSq: 1 }], 1, 9), RangeError);
});

test('the tracker averages numerator and denominator separately, not their ratio, and never clamps', () => {
  const tracker = new GnsTracker(0.5);
  const steps = [
    { gradSq: -2, trSigma: 10 }, // a negative per-step |G|² estimate is kept as it is
    { gradSq: 6, trSigma: 30 },
  ];
  tracker.add(steps[0]);
  const record = tracker.add(steps[1]);
  // Bias-corrected EMA with beta = 0.5 after two steps: weights 0.25 and 0.5, over 0.75.
  const gradSq = (0.25 * -2 + 0.5 * 6) / 0.75;
  const trSigma = (0.25 * 10 + 0.5 * 30) / 0.75;
  assert.ok(relative(record.gradSq, gradSq) < 1e-12);
  assert.ok(relative(record.trSigma, trSigma) < 1e-12);
  assert.ok(relative(record.bSimple!, trSigma / gradSq) < 1e-12);
  assert.notEqual(record.bSimple, (10 / -2 + 30 / 6) / 2);
  assert.equal(new GnsTracker(0.5).add(steps[0]).bSimple, null, 'no ratio while the |G|² average is not positive');
});

test('the tracker rejects a decay outside [0, 1)', () => {
  assert.throws(() => new GnsTracker(1), /beta must be a number in \[0, 1\)/);
  assert.throws(() => new GnsTracker(-0.1), RangeError);
});

/**
 * Noiseless linear regression, x ~ N(0, I_d): the definition of B_simple (docs/batch-size.md) gives B_simple = d + 1
 * for the d weights alone. linreg:d-1 also has a bias, whose input is the constant 1; then
 * B_simple = ((d+2)|Δw|² + dΔb²)/(|Δw|² + Δb²), between d and d + 2 — within 1/(d+1) of d + 1.
 */
test('on noiseless linear regression the measured B_simple is within 10% of d + 1', async () => {
  const d = 63;
  const data = await loadDataset(`synthetic:teacher?n=16384&d=${d}&noise=0&hidden=0&seed=3`);
  const model = new Model(parseModelSpec(`linreg:${d}-1`));
  const params = new Float32Array(model.numParams); // w = 0, b = 0: far from the teacher
  const exact = exactGradientStats(model, params, data);

  // Steps of B = 256 rows of an epoch permutation, split into 8 unequal shards as workers would
  // hold them; per-shard gradient sums straight from Model.accumulateGradient.
  const sizes = [40, 24, 32, 32, 31, 33, 30, 34];
  const B = sizes.reduce((a, v) => a + v, 0);
  const tracker = new GnsTracker(0.999);
  const rng = new Rng(11, 'test', 'gns');
  let order = permutation(data.n, rng);
  for (let step = 0, at = 0; step < 2000; step++, at += B) {
    if (at + B > data.n) {
      order = permutation(data.n, rng);
      at = 0;
    }
    const sums = shardGradientSums(model, params, data, order.subarray(at, at + B), sizes);
    tracker.update(sums.shards, sums.globalSumSq, sums.globalCount);
  }
  const record = tracker.current()!;
  const bSimple = record.bSimple!;
  assert.ok(relative(bSimple, d + 1) < 0.1, `B_simple ${bSimple.toFixed(2)} vs d + 1 = ${d + 1}`);
  // And it agrees with the brute-force per-sample values on the same data.
  const exactRatio = exact.trSigma / exact.gradSq;
  assert.ok(relative(bSimple, exactRatio) < 0.05, `B_simple ${bSimple.toFixed(2)} vs per-sample ${exactRatio.toFixed(2)}`);
  assert.ok(relative(record.trSigma, exact.trSigma) < 0.05, `tr Σ ${record.trSigma} vs ${exact.trSigma}`);
  assert.ok(relative(record.gradSq, exact.gradSq) < 0.05, `|G|² ${record.gradSq} vs ${exact.gradSq}`);

  // The one-batch measurement the sweep uses agrees too.
  const once = measureNoiseScale(model, params, data, { samples: 8192, shardSize: 8 });
  assert.ok(relative(once.bSimple!, d + 1) < 0.1, `measureNoiseScale ${once.bSimple} vs ${d + 1}`);
});

test('the mini-batch gradient error halves when B doubles and is 0 at full batch (sampling without replacement)', async () => {
  const d = 15;
  const data = await loadDataset(`synthetic:teacher?n=2048&d=${d}&noise=0&hidden=0&seed=5`);
  const model = new Model(parseModelSpec(`linreg:${d}-1`));
  const params = new Float32Array(model.numParams);
  const exact = exactGradientStats(model, params, data);
  const sizes = [4, 8, 16, 32, 64, 128, 1024, 2048];
  const errors = batchGradientError(model, params, data, sizes, { trials: 400, seed: 1, exact });
  const N = data.n;
  for (const e of errors) {
    // E|G_B − G|² = (tr Σ_N / B)(N − B)/(N − 1): the finite-population correction.
    const formula = ((exact.trSigma / e.batchSize) * (N - e.batchSize)) / (N - 1);
    assert.ok(Math.abs(e.predicted - formula) <= 1e-12 * formula);
    if (e.batchSize < N) {
      assert.ok(relative(e.meanSqError, e.predicted) < 0.1, `B=${e.batchSize}: ${e.meanSqError} vs ${e.predicted}`);
      assert.ok(Math.abs(e.meanSqError - e.predicted) < 4 * e.standardError, `B=${e.batchSize}: off by more than 4 standard errors`);
    }
  }
  for (let i = 0; i + 1 < errors.length; i++) {
    const [small, big] = [errors[i], errors[i + 1]];
    if (big.batchSize !== 2 * small.batchSize || big.batchSize > N / 8) continue;
    const ratio = small.meanSqError / big.meanSqError;
    assert.ok(Math.abs(ratio - 2) < 0.2, `B=${small.batchSize} -> ${big.batchSize}: error ratio ${ratio.toFixed(3)}, expected about 2`);
  }
  const full = errors.at(-1)!;
  assert.equal(full.batchSize, N);
  assert.equal(full.predicted, 0);
  assert.ok(full.meanSqError < 1e-9 * exact.gradSq, `full batch error ${full.meanSqError} (|G|² = ${exact.gradSq})`);
  // Half the data: the correction already shows, (N − B)/(N − 1) ≈ 1/2.
  const half = errors.find((e) => e.batchSize === 1024)!;
  assert.ok(relative(half.meanSqError, (exact.trSigma / 1024) * 0.5) < 0.1);
});
