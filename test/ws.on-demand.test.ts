// --coordinator-replica on-demand (issue 20; docs/architecture.md, "The coordinator's copy of the
// state"): in ring steps the coordinator takes only the reduced gradient's norm and asks a worker
// for the state when it needs it. Real coordinator and worker processes on 127.0.0.1: the same bits
// as the full replica (every step's norm with clipping on, validation, checkpoints, the final
// model), a joiner after a SIGKILLed worker, kill -9 + --resume byte-identical, replicas compared
// by majority, and a clear stop when every worker is gone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { runWorker } from '../src/engine/index.js';
import { loadParameters } from '../src/train/index.js';
import { paramLayout, parseModelSpec } from '../src/model/index.js';
import { maxRelativeDifference, tempDir } from './helpers.js';
import { finalParams, killAll, killOneAndJoin, referenceAndKilledRun, referenceParams, startCoordinator, startCoordinatorOn, startWorker, stepRecords, trainArgs, waitForSteps, type RunSpec } from './ws.helpers.js';

after(killAll);

/** 25,450 parameters in 2 buckets (--bucket-mb 0.05), the ring forced; 30 steps an epoch. */
const spec: RunSpec = { dataset: 'mnist', model: 'mlp:784-32-10', batchSize: 300, maxSteps: 60 };
const ring = ['--allreduce', 'ring', '--bucket-mb', '0.05', '--kernels', 'wasm'];
const onDemand = ['--coordinator-replica', 'on-demand'];

async function run(workers: number, args: string[]): Promise<{ out: string; ckpt: string; log: string }> {
  const root = tempDir('dptrain-on-demand-');
  const out = path.join(root, 'run');
  const ckpt = path.join(root, 'ckpt');
  const coordinator = await startCoordinator(['--min-workers', String(workers), ...ring, '--checkpoint-dir', ckpt, '--checkpoint-every', '20steps', ...args, ...trainArgs(spec, out)]);
  const procs = Array.from({ length: workers }, (_, i) => startWorker(coordinator.url, `w${i + 1}`));
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of procs) assert.equal(await w.exited, 0, w.log());
  return { out, ckpt, log: coordinator.log() };
}

