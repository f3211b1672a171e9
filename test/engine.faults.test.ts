// A worker thread that throws or exits mid-step: the shard is recomputed and nothing changes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { train, type TrainConfig } from '../src/index.js';
import { makeClassification } from './helpers.js';

const data = makeClassification(200, 5, 3, 5);
const options: Partial<TrainConfig> = { model: 'mlp:5-8-3', batchSize: 30, epochs: 2, lr: 0.05, engine: 'threads', workers: 2, seed: 2 };

function collectWarnings() {
  const warnings: string[] = [];
  return { warnings, logger: { info() {}, warn: (_fields: object, message: string) => void warnings.push(message) } };
}

for (const kind of ['throw', 'exit'] as const) {
  test(`a worker thread that ${kind === 'throw' ? 'throws' : 'exits'} mid-step is replaced and the run ends with the same parameters`, async () => {
    const clean = await train(options, { data });
    const { warnings, logger } = collectWarnings();
    const faulty = await train(options, { data, logger, faults: [{ step: 3, worker: 1, kind }] });
    assert.deepEqual(Buffer.from(faulty.params.buffer), Buffer.from(clean.params.buffer));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /worker 1's shard of step 3 failed/);
    // Worker 0 stopped at the barrier because worker 1 failed: aborted, not a failure of its own.
    assert.doesNotMatch(warnings[0], /worker 0's shard/);
    assert.match(warnings[0], kind === 'throw' ? /injected fault/ : /exited/);
    assert.match(warnings[0], /recomputing the step on live threads/);
  });
}

test('a task that keeps failing stops the run with an engine error naming it', async () => {
  await assert.rejects(
    train(options, { data, faults: [0, 1, 2].map(() => ({ step: 1, worker: 0, kind: 'throw' as const })) }),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, 'dptrain.engine.workerFailed');
      assert.match(error.message, /worker 0's shard of step 1 failed .*gave up after 3 attempts/);
      return true;
    },
  );
});
