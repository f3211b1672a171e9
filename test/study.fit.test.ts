import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyRegime, fitScaling, predictSteps, REGIME_BOUNDS, scalingEfficiency } from '../src/study/index.js';

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const batchSizes = [1, 4, 16, 64, 256, 1024, 4096];

test('the fit recovers S_min and E_min exactly from noiseless steps-to-target', () => {
  const sMin = 200;
  const eMin = 12_800;
  const fit = fitScaling(batchSizes.map((b) => ({ batchSize: b, steps: sMin + eMin / b })));
  assert.ok(relative(fit.sMin, sMin) < 1e-9, `S_min ${fit.sMin}`);
  assert.ok(relative(fit.eMin, eMin) < 1e-9, `E_min ${fit.eMin}`);
  assert.ok(relative(fit.bCrit!, eMin / sMin) < 1e-9);
  assert.ok(fit.rmsRelativeError < 1e-12);
  assert.equal(fit.points, batchSizes.length);
});

test('the fit recovers S_min and E_min within 10% from steps with ±8% seed noise and several seeds', () => {
  const sMin = 50;
  const eMin = 3_000;
  const noise = [0.92, 1.08, 1.03, 0.97, 1.05, 0.95, 1.0];
  const points = batchSizes.flatMap((b, i) =>
    [0, 1, 2].map((seed) => ({ batchSize: b, steps: Math.round((sMin + eMin / b) * noise[(i + seed * 3) % noise.length]) })),
  );
  const fit = fitScaling(points);
  assert.ok(relative(fit.sMin, sMin) < 0.1, `S_min ${fit.sMin}`);
  assert.ok(relative(fit.eMin, eMin) < 0.1, `E_min ${fit.eMin}`);
  assert.ok(relative(fit.bCrit!, eMin / sMin) < 0.2, `B_crit ${fit.bCrit}`);
});

test('steps that fall as 1/B over the whole range give S_min = 0 and no B_crit', () => {
  const fit = fitScaling([1, 2, 4, 8].map((b) => ({ batchSize: b, steps: (1000 / b) * (b === 4 ? 0.97 : 1) })));
  assert.equal(fit.sMin, 0);
  assert.equal(fit.bCrit, null);
  assert.ok(relative(fit.eMin, 1000) < 0.05);
});

test('steps that do not fall with B give E_min = 0 and B_crit = 0', () => {
  const fit = fitScaling([1, 2, 4, 8].map((b) => ({ batchSize: b, steps: 100 + b })));
  assert.equal(fit.eMin, 0);
  assert.equal(fit.bCrit, 0);
});

test('a fit needs steps at two or more batch sizes', () => {
  assert.throws(() => fitScaling([{ batchSize: 8, steps: 10 }, { batchSize: 8, steps: 12 }]), /2 or more batch sizes/);
  assert.throws(() => fitScaling([{ batchSize: 8, steps: 10 }, { batchSize: 16, steps: Number.POSITIVE_INFINITY }]), RangeError);
});

test('regimes: perfect scaling up to B_crit, maximal data parallelism from 10·B_crit, diminishing returns between', () => {
  assert.deepEqual(REGIME_BOUNDS, { perfectUpTo: 1, maximalFrom: 10 });
  assert.equal(classifyRegime(10, 100), 'perfect scaling');
  assert.equal(classifyRegime(100, 100), 'perfect scaling');
  assert.equal(classifyRegime(101, 100), 'diminishing returns');
  assert.equal(classifyRegime(999, 100), 'diminishing returns');
  assert.equal(classifyRegime(1000, 100), 'maximal data parallelism');
  assert.equal(classifyRegime(1e6, null), 'perfect scaling');
});

test('under the fitted curve a doubling at B_crit cuts steps by 4/3 and efficiency is 1/2 there', () => {
  const fit = { sMin: 100, eMin: 6400 };
  const bCrit = 64;
  assert.ok(relative(predictSteps(fit, bCrit) / predictSteps(fit, 2 * bCrit), 4 / 3) < 1e-12);
  // Efficiency against a very small B₀ tends to 1/(1 + B/B_crit) = 1/2 at B_crit.
  const tiny = { batchSize: 1e-6, steps: predictSteps(fit, 1e-6) };
  assert.ok(Math.abs(scalingEfficiency(tiny, { batchSize: bCrit, steps: predictSteps(fit, bCrit) }) - 0.5) < 1e-6);
});
