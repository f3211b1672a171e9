// Gradient buckets and overlap in the ws engine (issue 20; docs/architecture.md, "Buckets and
// overlap"): real coordinator and worker processes on 127.0.0.1. Overlap on or off gives the same
// bits, star and ring, and both stay within 1e-5 of the inline engine; the step records show each
// bucket's all-reduce against backward; workers leaving and joining and a coordinator killed with
// SIGKILL and resumed keep the contract with several buckets.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { runWorker } from '../src/engine/index.js';
import { maxRelativeDifference, tempDir } from './helpers.js';
import { finalParams, killAll, killOneAndJoin, referenceAndKilledRun, referenceParams, startCoordinator, startCoordinatorOn, startWorker, stepRecords, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

interface BucketTiming {
  worker: string;
  computeMs: number;
  commMs: number;
  hiddenMs: number;
  buckets: { readyMs: number; startMs: number; endMs: number }[];
}

/** 669k parameters: three buckets at --bucket-mb 1 (two cut inside weights), and the ring under auto. */
const mnist: RunSpec = { dataset: 'mnist', model: 'mlp:784-512-512-10', batchSize: 96, maxSteps: 6 };

async function run(spec: RunSpec, workers: number, args: string[]): Promise<{ out: string; log: string }> {
  const out = path.join(tempDir('dptrain-overlap-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', String(workers), ...args, ...trainArgs(spec, out)]);
  const procs = Array.from({ length: workers }, (_, i) => startWorker(coordinator.url, `w${i + 1}`));
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of procs) assert.equal(await w.exited, 0, w.log());
  return { out, log: coordinator.log() };
}

test('--bucket-mb 1: the ring all-reduces 3 buckets while backward runs; overlap off and --reduced-from all give the same bits; within 1e-5 of inline', { timeout: 120_000 }, async () => {
  const on = await run(mnist, 3, ['--bucket-mb', '1']);
  assert.match(on.log, /gradients: 3 buckets in backward order \(1\.00, 1\.00, 0\.55 MiB; --first-bucket-mb, --bucket-mb\), each all-reduced as soon as backward has finished it \(--overlap on\)/);
  assert.match(on.log, /step 0: ring all-reduce/);
  const records = stepRecords(on.out) as unknown as { timing: { buckets: BucketTiming[] } }[];
  assert.equal(records.length, mnist.maxSteps);
  for (const r of records) {
    assert.deepEqual(r.timing.buckets.map((w) => w.worker), ['w1', 'w2', 'w3']);
    for (const w of r.timing.buckets) {
      assert.equal(w.buckets.length, 3);
      w.buckets.forEach((b, i) => {
        // Final before it is sent; started in order; at most two on the link at once (bucket i
        // starts after bucket i-1's reduce-scatter and after bucket i-2 ended).
        const [before, twoBefore] = [w.buckets[i - 1], w.buckets[i - 2]];
        assert.ok(b.readyMs <= b.startMs + 0.01 && b.startMs <= b.endMs, JSON.stringify(w));
        if (before) assert.ok(before.startMs <= b.startMs + 0.01, JSON.stringify(w));
        if (twoBefore) assert.ok(twoBefore.endMs <= b.startMs + 0.01, JSON.stringify(w));
      });
      assert.ok(w.buckets[0].readyMs < w.computeMs, `bucket 0 is final before backward ends: ${JSON.stringify(w)}`);
      assert.ok(w.hiddenMs >= 0 && w.hiddenMs <= w.commMs + 0.01, JSON.stringify(w));
    }
  }
  // On 127.0.0.1 every worker shares the coordinator's host: w1 hands over whole reduced buckets.
  assert.match(on.log, /step 0: ring all-reduce.*; the reduced gradient comes whole from w1 on this host/);
  const off = await run(mnist, 3, ['--bucket-mb', '1', '--overlap', 'off']);
  assert.match(off.log, /all-reduced after the whole backward pass \(--overlap off\)/);
  const segments = await run(mnist, 3, ['--bucket-mb', '1', '--reduced-from', 'all']);
  assert.match(segments.log, /step 0: ring all-reduce.*; each worker sends its reduced segment/);
  const [a, b, c, inline] = await Promise.all([finalParams(on.out, mnist.model), finalParams(off.out, mnist.model), finalParams(segments.out, mnist.model), referenceParams(mnist, on.out)]);
  assert.deepEqual(a, b, 'overlap on and off: the same bits');
  assert.deepEqual(a, c, 'the reduced gradient from one worker or in segments from all: the same bits');
  // The coordinator measures the norm part by part as the parts arrive (ring-norm.ts): whole
  // buckets or segments, the same bits.
  const norms = (out: string) => (stepRecords(out) as unknown as { gradNorm: number }[]).map((r) => r.gradNorm);
  assert.deepEqual(norms(segments.out), norms(on.out), 'gradNorm per step: the same bits');
  assert.ok(norms(on.out).every((n) => typeof n === 'number' && n > 0));
  const relative = maxRelativeDifference(inline, a);
  assert.ok(relative < 1e-5, `relative difference to inline ${relative}`);
});

