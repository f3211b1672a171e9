// The ws engine trains like the inline engine: real coordinator and worker processes on
// 127.0.0.1, checked against train({ engine: 'inline' }) on the same data, model, seed and batch.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { maxRelativeDifference, tempDir } from './helpers.js';
import { finalParams, kernelsOfRun, killAll, referenceParams, referenceParamsWith, startCoordinator, startWorker, stepRecords, trainArgs, waitForSteps, type RunSpec } from './ws.helpers.js';

after(killAll);

const tolerance = 1e-5;
const small: RunSpec = { dataset: 'synthetic:spirals?n=900&classes=3&seed=1', model: 'mlp:2-32-32-3', batchSize: 90, maxSteps: 20 };

for (const allreduce of ['star', 'ring'] as const) {
  test(`3 workers with the ${allreduce} all-reduce end 20 steps with the inline engine's parameters (relative difference < 1e-5)`, { timeout: 60_000 }, async () => {
    const out = path.join(tempDir('dptrain-ws-'), 'run');
    const coordinator = await startCoordinator(['--min-workers', '3', '--allreduce', allreduce, ...trainArgs(small, out)]);
    const workers = ['w1', 'w2', 'w3'].map((name) => startWorker(coordinator.url, name));
    assert.equal(await coordinator.exited, 0, coordinator.log());
    for (const w of workers) assert.equal(await w.exited, 0, w.log());

    await coordinator.waitFor(new RegExp(`^step 0: ${allreduce} all-reduce; shards w1 rows \\[0, 30\\), w2 rows \\[30, 60\\), w3 rows \\[60, 90\\)`));
    const [ws, inline] = await Promise.all([finalParams(out, small.model), referenceParams(small)]);
    const relative = maxRelativeDifference(inline, ws);
    assert.ok(relative < tolerance, `relative difference ${relative}`);
    assert.equal(stepRecords(out).length, 20);
  });
}

// Long enough that the kill lands mid-run: ~100 steps of a few ms each on 3 processes.
const longer: RunSpec = { dataset: 'synthetic:spirals?n=3000&classes=3&seed=2', model: 'mlp:2-64-64-3', batchSize: 300, maxSteps: 100 };

for (const allreduce of ['star', 'ring'] as const) {
  test(`a worker killed with SIGKILL mid-run (${allreduce}) is named and dropped, and the run ends with the parameters of a run without the kill`, { timeout: 60_000 }, async () => {
    const out = path.join(tempDir('dptrain-ws-'), 'run');
    const coordinator = await startCoordinator(['--min-workers', '3', '--allreduce', allreduce, ...trainArgs(longer, out)]);
    const workers = ['w1', 'w2', 'w3'].map((name) => startWorker(coordinator.url, name));
    await waitForSteps(out, 10);
    workers[1].kill('SIGKILL');
    assert.equal(await coordinator.exited, 0, coordinator.log());

    const dropped = coordinator.messages(/^dropping worker "w2"/);
    const lost = coordinator.messages(/^lost worker "w2"/);
    assert.ok(dropped.length + lost.length >= 1, `the log names the dropped worker:\n${coordinator.log()}`);
    const records = stepRecords(out);
    assert.equal(records.length, longer.maxSteps);
    assert.equal(records.at(-1)!.timing.computeMs.length, 2, 'the last steps ran on the two survivors');
    const [ws, inline] = await Promise.all([finalParams(out, longer.model), referenceParams(longer)]);
    const relative = maxRelativeDifference(inline, ws);
    assert.ok(relative < tolerance, `relative difference ${relative}`);
  });
}