function records(out: string, type: string): Record<string, unknown>[] {
  return fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.startsWith(`{"type":"${type}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('on-demand gives the bits of the full replica: every step\'s norm with clipping on, validation, checkpoints and the final model', { timeout: 120_000 }, async () => {
  const clip = ['--clip-norm', '0.3'];
  const full = await run(2, clip);
  const lazy = await run(2, [...clip, ...onDemand]);
  assert.match(lazy.log, /step 0: ring all-reduce.*; the coordinator takes only the gradient's norm, from w1 \(--coordinator-replica on-demand\)/);
  const norms = (out: string) => records(out, 'step').map((r) => [r.gradNorm, r.clip]);
  assert.deepEqual(norms(lazy.out), norms(full.out));
  assert.ok(norms(full.out).some(([, c]) => (c as number) < 1), 'clipping was active');
  const validation = (out: string) => records(out, 'epoch').map((r) => [r.valLoss, r.valAccuracy]);
  assert.equal(validation(full.out).length, 2);
  assert.deepEqual(validation(lazy.out), validation(full.out));
  assert.deepEqual(await finalParams(lazy.out, spec.model), await finalParams(full.out, spec.model));
  const layout = paramLayout(parseModelSpec(spec.model));
  for (const name of ['ckpt-000000020.safetensors', 'ckpt-000000040.safetensors']) {
    const [a, b] = await Promise.all([full, lazy].map((r) => loadParameters(path.join(r.ckpt, name), layout, spec.model)));
    assert.deepEqual(b, a, name);
  }
});

test('on-demand: a worker SIGKILLed and another joining (the joiner gets the state the coordinator fetched); replicas compared with each other; within 1e-5 of inline', { timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-on-demand-'), 'run');
  const longer: RunSpec = { ...spec, maxSteps: 300 };
  const coordinator = await startCoordinator(['--min-workers', '3', '--hash-every', '1', ...ring, ...onDemand, ...trainArgs(longer, out)]);
  await killOneAndJoin(coordinator, out);
  assert.deepEqual(coordinator.messages(/diverged|protocol violation|malformed|ignoring "(state|optimizerState)"/), []);
  assert.equal(stepRecords(out).length, longer.maxSteps);
  const relative = maxRelativeDifference(await referenceParams(longer, out), await finalParams(out, longer.model));
  assert.ok(relative < 1e-5, `relative difference ${relative}`);
});

test('on-demand: the coordinator SIGKILLed and restarted with --resume ends byte-identical to an uninterrupted run', { timeout: 120_000 }, async () => {
  const root = tempDir('dptrain-on-demand-');
  const common = ['--min-workers', '2', ...ring, ...onDemand];
  const { port, out, ckpt, workers } = await referenceAndKilledRun(root, { ...spec, maxSteps: 120 }, common, 60);
  const second = await startCoordinatorOn(port, [...common, '--resume', ckpt]);
  assert.equal(await second.exited, 0, second.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());
  assert.ok(fs.readFileSync(path.join(out, 'final.safetensors')).equals(fs.readFileSync(path.join(root, 'reference', 'final.safetensors'))));
});

/** A worker in this process whose parameters are perturbed after update 10 (docs/reliability.md row 22). */
function perturbedWorker(url: string, name: string) {
  const log = { info() {}, warn() {} };
  return runWorker({ url, name, threads: 1, log, rejoins: 0, faults: [{ afterVersion: 10, perturb: 1e-3 }] }).then(
    (outcome) => outcome,
    (error: unknown) => error,
  );
}

test('on-demand with 3 workers: the replica that differs from the other two is named and dropped', { timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-on-demand-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '3', '--hash-every', '1', ...ring, ...onDemand, ...trainArgs(spec, out)]);
  const others = [startWorker(coordinator.url, 'w1'), startWorker(coordinator.url, 'w2')];
  const w3 = perturbedWorker(coordinator.url, 'w3');
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of others) assert.equal(await w.exited, 0, w.log());
  await w3;
  const dropped = coordinator.messages(/^dropping worker "w3" .*: its parameters diverged/);
  assert.equal(dropped.length, 1, coordinator.log());
  assert.match(dropped[0], /at version 10, 2 of 3 workers hold/);
});

test('on-demand with 2 workers that differ: no majority, so the run stops with exit 1 and dptrain.engine.replicasDiverged', { timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-on-demand-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '2', '--hash-every', '1', ...ring, ...onDemand, ...trainArgs(spec, out)]);
  const w1 = startWorker(coordinator.url, 'w1');
  const w2 = perturbedWorker(coordinator.url, 'w2');
  assert.equal(await coordinator.exited, 1, coordinator.log());
  await Promise.all([w1.exited, w2]);
  const error = coordinator.text.join('\n');
  assert.match(error, /the workers' parameters differ at version 10 .* and no majority tells which are right/);
  assert.match(error, /\[dptrain\.engine\.replicasDiverged\]/);
});

test('on-demand: when every worker is gone the run stops at once with exit 1 and dptrain.engine.noReplica (it holds no copy to give a joiner)', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir('dptrain-on-demand-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '2', '--rejoin-timeout', '60', ...ring, ...onDemand, ...trainArgs({ ...spec, maxSteps: 3000 }, out)]);
  const workers = [startWorker(coordinator.url, 'w1'), startWorker(coordinator.url, 'w2')];
  await waitForSteps(out, 5, 40_000);
  for (const w of workers) w.kill('SIGKILL');
  assert.equal(await coordinator.exited, 1, coordinator.log());
  const error = coordinator.text.join('\n');
  assert.match(error, /every worker that held the parameters of version \d+ is gone, and with --coordinator-replica on-demand the coordinator keeps no copy of its own: resume from the last checkpoint \(--resume\)/);
  assert.match(error, /\[dptrain\.engine\.noReplica\]/);
});
