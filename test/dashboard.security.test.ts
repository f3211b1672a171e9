import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import { dashboardKey, startDashboard, type Dashboard, type DashboardSnapshot } from '../src/dashboard/index.js';
import { generateToken, readTokenFile } from '../src/transport/index.js';
import type { RunInfo, StepRecord } from '../src/train/index.js';
import { runCli, tempDir } from './helpers.js';

const silent = { info() {} };
const open: Dashboard[] = [];
after(async () => {
  await Promise.all(open.map((d) => d.close()));
});

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    }).on('error', reject);
  });
}

/** Opens the dashboard socket; resolves with its first message, or rejects with the refusal's status. */
function firstMessage(url: string, headers: Record<string, string> = {}): Promise<DashboardSnapshot> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('message', (data) => {
      resolve(JSON.parse(String(data)));
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function tokenFile(): string {
  const file = path.join(tempDir('dptrain-dash-token-'), 'token');
  fs.writeFileSync(file, generateToken(), { mode: 0o600 });
  return file;
}

test('with a token: the page answers 401 without it, the URL\'s token sets a cookie, and the socket needs that cookie', async () => {
  const file = tokenFile();
  const dash = await startDashboard({ address: '127.0.0.1:0', tokenFile: file, kind: 'train', log: silent });
  open.push(dash);
  const key = dashboardKey(readTokenFile(file));
  const base = `http://127.0.0.1:${dash.server.port}`;
  assert.equal(dash.url, `${base}/?token=${key}`, 'the URL printed holds the key, not the token');

  assert.equal((await get(`${base}/`)).status, 401);
  assert.equal((await get(`${base}/assets/dashboard.js`)).status, 401);
  assert.equal((await get(`${base}/?token=${'0'.repeat(64)}`)).status, 401, 'a wrong token');
  const login = await get(dash.url);
  assert.equal(login.status, 303);
  assert.equal(login.headers.location, '/');
  const cookie = String(login.headers['set-cookie']).split(';')[0];
  assert.match(String(login.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
  const page = await get(`${base}/`, { cookie });
  assert.equal(page.status, 200);
  assert.match(page.headers['content-security-policy'] as string, /default-src 'none'; script-src 'self'; style-src 'self'/);
  assert.doesNotMatch(page.body, /<script>|<style>| style=|https?:\/\//, 'no inline script or style, nothing from elsewhere');

  await assert.rejects(firstMessage(`ws://127.0.0.1:${dash.server.port}/ws`), /refused: 401/);
  await assert.rejects(firstMessage(`ws://127.0.0.1:${dash.server.port}/ws`, { cookie: `dptrain_dashboard_${dash.server.port}=nope` }), /refused: 401/);
  const snapshot = await firstMessage(`ws://127.0.0.1:${dash.server.port}/ws`, { cookie });
  assert.equal(snapshot.type, 'snapshot');
});

test('on loopback: another site\'s page may not open the socket, and a foreign Host name is refused (DNS rebinding)', async () => {
  const dash = await startDashboard({ address: true, kind: 'train', log: silent });
  open.push(dash);
  const port = dash.server.port;
  assert.equal(dash.url, `http://127.0.0.1:${port}/`);
  assert.equal((await get(`http://127.0.0.1:${port}/`)).status, 200);
  assert.equal((await get(`http://127.0.0.1:${port}/`, { host: `evil.example:${port}` })).status, 403);
  await assert.rejects(firstMessage(`ws://127.0.0.1:${port}/ws`, { origin: 'http://evil.example' }), /refused: 403/);
  assert.equal((await firstMessage(`ws://127.0.0.1:${port}/ws`, { origin: `http://127.0.0.1:${port}` })).type, 'snapshot');
});

test('--token-file without --dashboard (train, sweep) is warned about as an option without effect, and the run goes on', () => {
  const r = runCli(['train', '--token-file', 'no-such-token', '--max-steps', '1', '--engine', 'inline', '--dataset', 'synthetic:blobs?n=100&d=2&classes=2']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /WARN: --token-file no-such-token has no effect and is ignored: it guards --dashboard, which is not given/);
});

test('bad input exits 2 with one line: non-loopback without a token, a port in use, a bad host', async () => {
  const insecure = runCli(['train', '--dashboard', '0.0.0.0:0', '--max-steps', '1']);
  assert.equal(insecure.status, 2);
  assert.match(insecure.stderr, /^dptrain: error: --dashboard 0\.0\.0\.0:0 is not a loopback address, and there is no --token-file.*\[dptrain\.config\.insecureDashboard\]\n$/);

  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as net.AddressInfo).port;
  try {
    const busy = runCli(['train', '--dashboard', String(port), '--max-steps', '1']);
    assert.equal(busy.status, 2);
    assert.match(busy.stderr, new RegExp(`^dptrain: error: --dashboard 127\\.0\\.0\\.1:${port}: cannot listen: the port is in use — choose another port, or pass --dashboard alone for a free one \\[dptrain\\.config\\.dashboardListen\\]\\n$`));
  } finally {
    holder.close();
  }

  const badHost = runCli(['coordinator', '--dashboard', 'bad host:80', '--max-steps', '1']);
  assert.equal(badHost.status, 2);
  assert.match(badHost.stderr, /^dptrain: error: --dashboard host "bad host" is not an IP address or host name.*\[dptrain\.config\.badOption\]\n$/);
});

const INFO: RunInfo = { model: 'mlp:784-256-128-10', numParams: 235_146, dataset: 'mnist', trainSamples: 9000, valSamples: 1000, batchSize: 256, stepsPerEpoch: 36, epochs: 100_000, totalSteps: 3_600_000, logEvery: 1, lr: 0.05, engine: 'threads', workers: 2 };

test('a browser that never reads cannot stall the run: its updates are dropped, memory stays bounded, others keep up', async () => {
  const dash = await startDashboard({ address: true, kind: 'train', log: silent, flushMs: 5, maxBufferedBytes: 256 * 1024 });
  open.push(dash);
  const port = dash.server.port;
  // A raw client: the WebSocket upgrade, then it never reads another byte.
  const stuck = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => stuck.once('connect', resolve));
  stuck.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  stuck.pause();
  // A browser that reads.
  const reader = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  let lastStep = 0;
  reader.on('message', (data) => {
    const m = JSON.parse(String(data));
    lastStep = m.progress.step;
  });
  await new Promise((resolve) => reader.once('open', resolve));

  const feed = dash.callback;
  feed.onTrainBegin!(INFO);
  const rss0 = process.memoryUsage().rss;
  const started = performance.now();
  let step = 0;
  // 100k steps, yielding to the event loop as a training loop does between steps.
  while (step < 100_000) {
    for (let i = 0; i < 1000; i++, step++) {
      const record: StepRecord = { type: 'step', epoch: 0, step, batchSize: 256, samples: 256 * (step + 1), loss: 1 / (step + 1), accuracy: 0.5, lr: 0.05, gradNorm: 1, clip: 1, ms: 3, timing: { computeMs: [1, 1.1], reduceMs: 0.5, updateMs: 0.4, idleMs: 1 }, gns: { trSigma: 10, gradSq: 0.1, bSimple: 100 } };
      await feed.onStep!(record);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const feedMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 100));
  const rssGrowthMb = (process.memoryUsage().rss - rss0) / 1e6;
  assert.ok(dash.server.droppedUpdates > 0, 'updates to the stuck client were dropped');
  assert.equal(lastStep, 100_000, 'the reading client saw the last step');
  assert.ok(rssGrowthMb < 150, `RSS grew ${rssGrowthMb.toFixed(1)} MB`);
  console.log(`# never-reading client: 100,000 steps fed in ${feedMs.toFixed(0)} ms, ${dash.server.droppedUpdates} updates dropped for it, RSS +${rssGrowthMb.toFixed(1)} MB`);
  reader.close();
  stuck.destroy();
});
