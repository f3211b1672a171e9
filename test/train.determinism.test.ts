import assert from 'node:assert/strict';
import { test } from 'node:test';
import { train } from '../src/index.js';
import { makeClassification, maxRelativeDifference } from './helpers.js';

const data = makeClassification(300, 7, 4);
const options = { model: 'mlp:7-9-4', batchSize: 32, epochs: 2, lr: 0.1, momentum: 0.9, valSplit: 0.2, seed: 3 } as const;

test('the same seed gives bit-identical parameters', async () => {
  const a = await train(options, { data });
  const b = await train(options, { data });
  assert.deepEqual(Buffer.from(a.params.buffer), Buffer.from(b.params.buffer));
});

test('a different seed gives different parameters', async () => {
  const a = await train(options, { data });
  const b = await train({ ...options, seed: 4 }, { data });
  assert.notDeepEqual(Buffer.from(a.params.buffer), Buffer.from(b.params.buffer));
});

test('micro-batching leaves the parameters after 10 steps equal within float32 rounding', async () => {
  const whole = await train({ ...options, maxSteps: 10 }, { data });
  for (const microBatch of [1, 5, 7]) {
    const split = await train({ ...options, maxSteps: 10, microBatch }, { data });
    const worst = maxRelativeDifference(whole.params, split.params);
    assert.ok(worst < 1e-5, `micro-batch ${microBatch}: max relative difference ${worst}`);
  }
});

test('training lowers the loss', async () => {
  const result = await train({ ...options, epochs: 5 }, { data });
  assert.ok(result.history[4].trainLoss < result.history[0].trainLoss * 0.8, JSON.stringify(result.history.map((e) => e.trainLoss)));
});

test('early stopping ends the run when the monitored metric stalls', async () => {
  // A learning rate this small barely moves the loss, so no epoch improves by minDelta.
  const result = await train({ ...options, epochs: 20, lr: 1e-9, momentum: 0, patience: 2, minDelta: 0.01 }, { data });
  assert.equal(result.summary.stopReason, 'earlyStopping');
  assert.equal(result.history.length, 3);
});
