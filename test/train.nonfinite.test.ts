// --on-nonfinite stop|skip (issue 6): a NaN in one sample's features makes its shard's loss and
// gradient non-finite for real; the loop must stop naming step and worker, or drop the step on
// every replica without touching the parameters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { train, type StepRecord } from '../src/index.js';
import type { Dataset } from '../src/data/index.js';
import { DptrainError } from '../src/errors.js';
import { makeClassification } from './helpers.js';

const options = { model: 'mlp:7-9-4', batchSize: 32, epochs: 2, lr: 0.1, momentum: 0.9, valSplit: 0, seed: 3 } as const;

/** The dataset with sample `row`'s first feature replaced by `value`. */
function poisoned(row: number, value: number): Dataset {
  const data = makeClassification(300, 7, 4);
  const x = Float32Array.from(data.x);
  x[row * data.inputDim] = value;
  return { ...data, x };
}

/** Steps the run logged as applied (onStep is not called for skipped steps). */
async function appliedSteps(opts: object, data: Dataset): Promise<{ steps: number[]; result: Awaited<ReturnType<typeof train>> }> {
  const steps: number[] = [];
  const result = await train({ ...options, ...opts }, { data, callbacks: [{ onStep: (r: StepRecord) => void steps.push(r.step) }] });
  return { steps, result };
}

for (const engine of [
  { engine: 'inline', workers: 1 },
  { engine: 'threads', workers: 2 },
] as const) {
  test(`${engine.engine}: --on-nonfinite stop (the default) names the step and the worker`, async () => {
    await assert.rejects(train({ ...options, ...engine }, { data: poisoned(17, Number.NaN) }), (error: unknown) => {
      assert.ok(error instanceof DptrainError, String(error));
      assert.equal(error.code, 'dptrain.train.nonFinite');
      assert.match(error.message, /became NaN at step \d+ \(epoch 1\) in the shard of (the main thread|worker [01])/);
      return true;
    });
  });

  test(`${engine.engine}: --on-nonfinite skip drops the step on every replica: parameters equal those before it`, async () => {
    const data = poisoned(17, Number.NaN);
    const { steps, result } = await appliedSteps({ ...engine, onNonfinite: 'skip' }, data);
    // One poisoned sample: one skipped step per epoch, every other step applied.
    assert.equal(result.summary.skippedSteps, 2);
    assert.equal(steps.length, result.summary.steps - 2);
    const skipped = Array.from({ length: result.summary.steps }, (_, i) => i).filter((i) => !steps.includes(i));
    assert.equal(skipped.length, 2);
    assert.ok(result.params.every(Number.isFinite));
    // Stopping right before the first skipped step, or right after it, gives the same bits.
    const before = await train({ ...options, ...engine, onNonfinite: 'skip', maxSteps: skipped[0] }, { data });
    const after = await train({ ...options, ...engine, onNonfinite: 'skip', maxSteps: skipped[0] + 1 }, { data });
    assert.equal(after.summary.skippedSteps, 1);
    assert.deepEqual(Buffer.from(after.params.buffer), Buffer.from(before.params.buffer));
  });
}

test('--on-nonfinite skip stops after --max-nonfinite-in-row skipped steps in a row', async () => {
  // With the full batch every step holds the poisoned sample.
  await assert.rejects(train({ ...options, batchSize: 'full', epochs: 10, onNonfinite: 'skip', maxNonfiniteInRow: 3 }, { data: poisoned(5, Number.POSITIVE_INFINITY) }), (error: unknown) => {
    assert.ok(error instanceof DptrainError);
    assert.equal(error.code, 'dptrain.train.nonFiniteInRow');
    assert.match(error.message, /^3 steps in a row had a non-finite loss or gradient \(the last at step 2\)/);
    return true;
  });
});