test('with --reduce-chunks a run that loses a worker is bit-identical to the inline engine with the same chunks', { timeout: 60_000 }, async () => {
  const spec: RunSpec = { ...longer, reduceChunks: 6 };
  const out = path.join(tempDir('dptrain-ws-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '3', ...trainArgs(spec, out)]);
  const workers = ['w1', 'w2', 'w3'].map((name) => startWorker(coordinator.url, name));
  await waitForSteps(out, 10);
  workers[2].kill('SIGKILL');
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.ok(coordinator.messages(/worker "w3"/).some((m) => /^(dropping|lost) worker "w3"/.test(m)), coordinator.log());
  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  assert.deepEqual(ws, inline);
});

// Long enough for a third process to start and load the data while the first two train.
const joinSpec: RunSpec = { ...longer, maxSteps: 500 };

async function runWithLateJoiner(allreduce: 'star' | 'ring', spec: RunSpec, extra: string[]) {
  const out = path.join(tempDir('dptrain-ws-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '2', '--allreduce', allreduce, ...extra, ...trainArgs(spec, out)]);
  startWorker(coordinator.url, 'w1');
  startWorker(coordinator.url, 'w2');
  await waitForSteps(out, 5);
  const late = startWorker(coordinator.url, 'w3', ['--threads', '2']);

  const joined = await coordinator.waitFor(/^worker "w3" .* joins at step \d+/);
  const step = Number(/joins at step (\d+)/.exec(joined.msg)![1]);
  assert.ok(step >= 5 && step < spec.maxSteps, `joined at step ${step}`);
  const plan = await coordinator.waitFor(new RegExp(`^step ${step}: ${allreduce} all-reduce; shards w1 rows .*, w2 rows .*, w3 rows \\[\\d+, \\d+\\)`));
  // Proportional to threads: w3 has 2 threads, w1 and w2 one each, so it gets half of the 300 rows.
  const [, from, to] = /w3 rows \[(\d+), (\d+)\)/.exec(plan.msg)!.map(Number);
  assert.equal(to - from, 150);
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await late.exited, 0, late.log());

  const records = stepRecords(out);
  assert.equal(records[step - 1].timing.computeMs.length, 2, 'two workers before the join');
  assert.equal(records[step].timing.computeMs.length, 3, 'three from the step it joined at');
  return { out, coordinator };
}

test('a worker that joins mid-run (ring) gets the parameters and optimizer state and computes a shard from the next step on, its replica equal to the coordinator\'s at every step', { timeout: 60_000 }, async () => {
  const { coordinator } = await runWithLateJoiner('ring', joinSpec, ['--hash-every', '1']);
  assert.deepEqual(coordinator.messages(/diverged|dropping/), [], 'no replica diverged');
});

test('a worker that joins mid-run (star, --reduce-chunks) leaves the run bit-identical to the inline engine', { timeout: 60_000 }, async () => {
  const spec: RunSpec = { ...joinSpec, reduceChunks: 6 };
  const { out } = await runWithLateJoiner('star', spec, []);
  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  assert.deepEqual(ws, inline);
});

test('a worker that stops answering (SIGSTOP) is dropped at the adaptive step deadline, the step is recomputed by the others, and it rejoins when it runs again (SIGCONT)', { timeout: 60_000 }, async () => {
  const spec: RunSpec = { ...longer, maxSteps: 300 };
  const out = path.join(tempDir('dptrain-ws-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '3', '--allreduce', 'ring', '--step-deadline-floor', '1000', '--hash-every', '1', ...trainArgs(spec, out)]);
  const workers = ['w1', 'w2', 'w3'].map((name) => startWorker(coordinator.url, name));
  await waitForSteps(out, 10);
  workers[1].kill('SIGSTOP');
  const dropped = await coordinator.waitFor(/^dropping worker "w2"/);
  assert.match(dropped.msg, /within the step deadline of \d+ ms|did not answer a probe/);
  workers[1].kill('SIGCONT');
  const rejoined = await coordinator.waitFor(/^worker "w2" .* joins at step [1-9]\d*/);
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await workers[1].exited, 0, workers[1].log());
  assert.match(workers[1].messages().join('\n'), /the coordinator dropped this worker: .*; joining again \(1 of 3\)/);
  assert.deepEqual(coordinator.messages(/^dropping worker "(w1|w3)"|diverged/), [], 'the live workers are kept, and every replica matches');
  const rejoinStep = Number(/joins at step (\d+)/.exec(rejoined.msg)![1]);
  assert.equal(stepRecords(out)[rejoinStep].timing.computeMs.length, 3);
});

test('with --ship-data workers train on the coordinator\'s dataset, which they could not load themselves', { timeout: 60_000 }, async () => {
  const dir = tempDir('dptrain-ws-ship-');
  const rows = ['a,b,c,d,label'];
  for (let i = 0; i < 400; i++) {
    const x = [Math.sin(i), Math.cos(3 * i), ((i * 7) % 13) / 13, ((i * 5) % 11) / 11];
    rows.push(`${x.map((v) => v.toFixed(5)).join(',')},${(i * 7) % 3}`);
  }
  fs.writeFileSync(path.join(dir, 'data.csv'), rows.join('\n') + '\n');
  const spec: RunSpec = { dataset: 'csv:data.csv', model: 'mlp:4-16-3', batchSize: 40, maxSteps: 20 };
  const out = path.join(dir, 'run');
  // The coordinator runs in `dir`, the workers in the repository, where data.csv does not exist.
  const coordinator = await startCoordinator(['--min-workers', '2', '--ship-data', '--standardize', ...trainArgs(spec, out)], dir);
  const workers = ['w1', 'w2'].map((name) => startWorker(coordinator.url, name));
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of workers) {
    assert.equal(await w.exited, 0, w.log());
    assert.match(w.messages().join('\n'), /on the dataset shipped by the coordinator/);
  }
  const reference = await referenceParamsWith({ ...spec, dataset: `csv:${path.join(dir, 'data.csv')}` }, { standardize: true, ...kernelsOfRun(out) });
  assert.ok(maxRelativeDifference(reference, await finalParams(out, spec.model)) < tolerance);
});
