// A replica that diverges (its parameters perturbed after an update, docs/reliability.md
// row 22) is found by the parameter-hash check, named and dropped; it rejoins with the
// coordinator's parameters and the run ends bit-identical to the inline engine (--reduce-chunks).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { runWorker } from '../src/engine/index.js';
import { tempDir } from './helpers.js';
import { finalParams, killAll, referenceParams, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

const spec: RunSpec = { dataset: 'synthetic:spirals?n=3000&classes=3&seed=2', model: 'mlp:2-64-64-3', batchSize: 300, maxSteps: 60, reduceChunks: 4 };

test('a replica perturbed after update 10 is named by the hash check, dropped, rejoins, and the run is bit-identical', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir('dptrain-ws-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '2', '--hash-every', '1', ...trainArgs(spec, out)]);
  const w1 = startWorker(coordinator.url, 'w1');
  // w2 runs in this process (a real local engine and real sockets) with a fault hook.
  const warnings: string[] = [];
  const log = { info() {}, warn: (_fields: object, message: string) => void warnings.push(message) };
  const w2 = runWorker({ url: coordinator.url, name: 'w2', threads: 1, log, faults: [{ afterVersion: 10, perturb: 1e-3 }] });

  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await w1.exited, 0, w1.log());
  const outcome = await w2;
  assert.ok(outcome.steps > 0);
  assert.ok(warnings.some((w) => /perturbed by 0\.001 after version 10/.test(w)), warnings.join('\n'));
  const diverged = coordinator.messages(/^dropping worker "w2" .*: its parameters diverged/);
  assert.equal(diverged.length, 1, coordinator.log());
  assert.match(diverged[0], /at version 10/);
  assert.ok(coordinator.messages(/^worker "w2".* joins at step/).length >= 2, 'w2 joined again after the drop');
  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  assert.deepEqual(ws, inline);
});
