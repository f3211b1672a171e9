// A lab test interrupted (Ctrl-C during `npm test`, SIGTERM, even SIGKILL) leaves no network
// namespaces behind: the lab's reaper removes them when its owner ends; labs whose owner and reaper
// are both gone are pruned when the next run starts — but never a lab whose owner still runs, nor
// one built by hand (issue 12 item 10). Needs root with CAP_NET_ADMIN; skips and says why elsewhere.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test, type TestContext } from 'node:test';
import { labSync, pruneStaleLabs } from './lab.helpers.js';
import { repoRoot } from './helpers.js';

const check = labSync({ ...process.env, DPTRAIN_LAB_PREFIX: `dpk${process.pid}` }, ['check']);
const unavailable = check.status === 0 ? undefined : check.out.replace(/^lab check: /, '');

function skipUnlessLab(t: TestContext): boolean {
  if (unavailable !== undefined) t.skip(`network namespaces unavailable: ${unavailable}`);
  return unavailable !== undefined;
}

const helpers = pathToFileURL(path.join(repoRoot, 'dist', 'test', 'lab.helpers.js')).href;

/** A process that owns a 2-host lab as the lab tests do; resolves with it and its prefix once the lab is up. */
async function startLabOwner() {
  const script = `
    import { labSync, ownedLabEnv } from ${JSON.stringify(helpers)};
    const prefix = 'dpc' + process.pid;
    const up = labSync(ownedLabEnv(prefix), ['up', '2']);
    if (up.status !== 0) { console.error(up.out); process.exit(1); }
    console.log('ready ' + prefix);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('close', (code, signal) => resolve(signal ?? code)));
  const prefix = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "ready": ${text}`)), 20_000);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const m = /^ready (\S+)$/m.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => reject(new Error(`exited before "ready": ${text}`)));
  });
  return { child, prefix, exited, output: () => text };
}

function namespaces(prefix: string): string[] {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  return list.split('\n').map((l) => l.split(' ')[0]).filter((ns) => ns.startsWith(`${prefix}-`)).sort();
}

/**
 * Resolves once no namespace of `prefix` is left and its state directory is removed (the reaper
 * removes the namespaces first, then the directory); rejects with what is left after `ms`.
 */
async function gone(prefix: string, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (namespaces(prefix).length > 0 || fs.existsSync(`/run/dptrain-lab/${prefix}`)) {
    if (performance.now() > deadline) throw new Error(`still there after ${ms} ms: ${namespaces(prefix).join(", ") || "the state directory"}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
  test(`a lab test process ended by ${signal} leaves no namespace behind`, { timeout: 60_000 }, async (t) => {
    if (skipUnlessLab(t)) return;
    const owner = await startLabOwner();
    assert.deepEqual(namespaces(owner.prefix), [`${owner.prefix}-h0`, `${owner.prefix}-h1`, `${owner.prefix}-sw`]);
    owner.child.kill(signal);
    assert.equal(await owner.exited, signal, owner.output());
    await gone(owner.prefix);
    assert.ok(!fs.existsSync(`/run/dptrain-lab/${owner.prefix}`), 'its state directory is gone too');
  });
}

test('at the next start, a lab whose owner and reaper were both killed is removed; a running owner\'s lab and a lab built by hand are kept', { timeout: 60_000 }, async (t) => {
  if (skipUnlessLab(t)) return;
  const dead = await startLabOwner();
  const live = await startLabOwner();
  const byHand = `dph${process.pid}`.slice(0, 12);
  const handEnv = { ...process.env, DPTRAIN_LAB_PREFIX: byHand, DPTRAIN_LAB_OWNER: '' };
  try {
    assert.equal(labSync(handEnv, ['up', '1']).status, 0);
    // The reaper first (as a `kill -9` of everything would), then its owner.
    const reaper = Number(fs.readFileSync(`/run/dptrain-lab/${dead.prefix}/reaper`, 'utf8').split(' ')[0]);
    process.kill(reaper, 'SIGKILL');
    dead.child.kill('SIGKILL');
    await dead.exited;
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(namespaces(dead.prefix).length, 3, 'nobody was left to clean up');

    const pruned = pruneStaleLabs('^dpc[0-9]+$');
    assert.equal(pruned.status, 0, pruned.out);
    assert.match(pruned.out, new RegExp(`owner of lab ${dead.prefix} \\(\\d+\\) is gone; removing it`));
    assert.deepEqual(namespaces(dead.prefix), []);
    assert.equal(namespaces(live.prefix).length, 3, 'the lab of a running owner is kept');
    assert.deepEqual(namespaces(byHand), [`${byHand}-h0`, `${byHand}-sw`], 'a lab without an owner is kept');
  } finally {
    live.child.kill('SIGINT');
    await live.exited;
    await gone(live.prefix);
    labSync(handEnv, ['down']);
  }
});
