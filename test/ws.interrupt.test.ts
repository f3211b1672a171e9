// Ctrl-C of `dptrain coordinator` (issue 12 item 4): the step in progress finishes, the outputs and
// a checkpoint are written, every worker is told that the run ended (done "interrupted") and exits
// 0 saying so, the coordinator exits 130; --resume with new workers continues exactly. With no
// worker left to finish the step, the run ends before it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { finalParams, freePort, kernelsOfRun, killAll, referenceParams, startCoordinator, startCoordinatorOn, startWorker, trainArgs, waitForSteps, type RunSpec } from './ws.helpers.js';
import { train } from '../src/train/index.js';

after(killAll);

// --reduce-chunks 2: the ws result is bit-identical to the inline engine's, the reference of the resumed run.
const spec: RunSpec = { dataset: 'synthetic:blobs?n=2000&d=20&classes=4&seed=1', model: 'mlp:20-32-4', batchSize: 32, maxSteps: 800, seed: 5, reduceChunks: 2 };

test('Ctrl-C of `dptrain coordinator` with 2 workers: the workers exit 0 saying the coordinator ended the run (interrupted), the coordinator exits 130 with summary.json, final.safetensors and a checkpoint; --resume finishes bit-identical', { timeout: 120_000 }, async () => {
  const root = tempDir();
  const out = path.join(root, 'run');
  const ckpt = path.join(root, 'ckpt');
  const coordinator = await startCoordinator(['--min-workers', '2', ...trainArgs(spec, out), '--checkpoint-dir', ckpt]);
  const workers = [startWorker(coordinator.url, 'w1'), startWorker(coordinator.url, 'w2')];
  await coordinator.waitFor(/^epoch 1\//, 60_000);
  coordinator.kill('SIGINT');
  assert.equal(await coordinator.exited, 130, coordinator.log());
  for (const w of workers) {
    assert.equal(await w.exited, 0, w.log());
    assert.equal(w.messages(/^the coordinator ended the run \(interrupted\)$/).length, 1, w.log());
    assert.equal(w.messages(/^worker "w\d" done: \d+ steps? served$/).length, 1, w.log());
    assert.doesNotMatch(w.log(), /sessionEnded|closed the connection without ending the run|reconnect/);
  }
  assert.equal(coordinator.messages(/^SIGINT: stopping after the current step/).length, 1, coordinator.log());
  const line = await coordinator.waitFor(/^interrupted at epoch \d+\/\d+ step \d+\/\d+ \(run step (\d+)\); wrote .*final\.safetensors\} and checkpoint /);
  // The interrupt's line is the last: the closing progress line (the last steps' view) comes before it.
  assert.equal(coordinator.lines.at(-1)?.msg, line.msg, coordinator.log());
  const step = Number(/run step (\d+)/.exec(line.msg)![1]);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { stopReason: string; steps: number; timing: { slowestWorker: { worker: unknown } } };
  assert.equal(summary.stopReason, 'interrupted');
  assert.equal(summary.steps, step);
  assert.ok(['w1', 'w2'].includes(summary.timing.slowestWorker.worker as string), `slowestWorker names a worker (${JSON.stringify(summary.timing.slowestWorker)})`);
  assert.ok(fs.existsSync(path.join(out, 'final.safetensors')));
  assert.ok(fs.existsSync(path.join(ckpt, `ckpt-${String(step).padStart(9, '0')}.safetensors`)), fs.readdirSync(ckpt).join(', '));
  assert.equal(coordinator.text.filter((t) => /\n?\s+at /.test(t)).length, 0, 'no stack trace');

  // --resume with two new workers continues exactly.
  const resumed = await startCoordinator(['--min-workers', '2', '--resume', ckpt]);
  const again = [startWorker(resumed.url, 'w3'), startWorker(resumed.url, 'w4')];
  assert.equal(await resumed.exited, 0, resumed.log());
  for (const w of again) assert.equal(await w.exited, 0, w.log());
  assert.deepEqual(await finalParams(out, spec.model), await referenceParams(spec, out));
});

