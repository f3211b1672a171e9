// No workers left (docs/reliability.md), with real processes on 127.0.0.1: the
// coordinator of a run whose only worker was killed waits --rejoin-timeout for one to join. When
// none does it ends the run at the last finished step (outputs and checkpoint written, stopReason
// noWorkers) and exits 1 with dptrain.engine.noWorkers, naming the step and --resume; when one does, it
// gets the current parameters and the run ends as if nothing happened (bit-identical with fixed
// reduce chunks). Fewer than --min-workers but at least one is not a pause: the run goes on with
// those left (ws.training covers a run that loses one of three workers).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { finalParams, killAll, Proc, referenceParams, startCoordinator, startWorker, stepRecords, trainArgs, waitForSteps, type RunSpec } from './ws.helpers.js';

after(killAll);

const spec: RunSpec = { dataset: 'synthetic:spirals?n=3000&classes=3&seed=2', model: 'mlp:2-64-64-3', batchSize: 300, maxSteps: 300, reduceChunks: 4 };

test('a run whose only worker is killed waits --rejoin-timeout, then stops with exit 1 and dptrain.engine.noWorkers naming the step and --resume, its outputs and a checkpoint of the last finished step written (stopReason noWorkers)', { timeout: 60_000 }, async () => {
  const root = tempDir('dptrain-ws-min-');
  const out = path.join(root, 'run');
  const ckpt = path.join(root, 'ckpt');
  const coordinator = await startCoordinator(['--min-workers', '1', '--rejoin-timeout', '2', ...trainArgs(spec, out), '--checkpoint-dir', ckpt]);
  const w1 = startWorker(coordinator.url, 'w1');
  await waitForSteps(out, 5, 40_000);
  w1.kill('SIGKILL');
  const waiting = await coordinator.waitFor(/^no workers left at step \d+; waiting up to 2 s for one to join/);
  const waitedFrom = Date.now();
  const step = Number(/at step (\d+)/.exec(waiting.msg)![1]);
  assert.equal(await coordinator.exited, 1, coordinator.log());
  const waitedMs = Date.now() - waitedFrom;
  assert.ok(waitedMs >= 1_500, `it waited (${waitedMs} ms)`);
  const checkpoint = path.join(ckpt, `ckpt-${String(step).padStart(9, '0')}.safetensors`);
  assert.deepEqual(coordinator.text, [
    `dptrain: error: no worker was left to compute step ${step}, and none joined within 2 s (--rejoin-timeout; the warnings above say why they left), so the run ended there: ` +
      `wrote ${out}/{summary.json,final.safetensors} and checkpoint ${checkpoint} (continue with --resume ${ckpt}) [dptrain.engine.noWorkers]`,
  ]);
  assert.equal(stepRecords(out).length, step, 'no step applied without a worker');
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { stopReason: string; steps: number };
  assert.deepEqual([summary.stopReason, summary.steps], ['noWorkers', step]);
  assert.ok(fs.existsSync(path.join(out, 'final.safetensors')));
  assert.ok(fs.existsSync(checkpoint), fs.readdirSync(ckpt).join(', '));
});

test('a run whose only worker is killed continues when another joins within --rejoin-timeout: it gets the current parameters and the run ends bit-identical', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir('dptrain-ws-min-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '1', '--rejoin-timeout', '60', '--hash-every', '1', ...trainArgs(spec, out)]);
  const w1 = startWorker(coordinator.url, 'w1');
  await waitForSteps(out, 5, 40_000);
  w1.kill('SIGKILL');
  const waiting = await coordinator.waitFor(/^no workers left at step \d+; waiting up to 60 s for one to join/);
  const step = Number(/at step (\d+)/.exec(waiting.msg)![1]);
  const w2 = startWorker(coordinator.url, 'w2');
  const joined = await coordinator.waitFor(/^worker "w2" .* joins at step \d+/, 40_000);
  assert.match(joined.msg, new RegExp(`joins at step ${step} with parameters of version ${step}`));
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await w2.exited, 0, w2.log());
  assert.deepEqual(coordinator.messages(/diverged/), []);
  assert.equal(stepRecords(out).length, spec.maxSteps);
  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  assert.deepEqual(ws, inline, 'bit-identical to the inline engine with the same chunks');
});

test('--rejoin-timeout must be a number of seconds (exit 2, naming the flag)', { timeout: 30_000 }, async () => {
  for (const bad of ['soon', '-1', '1e9']) {
    const coordinator = new Proc(['coordinator', '--listen', '127.0.0.1:0', '--rejoin-timeout', bad, '--dataset', spec.dataset]);
    assert.equal(await coordinator.exited, 2);
    assert.match(coordinator.text.join('\n'), /--rejoin-timeout must be (a finite number|a number of seconds from 0 to 86400) \(got .*\) \[dptrain\.config\.badOption\]/);
  }
});
