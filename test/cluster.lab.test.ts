// cluster/lab (issue 5): hosts made of network namespaces, with emulated link delay. Needs root
// with CAP_NET_ADMIN; where the machine does not allow it, every test skips and says why.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { binPath, repoRoot, tempDir } from './helpers.js';
import { labPath, labSync as runLab, ownedLabEnv, pruneStaleLabs } from './lab.helpers.js';
import { finalParams, referenceParams, trainArgs, type RunSpec } from './ws.helpers.js';

const lab = labPath;
// Our own namespace names (dptNNN-h0, ...), so that a lab someone runs by hand (dp-*) is left alone;
// owned by this process, so that its lab goes when this process does (Ctrl-C during `npm test`).
const env = ownedLabEnv(`dpt${process.pid}`);
const labSync = (args: string[], timeout?: number) => runLab(env, args, timeout);

const check = labSync(['check']);
const unavailable = check.status === 0 ? undefined : check.out.replace(/^lab check: /, '');
// The labs of earlier runs that were killed together with their reaper.
if (unavailable === undefined) pruneStaleLabs('^dpt[0-9]+$');
const delayCheck = unavailable ? undefined : labSync(['check', '--delay']);

/** Skips the test when the machine cannot build the lab; returns true if it did. */
function skipUnlessLab(t: TestContext): boolean {
  if (unavailable !== undefined) t.skip(`network namespaces unavailable: ${unavailable}`);
  return unavailable !== undefined;
}

function up(...args: string[]): void {
  const r = labSync(['up', ...args]);
  assert.equal(r.status, 0, r.out);
}

/**
 * `down`, then `up K`: a plain lab of K hosts, built anew, for a test that needs no reshape. A
 * reshape of a delayed lab waits for each old delay process to be gone, up to 2.5 s a host where
 * PID 1 does not reap orphans (the exited process lingers as a zombie that `kill -0` still finds).
 */
function fresh(k: string): void {
  const r = labSync(['down']);
  assert.equal(r.status, 0, r.out);
  up(k);
}

after(() => {
  if (unavailable === undefined) labSync(['down']);
});

