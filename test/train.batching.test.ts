import assert from 'node:assert/strict';
import { test } from 'node:test';
import { train, type StepRecord } from '../src/index.js';
import { makeClassification } from './helpers.js';

// The Keras FAQ example (docs/batch-size.md, "Terms"): N = 1050, B = 100.
const data = makeClassification(1050, 4, 3);
const base = { model: 'logreg:4-3', valSplit: 0, epochs: 1, lr: 0.1, momentum: 0 } as const;

async function stepsOf(options: Parameters<typeof train>[0]): Promise<StepRecord[]> {
  const steps: StepRecord[] = [];
  await train({ ...base, ...options }, { data, callbacks: [{ onStep: (r) => void steps.push(r) }] });
  return steps;
}

test('N = 1050 with B = 100 takes 11 steps per epoch, the last over 50 samples', async () => {
  const steps = await stepsOf({ batchSize: 100 });
  assert.equal(steps.length, 11);
  assert.deepEqual(steps.slice(0, 10).map((s) => s.batchSize), Array(10).fill(100));
  assert.equal(steps[10].batchSize, 50);
  assert.equal(steps[10].samples, 1050);
});

test('--drop-last gives 10 steps of 100', async () => {
  const steps = await stepsOf({ batchSize: 100, dropLast: true });
  assert.equal(steps.length, 10);
  assert.ok(steps.every((s) => s.batchSize === 100));
});

test('--batch-size full gives one step over all 1050 samples', async () => {
  const steps = await stepsOf({ batchSize: 'full' });
  assert.equal(steps.length, 1);
  assert.equal(steps[0].batchSize, 1050);
});

test('B = 1 gives 1050 steps per epoch', async () => {
  const steps = await stepsOf({ batchSize: 1 });
  assert.equal(steps.length, 1050);
  assert.ok(steps.every((s) => s.batchSize === 1));
});

test('steps count from 0 over the whole run and epochs repeat the plan', async () => {
  const steps = await stepsOf({ batchSize: 100, epochs: 2 });
  assert.equal(steps.length, 22);
  assert.deepEqual(steps.map((s) => s.step), [...Array(22).keys()]);
  assert.equal(steps[11].epoch, 1);
  assert.equal(steps[21].samples, 2100);
});

test('--max-steps ends the run early', async () => {
  const result = await train({ ...base, batchSize: 100, epochs: 3, maxSteps: 15 }, { data });
  assert.equal(result.summary.steps, 15);
  assert.equal(result.summary.stopReason, 'maxSteps');
  assert.equal(result.history.length, 2);
});
