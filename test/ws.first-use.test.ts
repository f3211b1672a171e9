// What a new user of `dptrain coordinator` / `dptrain worker` meets first, through the CLI with
// default flags: a worker that starts before its coordinator, one pointed at something that is no
// coordinator, Ctrl-C of a worker, a port in use, the ring over IPv6 loopback and a fixed ring
// port. Real processes; the only addresses contacted are 127.0.0.1 and ::1.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { freePort, killAll, Proc, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

const spec: RunSpec = { dataset: 'synthetic:blobs?n=400&d=4&classes=3&seed=1', model: 'mlp:4-16-3', batchSize: 40, maxSteps: 40 };

/** Listens on host:0 and resolves with the server, or null where the address cannot be bound (no IPv6). */
function holdPort(host: string): Promise<net.Server | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(null));
    server.listen(0, host, () => resolve(server));
  });
}

test('a worker with no coordinator to reach waits for --reconnect-timeout, logging each wait, then says what to do (exit 1)', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const worker = startWorker(`127.0.0.1:${port}`, 'early', ['--reconnect-timeout', '2']);
  assert.equal(await worker.exited, 1, worker.log());
  assert.ok(worker.messages(/^the coordinator at ws:\/\/127\.0\.0\.1:\d+\/ does not answer \(.*ECONNREFUSED\); attempt 2 in \d+ ms/).length >= 1, worker.log());
  assert.match(worker.text.join('\n'), new RegExp(`^dptrain: error: no coordinator answered at ws://127\\.0\\.0\\.1:${port}/ within 2 s \\(--reconnect-timeout; \\d+ attempts, .*\\) — start \`dptrain coordinator\` there first, or check --connect \\[dptrain\\.engine\\.coordinatorLost\\]$`, 'm'));
});

test('worker --threads above the machine\'s cores is warned about once, naming the default', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const threads = os.availableParallelism() + 1;
  const worker = startWorker(`127.0.0.1:${port}`, 'many', ['--threads', String(threads), '--reconnect-timeout', '0']);
  assert.equal(await worker.exited, 1, worker.log());
  const warned = worker.messages(new RegExp(`^--threads ${threads} is more than this machine's \\d+ cores: .* slower than with --threads \\d+ \\(the default\\)$`));
  assert.equal(warned.length, 1, worker.log());
});

test('a worker started before its coordinator joins once it listens', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const worker = startWorker(`127.0.0.1:${port}`, 'early');
  await worker.waitFor(/does not answer/, 20_000);
  const coordinator = new Proc(['coordinator', '--listen', `127.0.0.1:${port}`, '--log-format', 'json', ...trainArgs(spec, path.join(tempDir('dptrain-first-'), 'run'))]);
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await worker.exited, 0, worker.log());
  assert.equal(worker.messages(/^connected to the coordinator at ws:\/\/127\.0\.0\.1:\d+\/ after [\d.]+ s \(attempt \d+\)$/).length, 1, worker.log());
});

test('a worker pointed at a web server that is no coordinator stops at once and says so (exit 1, one attempt)', { timeout: 30_000 }, async () => {
  const server = http.createServer((_req, res) => void res.writeHead(404).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const started = Date.now();
    const worker = startWorker(`127.0.0.1:${port}`, 'lost');
    assert.equal(await worker.exited, 1, worker.log());
    assert.ok(Date.now() - started < 15_000, 'no retries');
    assert.equal(worker.messages(/does not answer/).length, 0, worker.log());
    assert.match(worker.text.join('\n'), /^dptrain: error: cannot open ws:\/\/127\.0\.0\.1:\d+\/: HTTP 404 Not Found: no dptrain WebSocket server answers there .* \[dptrain\.transport\.connectFailed\]$/m);
  } finally {
    server.close();
  }
});

