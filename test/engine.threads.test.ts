// The threads engine against the inline reference (issue: threads engine).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { train, type StepRecord, type TrainConfig } from '../src/index.js';
import { exactnessKernelSets, makeClassification, maxRelativeDifference } from './helpers.js';

// 230 training samples with B = 37: shards of 37/W do not divide evenly, and each epoch
// (7 steps) ends in a partial batch of 8; 20 steps cross two epoch boundaries.
const data = makeClassification(256, 6, 3, 7);
const base: Partial<TrainConfig> = {
  model: 'mlp:6-10-8-3',
  batchSize: 37,
  epochs: 3,
  maxSteps: 20,
  lr: 0.05,
  momentum: 0.9,
  valSplit: 0.1,
  seed: 11,
};

async function run(options: Partial<TrainConfig>) {
  const steps: StepRecord[] = [];
  const result = await train({ ...base, ...options }, { data, callbacks: [{ onStep: (r) => void steps.push(r) }] });
  return { ...result, steps };
}

test('the partial last batch and uneven shards are part of the plan', async () => {
  const { steps } = await run({ engine: 'inline', workers: 1 });
  assert.equal(steps.length, 20);
  assert.equal(steps[6].batchSize, 230 - 6 * 37);
});

test('Adam state lives in shared memory and matches the inline engine', async () => {
  const options = { optimizer: 'adam', momentum: 0, lr: 0.01, weightDecay: 1e-3, clipNorm: 1 } as const;
  const inline = await run({ ...options, engine: 'inline', workers: 1 });
  const threads = await run({ ...options, engine: 'threads', workers: 3 });
  const diff = maxRelativeDifference(inline.params, threads.params);
  assert.ok(diff < 1e-5, `max relative difference ${diff}`);
});

test('each step reports compute per worker, reduce, update and idle time', async () => {
  const { steps, summary } = await run({ engine: 'threads', workers: 2 });
  for (const s of steps) {
    assert.equal(s.timing.computeMs.length, 2);
    assert.ok(s.timing.computeMs.every((ms) => ms >= 0));
    assert.ok(s.timing.reduceMs >= 0 && s.timing.updateMs >= 0 && s.timing.idleMs >= 0);
  }
  assert.equal(summary.timing.workerComputeMs.length, 2);
  assert.ok(summary.timing.slowestWorker !== null);
  const shares = summary.timing.share;
  assert.ok(Math.abs(shares.compute + shares.reduce + shares.update + shares.idle - 1) < 1e-9);
});

for (const { kernels, skip } of await exactnessKernelSets()) {
  for (const workers of [1, 2, 3, 4]) {
    test(`${workers} worker thread(s) match the inline engine after 20 steps with the ${kernels} kernels (max relative difference < 1e-5)`, { skip }, async () => {
      const inline = await run({ engine: 'inline', workers: 1, kernels });
      const threads = await run({ engine: 'threads', workers, kernels });
      assert.equal(threads.summary.workers, workers);
      assert.equal(threads.summary.engine, 'threads');
      const diff = maxRelativeDifference(inline.params, threads.params);
      assert.ok(diff < 1e-5, `max relative difference ${diff}`);
      for (let i = 0; i < 20; i++) {
        assert.equal(threads.steps[i].batchSize, inline.steps[i].batchSize);
        assert.ok(Math.abs(threads.steps[i].loss - inline.steps[i].loss) < 1e-4 * Math.abs(inline.steps[i].loss) + 1e-6);
      }
      assert.ok(Math.abs(threads.history.at(-1)!.valLoss! - inline.history.at(-1)!.valLoss!) < 1e-4);
    });
  }

  test(`one worker thread is bit-identical to the inline engine with the ${kernels} kernels`, { skip }, async () => {
    const inline = await run({ engine: 'inline', workers: 1, kernels });
    const threads = await run({ engine: 'threads', workers: 1, kernels });
    assert.deepEqual(Buffer.from(threads.params.buffer), Buffer.from(inline.params.buffer));
  });

  test(`two runs with the same worker count are bit-identical with the ${kernels} kernels`, { skip }, async () => {
    for (const workers of [2, 3]) {
      const a = await run({ engine: 'threads', workers, kernels });
      const b = await run({ engine: 'threads', workers, kernels });
      assert.deepEqual(Buffer.from(a.params.buffer), Buffer.from(b.params.buffer), `${workers} workers`);
    }
  });

  test(`with fixed reduce chunks, every worker count and the inline engine give the same bits with the ${kernels} kernels`, { skip }, async () => {
    const reference = await run({ engine: 'inline', workers: 1, reduceChunks: 4, kernels });
    for (const workers of [1, 2, 3, 4]) {
      const threads = await run({ engine: 'threads', workers, reduceChunks: 4, kernels });
      assert.deepEqual(Buffer.from(threads.params.buffer), Buffer.from(reference.params.buffer), `${workers} workers`);
    }
    // And they still agree with the plain inline engine up to float rounding.
    const plain = await run({ engine: 'inline', workers: 1, kernels });
    assert.ok(maxRelativeDifference(plain.params, reference.params) < 1e-5);
  });
}
