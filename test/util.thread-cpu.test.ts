// The thread CPU clock behind auto's BLAS speed probe (src/util/thread-cpu.ts): it counts the
// calling thread's work and not another thread's, where process.cpuUsage counts both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { cpuClock } from '../src/util/thread-cpu.js';

const clock = await cpuClock();
const skip = clock.scope === 'thread' ? false : `no thread CPU clock here (${process.platform} ${process.arch}, or koffi missing): the probe uses process CPU time`;

test('the thread clock counts this thread\'s work, not a busy worker thread\'s', { skip, timeout: 30_000 }, async () => {
  const worker = new Worker('const end = Date.now() + 600; while (Date.now() < end);', { eval: true });
  await new Promise((resolve) => worker.once('online', resolve));
  const thread0 = clock.now();
  const process0 = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, 400)); // this thread sleeps, the worker spins
  const threadUs = clock.now() - thread0;
  const p = process.cpuUsage(process0);
  await new Promise((resolve) => worker.once('exit', resolve));
  // CPU time, not wall time, on both sides: on a loaded machine (two test files at once on 2 cores)
  // a thread gets only part of the wall time it spins.
  const processUs = p.user + p.system;
  assert.ok(processUs - threadUs > 100_000, `the process counted the worker's spin (${processUs} µs, this thread ${threadUs} µs)`);
  assert.ok(threadUs < 50_000, `the sleeping thread's clock stayed near 0 (${threadUs} µs)`);

  // This thread spins alone (the worker has exited): its clock counts about what the process counts.
  const busy0 = clock.now();
  const busyProcess0 = process.cpuUsage();
  const end = Date.now() + 100;
  while (Date.now() < end);
  const busyUs = clock.now() - busy0;
  const b = process.cpuUsage(busyProcess0);
  const busyProcessUs = b.user + b.system;
  assert.ok(busyProcessUs > 20_000, `the spin ran (${busyProcessUs} µs of process CPU)`);
  assert.ok(busyUs > 0.7 * busyProcessUs && busyUs < busyProcessUs + 20_000, `this thread's spin counted (${busyUs} µs, the process ${busyProcessUs} µs)`);
});