test('Ctrl-C of a coordinator still waiting for --min-workers: the waiting worker is told and exits 0, the coordinator exits 130 and never says it is training', { timeout: 60_000 }, async () => {
  const root = tempDir();
  const port = await freePort();
  const coordinator = await startCoordinatorOn(port, ['--min-workers', '2', ...trainArgs(spec, path.join(root, 'run'))]);
  const worker = startWorker(coordinator.url, 'w1');
  await coordinator.waitFor(/^waiting for workers: 1 of 2 ready/, 30_000);
  coordinator.kill('SIGINT');
  assert.equal(await coordinator.exited, 130, coordinator.log());
  assert.equal(await worker.exited, 0, worker.log());
  assert.equal(worker.messages(/^the coordinator ended the run \(interrupted\)$/).length, 1, worker.log());
  assert.equal(worker.messages(/^worker "w1" done: 0 steps served$/).length, 1, worker.log());
  assert.equal(coordinator.messages(/^stopped waiting for workers \(interrupted\): 1 of 2 ready, so the run ends before its first step$/).length, 1, coordinator.log());
  assert.deepEqual(coordinator.messages(/^training /), [], 'no start line: no step was run');
  assert.equal(coordinator.messages(/^SIGINT: stopping before the first step \(still waiting for workers\) and writing the outputs/).length, 1, coordinator.log());
  const summary = JSON.parse(fs.readFileSync(path.join(root, 'run', 'summary.json'), 'utf8')) as { stopReason: string; steps: number };
  assert.deepEqual([summary.stopReason, summary.steps], ['interrupted', 0]);
});

test('Ctrl-C of a coordinator whose last worker left: it stops waiting for one to join and exits 130 with the outputs and a checkpoint of the last finished step; --resume with a new worker finishes as the inline engine, with --batch-size auto taking back its choice for the step not run', { timeout: 120_000 }, async () => {
  const root = tempDir();
  const out = path.join(root, 'run');
  const ckpt = path.join(root, 'ckpt');
  const dataset = 'synthetic:spirals?n=3000&classes=3&seed=2';
  const model = 'mlp:2-64-64-3';
  const auto = ['--batch-size', 'auto', '--base-batch-size', '32', '--adapt-every', '10', '--step-time-model', '1,0.005', '--max-steps', '1500', '--epochs', '1000', '--seed', '0', '--reduce-chunks', '2'];
  const coordinator = await startCoordinator(['--dataset', dataset, '--model', model, ...auto, '--out', out, '--checkpoint-dir', ckpt]);
  const worker = startWorker(coordinator.url, 'w1');
  await waitForSteps(out, 20, 60_000);
  worker.kill('SIGINT');
  assert.equal(await worker.exited, 130, worker.log());
  await coordinator.waitFor(/^no workers left at step \d+; waiting up to 300 s for one to join \(Ctrl-C ends the run here\)$/, 30_000);
  const interruptedAt = Date.now();
  coordinator.kill('SIGINT');
  assert.equal(await coordinator.exited, 130, coordinator.log());
  assert.ok(Date.now() - interruptedAt < 30_000, `exited ${Date.now() - interruptedAt} ms after Ctrl-C`);
  const line = await coordinator.waitFor(/^interrupted at epoch \d+\/\d+ step \d+\/\d+ \(run step (\d+)\); wrote .*final\.safetensors\} and checkpoint /);
  const step = Number(/run step (\d+)/.exec(line.msg)![1]);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { stopReason: string; steps: number };
  assert.deepEqual([summary.stopReason, summary.steps], ['interrupted', step]);
  assert.ok(fs.existsSync(path.join(ckpt, `ckpt-${String(step).padStart(9, '0')}.safetensors`)), fs.readdirSync(ckpt).join(', '));
  assert.doesNotMatch(coordinator.log(), /noWorkers|\n\s+at /);

  const resumed = await startCoordinator(['--resume', ckpt]);
  const joiner = startWorker(resumed.url, 'w2');
  assert.equal(await resumed.exited, 0, resumed.log());
  assert.equal(await joiner.exited, 0, joiner.log());
  const sizes: number[] = [];
  const inline = await train(
    { dataset, model, batchSize: 'auto', baseBatchSize: 32, adaptEvery: 10, stepTimeModel: '1,0.005', maxSteps: 1500, epochs: 1000, seed: 0, reduceChunks: 2, engine: 'inline', workers: 1, ...kernelsOfRun(out) },
    { callbacks: [{ onStep: (r) => void sizes.push(r.batchSize) }] },
  );
  const steps = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; batchSize: number }).filter((r) => r.type === 'step');
  assert.deepEqual(steps.map((r) => r.batchSize), sizes, 'the same batch sizes, step for step');
  assert.deepEqual(await finalParams(out, model), inline.params);
});
