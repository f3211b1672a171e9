// `dptrain worker --connect` takes what the coordinator's start-up line prints: HOST:PORT (or a
// ws:// / wss:// URL), and that line names an address a worker can dial, never 0.0.0.0
// (issue 12, item 7). Real processes; the only address contacted is 127.0.0.1.
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runCli, tempDir } from './helpers.js';
import { killAll, Proc, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';
import { hostPort, isOwnAddress, reachableHosts } from '../src/transport/index.js';

after(killAll);

const spec: RunSpec = { dataset: 'synthetic:blobs?n=400&d=4&classes=3&seed=1', model: 'logreg:4-3', batchSize: 40, maxSteps: 5 };

test('a worker started with the HOST:PORT the coordinator prints joins and the run ends normally', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir('dptrain-connect-'), 'run');
  const coordinator = await startCoordinator(trainArgs(spec, out));
  const hint = coordinator.lines.find((l) => /^coordinator at /.test(l.msg))!.msg;
  const address = /dptrain worker --connect ([^\s)]+)/.exec(hint)?.[1];
  assert.match(address ?? '', /^127\.0\.0\.1:\d+$/, hint);
  const worker = startWorker(address!, 'w1');
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await worker.exited, 0, worker.log());
  assert.match(worker.messages().join('\n'), /worker "w1" done: 5 steps served/);
});

test('--connect in a form that is neither HOST:PORT nor ws(s)://HOST:PORT (a port from 1 to 65535) is one line and exit 2', () => {
  for (const bad of ['10.0.0.1', 'http://10.0.0.1:7000', '10.0.0.1:99999', ':7000', 'ws://10.0.0.1', '10.0.0.1:0', 'ws://10.0.0.1:0/']) {
    const result = runCli(['worker', '--connect', bad]);
    assert.equal(result.status, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^dptrain: error: --connect must be the coordinator's HOST:PORT or ws:\/\/HOST:PORT.*e\.g\. --connect 10\.0\.0\.1:7000 \[dptrain\.config\.badOption\]$/m);
  }
});

test('a coordinator listening on 0.0.0.0 prints an address of this machine to dial, not 0.0.0.0', { timeout: 60_000 }, async () => {
  const dir = tempDir('dptrain-connect-');
  const token = path.join(dir, 'token');
  fs.writeFileSync(token, crypto.randomBytes(32).toString('hex'), { mode: 0o600 }); // as `dptrain token` makes one
  const coordinator = new Proc(['coordinator', '--listen', '0.0.0.0:0', '--token-file', token, '--log-format', 'json', ...trainArgs(spec, path.join(dir, 'run'))]);
  const hint = (await coordinator.waitFor(/^coordinator at /, 60_000)).msg;
  coordinator.kill();
  await coordinator.exited;
  assert.doesNotMatch(hint, /0\.0\.0\.0/);
  // Nor any line before it: the listener's own line names the address to dial too.
  assert.deepEqual(coordinator.messages(/0\.0\.0\.0/), []);
  assert.match(coordinator.messages(/^listening on /).join('\n'), /^listening on ws:\/\/\S+:\d+\/ \(every interface\)$/);
  const expected = reachableHosts('0.0.0.0')[0];
  assert.match(hint, new RegExp(`dptrain worker --connect ${expected.replace(/\./g, '\\.')}:\\d+ --token-file FILE`));
  const mine = Object.values(os.networkInterfaces()).flatMap((list) => list ?? []).map((a) => a.address);
  assert.ok(expected === '127.0.0.1' || mine.includes(expected), `${expected} is one of this machine's addresses`);
});

test('the dialable hosts of a server: its own address, the interfaces for 0.0.0.0 and ::, 127.0.0.1 on a machine with only loopback', () => {
  const lo = { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' } as const;
  const v4 = { address: '192.168.1.10', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.168.1.10/24' } as const;
  const v6 = { address: 'fd00::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fd00::2/64', scopeid: 0 } as const;
  const linkLocal = { ...v6, address: 'fe80::1', cidr: 'fe80::1/64', scopeid: 2 } as const;
  const machine = { lo: [lo], eth0: [v6, linkLocal, v4] };
  assert.deepEqual(reachableHosts('10.0.0.1', machine), ['10.0.0.1']);
  assert.deepEqual(reachableHosts('127.0.0.1', machine), ['127.0.0.1']);
  assert.deepEqual(reachableHosts('0.0.0.0', machine), ['192.168.1.10']);
  assert.deepEqual(reachableHosts('::', machine), ['192.168.1.10', 'fd00::2']);
  assert.deepEqual(reachableHosts('0.0.0.0', { lo: [lo] }), ['127.0.0.1']);
  assert.equal(hostPort('fd00::2', 7000), '[fd00::2]:7000');
  assert.equal(hostPort('10.0.0.1', 7000), '10.0.0.1:7000');
  // A peer at one of these addresses runs on this host (the coordinator's --reduced-from local).
  for (const ip of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1', '192.168.1.10', '::ffff:192.168.1.10', 'fd00::2', 'FD00::2']) assert.ok(isOwnAddress(ip, machine), ip);
  for (const ip of ['192.168.1.11', '10.0.0.1', 'fd00::3', 'unknown']) assert.ok(!isOwnAddress(ip, machine), ip);
});