test('star with 3 buckets: overlap on and off give the same bits, within 1e-5 of inline', { timeout: 120_000 }, async () => {
  const args = ['--allreduce', 'star', '--bucket-mb', '1'];
  const on = await run(mnist, 2, args);
  assert.match(on.log, /gradients: 3 buckets/);
  const off = await run(mnist, 2, [...args, '--overlap', 'off']);
  const [a, b, inline] = await Promise.all([finalParams(on.out, mnist.model), finalParams(off.out, mnist.model), referenceParams(mnist)]);
  assert.deepEqual(a, b, 'overlap on and off: the same bits');
  assert.ok(maxRelativeDifference(inline, a) < 1e-5);
});

// 25,450 parameters in 2 buckets of --bucket-mb 0.05 (the last layer, the first layer's bias and the
// last 17 rows of its weight; then its other 15 rows): the ring all-reduces each between the workers. A model that does not amplify float
// rounding: a join changes the order of the sums from the step it lands on, and a spirals MLP
// (mlp:2-64-64-3) carried that 1e-7 difference to 9e-5 within 230 steps (a ReLU unit's input
// crossing zero one way in one run and the other in another); this one stays near 3e-7.
const longer: RunSpec = { dataset: 'mnist', model: 'mlp:784-32-10', batchSize: 300, maxSteps: 80 };
const buckets = ['--allreduce', 'ring', '--bucket-mb', '0.05'];

test('ring with 2 buckets: a worker killed with SIGKILL is dropped and another joins; the run ends within 1e-5 of inline, every replica equal', { timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-overlap-'), 'run');
  const spec: RunSpec = { ...longer, maxSteps: 300 }; // long enough for a new worker process to start and join
  const coordinator = await startCoordinator(['--min-workers', '3', '--hash-every', '1', ...buckets, ...trainArgs(spec, out)]);
  assert.match(coordinator.log(), /gradients: 2 buckets/);
  await killOneAndJoin(coordinator, out);
  assert.deepEqual(coordinator.messages(/diverged|protocol violation|malformed/), []);
  const records = stepRecords(out);
  assert.equal(records.length, spec.maxSteps);
  assert.equal(records.at(-1)!.timing.computeMs.length, 3, 'three workers again after the join');
  const relative = maxRelativeDifference(await referenceParams(spec), await finalParams(out, spec.model));
  assert.ok(relative < 1e-5, `relative difference ${relative}`);
});

test('ring with 2 buckets and overlap: the coordinator SIGKILLed and restarted with --resume ends byte-identical to an uninterrupted run', { timeout: 120_000 }, async () => {
  const root = tempDir('dptrain-overlap-');
  const spec: RunSpec = { ...longer, maxSteps: 120 };
  const common = ['--min-workers', '2', ...buckets];
  const { port, out, ckpt, workers } = await referenceAndKilledRun(root, spec, common, 60);
  const second = await startCoordinatorOn(port, [...common, '--resume', ckpt]);
  assert.equal(await second.exited, 0, second.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());
  assert.ok(
    fs.readFileSync(path.join(out, 'final.safetensors')).equals(fs.readFileSync(path.join(root, 'reference', 'final.safetensors'))),
    'final.safetensors differs from the uninterrupted run',
  );
});

test('a thread that fails inside a worker while its buckets are in the ring fails that step there: the coordinator recomputes it without the worker and the run ends within 1e-5 of inline', { timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-overlap-'), 'run');
  const spec: RunSpec = { ...longer, maxSteps: 12 };
  const coordinator = await startCoordinator(['--min-workers', '3', '--hash-every', '1', ...buckets, ...trainArgs(spec, out)]);
  const warnings: string[] = [];
  const log = { info() {}, warn: (_fields: object, message: string) => void warnings.push(message) };
  // Two pool threads in this process; thread 1 throws halfway through its rows of step 4.
  const faulty = runWorker({ url: coordinator.url, name: 'w1', threads: 2, log, rejoins: 0, faults: [{ threadFailsAtStep: 4, thread: 1 }] }).then(
    (outcome) => outcome,
    (error: unknown) => error,
  );
  const others = [startWorker(coordinator.url, 'w2'), startWorker(coordinator.url, 'w3')];
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of others) assert.equal(await w.exited, 0, w.log());
  await faulty;
  // No re-run inside the pool (the ring may hold its buckets already): the step failed in w1.
  assert.deepEqual(warnings.filter((w) => /recomputing/.test(w)), [], warnings.join('\n'));
  assert.ok(warnings.some((w) => /step 4 failed here/.test(w)), warnings.join('\n'));
  assert.ok(coordinator.messages(/^(dropping|lost) worker "w1"/).length >= 1, coordinator.log());
  assert.ok(coordinator.messages(/^recomputing step 4 with 2 workers/).length === 1, coordinator.log());
  assert.deepEqual(coordinator.messages(/diverged|protocol violation|malformed/), []);
  const relative = maxRelativeDifference(await referenceParams(spec, out), await finalParams(out, spec.model));
  assert.ok(relative < 1e-5, `relative difference ${relative}`);
});

