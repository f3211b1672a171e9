// A coordinator that crashes (SIGKILL) mid-run (issue 6): its workers keep reconnecting with
// exponential backoff and jitter, each wait logged, and join a coordinator restarted on the same
// address as new members; without one they give up after --reconnect-timeout with exit 1.
// Real processes and sockets on 127.0.0.1.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { freePort, killAll, startCoordinatorOn, startWorker, stepRecords, trainArgs, waitForSteps, type LogLine, type Proc, type RunSpec } from './ws.helpers.js';

after(killAll);

// Long enough that the kill lands mid-run, whatever the machine's speed.
const long: RunSpec = { dataset: 'synthetic:spirals?n=3000&classes=3&seed=2', model: 'mlp:2-64-64-3', batchSize: 300, maxSteps: 100_000 };
const short: RunSpec = { ...long, maxSteps: 30 };

/** The worker's log lines announcing a wait before the next attempt. */
function waits(worker: Proc): LogLine[] {
  return worker.lines.filter((l) => /^the coordinator at ws:\/\/127\.0\.0\.1:\d+\/ does not answer \(.*ECONNREFUSED\); attempt \d+ in \d+ ms \(.* left\)$/.test(l.msg));
}

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('workers of a coordinator killed with SIGKILL mid-run reconnect with growing, jittered waits and finish a run with a coordinator restarted on the same port', { timeout: 90_000 }, async () => {
  const dir = tempDir('dptrain-ws-reconnect-');
  const port = await freePort();
  const first = await startCoordinatorOn(port, ['--min-workers', '2', ...trainArgs(long, path.join(dir, 'first'))]);
  const workers = ['w1', 'w2'].map((name) => startWorker(first.url, name, ['--reconnect-timeout', '60']));
  await waitForSteps(path.join(dir, 'first'), 5, 40_000);
  first.kill('SIGKILL');
  assert.equal(await first.exited, null, 'killed by the signal');

  // Each worker notices, and knocks at least three times on the closed port before we restart it.
  for (const w of workers) {
    const lost = await w.waitFor(/^lost the coordinator at ws:\/\/127\.0\.0\.1:\d+\/ \(.*\); reconnecting for up to 60 s \(--reconnect-timeout\)$/);
    assert.equal(lost.level, 40, 'a warning');
  }
  await until(() => workers.every((w) => waits(w).length >= 3), 30_000, 'three reconnect attempts by each worker');
  for (const w of workers) {
    // delay_k = min(5000, 200 · 2^(k-1)) · U(0.5, 1): the transport's default policy, attempt by attempt.
    const delays = waits(w).slice(0, 3).map((l) => l.delayMs as number);
    delays.forEach((d, k) => {
      const ceiling = Math.min(5_000, 200 * 2 ** k);
      assert.ok(d >= ceiling / 2 - 1 && d <= ceiling, `wait ${k + 1} was ${d} ms, expected [${ceiling / 2}, ${ceiling}]`);
    });
    assert.equal(w.child.exitCode, null, 'still trying');
  }

  // A new coordinator on the same address (a fresh run here; test/ws.resume.test.ts resumes one).
  const out = path.join(dir, 'second');
  const second = await startCoordinatorOn(port, ['--min-workers', '2', ...trainArgs(short, out)]);
  assert.equal(second.url, first.url);
  assert.equal(await second.exited, 0, second.log());
  for (const w of workers) {
    assert.equal(await w.exited, 0, w.log());
    assert.match(w.messages().join('\n'), /reconnected to the coordinator at ws:\/\/127\.0\.0\.1:\d+\/ after [\d.]+ s \(attempt \d+\); joining as a new worker/);
  }
  await second.waitFor(/^worker "w1" .* joins at step 0/);
  await second.waitFor(/^worker "w2" .* joins at step 0/);
  assert.equal(stepRecords(out).length, short.maxSteps);
  assert.equal(stepRecords(out).at(-1)!.timing.computeMs.length, 2, 'both workers computed the last step');
});

test('a worker whose coordinator does not come back gives up after --reconnect-timeout with exit 1 and says what to do', { timeout: 60_000 }, async () => {
  const dir = tempDir('dptrain-ws-reconnect-');
  const port = await freePort();
  const coordinator = await startCoordinatorOn(port, ['--min-workers', '1', ...trainArgs(long, path.join(dir, 'run'))]);
  const worker = startWorker(coordinator.url, 'w1', ['--reconnect-timeout', '3']);
  await waitForSteps(path.join(dir, 'run'), 3, 40_000);
  coordinator.kill('SIGKILL');
  await worker.waitFor(/^lost the coordinator/);
  const lostAt = Date.now();
  assert.equal(await worker.exited, 1, worker.log());
  const seconds = (Date.now() - lostAt) / 1000;
  assert.ok(seconds >= 2.5 && seconds < 15, `gave up after ${seconds} s`);
  assert.ok(waits(worker).length >= 2, `it kept trying:\n${worker.log()}`);
  const error = worker.text.join('\n');
  assert.match(error, /gave up reconnecting to the coordinator at ws:\/\/127\.0\.0\.1:\d+\/: none answered within 3 s \(--reconnect-timeout; \d+ attempts, last: .*ECONNREFUSED\)/);
  assert.match(error, /restart the coordinator on that address \(with --resume DIR to continue the run\)/);
  assert.match(error, /\[dptrain\.engine\.coordinatorLost\]/);
});

test('--reconnect-timeout must be a number of seconds (exit 2, naming the flag)', { timeout: 30_000 }, async () => {
  await Promise.all(['soon', '-1', '1e9'].map(async (bad) => {
    const worker = startWorker('ws://127.0.0.1:9/', 'w1', ['--reconnect-timeout', bad]);
    assert.equal(await worker.exited, 2);
    assert.match(worker.text.join('\n'), /--reconnect-timeout must be (a finite number|a number of seconds from 0 to 86400) \(got .*\) \[dptrain\.config\.badOption\]/);
  }));
});