test('Ctrl-C of a worker: it leaves at once, says so and exits 130; the coordinator finishes with the other worker', { timeout: 90_000 }, async () => {
  const coordinator = await startCoordinator(['--min-workers', '2', ...trainArgs({ ...spec, maxSteps: 2000 }, path.join(tempDir('dptrain-first-'), 'run'))]);
  const [stays, leaves] = [startWorker(coordinator.url, 'stays'), startWorker(coordinator.url, 'leaves')];
  await coordinator.waitFor(/^worker "leaves" .*joins at step/, 60_000);
  leaves.kill('SIGINT');
  assert.equal(await leaves.exited, 130, leaves.log());
  assert.equal(leaves.messages(/^SIGINT: leaving the run; the coordinator recomputes the current step without this worker$/).length, 1, leaves.log());
  assert.equal(leaves.messages(/^worker "leaves" left the run \(interrupted\): \d+ steps? served$/).length, 1, leaves.log());
  assert.deepEqual(leaves.text.filter((l) => /error/.test(l)), [], 'no error line');
  // The coordinator names why: the worker left, not a lost connection.
  assert.equal(coordinator.messages(/^(dropping )?worker "leaves" .*left (the run )?\(stopped by the user\)/).length, 1, coordinator.log());
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await stays.exited, 0, stays.log());
});

test('a coordinator whose --listen port is in use: one line naming the port and the fix, exit 2', { timeout: 30_000 }, async () => {
  const held = (await holdPort('127.0.0.1'))!;
  try {
    const port = (held.address() as net.AddressInfo).port;
    const coordinator = new Proc(['coordinator', '--listen', `127.0.0.1:${port}`, '--log-format', 'json', ...trainArgs(spec, path.join(tempDir('dptrain-first-'), 'run'))]);
    assert.equal(await coordinator.exited, 2, coordinator.log());
    assert.deepEqual(coordinator.text, [`dptrain: error: --listen 127.0.0.1:${port}: cannot listen: the port is in use — choose another with --listen HOST:PORT, or stop what holds it [dptrain.config.listen]`]);
  } finally {
    held.close();
  }
});

test('the ring over IPv6 loopback: each worker listens where the coordinator saw it, so no link fails', { timeout: 90_000 }, async (t) => {
  const probe = await holdPort('::1');
  if (probe === null) return t.skip('this machine has no IPv6 loopback (::1)');
  probe.close();
  const coordinator = new Proc(['coordinator', '--listen', '[::1]:0', '--log-format', 'json', '--min-workers', '2', '--allreduce', 'ring', ...trainArgs(spec, path.join(tempDir('dptrain-first-'), 'run'))]);
  const url = /ws:\/\/\[::1\]:\d+\//.exec((await coordinator.waitFor(/^coordinator at ws:\/\//, 60_000)).msg)![0];
  const workers = [startWorker(url, 'v6a'), startWorker(url, 'v6b')];
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());
  assert.deepEqual(coordinator.messages(/^dropping worker/), [], coordinator.log());
  for (const w of workers) assert.match(w.messages(/ring port/).join('\n'), /ring port \d+/, w.log());
  // An IPv6 peer's address and port read as one: [::1]:PORT, as --connect takes it.
  assert.equal(coordinator.messages(/^worker "v6a" \(\[::1\]:\d+\) joined$/).length, 1, coordinator.log());
});

test('--ring-port fixes the ring listener\'s port; one in use is one line naming it and the fix, exit 2', { timeout: 90_000 }, async () => {
  const [a, b] = [await freePort(), await freePort()];
  const coordinator = await startCoordinator(['--min-workers', '2', '--allreduce', 'ring', ...trainArgs(spec, path.join(tempDir('dptrain-first-'), 'run'))]);
  const workers = [startWorker(coordinator.url, 'pa', ['--ring-port', String(a)]), startWorker(coordinator.url, 'pb', ['--ring-port', String(b)])];
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());
  assert.match(workers[0].messages(/^ready /).join('\n'), new RegExp(`ring port ${a}\\b`), workers[0].log());
  assert.match(workers[1].messages(/^ready /).join('\n'), new RegExp(`ring port ${b}\\b`), workers[1].log());

  const held = (await holdPort('127.0.0.1'))!;
  try {
    const port = (held.address() as net.AddressInfo).port;
    const again = await startCoordinator(['--allreduce', 'ring', ...trainArgs(spec, path.join(tempDir('dptrain-first-'), 'run'))]);
    const clash = startWorker(again.url, 'clash', ['--ring-port', String(port)]);
    assert.equal(await clash.exited, 2, clash.log());
    assert.match(clash.text.join('\n'), new RegExp(`^dptrain: error: the ring listener \\(--ring-host, --ring-port\\): cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use — choose another --ring-port, or leave it out for one the OS picks \\[dptrain\\.config\\.listen\\]$`, 'm'));
    again.kill();
  } finally {
    held.close();
  }
});
