// --batch-size auto (issue 19): statistical efficiency and the AdaScale gain from the measured noise
// scale, the step-time fit, and the choice of B on synthetic curves (docs/batch-size.md,
// "Choosing the batch size while training"). Pure computations: no timing is measured here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  adaScaleGain,
  analyticOptimum,
  chooseBatchSize,
  fitStepTimes,
  goodput,
  probeSizes,
  statisticalEfficiency,
  StepTimes,
  TIMES_PER_BATCH_SIZE,
  type StepTimeLine,
} from '../src/train/adaptive/index.js';
import { GnsTracker } from '../src/train/index.js';
import { Rng } from '../src/util/rng.js';

const B0 = 64;

/**
 * B_simple measured by the loop's own estimator (two shards per step, as 2 workers give) on the
 * quadratic loss ½|θ − c_i|², whose per-sample gradient at θ = 0 is −c_i: the mean of c_i is
 * the gradient G, its spread Σ. `steps` steps of `batch` samples each.
 */
function measuredPhi(sample: (rng: Rng, out: Float64Array) => void, d: number, batch: number, steps: number): number | null {
  const rng = new Rng(7, 'adaptive-test');
  const tracker = new GnsTracker();
  const c = new Float64Array(d);
  let record = null;
  for (let step = 0; step < steps; step++) {
    const sums = [new Float64Array(d), new Float64Array(d)];
    for (let i = 0; i < batch; i++) {
      sample(rng, c);
      const s = sums[i < batch / 2 ? 0 : 1];
      for (let j = 0; j < d; j++) s[j] += c[j];
    }
    const sq = (v: Float64Array) => v.reduce((acc, x) => acc + x * x, 0);
    const total = sums[0].map((x, j) => x + sums[1][j]);
    record = tracker.update([{ count: batch / 2, gradSumSq: sq(sums[0]) }, { count: batch / 2, gradSumSq: sq(sums[1]) }], sq(total), batch);
  }
  return record?.bSimple ?? null;
}

test('a noiseless quadratic (every sample has the same gradient): φ ≈ 0, so E(B) ≈ B0/B and the AdaScale gain ≈ 1', () => {
  const phi = measuredPhi((_, out) => out.fill(0.5), 10, 256, 200);
  assert.ok(phi !== null && Math.abs(phi) < 1e-6, `φ = ${phi}`);
  for (const B of [64, 256, 1024, 4096]) {
    assert.ok(Math.abs(statisticalEfficiency(B, phi!, B0) - B0 / B) < 1e-6 * (B0 / B), `E(${B})`);
    assert.ok(Math.abs(adaScaleGain(B, phi!, B0) - 1) < 1e-6, `gain(${B}) = ${adaScaleGain(B, phi!, B0)}`);
  }
});

test('a nearly pure-noise quadratic (|G|² = 0.01, tr Σ = 100): φ ≈ 10⁴, so E(B) ≈ 1 and the gain ≈ B/B0', () => {
  const d = 100;
  const phi = measuredPhi((rng, out) => {
    for (let j = 0; j < d; j++) out[j] = 0.01 + rng.normal();
  }, d, 512, 600);
  assert.ok(phi !== null && phi > 5000 && phi < 20000, `φ = ${phi} (true value 10,000)`);
  for (const B of [128, 256, 512]) {
    const e = statisticalEfficiency(B, phi!, B0);
    assert.ok(e > 0.93 && e <= 1, `E(${B}) = ${e}`);
    const r = adaScaleGain(B, phi!, B0);
    assert.ok(r / (B / B0) > 0.93 && r <= B / B0, `gain(${B}) = ${r} vs B/B0 = ${B / B0}`);
  }
});

test('E(B0) = 1 and the gain is 1 at B0, and r = (B/B0)·E(B) lies between 1 and B/B0 for every φ', () => {
  for (const phi of [0, 1, 30, 300, 3000, 1e6]) {
    assert.equal(statisticalEfficiency(B0, phi, B0), 1);
    assert.equal(adaScaleGain(B0, phi, B0), 1);
    for (const B of [65, 128, 1000]) {
      const r = adaScaleGain(B, phi, B0);
      assert.ok(r >= 1 - 1e-12 && r <= B / B0 + 1e-12, `φ ${phi}, B ${B}: r = ${r}`);
    }
  }
});

test('the step-time fit recovers T(B) = a + b·B within 5% from noisy step times with outliers', () => {
  const truth: StepTimeLine = { fixedMs: 2, perSampleMs: 0.015 };
  for (let seed = 0; seed < 20; seed++) {
    const rng = new Rng(seed, 'step-times');
    const times = new StepTimes();
    for (const B of [16, 32, 64, 128, 256, 512]) {
      for (let i = 0; i < TIMES_PER_BATCH_SIZE; i++) {
        // ±5% log-normal jitter, and one step in ten taken over by another process (3x as long).
        const jitter = Math.exp(0.05 * rng.normal());
        const outlier = rng.nextU32() % 10 === 0 ? 3 : 1;
        times.add(2, B, (truth.fixedMs + truth.perSampleMs * B) * jitter * outlier);
      }
    }
    const fit = times.fit(2)!;
    assert.ok(Math.abs(fit.fixedMs / truth.fixedMs - 1) < 0.05, `seed ${seed}: fixed ${fit.fixedMs} ms vs ${truth.fixedMs}`);
    assert.ok(Math.abs(fit.perSampleMs / truth.perSampleMs - 1) < 0.05, `seed ${seed}: per sample ${fit.perSampleMs} ms vs ${truth.perSampleMs}`);
    assert.equal(times.fit(1), null, 'another worker count has its own fit');
  }
});

