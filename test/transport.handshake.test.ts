// The handshake over real sockets on 127.0.0.1: token, protocol version, admission, timeouts,
// and connect's backoff. Each refusal must leave a clear reason in the logs of both sides.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { CloseCode, connect, listen, TransportError } from '../src/transport/index.js';
import {
  collectLog,
  delay,
  fastLimits,
  freePort,
  rawClient,
  rawHandshake,
  rawServer,
  rawServerHandshake,
  testMessages,
  until,
  W2_PARAMS,
} from './transport.helpers.js';

const dims = { params: W2_PARAMS };
const tokenA = Buffer.from('token-A-0123456789abcdef0123456789');
const tokenB = Buffer.from('token-B-0123456789abcdef0123456789');

function isTransportError(problem: string, message?: RegExp) {
  return (error: unknown) =>
    error instanceof TransportError && error.code === `dptrain.transport.${problem}` && (message === undefined || message.test(error.message));
}

test('a client and a server with the same token join, and each learns the other\'s name, role and meta', async () => {
  const server = await listen({ name: 'coord', token: tokenA, messages: testMessages, dims, meta: { model: 'mlp:784-1024-1024-10', params: W2_PARAMS } });
  const accepted = server.accept(2_000);
  const client = await connect(server.url, { name: 'w1', role: 'worker', token: tokenA, messages: testMessages, dims, meta: { threads: 4 } });
  const conn = await accepted;
  assert.deepEqual({ ...conn.peer, remoteAddress: undefined }, { name: 'w1', role: 'worker', meta: { threads: 4 }, remoteAddress: undefined });
  assert.match(conn.peer.remoteAddress ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(client.peer.name, 'coord');
  assert.deepEqual(client.peer.meta, { model: 'mlp:784-1024-1024-10', params: W2_PARAMS });
  assert.equal(server.connections.size, 1);
  await client.close();
  await server.close();
});

test('a client with the wrong token is refused, and each side describes the mismatch from its own side', async () => {
  const slog = collectLog();
  const clog = collectLog();
  const server = await listen({ token: tokenA, messages: testMessages, log: slog, limits: fastLimits });
  // The client proves itself first (protocol 3), so the server is the one that notices the tokens differ.
  const error = await connect(server.url, { name: 'w1', token: tokenB, messages: testMessages, log: clog, limits: fastLimits }).catch((e: unknown) => e);
  assert.ok(isTransportError('authFailed', /^server "coordinator" \(ws:\/\/127\.0\.0\.1:\d+\/\) refused our token: the token files differ \(or the worker has none\) — check that both hold the same token \(sha256sum the files; copy with scp -p\)$/)(error), String(error));
  assert.equal((error as TransportError).reason, 'tokenRefused');
  assert.ok(clog.lines.some((l) => l.fields.code === 'dptrain.transport.authFailed' && /refused our token/.test(l.message)), clog.warnings().join('\n'));
  await until(
    () => slog.lines.some((l) => l.fields.code === 'dptrain.transport.authFailed' && /closing connection to worker "w1" .*: a worker at 127\.0\.0\.1:\d+ \(calling itself "w1"\) presented a wrong token/.test(l.message)),
    2_000,
    'server log',
  );
  assert.equal(server.connections.size, 0);
  await server.close();
});

test('a client with a token is refused by a server without one, and both sides say that the server runs without a token and what to do', async () => {
  const slog = collectLog();
  const clog = collectLog();
  const server = await listen({ messages: testMessages, log: slog, limits: fastLimits });
  const error = await connect(server.url, { name: 'w1', token: tokenA, messages: testMessages, log: clog, limits: fastLimits }).catch((e: unknown) => e);
  const fix = 'give the coordinator the same --token-file as the worker, or drop --token-file on the worker (on a trusted loopback only)';
  assert.ok(isTransportError('authFailed')(error), String(error));
  assert.equal((error as TransportError).message.replace(/\d+\/\)/, 'PORT/)'), `server "coordinator" (ws://127.0.0.1:PORT/) refused our token: it runs without a token (no --token-file) — ${fix}`);
  assert.equal((error as TransportError).closeReason, `it runs without a token (no --token-file) — ${fix}`);
  await until(() => slog.warnings().some((m) => m.includes(`(calling itself "w1") presented a token, but this coordinator runs without one (no --token-file): ${fix}`)), 2_000, slog.warnings().join('\n'));
  assert.deepEqual(slog.warnings().filter((m) => /differs from ours/.test(m)), [], 'not "its token file differs": there is none here');
  await server.close();
});

