// A step that fails on every attempt (docs/reliability.md: the retry budget is
// exhausted): its worker cuts the connection whenever it gets that step and comes back each time.
// After maxAttempts (8) the coordinator stops with a clear error instead of looping; the last
// checkpoint is intact, and a --resume without the fault finishes bit-identical to the inline engine.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { runWorker } from '../src/engine/index.js';
import { tempDir } from './helpers.js';
import { finalParams, killAll, referenceParams, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

const spec: RunSpec = { dataset: 'synthetic:spirals?n=3000&classes=3&seed=2', model: 'mlp:2-64-64-3', batchSize: 300, maxSteps: 30, reduceChunks: 4 };

test('a step that fails on every attempt stops the run after maxAttempts with workerFailed; the last checkpoint resumes to the same bits', { timeout: 90_000 }, async () => {
  const root = tempDir('dptrain-ws-');
  const out = path.join(root, 'run');
  const ckpt = path.join(root, 'ckpt');
  const first = await startCoordinator(['--min-workers', '1', '--rejoin-timeout', '30', ...trainArgs(spec, out), '--checkpoint-dir', ckpt, '--checkpoint-every', '5steps']);
  const stop = new AbortController();
  const warnings: string[] = [];
  const log = { info() {}, warn: (_fields: object, message: string) => void warnings.push(message) };
  const worker = runWorker({ url: first.url, name: 'crashy', threads: 1, log, reconnectTimeoutMs: 30_000, faults: [{ dropAtStep: 12 }] }, stop.signal).catch((error: unknown) => error);

  assert.equal(await first.exited, 1, first.log());
  stop.abort();
  await worker;
  assert.match(first.text.join('\n'), /^dptrain: error: step 12 failed 8 times \(last: worker "crashy": .*\) — see the warnings above; the run stopped before applying this step \[dptrain\.engine\.workerFailed\]$/m);
  assert.equal(warnings.filter((w) => /cutting the connection at step 12/.test(w)).length, 8, 'one cut per attempt');
  assert.equal(first.messages(/^recomputing step 12 /).length, 7, first.log());
  // Its only worker gone, the coordinator says it waits for one rather than "with 0 worker(s)".
  assert.equal(first.messages(/^recomputing step 12 with 0 worker/).length, 0, first.log());
  // Nothing after step 12 was applied; the checkpoints up to step 10 are whole.
  assert.deepEqual(fs.readdirSync(ckpt).sort(), ['ckpt-000000005.safetensors', 'ckpt-000000010.safetensors']);

  const second = await startCoordinator(['--min-workers', '1', '--resume', ckpt]);
  const healthy = startWorker(second.url, 'healthy');
  assert.equal(await second.exited, 0, second.log());
  assert.equal(await healthy.exited, 0, healthy.log());
  assert.ok(second.messages(/^resuming from .*ckpt-000000010\.safetensors/).length === 1, second.log());
  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  assert.deepEqual(ws, inline);
});
