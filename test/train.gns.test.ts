// The gradient noise scale logged per step (issue: threads engine; docs/batch-size.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { train, type StepRecord, type TrainConfig } from '../src/index.js';

// Noiseless linear regression with x ~ N(0, I_d): the per-sample gradient is g = 2(x·e)x with
// e = w − w*, so G = 2e, E|g|² = 4|e|²(d + 2), tr Σ = 4|e|²(d + 1) and B_simple = d + 1 wherever
// the parameters are (docs/batch-size.md). A learning rate of 1e-7 keeps the
// parameters where they started, so every step measures the same quantity.
const d = 15;
const base: Partial<TrainConfig> = {
  dataset: `synthetic:teacher?n=20000&d=${d}&hidden=0&noise=0&seed=3`,
  model: `linreg:${d}-1`,
  batchSize: 256,
  epochs: 5,
  lr: 1e-7,
  momentum: 0,
  valSplit: 0,
  seed: 1,
};

async function lastGns(options: Partial<TrainConfig>) {
  let last: StepRecord | null = null;
  await train({ ...base, ...options }, { callbacks: [{ onStep: (r) => void (last = r) }] });
  return (last as StepRecord | null)!.gns;
}

test('4 worker threads measure B_simple within 10% of d + 1 on noiseless linear regression', async () => {
  const gns = await lastGns({ engine: 'threads', workers: 4 });
  assert.ok(gns && gns.bSimple !== null, 'a gns record');
  assert.ok(Math.abs(gns.bSimple! - (d + 1)) < 0.1 * (d + 1), `B_simple ${gns.bSimple} vs d + 1 = ${d + 1}`);
  assert.ok(gns.trSigma > 0 && gns.gradSq > 0);
});

test('fixed reduce chunks give the estimator more shards, even with one worker', async () => {
  const gns = await lastGns({ engine: 'inline', workers: 1, reduceChunks: 8 });
  assert.ok(gns && gns.bSimple !== null);
  assert.ok(Math.abs(gns.bSimple! - (d + 1)) < 0.1 * (d + 1), `B_simple ${gns.bSimple}`);
});

test('one gradient slot gives no estimate', async () => {
  const gns = await lastGns({ engine: 'inline', workers: 1, maxSteps: 3 });
  assert.equal(gns, null);
});