test('a client that cannot prove the token is refused by the server with close code 4002', async () => {
  const slog = collectLog();
  const server = await listen({ token: tokenA, messages: testMessages, log: slog, limits: fastLimits });
  const raw = await rawClient(server.url);
  const answer = await rawHandshake(raw, { token: tokenB, name: 'intruder' }); // ignores the server's proof
  assert.equal(answer.type, 'refuse');
  assert.equal(answer.code, 'authFailed');
  // The client is told the fix in its own terms; the server's log names the client.
  assert.equal(answer.reason, 'the token files differ (or the worker has none) — check that both hold the same token (sha256sum the files; copy with scp -p)');
  const closed = await raw.closed;
  assert.equal(closed.code, CloseCode.authFailed);
  assert.ok(slog.warnings().some((m) => /closing connection to worker "intruder".*presented a wrong token/.test(m)));
  // no token at all is no better
  const raw2 = await rawClient(server.url);
  assert.equal((await rawHandshake(raw2, { name: 'anon' })).code, 'authFailed');
  assert.equal(server.rejections.total, 0, 'auth failures are refusals, not bad frames');
  await server.close();
});

test('a client speaking another protocol version is refused with 4003 and a reason naming both versions', async () => {
  const slog = collectLog();
  const server = await listen({ messages: testMessages, log: slog, limits: fastLimits });
  const raw = await rawClient(server.url);
  const answer = await rawHandshake(raw, { protocol: 1 });
  assert.deepEqual(answer, {
    type: 'refuse',
    code: 'protocolVersion',
    reason: 'the client speaks protocol 1, this server speaks protocol 3; run the same dptrain version on both',
  });
  assert.equal((await raw.closed).code, CloseCode.protocolVersion);
  assert.ok(slog.warnings().some((m) => m.includes('the client speaks protocol 1, this server speaks protocol 3')));
  await server.close();
});

test('a server speaking another protocol version is refused by the client', async () => {
  let serverSaw: Promise<Record<string, unknown>> | undefined;
  let serverClosed: Promise<{ code: number }> | undefined;
  const raw = await rawServer((peer) => {
    serverSaw = rawServerHandshake(peer, { protocol: 1 });
    serverClosed = peer.closed;
  });
  const clog = collectLog();
  await assert.rejects(
    connect(raw.url, { name: 'w1', messages: testMessages, log: clog, limits: fastLimits }),
    isTransportError('protocolVersion', /^the server speaks protocol 1, this client speaks protocol 3/),
  );
  assert.deepEqual(await serverSaw, {
    type: 'refuse',
    code: 'protocolVersion',
    reason: 'the server speaks protocol 1, this client speaks protocol 3; run the same dptrain version on both',
  });
  assert.equal((await serverClosed!).code, CloseCode.protocolVersion);
  assert.ok(clog.warnings().some((m) => m.includes('the server speaks protocol 1')));
  await raw.close();
});