test('the fit needs two batch sizes, keeps both terms ≥ 0, and survives a checkpoint round trip', () => {
  assert.equal(fitStepTimes([{ batchSize: 64, ms: [3, 3.1] }]), null);
  const flat = fitStepTimes([{ batchSize: 64, ms: [3] }, { batchSize: 128, ms: [2.9] }])!;
  assert.equal(flat.perSampleMs, 0);
  assert.ok(flat.fixedMs > 2.9 && flat.fixedMs < 3, `fixed ${flat.fixedMs}: the (weighted) mean time`);
  const origin = fitStepTimes([{ batchSize: 100, ms: [1] }, { batchSize: 200, ms: [3] }])!;
  assert.equal(origin.fixedMs, 0);
  const times = new StepTimes();
  for (const [b, ms] of [[64, 3], [128, 4], [64, 3.2]]) times.add(1, b, ms);
  const copy = StepTimes.restore(JSON.parse(JSON.stringify(times.state())));
  assert.deepEqual(copy.fit(1), times.fit(1));
  assert.deepEqual(copy.state(), times.state());
});

test('the choice converges, 2x at a time, to the analytic optimum √(a·φ/b) of the synthetic goodput curve', () => {
  const line: StepTimeLine = { fixedMs: 2, perSampleMs: 0.015 };
  const phi = 200;
  const optimum = analyticOptimum(phi, line); // √(2·200/0.015) ≈ 163.3
  let B = 16;
  const path = [B];
  for (let i = 0; i < 10; i++) {
    const choice = chooseBatchSize({ current: B, phi, baseBatchSize: B0, line, min: 1, max: 9000, maxFactor: 2, minGain: 0 });
    assert.ok(choice.batchSize <= 2 * B && choice.batchSize >= B / 2, `at most 2x at once: ${B} -> ${choice.batchSize}`);
    B = choice.batchSize;
    path.push(B);
  }
  assert.deepEqual(path.slice(0, 5), [16, 32, 64, 128, B]);
  // The best integer is one of the two around the real optimum, whichever has more goodput.
  const best = [Math.floor(optimum), Math.ceil(optimum)].sort((x, y) => goodput(y, phi, B0, line) - goodput(x, phi, B0, line))[0];
  assert.equal(B, best, `path ${path.join(' → ')}; optimum ${optimum}`);
});

test('the choice respects the bounds, keeps B when the gain is below the threshold, and says why', () => {
  const line: StepTimeLine = { fixedMs: 2, perSampleMs: 0.015 };
  const at = (current: number, over: Partial<Parameters<typeof chooseBatchSize>[0]> = {}) =>
    chooseBatchSize({ current, phi: 200, baseBatchSize: B0, line, min: 64, max: 100, maxFactor: 2, minGain: 0.02, ...over });
  assert.deepEqual([at(64).batchSize, at(64).reason], [100, 'goodput']);
  assert.equal(at(64, { max: 9000 }).reason, 'limited', 'the optimum (163) lies beyond 2x');
  assert.equal(at(163, { max: 9000 }).reason, 'keep');
  assert.equal(at(163, { max: 9000 }).predictedGain, 0);
  // Near the optimum, a 1% gain does not move B (no dithering between neighbours).
  assert.equal(at(150, { max: 9000 }).batchSize, 150);
});

test('a larger fixed cost per step (more workers, a slower all-reduce) moves the choice to a larger B', () => {
  const phi = 150;
  const oneWorker: StepTimeLine = { fixedMs: 0.7, perSampleMs: 0.015 };
  const twoWorkers: StepTimeLine = { fixedMs: 1.9, perSampleMs: 0.0085 };
  const settle = (line: StepTimeLine) => {
    let B = B0;
    for (let i = 0; i < 8; i++) B = chooseBatchSize({ current: B, phi, baseBatchSize: B0, line, min: B0, max: 9000, maxFactor: 2, minGain: 0.02 }).batchSize;
    return B;
  };
  assert.ok(settle(twoWorkers) > settle(oneWorker), `2 workers ${settle(twoWorkers)} vs 1 worker ${settle(oneWorker)}`);
});

test('the probe measures B0, 2·B0 and 4·B0 within the bounds, downward at the upper bound', () => {
  assert.deepEqual(probeSizes(64, { min: 64, max: 9000 }), [64, 128, 256]);
  assert.deepEqual(probeSizes(64, { min: 64, max: 100 }), [64, 100]);
  assert.deepEqual(probeSizes(64, { min: 16, max: 64 }), [64, 32, 16]);
  assert.deepEqual(probeSizes(64, { min: 64, max: 64 }), [64]);
});
