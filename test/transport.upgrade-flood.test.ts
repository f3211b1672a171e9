// Hostile upgrade requests (docs/reliability.md; CVE-2024-37890: ws crashed on a
// request with more headers than server.maxHeadersCount; CVE-2021-32640: a ReDoS on
// Sec-WebSocket-Protocol). A raw net.Socket writes each request by hand to a real listen()
// server, which must answer promptly (a refusal, or a 101 when the request is valid after all),
// stay up, and keep serving a client that was connected before and one that connects after.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { connect, listen } from '../src/transport/index.js';
import { fastLimits, testMessages } from './transport.helpers.js';

const dims = { params: 16 };
/** Generous on a shared 2-core machine; the ReDoS this guards against takes seconds to minutes. */
const ANSWER_WITHIN_MS = 2_000;

/** Writes `request` on a fresh socket; resolves with the status line and how long it took, or null if the socket closed silently. */
async function ask(port: number, request: string): Promise<{ status: string | null; ms: number }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const started = performance.now();
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => {});
  socket.write(request);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    socket.once('close', done);
    const poll = setInterval(() => received.includes('\r\n') && (clearInterval(poll), done()), 5);
    socket.once('close', () => clearInterval(poll));
  });
  const ms = performance.now() - started;
  socket.destroy();
  return { status: received.includes('\r\n') ? received.slice(0, received.indexOf('\r\n')) : null, ms };
}

const upgradeHeaders = (extra = '') =>
  `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}`;

test('the installed ws is at least 8.21.0 (CVE-2024-37890, CVE-2021-32640, GHSA-96hv-2xvq-fx4p fixed)', () => {
  const file = createRequire(import.meta.url).resolve('ws/package.json');
  const { version } = JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string };
  const [major, minor] = version.split('.').map(Number);
  assert.ok(major > 8 || (major === 8 && minor >= 21), `ws ${version}`);
});

test('upgrade requests with 2,000 headers or a 32,000-space Sec-WebSocket-Protocol are answered promptly (refused, or upgraded and left to the handshake timeout), the server stays up, and other connections are unaffected', { timeout: 30_000 }, async (t) => {
  // The hostile requests and the clients share 127.0.0.1 here, so the lockout of addresses that
  // abandon handshakes is lifted: this test is about parsing; transport.admission tests the lockout.
  const limits = { ...fastLimits, maxPendingPerAddress: 1_000, maxAuthFailures: 1_000, maxAuthFailuresPerAddress: 1_000 };
  const server = await listen({ messages: testMessages, dims, limits });
  t.after(() => server.close());
  const port = Number(new URL(server.url).port);
  const before = await connect(server.url, { name: 'before', messages: testMessages, dims, limits: fastLimits });
  t.after(() => before.close());
  const beforePeer = await server.accept(2_000);

  const requests: { name: string; request: string; status: RegExp }[] = [
    {
      // The upgrade headers after 2,000 others (under Node's 16 KiB header limit): past
      // maxHeadersCount they are dropped, so ws sees an upgrade without its key (8.17.1+: 400).
      name: '2,000 headers before the upgrade headers',
      request: `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${'a:b\r\n'.repeat(2_000)}${upgradeHeaders()}\r\n`,
      status: /^HTTP\/1\.1 4\d\d /,
    },
    {
      name: '2,000 headers after the upgrade headers',
      request: `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${upgradeHeaders()}${'a:b\r\n'.repeat(2_000)}\r\n`,
      status: /^HTTP\/1\.1 (101|4\d\d) /,
    },
    {
      name: '2,000 distinct headers',
      request: `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${upgradeHeaders()}${Array.from({ length: 2_000 }, (_, i) => `x-h${i}: v\r\n`).join('')}\r\n`,
      status: /^HTTP\/1\.1 (101|4\d\d) /,
    },
    {
      // Over Node's 16 KiB header limit: refused (431) before ws sees it.
      name: "Sec-WebSocket-Protocol 'b' + 32,000 spaces + 'x'",
      request: `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${upgradeHeaders(`Sec-WebSocket-Protocol: b${' '.repeat(32_000)}x\r\n`)}\r\n`,
      status: /^HTTP\/1\.1 4\d\d /,
    },
    {
      // The same pattern small enough to pass Node's header limit and reach ws's parser.
      name: "Sec-WebSocket-Protocol 'b' + 15,000 spaces + 'x'",
      request: `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${upgradeHeaders(`Sec-WebSocket-Protocol: b${' '.repeat(15_000)}x\r\n`)}\r\n`,
      status: /^HTTP\/1\.1 400 /,
    },
  ];
  for (const { name, request, status } of requests) {
    const answer = await ask(port, request);
    assert.ok(answer.status !== null, `${name}: answered (got nothing)`);
    assert.match(answer.status, status, name);
    assert.ok(answer.ms < ANSWER_WITHIN_MS, `${name}: answered in ${answer.ms.toFixed(0)} ms`);
  }
  // Twenty of each at once: still answered, and the server still serves.
  const flood = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(port, requests[i % requests.length].request)));
  assert.ok(flood.every((a) => a.status !== null), 'every request of the flood was answered');

  // The client connected before the flood is unaffected; a new one is served.
  await before.send({ type: 'note', text: 'still here' });
  assert.deepEqual(await beforePeer.receive(2_000), { type: 'note', text: 'still here' });
  const after = await connect(server.url, { name: 'after', messages: testMessages, dims, limits: fastLimits });
  const afterPeer = await server.accept(2_000);
  await after.send({ type: 'note', text: 'fine' });
  assert.deepEqual(await afterPeer.receive(2_000), { type: 'note', text: 'fine' });
  await after.close();
});
