// cluster/launch (issue 5): the commands it would run, and its process handling with a local ssh
// stand-in (cluster/test/fake-ssh) and a stand-in dptrain (cluster/test/fake-dptrain.mjs).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { binPath, repoRoot, tempDir } from './helpers.js';

const launch = path.join(repoRoot, 'cluster', 'launch');
const fakeSsh = path.join(repoRoot, 'cluster', 'test', 'fake-ssh');
const fakeDptrain = `node ${path.join(repoRoot, 'cluster', 'test', 'fake-dptrain.mjs')}`;
const dir = tempDir('dptrain-launch-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The launcher's shell quoting, for expected output: paths of this checkout may need quotes. */
const q = (word: string) => (/^[A-Za-z0-9_/.,:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

function writeFile(name: string, text: string, mode = 0o644): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
  return file;
}

function runLaunch(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(launch, args, { cwd: repoRoot, encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts the launcher; `output()` is all it printed so far; `waitFor` resolves when a pattern shows. */
function startLaunch(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(launch, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const w of waiters.splice(0)) (w.pattern.test(text) ? w.resolve : () => waiters.push(w))();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = (pattern: RegExp, ms = 15_000) =>
    new Promise<void>((resolve, reject) => {
      if (pattern.test(text)) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text}`)), ms);
      waiters.push({ pattern, resolve: () => (clearTimeout(timer), resolve()) });
    });
  return { child, exited, waitFor, output: () => text };
}

/** The pids the fake processes recorded, and which of them still run `ms` later. */
async function survivors(pidDir: string, ms = 3000): Promise<string[]> {
  const deadline = Date.now() + ms;
  while (true) {
    const alive = fs.readdirSync(pidDir).filter((f) => {
      try {
        process.kill(Number(fs.readFileSync(path.join(pidDir, f), 'utf8')), 0);
        return true;
      } catch {
        return false;
      }
    });
    if (alive.length === 0 || Date.now() > deadline) return alive;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pidDirWith(...names: string[]): { pidDir: string; check: () => void } {
  const pidDir = fs.mkdtempSync(path.join(dir, 'pids-'));
  return {
    pidDir,
    check: () => assert.deepEqual(fs.readdirSync(pidDir).sort(), names.map((n) => `${n}.pid`).sort(), 'every process started'),
  };
}

describe('cluster/launch --dry-run', () => {
  test('prints the coordinator command and one ssh command per host, with train options on the coordinator', () => {
    const hosts = writeFile('hosts', '# LAN\nhostA 2\nhostB 4  # the big one\n');
    const r = runLaunch([
      '--hostfile', hosts, '--coordinator', '10.1.2.3:7000', '--token-file', 'token', '--ssh', 'ssh -o BatchMode=yes', '--dry-run',
      '--', '--epochs', '3', '--dataset', 'synthetic:blobs?n=300&d=3',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const dptrain = `node ${q(binPath)}`;
    const worker = (host: string, threads: number) =>
      `ssh -o BatchMode=yes ${host} ${q(`cd ${q(repoRoot)} && exec ${dptrain} worker --connect ws://10.1.2.3:7000 --token-file token --threads ${threads} --name ${host}`)}`;
    assert.equal(
      r.stdout,
      [
        '# coordinator (here)',
        `${dptrain} coordinator --listen 10.1.2.3:7000 --min-workers 2 --token-file token --epochs 3 --dataset 'synthetic:blobs?n=300&d=3'`,
        '# worker on hostA',
        worker('hostA', 2),
        '# worker on hostB',
        worker('hostB', 4),
        '',
      ].join('\n'),
    );
  });

  test('--remote-dir, --listen, user@host and local hosts', () => {
    const r = runLaunch([
      '--hosts', 'ops@gpu1:8,localhost:2', '--coordinator', 'head:7100', '--listen', '0.0.0.0:7100', '--token-file', '/etc/dptrain/token',
      '--remote-dir', '/opt/dptrain', '--dry-run',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[1], `node ${q(binPath)} coordinator --listen 0.0.0.0:7100 --min-workers 2 --token-file /etc/dptrain/token`);
    assert.equal(lines[2], '# worker on gpu1');
    assert.equal(
      lines[3],
      "ssh -o BatchMode=yes ops@gpu1 'cd /opt/dptrain && exec node /opt/dptrain/bin/dptrain.js worker --connect ws://head:7100 --token-file /etc/dptrain/token --threads 8 --name gpu1'",
    );
    assert.equal(lines[4], '# worker on localhost (here)');
    assert.equal(lines[5], `node ${q(binPath)} worker --connect ws://head:7100 --token-file /etc/dptrain/token --threads 2 --name localhost`);
    // A user to log in as: through ssh, as that user, even on this machine.
    const asUser = runLaunch(['--hosts', 'ops@localhost:1', '--coordinator', '127.0.0.1:7000', '--ssh', 'ssh -R 7000:127.0.0.1:7000', '--dry-run']);
    const [, , where, command] = asUser.stdout.trim().split('\n');
    assert.equal(where, '# worker on localhost');
    assert.match(command, /^ssh -R 7000:127\.0\.0\.1:7000 ops@localhost '/);
  });

  test('--dptrain replaces the program; a loopback coordinator (its port forwarded by --ssh) needs no token', () => {
    const r = runLaunch(['--hosts', 'a', '--coordinator', '127.0.0.1:7000', '--ssh', 'ssh -R 7000:127.0.0.1:7000', '--dptrain', '/usr/local/bin/dptrain --log-format json', '--dry-run']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\/usr\/local\/bin\/dptrain --log-format json coordinator --listen 127\.0\.0\.1:7000 --min-workers 1$/m);
    assert.match(r.stdout, /exec \/usr\/local\/bin\/dptrain --log-format json worker --connect ws:\/\/127\.0\.0\.1:7000 --threads 1 --name a'$/m);
  });
});

describe('cluster/launch refuses bad input with exit status 2 and a clear message', () => {
  const cases: [string, string[], RegExp][] = [
    ['no hosts', ['--dry-run'], /exactly one of --hostfile FILE or --hosts/],
    ['a bad hostfile line', ['--hostfile', 'BADHOSTS', '--dry-run'], /badhosts:2: bad slot count "many" for host "b"/],
    ['a missing hostfile', ['--hostfile', '/nonexistent/hosts', '--dry-run'], /hostfile "\/nonexistent\/hosts" cannot be read/],
    ['a non-loopback coordinator without a token', ['--hosts', 'a', '--coordinator', '10.0.0.1:7000', '--dry-run'], /--token-file is required: the coordinator listens on 10\.0\.0\.1:7000/],
    ['a token file that does not exist', ['--hosts', 'a', '--coordinator', '10.0.0.1:7000', '--token-file', '/nonexistent/token'], /--token-file "\/nonexistent\/token" does not exist here/],
    ['a bad --coordinator', ['--hosts', 'a', '--coordinator', 'head', '--dry-run'], /--coordinator must be HOST:PORT with a port from 1 to 65535 \(got "head"\)/],
    ['a bad --grace', ['--hosts', 'a', '--grace', '-1', '--dry-run'], /--grace must be a number of seconds >= 0/],
    ['a loopback coordinator for a remote host over plain ssh', ['--hosts', 'otherhost', '--coordinator', '127.0.0.1:7420', '--dry-run'], /--coordinator 127\.0\.0\.1:7420 is a loopback address, but otherhost is another host/],
    ['an option the launcher sets, among the train options', ['--hosts', 'a', '--token-file', 't', '--dry-run', '--', '--min-workers', '3'], /--min-workers is set by the launcher/],
    ['an unknown option', ['--hosts', 'a', '--epochs', '3'], /unknown option "--epochs" \(train options go after "--"/],
  ];
  for (const [what, args, message] of cases) {
    test(what, () => {
      const bad = writeFile('badhosts', 'a 1\nb many\n');
      const r = runLaunch(args.map((a) => (a === 'BADHOSTS' ? bad : a)));
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /^launch: /);
      assert.match(r.stderr, message);
    });
  }
});

describe('cluster/launch running processes (fake ssh, fake dptrain)', () => {
  const hostsText = 'alpha 2\nbeta 1\n';

  test('starts the coordinator and a worker per host, prefixes their output, and exits 0 when the run ends', async () => {
    const port = await freePort();
    const log = path.join(dir, 'ssh.log');
    const { pidDir, check } = pidDirWith('coordinator', 'alpha', 'beta');
    const run = startLaunch(
      ['--hostfile', writeFile('hosts2', hostsText), '--coordinator', `127.0.0.1:${port}`, '--ssh', `${fakeSsh} -o BatchMode=yes`, '--dptrain', fakeDptrain, '--', '--epochs', '2'],
      { FAKE_SSH_LOG: log, FAKE_PID_DIR: pidDir },
    );
    const { code } = await run.exited;
    const out = run.output();
    assert.equal(code, 0, out);
    assert.match(out, new RegExp(`^coordinator \\| coordinator args: --listen 127\\.0\\.0\\.1:${port} --min-workers 2 --epochs 2$`, 'm'));
    assert.match(out, /^alpha {7}\| worker alpha joined with 2 threads$/m);
    assert.match(out, /^beta {8}\| worker beta joined with 1 threads$/m);
    // The workers really went through the ssh stand-in, which says which host it pretended to be.
    assert.match(out, /^coordinator \| joined: alpha threads=2 host=alpha$/m);
    assert.match(out, /^coordinator \| joined: beta threads=1 host=beta$/m);
    assert.match(out, /^coordinator \| all 2 workers joined$/m);
    assert.deepEqual(fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')[0]).sort(), ['alpha', 'beta']);
    check();
    assert.deepEqual(await survivors(pidDir), []);
  });

  test('a worker that fails stops the others, and the launcher exits with its status', async () => {
    const port = await freePort();
    const { pidDir, check } = pidDirWith('coordinator', 'alpha', 'beta');
    const run = startLaunch(
      ['--hostfile', writeFile('hosts3', hostsText), '--coordinator', `127.0.0.1:${port}`, '--ssh', fakeSsh, '--dptrain', fakeDptrain],
      { FAKE_FAIL: 'beta', FAKE_STAY: '1', FAKE_PID_DIR: pidDir },
    );
    const { code } = await run.exited;
    const out = run.output();
    assert.equal(code, 3, out);
    assert.match(out, /^launch \| beta exited with code 3; stopping (coordinator, alpha|alpha, coordinator)$/m);
    assert.match(out, /^coordinator \| coordinator got SIGTERM$/m);
    assert.match(out, /^alpha {7}\| alpha got SIGTERM$/m);
    check();
    assert.deepEqual(await survivors(pidDir), []);
  });

  test('Ctrl-C (SIGINT) stops every process and exits 130', async () => {
    const port = await freePort();
    const { pidDir, check } = pidDirWith('coordinator', 'alpha', 'beta');
    const run = startLaunch(
      ['--hostfile', writeFile('hosts4', hostsText), '--coordinator', `127.0.0.1:${port}`, '--ssh', fakeSsh, '--dptrain', fakeDptrain],
      { FAKE_STAY: '1', FAKE_PID_DIR: pidDir },
    );
    await run.waitFor(/all 2 workers joined/);
    await run.waitFor(/beta {8}\| worker beta joined/);
    await run.waitFor(/alpha {7}\| worker alpha joined/);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    const out = run.output();
    assert.equal(code, 130, out);
    assert.match(out, /^launch \| got SIGINT \(again to kill at once\); stopping /m);
    for (const name of ['coordinator', 'alpha', 'beta']) assert.match(out, new RegExp(`^${name} +\\| ${name} got SIGTERM$`, 'm'));
    check();
    assert.deepEqual(await survivors(pidDir), []);
  });

  test('when the launcher itself is killed (SIGKILL), the watchdogs stop what it started', async () => {
    const port = await freePort();
    const { pidDir, check } = pidDirWith('coordinator', 'alpha', 'beta');
    const run = startLaunch(
      ['--hostfile', writeFile('hosts5', hostsText), '--coordinator', `127.0.0.1:${port}`, '--ssh', fakeSsh, '--dptrain', fakeDptrain],
      { FAKE_STAY: '1', FAKE_PID_DIR: pidDir },
    );
    await run.waitFor(/all 2 workers joined/);
    await run.waitFor(/beta {8}\| worker beta joined/);
    await run.waitFor(/alpha {7}\| worker alpha joined/);
    run.child.kill('SIGKILL');
    await run.exited;
    check();
    assert.deepEqual(await survivors(pidDir, 5000), []);
  });

  test('workers start only once our coordinator listens: a port held by another program is not mistaken for it', async () => {
    // Another run (here a plain TCP listener) holds the port: a TCP connect to it succeeds.
    const other = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const { port } = other.address() as net.AddressInfo;
    let connections = 0;
    other.on('connection', () => connections++);
    try {
      const run = startLaunch(['--hosts', 'alpha', '--coordinator', `127.0.0.1:${port}`, '--ssh', fakeSsh, '--dptrain', fakeDptrain], {});
      const { code } = await run.exited;
      const out = run.output();
      assert.notEqual(code, 0, out);
      assert.match(out, /^launch \| coordinator exited with code \d+$/m);
      assert.doesNotMatch(out, /^alpha/m, 'no worker started');
      assert.equal(connections, 0, 'nothing connected to the other program');
    } finally {
      other.close();
    }
  });

  test('output piped into a reader that stops early (head -1) ends quietly', () => {
    // More than a pipe holds (~200 kB), so that the launcher is still writing when head exits.
    const hosts = Array.from({ length: 1500 }, (_, i) => `h${i}`).join(',');
    const r = spawnSync('sh', ['-c', `${q(launch)} --hosts ${hosts} --coordinator 10.0.0.1:7000 --token-file token --ssh ssh --dry-run | head -1`], { cwd: repoRoot, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.stdout, '# coordinator (here)\n');
    assert.equal(r.stderr, '');
  });

  test('a coordinator that fails at start stops the launch before any worker starts', async () => {
    const port = await freePort();
    // fake-dptrain exits 2 on an unknown command, as a CLI does on bad options.
    const run = startLaunch(['--hosts', 'alpha', '--coordinator', `127.0.0.1:${port}`, '--ssh', fakeSsh, '--dptrain', `${fakeDptrain} --no-such-role`], {});
    const { code } = await run.exited;
    const out = run.output();
    assert.equal(code, 2, out);
    assert.match(out, /^launch \| coordinator exited with code 2$/m);
    assert.doesNotMatch(out, /^alpha/m);
  });
});

// The real `dptrain coordinator` and `dptrain worker` on loopback, once the CLI has them.
const help = spawnSync(process.execPath, [binPath, '--help'], { encoding: 'utf8', timeout: 20_000 });
const hasCoordinator = /^\s+coordinator\b/m.test(help.stdout) && /^\s+worker\b/m.test(help.stdout);
test('with the real dptrain: two workers over the ssh stand-in train a small model', { timeout: 30_000 }, async (t) => {
  if (!hasCoordinator) {
    t.skip('`dptrain coordinator` is not built yet');
    return;
  }
  const port = await freePort();
  const token = writeFile('token', crypto.randomBytes(32).toString('hex') + '\n', 0o600); // as `dptrain token` makes one
  const out = path.join(dir, 'run');
  const run = startLaunch(
    [
      '--hosts', 'alpha:1,beta:1', '--coordinator', `127.0.0.1:${port}`, '--token-file', token, '--ssh', fakeSsh,
      '--', '--dataset', 'synthetic:blobs?n=300&d=3&classes=3', '--model', 'mlp:3-8-3', '--epochs', '1', '--out', out,
    ],
    {},
  );
  const { code } = await run.exited;
  assert.equal(code, 0, run.output());
  assert.ok(fs.existsSync(path.join(out, 'summary.json')), run.output());
});
