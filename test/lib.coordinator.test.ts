// docs/library.md, "Across hosts from the library": withCoordinator() around train({ engine: 'ws' })
// runs the coordinator in this process; a real `dptrain worker` joins it and computes the steps.
// The data, logger and signal of the train() call fill what the coordinator options leave out.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { train, withCoordinator } from '../src/index.js';
import { makeClassification } from './helpers.js';
import { freePort, killAll, startWorker } from './ws.helpers.js';

after(killAll);

test('withCoordinator({ port, minWorkers: 1, shipData: true }) + train({ engine: "ws" }, { data }) trains on one dptrain worker', async () => {
  const port = await freePort();
  const data = makeClassification(200, 2, 2);
  const lines: string[] = [];
  const logger = { info: (_fields: object, message: string) => void lines.push(message), warn: (_fields: object, message: string) => void lines.push(message) };
  const worker = startWorker(`127.0.0.1:${port}`, 'w1');
  const { summary } = await withCoordinator({ port, minWorkers: 1, shipData: true }, () => train({ engine: 'ws', model: 'mlp:2-8-2', epochs: 1, batchSize: 60, valSplit: 0.1 }, { data, logger }));
  assert.equal(summary.engine, 'ws');
  assert.equal(summary.steps, 3, 'the 180 training samples in batches of 60');
  assert.ok(lines.some((line) => line.startsWith(`coordinator at ws://127.0.0.1:${port}/`)), lines.join('\n'));
  assert.equal(await worker.exited, 0, worker.log());
});