/** `node -e SCRIPT` inside a lab host; resolves once it prints `ready` (servers) and returns the process. */
async function startIn(host: string, script: string) {
  const child = spawn(lab, ['run', host, '--', process.execPath, '-e', script], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "ready" from ${host}: ${text}`)), 10_000);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (/^ready$/m.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', () => reject(new Error(`server in ${host} exited: ${text}`)));
  });
  return child;
}

/** `node -e SCRIPT` inside a lab host, to completion; returns its stdout. */
function runIn(host: string, script: string): string {
  const r = spawnSync(lab, ['run', host, '--', process.execPath, '-e', script], { cwd: repoRoot, env, encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  return r.stdout;
}

const echoServer = (address: string, port: number) => `
  require('node:net').createServer((s) => s.pipe(s)).listen(${port}, '${address}', () => console.log('ready'));`;

/** Five TCP round trips of one byte; prints the times in ms as JSON. */
const echoClient = (address: string, port: number) => `
  const s = require('node:net').connect(${port}, '${address}', async () => {
    s.setNoDelay(true);
    const rtts = [];
    for (let i = 0; i < 5; i++) {
      const t = process.hrtime.bigint();
      s.write('x');
      await new Promise((ok) => s.once('data', ok));
      rtts.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    console.log(JSON.stringify(rtts));
    s.destroy();
  });`;

test('`cluster/lab check` exits 2 and says why when the user is not root', (t) => {
  const setpriv = spawnSync('setpriv', ['--version']).status === 0;
  if (process.getuid?.() === 0 && !setpriv) {
    t.skip('running as root and setpriv (util-linux) is not installed');
    return;
  }
  const r =
    process.getuid?.() === 0
      ? spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', lab, 'check'], { env, encoding: 'utf8' })
      : spawnSync(lab, ['check'], { env, encoding: 'utf8' });
  if (r.status === 126 || r.status === 127) {
    t.skip(`an unprivileged user cannot run ${lab} here: ${r.stderr.trim()}`);
    return;
  }
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stdout, /^lab check: not root \(the lab needs root with CAP_NET_ADMIN\)$/m);
});

test('three hosts with 5 ms delay: a TCP round trip between two namespaces takes at least 10 ms', { timeout: 30_000 }, async (t) => {
  if (skipUnlessLab(t)) return;
  if (delayCheck?.status !== 0) {
    t.skip(`cannot emulate delay here: ${delayCheck?.out.replace(/^lab check: /, '')}`);
    return;
  }
  up('3');
  const server = await startIn('h0', echoServer('10.77.0.1', 7100));
  try {
    const plain = JSON.parse(runIn('h1', echoClient('10.77.0.1', 7100))) as number[];
    assert.ok(Math.min(...plain) < 5, `without emulation the round trip is fast: ${plain.join(', ')} ms`);

    up('3', '--delay', '5ms'); // reshapes the running lab; the server keeps running
    const delayed = JSON.parse(runIn('h1', echoClient('10.77.0.1', 7100))) as number[];
    assert.ok(Math.min(...delayed) >= 10, `every round trip takes at least 2 x 5 ms: ${delayed.join(', ')} ms`);
    assert.ok(Math.max(...delayed) < 500, `and not absurdly long: ${delayed.join(', ')} ms`);
  } finally {
    server.kill();
  }
  // The lab's addresses exist only inside its namespaces.
  const rootAddresses = spawnSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(rootAddresses, /10\.77\.0\./);
});

/** The command line of the delay process in lab host `host` (the NFQUEUE fallback), or ''. */
function delayProcessOf(host: string): string {
  const pids = spawnSync('ip', ['netns', 'pids', `${env.DPTRAIN_LAB_PREFIX}-${host}`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  return pids.map((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')).find((cmd) => cmd.includes('lab-delay')) ?? '';
}

test('both delay processes (cluster/lab-delay.c built with cc, and its Python twin) hold every packet for the delay: round trips of 2 x 5 ms', { timeout: 60_000 }, async (t) => {
  if (skipUnlessLab(t)) return;
  if (delayCheck?.status !== 0 || /delay\/loss netem/.test(delayCheck.out)) {
    t.skip(`no NFQUEUE delay process here: ${delayCheck?.out.replace(/^lab check: /, '')}`);
    return;
  }
  const kinds = [
    { name: 'c', available: spawnSync('cc', ['--version']).status === 0, process: /\/lab-delay-[0-9a-f]{16} --queue 0 --delay-ms 5 /, why: 'cc is not installed' },
    { name: 'python', available: spawnSync('python3', ['--version']).status === 0, process: /lab-delay\.py --queue 0 --delay-ms 5 /, why: 'python3 is not installed' },
  ];
  // Two hosts are enough: a round trip from h1 to h0 passes the delay process of each, and the
  // switch from one kind to the other waits for one process per host to stop (see fresh).
  fresh('2');
  const server = await startIn('h0', echoServer('10.77.0.1', 7101));
  try {
    for (const kind of kinds) {
      if (!kind.available) {
        t.diagnostic(`DPTRAIN_LAB_DELAYER=${kind.name} not tried: ${kind.why}`);
        continue;
      }
      const r = runLab({ ...env, DPTRAIN_LAB_DELAYER: kind.name }, ['up', '2', '--delay', '5ms']);
      assert.equal(r.status, 0, r.out);
      assert.match(delayProcessOf('h1'), kind.process);
      const rtts = JSON.parse(runIn('h1', echoClient('10.77.0.1', 7101))) as number[];
      assert.ok(Math.min(...rtts) >= 10, `${kind.name}: every round trip takes at least 2 x 5 ms: ${rtts.join(', ')} ms`);
      assert.ok(Math.max(...rtts) < 100, `${kind.name}: and not much more: ${rtts.join(', ')} ms`);
    }
  } finally {
    server.kill();
  }
});

test('a ws connection works across namespaces', { timeout: 30_000 }, async (t) => {
  if (skipUnlessLab(t)) return;
  fresh('3');
  const server = await startIn(
    'h2',
    `const { WebSocketServer } = require('ws');
     const wss = new WebSocketServer({ host: '10.77.0.3', port: 7200 }, () => console.log('ready'));
     wss.on('connection', (ws, req) => ws.on('message', (m) => ws.send('pong ' + m + ' from ' + req.socket.remoteAddress)));`,
  );
  try {
    const reply = runIn(
      'h0',
      `const WebSocket = require('ws');
       const ws = new WebSocket('ws://10.77.0.3:7200');
       ws.on('open', () => ws.send('ping'));
       ws.on('message', (m) => { console.log(String(m)); ws.close(); });
       ws.on('error', (e) => { console.error(e.message); process.exit(1); });`,
    );
    assert.equal(reply.trim(), 'pong ping from 10.77.0.1');
  } finally {
    server.kill();
  }
});

test('the launcher runs a coordinator in h0 and workers in the other hosts through `cluster/lab ssh`', { timeout: 30_000 }, (t) => {
  if (skipUnlessLab(t)) return;
  up('3');
  const dir = tempDir('dptrain-lab-');
  const hostfile = path.join(dir, 'hosts');
  const token = path.join(dir, 'token');
  const hosts = labSync(['hostfile', '--slots', '2']);
  assert.equal(hosts.status, 0, hosts.out);
  fs.writeFileSync(hostfile, hosts.out);
  fs.writeFileSync(token, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
  const prefix = env.DPTRAIN_LAB_PREFIX;
  const r = spawnSync(
    lab,
    [
      'run', 'h0', '--', path.join(repoRoot, 'cluster', 'launch'), '--hostfile', hostfile, '--coordinator', '10.77.0.1:7300',
      '--token-file', token, '--ssh', `${lab} ssh`, '--dptrain', `node ${path.join(repoRoot, 'cluster', 'test', 'fake-dptrain.mjs')}`,
    ],
    { cwd: repoRoot, env, encoding: 'utf8', timeout: 20_000 },
  );
  fs.rmSync(dir, { recursive: true, force: true });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  assert.match(out, new RegExp(`^${prefix}-h1 +\\| worker ${prefix}-h1 joined with 2 threads$`, 'm'));
  assert.match(out, new RegExp(`^${prefix}-h2 +\\| worker ${prefix}-h2 joined with 2 threads$`, 'm'));
  assert.match(out, /^coordinator +\| all 2 workers joined$/m);
});

/** `dptrain ARGS` inside a lab host, to completion (async, so several hosts run at once). */
function dptrainIn(host: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(lab, ['run', host, '--', process.execPath, binPath, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('training across lab hosts with 2 ms delay and 2% packet loss: no worker is falsely dropped, and the result is bit-identical (docs/reliability.md)', { timeout: 90_000 }, async (t) => {
  if (skipUnlessLab(t)) return;
  const lossCheck = labSync(['check', '--delay', '--loss']);
  if (lossCheck.status !== 0) {
    t.skip(`cannot emulate delay and loss here: ${lossCheck.out.replace(/^lab check: /, '')}`);
    return;
  }
  up('3', '--delay', '2ms', '--loss', '2%');
  assert.match(labSync(['status']).out, /# delay=2ms .*# loss=2%/);
  const dir = tempDir('dptrain-lab-');
  const token = path.join(dir, 'token');
  fs.writeFileSync(token, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
  const spec: RunSpec = { dataset: 'synthetic:spirals?n=3000&classes=3&seed=2', model: 'mlp:2-64-64-3', batchSize: 300, maxSteps: 40, reduceChunks: 4 };
  const out = path.join(dir, 'run');
  try {
    const coordinator = dptrainIn('h0', ['coordinator', '--listen', '10.77.0.1:7400', '--token-file', token, '--min-workers', '2', '--allreduce', 'star', '--hash-every', '5', '--log-format', 'json', ...trainArgs(spec, out)]);
    const workers = ['h1', 'h2'].map((h) => dptrainIn(h, ['worker', '--connect', 'ws://10.77.0.1:7400', '--token-file', token, '--name', h, '--threads', '1', '--log-format', 'json']));
    const c = await coordinator;
    assert.equal(c.code, 0, c.out);
    for (const w of await Promise.all(workers)) assert.equal(w.code, 0, w.out);
    assert.doesNotMatch(c.out, /dropping worker|lost worker/, 'no worker is dropped under delay and loss');
    const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
    assert.deepEqual(ws, inline);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('up and down are idempotent, and down removes every namespace', { timeout: 30_000 }, (t) => {
  if (skipUnlessLab(t)) return;
  fresh('3');
  up('2'); // shrinks it: h2 goes
  up('2');
  const status = labSync(['status']);
  assert.equal(status.status, 0, status.out);
  assert.match(status.out, /-h0 +10\.77\.0\.1\/24/);
  assert.match(status.out, /-h1 +10\.77\.0\.2\/24/);
  assert.doesNotMatch(status.out, /-h2 /);
  for (let i = 0; i < 2; i++) {
    const down = labSync(['down']);
    assert.equal(down.status, 0, down.out);
  }
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(left, new RegExp(`^${env.DPTRAIN_LAB_PREFIX}-`, 'm'));
});