test('the admission check and duplicate names refuse with the reason, on both sides', async () => {
  const slog = collectLog();
  const server = await listen({
    messages: testMessages,
    log: slog,
    limits: fastLimits,
    admit: (peer) => (peer.meta.datasetHash !== 'abc' ? `dataset hash ${String(peer.meta.datasetHash)} differs from abc` : undefined),
  });
  const w1 = await connect(server.url, { name: 'w1', messages: testMessages, meta: { datasetHash: 'abc' }, limits: fastLimits });
  const clog = collectLog();
  await assert.rejects(
    connect(server.url, { name: 'w1', messages: testMessages, meta: { datasetHash: 'abc' }, log: clog, limits: fastLimits }),
    isTransportError('nameTaken', /refused the connection: worker "w1" .* is not admitted: a peer named "w1" is already connected \(from 127\.0\.0\.1:\d+\) — choose another --name, or wait for the old one to leave$/),
  );
  await assert.rejects(
    connect(server.url, { name: 'w2', messages: testMessages, meta: { datasetHash: 'xyz' }, limits: fastLimits }),
    isTransportError('refused', /is not admitted: dataset hash xyz differs from abc$/),
  );
  assert.ok(slog.warnings().some((m) => m.includes('is not admitted: dataset hash xyz differs from abc')));
  assert.ok(clog.warnings().some((m) => m.includes('a peer named "w1" is already connected')));
  // the client may refuse the server too
  await assert.rejects(
    connect(server.url, { name: 'w3', messages: testMessages, meta: { datasetHash: 'abc' }, limits: fastLimits, admit: () => 'wrong model' }),
    isTransportError('refused', /is not accepted: wrong model$/),
  );
  // the server had admitted w3 before w3 refused it; that connection then closes with 4004
  await until(() => server.connections.size === 1, 2_000, 'w3 to be gone');
  await until(() => slog.warnings().some((m) => /worker "w3" .* closed the connection \(4004 refused: .*is not accepted: wrong model/.test(m)), 2_000, 'server log of w3');
  await w1.close();
  await server.close();
});

test('two clients racing with one name: exactly one joins', async () => {
  // a slow admission check keeps both handshakes in flight at once
  const server = await listen({ messages: testMessages, limits: fastLimits, admit: () => delay(50).then(() => undefined) });
  const results = await Promise.allSettled([0, 1, 2].map(() => connect(server.url, { name: 'twin', messages: testMessages, limits: fastLimits })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) if (r.status === 'rejected') assert.ok(isTransportError('nameTaken', /a peer named "twin" is already connected/)(r.reason));
  await server.close();
});

test('a client that says nothing is closed with 4005 after handshakeTimeoutMs', async () => {
  const slog = collectLog();
  const server = await listen({ messages: testMessages, log: slog, limits: { ...fastLimits, handshakeTimeoutMs: 300 } });
  const raw = await rawClient(server.url);
  const start = Date.now();
  const closed = await raw.closed;
  assert.equal(closed.code, CloseCode.handshakeTimeout);
  assert.match(closed.reason, /handshake with client 127\.0\.0\.1:\d+ did not complete within 300 ms/);
  assert.ok(Date.now() - start < 3_000);
  assert.ok(slog.warnings().some((m) => m.includes('did not complete within 300 ms')));
  await server.close();
});

test('a server that never answers makes connect fail after its attempts, naming the timeout', async () => {
  const raw = await rawServer(() => {});
  const start = Date.now();
  await assert.rejects(
    connect(raw.url, { name: 'w1', messages: testMessages, limits: { ...fastLimits, handshakeTimeoutMs: 200, reconnect: { attempts: 2, initialDelayMs: 10 } } }),
    (e: unknown) =>
      isTransportError('connectFailed', /^gave up connecting to ws:\/\/127\.0\.0\.1:\d+\/ after 2 attempts in [\d.]+ s: handshake with ws:\/\/.* did not complete within 200 ms$/)(e) &&
      (e as TransportError).cause instanceof TransportError &&
      ((e as TransportError).cause as TransportError).problem === 'timeout',
  );
  assert.ok(Date.now() - start < 2_000);
  await raw.close();
});

test('connect retries with backoff until the server is up', async () => {
  const port = await freePort();
  const clog = collectLog();
  const joining = connect(`ws://127.0.0.1:${port}/`, { name: 'w1', messages: testMessages, log: clog, limits: { ...fastLimits, reconnect: { attempts: 20, initialDelayMs: 20, maxDelayMs: 50 } } });
  await delay(150);
  const server = await listen({ port, messages: testMessages });
  const client = await joining;
  assert.equal(client.peer.name, 'coordinator');
  assert.ok(clog.lines.some((l) => /cannot open ws:\/\/127\.0\.0\.1:\d+\/: ECONNREFUSED; retrying in \d+ ms \(attempt 2 of 20\)/.test(l.message)));
  await client.close();
  await server.close();
});

test('connect gives up after its attempts on a closed port', async () => {
  const port = await freePort();
  await assert.rejects(
    connect(`ws://127.0.0.1:${port}/`, { name: 'w1', messages: testMessages, limits: fastLimits }),
    isTransportError('connectFailed', new RegExp(`^gave up connecting to ws://127\\.0\\.0\\.1:${port}/ after 3 attempts in [\\d.]+ s: cannot open .*: ECONNREFUSED$`)),
  );
  const controller = new AbortController();
  const aborted = connect(`ws://127.0.0.1:${port}/`, { name: 'w1', messages: testMessages, signal: controller.signal, limits: { reconnect: { attempts: 100, initialDelayMs: 1000 } } });
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(aborted, isTransportError('connectFailed', /\(aborted\)/));
});

test('an application message before the handshake is refused with 4001', async () => {
  const server = await listen({ messages: testMessages, limits: fastLimits });
  const raw = await rawClient(server.url);
  raw.send({ type: 'note', text: 'hi' });
  assert.deepEqual(await raw.next(), { type: 'refuse', code: 'badMessage', reason: 'unknown message type "note" (known: hello, challenge, proof, welcome, refuse)' });
  assert.equal((await raw.closed).code, CloseCode.badMessage);
  assert.equal(server.rejections.get('badMessage:unknownType'), 1);
  await server.close();
});

test('before the handshake a frame over maxHandshakePayload is closed with 1009', async () => {
  const server = await listen({ messages: testMessages, limits: fastLimits });
  const raw = await rawClient(server.url);
  raw.ws.send(Buffer.alloc(100 * 1024));
  assert.equal((await raw.closed).code, CloseCode.tooLarge);
  assert.equal(server.rejections.get('badFrame:tooLarge'), 1);
  await server.close();
});

test('listen binds 127.0.0.1 by default and refuses a wide address without a token', async () => {
  const server = await listen({ messages: testMessages });
  assert.equal(server.host, '127.0.0.1');
  assert.match(server.url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  await server.close();
  await assert.rejects(listen({ host: '0.0.0.0', messages: testMessages }), {
    code: 'dptrain.transport.insecureListen',
    message: 'refusing to listen on 0.0.0.0 without a token: anyone who can reach it could join; pass --token-file (or listen on 127.0.0.1)',
  });
  const wide = await listen({ host: '0.0.0.0', token: tokenA, messages: testMessages });
  await wide.close();
  await assert.rejects(listen({ messages: testMessages.extend({ hello: {} }) }), { code: 'dptrain.transport.badOption', message: 'message type "hello" is reserved by the transport handshake' });
  const busy = await listen({ messages: testMessages });
  await assert.rejects(listen({ port: busy.port, messages: testMessages }), { code: 'dptrain.transport.listenFailed', message: `cannot listen on 127.0.0.1:${busy.port}: EADDRINUSE` });
  await busy.close();
});

test('a plain HTTP request gets 426, and a server at maxPendingHandshakes answers 503', async () => {
  const server = await listen({ messages: testMessages, limits: { ...fastLimits, maxPendingHandshakes: 1 } });
  const status = await new Promise<number | undefined>((resolve) => http.get(`http://127.0.0.1:${server.port}/`, (res) => { res.resume(); resolve(res.statusCode); }));
  assert.equal(status, 426);
  const silent = await rawClient(server.url); // holds the only handshake slot
  await assert.rejects(
    connect(server.url, { name: 'w1', messages: testMessages, limits: { ...fastLimits, reconnect: { attempts: 1 } } }),
    isTransportError('connectFailed', /HTTP 503/),
  );
  silent.ws.terminate();
  await server.close();
});

test('an address that fails authentication maxAuthFailuresPerAddress times under any names is locked out with HTTP 429, then let in after authLockoutMs', async () => {
  const slog = collectLog();
  const limits = { ...fastLimits, maxAuthFailuresPerAddress: 3, authLockoutMs: 1_500, reconnect: { attempts: 1 } };
  const server = await listen({ token: tokenA, messages: testMessages, log: slog, limits });
  for (let i = 0; i < 3; i++) {
    await assert.rejects(connect(server.url, { name: `guess${i}`, token: tokenB, messages: testMessages, limits }), isTransportError('authFailed'));
  }
  // The server counts a failure when its side of the handshake ends, a moment after the client's.
  await until(() => slog.warnings().filter((m) => /presented a wrong token/.test(m)).length >= 3, 2_000, 'three failures logged');
  const refusal = await connect(server.url, { name: 'w1', token: tokenA, messages: testMessages, limits }).catch((error: unknown) => error);
  // Even the right token is refused while the address is locked out, before any WebSocket exists.
  assert.ok(isTransportError('connectFailed', /HTTP 429 Too Many Requests/)(refusal), String(refusal));
  assert.ok(slog.warnings().some((m) => /refusing a connection .*: 3 failed or abandoned handshakes from 127\.0\.0\.1; locked out for [12] s more — check the token file/.test(m)), slog.warnings().join('\n'));
  await delay(1_600);
  const client = await connect(server.url, { name: 'w1', token: tokenA, messages: testMessages, limits });
  assert.equal(client.peer.name, 'coordinator');
  await client.close();
  await server.close();
});
