// --batch-size auto on the ws engine (issue 19): real coordinator and worker processes on
// 127.0.0.1; a worker joining mid-run is a new worker count (an `adapt` record says so), and with
// fixed reduce chunks and a given step-time model the run is bit-identical to the inline engine.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { finalParams, killAll, startCoordinator, startWorker, waitForSteps } from './ws.helpers.js';
import { train } from '../src/train/index.js';

after(killAll);

const dataset = 'synthetic:spirals?n=3000&classes=3&seed=2';
const model = 'mlp:2-64-64-3';
const auto = { batchSize: 'auto', baseBatchSize: 32, adaptEvery: 10, stepTimeModel: '1,0.005', maxSteps: 400, epochs: 1000, seed: 0, reduceChunks: 6 } as const;
const args = ['--batch-size', 'auto', '--base-batch-size', '32', '--adapt-every', '10', '--step-time-model', '1,0.005', '--max-steps', '400', '--epochs', '1000', '--seed', '0', '--reduce-chunks', '6'];

test('auto on the ws engine: a worker that joins mid-run is a new worker count, and the run equals the inline engine bit for bit', { timeout: 90_000 }, async () => {
  const out = path.join(tempDir('dptrain-ws-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '2', '--allreduce', 'star', '--dataset', dataset, '--model', model, ...args, '--out', out]);
  startWorker(coordinator.url, 'w1');
  startWorker(coordinator.url, 'w2');
  await waitForSteps(out, 5);
  const late = startWorker(coordinator.url, 'w3');
  await coordinator.waitFor(/^worker "w3" .* joins at step \d+/);
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await late.exited, 0, late.log());

  const records = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; reason?: string; workers?: number; batchSize: number });
  const joined = records.find((r) => r.type === 'adapt' && r.reason === 'workersChanged');
  assert.ok(joined && joined.workers === 3, 'an adapt record for the third worker');
  assert.ok(new Set(records.filter((r) => r.type === 'step').map((r) => r.batchSize)).size >= 3, 'B changed');
  const sizes: number[] = [];
  const losses: number[] = [];
  const inline = await train({ ...auto, dataset, model, engine: 'inline', workers: 1 }, { callbacks: [{ onStep: (r) => void (sizes.push(r.batchSize), losses.push(r.loss)) }] });
  const steps = records.filter((r) => r.type === 'step') as unknown as { batchSize: number; loss: number }[];
  assert.deepEqual(steps.map((r) => r.batchSize), sizes, 'the same batch sizes');
  assert.deepEqual(steps.map((r) => r.loss), losses, 'the same losses');
  assert.deepEqual(await finalParams(out, model), inline.params);
});
