// --on-nonfinite stop|skip (issue 6): a NaN in one sample's features makes its shard's loss and
// gradient non-finite for real; the loop must stop naming step and worker, or drop the step on
// every replica without touching the parameters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { train, type StepRecord } from '../src/index.js';
import type { Dataset } from '../src/data/index.js';
import { DptrainError } from '../src/errors.js';
import fs from 'node:fs';
import path from 'node:path';
import { makeClassification, runCli, tempDir } from './helpers.js';

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
      assert.match(error.message, /became NaN at epoch 1\/2 step \d+\/10 \(run step \d+\) in the shard of (the main thread|worker [01])/);
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
    assert.match(error.message, /^3 steps in a row had a non-finite loss or gradient, the last at epoch 3\/10 step 1\/1 \(run step 2\) — /);
    return true;
  });
});

test('`dptrain train` names a non-finite step as the log does: epoch and step within it from 1, the run step from 0 as metrics.jsonl records it', () => {
  const dir = tempDir('dptrain-nonfinite-cli-');
  // Every row's features (1e30) make the squared error overflow float32: each step is non-finite.
  const file = path.join(dir, 'huge.csv');
  fs.writeFileSync(file, ['a,b,c,d,y', ...Array.from({ length: 40 }, (_, i) => `1e30,1e30,1e30,1e30,${(i % 7) + 0.5}`)].join('\n') + '\n');
  const args = ['train', '--dataset', `csv:${file}`, '--model', 'linreg:4-1', '--batch-size', '20', '--epochs', '2', '--val-split', '0', '--engine', 'inline'];
  const stop = runCli(args);
  assert.equal(stop.status, 1, stop.stderr);
  assert.match(stop.stderr, /the loss or gradient became (NaN|Infinity) at epoch 1\/2 step 1\/2 \(run step 0\) in the shard of the main thread — .*\[dptrain\.train\.nonFinite\]/);
  const out = path.join(dir, 'run');
  const skip = runCli([...args, '--on-nonfinite', 'skip', '--max-nonfinite-in-row', '3', '--out', out]);
  assert.equal(skip.status, 1, skip.stderr);
  assert.match(skip.stderr, /WARN: epoch 1\/2 step 2\/2 \(run step 1\) skipped: /);
  assert.match(skip.stderr, /3 steps in a row had a non-finite loss or gradient, the last at epoch 2\/2 step 1\/2 \(run step 2\) — .*\[dptrain\.train\.nonFiniteInRow\]/);
  const skipped = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((r) => r.type === 'skip');
  assert.deepEqual(skipped.map((r) => r.step), [0, 1, 2], 'the run steps of the messages');
});
