// Open connections over real sockets on 127.0.0.1: typed arrays both ways, hostile frames after
// the handshake (closed with the documented code while the server keeps serving others),
// heartbeats against a peer that stops reading, and backpressure.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseCode, connect, listen, TransportError, type Connection } from '../src/transport/index.js';
import {
  collectLog,
  delay,
  fastLimits,
  rawClient,
  rawHandshake,
  rawServer,
  rawServerHandshake,
  testMessages,
  until,
  W2_PARAMS,
  type TestMessage,
} from './transport.helpers.js';

const dims = { params: W2_PARAMS };

async function pair(limits: object = fastLimits) {
  const slog = collectLog();
  const server = await listen({ messages: testMessages, dims, log: slog, limits });
  const accepted = server.accept(2_000);
  const client = await connect(server.url, { name: 'w1', messages: testMessages, dims, limits });
  return { server, client, conn: await accepted, slog };
}

/** A raw client past the handshake, free to send anything. */
async function rawJoined(url: string, name: string) {
  const raw = await rawClient(url);
  const welcome = await rawHandshake(raw, { name });
  assert.equal(welcome.type, 'welcome');
  return raw;
}

test("W2's gradient crosses a real socket both ways as a Float32Array, bit for bit, in order", async () => {
  const { server, client, conn } = await pair();
  const data = new Float32Array(W2_PARAMS);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(Math.sin(i) * 1e-3);
  await client.send({ type: 'grad', step: 1, data });
  await client.send({ type: 'note', text: 'after', shard: { start: 0, end: 256 } });
  const got = await conn.receive();
  assert.equal(got.type, 'grad');
  assert.ok(got.type === 'grad' && got.data instanceof Float32Array && got.step === 1);
  assert.deepEqual(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength), new Uint8Array(data.buffer));
  assert.deepEqual(await conn.receive(), { type: 'note', text: 'after', shard: { start: 0, end: 256 } });
  await conn.send({ type: 'grad', step: 2, data: got.data });
  const back = await client.receive();
  assert.ok(back.type === 'grad' && back.step === 2 && back.data.length === W2_PARAMS && back.data[12345] === data[12345]);
  const stats = client.stats();
  assert.equal(stats.messagesSent, 2 + 2); // hello and proof, then ours
  assert.equal(stats.messagesReceived, 2 + 1); // challenge and welcome, then the reply
  assert.ok(stats.bytesSent > data.byteLength);
  await client.close();
  await server.close();
});

test('sending a wrong message fails on the sender with badMessage, and a message over maxPayload with payloadTooLarge', async () => {
  const { server, client, conn } = await pair({ ...fastLimits, maxPayload: 8 * 1024 * 1024 });
  await assert.rejects(client.send({ type: 'grad', step: 0, data: new Float32Array(12) }), {
    code: 'dptrain.transport.badMessage',
    message: 'message "grad" field "data" must be a Float32Array of 1863690 elements (got 12)',
  });
  await assert.rejects(client.send({ type: 'chunk', seq: 0, data: new Float32Array(3 * 1024 * 1024) }), {
    code: 'dptrain.transport.payloadTooLarge',
    message: /^message of \d+ bytes exceeds maxPayload \(8388608 bytes\); send it in chunks$/,
  });
  assert.ok(client.isOpen, 'the connection stays open');
  await client.send({ type: 'note', text: 'still here' });
  assert.deepEqual(await conn.receive(), { type: 'note', text: 'still here' });
  await client.close();
  await server.close();
});

test('a frame over maxPayload closes that connection with 1009 while the server keeps serving others', async () => {
  const { server, client, conn, slog } = await pair({ ...fastLimits, maxPayload: 1024 * 1024 });
  const raw = await rawJoined(server.url, 'big');
  const bigConn = await server.accept(2_000);
  const rssBefore = process.memoryUsage().rss;
  raw.ws.send(Buffer.alloc(1024 * 1024 + 1));
  const closed = await raw.closed;
  assert.equal(closed.code, CloseCode.tooLarge);
  const info = await bigConn.closed;
  assert.ok(info.error instanceof TransportError && info.error.code === 'dptrain.transport.payloadTooLarge');
  assert.match(info.error.message, /^worker "big" \(127\.0\.0\.1:\d+\) sent a frame over the 1048576-byte limit; closing \(1009\)$/);
  assert.ok(slog.warnings().some((m) => m.includes('sent a frame over the 1048576-byte limit')));
  assert.equal(server.rejections.get('badFrame:tooLarge'), 1);
  assert.ok(process.memoryUsage().rss - rssBefore < 64 * 1024 * 1024);
  // the other connection is unaffected
  await client.send({ type: 'note', text: 'ok' });
  assert.deepEqual(await conn.receive(), { type: 'note', text: 'ok' });
  await client.close();
  await server.close();
});

test('a message split into more than maxFragments fragments is closed with 1008 (GHSA-96hv-2xvq-fx4p)', async () => {
  const { server, client, conn } = await pair({ ...fastLimits, maxFragments: 8 });
  const raw = await rawJoined(server.url, 'frag');
  const fragConn = await server.accept(2_000);
  for (let i = 0; i < 50; i++) raw.ws.send(Buffer.from([0x01]), { binary: true, fin: false });
  assert.equal((await raw.closed).code, CloseCode.policyViolation);
  const info = await fragConn.closed;
  assert.ok(info.error?.code === 'dptrain.transport.badFrame' && info.error.reason === 'WS_ERR_TOO_MANY_BUFFERED_PARTS', info.error?.message);
  assert.equal(server.rejections.get('badFrame:WS_ERR_TOO_MANY_BUFFERED_PARTS'), 1);
  await client.send({ type: 'note', text: 'ok' });
  assert.deepEqual(await conn.receive(), { type: 'note', text: 'ok' });
  await client.close();
  await server.close();
});

test('malformed msgpack, forbidden keys, huge headers, text frames and wrong-length arrays close with 4000/4001', async () => {
  const { server, client, conn, slog } = await pair();
  const cases: { name: string; send(raw: Awaited<ReturnType<typeof rawJoined>>): void; code: number; reason: RegExp; counted: string }[] = [
    { name: 'garbage', send: (r) => r.ws.send(Buffer.from([0xc1, 0xff])), code: 4000, reason: /^bad frame \(badToken\)/, counted: 'badFrame:badToken' },
    { name: 'truncated', send: (r) => r.ws.send(Buffer.from([0x82, 0xa4, 0x74, 0x79, 0x70])), code: 4000, reason: /^bad frame \(lengthTooLarge\)/, counted: 'badFrame:lengthTooLarge' },
    {
      name: 'proto',
      send: (r) => r.ws.send(Buffer.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa8, ...Buffer.from('polluted'), 0xc3])),
      code: 4000,
      reason: /^bad frame \(forbiddenKey\)/,
      counted: 'badFrame:forbiddenKey',
    },
    { name: 'huge', send: (r) => r.ws.send(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])), code: 4000, reason: /^bad frame \(lengthTooLarge\)/, counted: 'badFrame:lengthTooLarge' },
    { name: 'text', send: (r) => r.ws.send('{"type":"note","text":"x"}'), code: 4000, reason: /^bad frame \(notBinary\)/, counted: 'badFrame:notBinary' },
    {
      name: 'short',
      send: (r) => r.send({ type: 'grad', step: 0, data: new Float32Array(12) }),
      code: 4001,
      reason: /^message "grad" field "data" must be a Float32Array of 1863690 elements \(got 12\)$/,
      counted: 'badMessage:wrongLength',
    },
    { name: 'extra', send: (r) => r.send({ type: 'note', text: 'x', admin: true }), code: 4001, reason: /^message "note" has unknown field "admin"$/, counted: 'badMessage:unknownField' },
    { name: 'hello', send: (r) => r.send({ type: 'hello' }), code: 4001, reason: /^unknown message type "hello"/, counted: 'badMessage:unknownType' },
  ];
  for (const c of cases) {
    const raw = await rawJoined(server.url, c.name);
    const serverSide = await server.accept(2_000);
    c.send(raw);
    const closed = await raw.closed;
    assert.equal(closed.code, c.code, c.name);
    assert.match(closed.reason, c.reason.source.endsWith('$') ? new RegExp(c.reason.source.slice(0, 60)) : c.reason, c.name);
    const info = await serverSide.closed;
    assert.match(info.error?.message ?? '', c.reason, c.name);
    assert.ok(slog.warnings().some((m) => m.startsWith(`closing connection to worker "${c.name}"`)), c.name);
    await assert.rejects(serverSide.receive(), (e: unknown) => e === info.error, 'receive() rejects with the reason');
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(server.rejections.toJSON(), {
    'badFrame:badToken': 1,
    'badFrame:forbiddenKey': 1,
    'badFrame:lengthTooLarge': 2,
    'badFrame:notBinary': 1,
    'badMessage:unknownField': 1,
    'badMessage:unknownType': 1,
    'badMessage:wrongLength': 1,
  });
  // the first connection never noticed
  await client.send({ type: 'note', text: 'fine' });
  assert.deepEqual(await conn.receive(), { type: 'note', text: 'fine' });
  await client.close();
  await server.close();
});

test('the server terminates a client that stops reading, after heartbeatTimeoutMs', async () => {
  const slog = collectLog();
  const server = await listen({ messages: testMessages, dims, log: slog, limits: fastLimits });
  const raw = await rawJoined(server.url, 'sleepy');
  const conn = await server.accept(2_000);
  await delay(3 * fastLimits.heartbeatIntervalMs);
  assert.ok(conn.isOpen, 'a client that answers pings stays');
  raw.ws.pause(); // a half-open peer: it stops reading, so it never sees our pings
  const start = Date.now();
  const info = await conn.closed;
  const elapsed = Date.now() - start;
  // not before the timeout, and soon after it (generous: test files run in parallel)
  assert.ok(elapsed >= fastLimits.heartbeatTimeoutMs - fastLimits.heartbeatIntervalMs && elapsed < fastLimits.heartbeatTimeoutMs + 2_000, `${elapsed} ms`);
  assert.equal(info.code, CloseCode.abnormal);
  assert.ok(info.error instanceof TransportError && info.error.code === 'dptrain.transport.timeout' && info.error.recoverable);
  assert.match(info.error.message, /^no sign of life from worker "sleepy" \(127\.0\.0\.1:\d+\) for \d+ ms \(heartbeat timeout 1000 ms\); terminating the connection$/);
  assert.ok(slog.warnings().some((m) => m.startsWith('no sign of life from worker "sleepy"')));
  raw.ws.terminate();
  await server.close();
});

test('a receiver whose consumer falls behind pauses without judging the sender; the sender judges it after the timeout', async () => {
  const { server, client, conn } = await pair({ ...fastLimits, maxQueuedBytes: 1024 * 1024 });
  const data = new Float32Array(300_000);
  const sending = (async () => {
    for (let seq = 0; seq < 10; seq++) await client.send({ type: 'chunk', seq, data });
  })();
  sending.catch(() => {});
  // nobody reads on the server: its inbox passes maxQueuedBytes, it pauses, the client's writes stall
  const info = await client.closed;
  assert.equal(info.error?.code, 'dptrain.transport.timeout', 'the client evicts the server that stopped reading');
  await assert.rejects(sending, { code: 'dptrain.transport.timeout' });
  // the server itself never blamed the client for the silence it caused
  const serverInfo = await conn.closed;
  assert.notEqual(serverInfo.error?.code, 'dptrain.transport.timeout');
  assert.ok(conn.stats().inboxBytes > 1024 * 1024, 'the messages that arrived are still there to read');
  assert.equal((await conn.receive()).type, 'chunk');
  await server.close();
});

test('a blocked event loop on our side does not count against the peer', async () => {
  const { server, client, conn } = await pair();
  const until_ = Date.now() + 2 * fastLimits.heartbeatTimeoutMs;
  while (Date.now() < until_); // a long synchronous computation on both ends of this process
  await delay(3 * fastLimits.heartbeatIntervalMs);
  assert.ok(conn.isOpen && client.isOpen);
  await client.send({ type: 'note', text: 'alive' });
  assert.deepEqual(await conn.receive(), { type: 'note', text: 'alive' });
  await client.close();
  await server.close();
});

test('the client terminates a server that stops reading, after heartbeatTimeoutMs', async () => {
  const raw = await rawServer((peer) => void rawServerHandshake(peer).then(() => setTimeout(() => peer.ws.pause(), 200)));
  const clog = collectLog();
  const client = await connect(raw.url, { name: 'w1', messages: testMessages, log: clog, limits: fastLimits });
  const info = await client.closed;
  assert.ok(info.error instanceof TransportError && info.error.code === 'dptrain.transport.timeout');
  assert.match(info.error.message, /^no sign of life from server "rawserver"/);
  await assert.rejects(client.send({ type: 'note', text: 'x' }), (e: unknown) => e === info.error);
  await raw.close();
});

test('backpressure: 200 MB in 7 MB frames to a slow reader keep bufferedAmount and the inbox bounded', async () => {
  const maxQueuedBytes = 16 * 1024 * 1024;
  const { server, client, conn } = await pair({ ...fastLimits, maxQueuedBytes, heartbeatTimeoutMs: 5_000 });
  const elements = 1_835_008; // 7 MiB of float32
  const frames = Math.ceil((200 * 1024 * 1024) / (elements * 4));
  let maxBuffered = 0;
  let maxInbox = 0;
  const sample = setInterval(() => {
    maxBuffered = Math.max(maxBuffered, client.stats().bufferedAmount);
    maxInbox = Math.max(maxInbox, conn.stats().inboxBytes);
  }, 2);
  const reading = (async () => {
    const seen: number[] = [];
    for (let i = 0; i < frames; i++) {
      const m = (await conn.receive()) as TestMessage;
      assert.ok(m.type === 'chunk' && m.data.length === elements && m.data[0] === m.seq && m.data[elements - 1] === -m.seq);
      seen.push(m.seq);
      await delay(40); // a consumer slower than loopback (~175 MB/s)
    }
    return seen;
  })();
  const data = new Float32Array(elements);
  for (let seq = 0; seq < frames; seq++) {
    data[0] = seq;
    data[elements - 1] = -seq;
    await client.send({ type: 'chunk', seq, data });
    maxBuffered = Math.max(maxBuffered, client.stats().bufferedAmount);
  }
  const seen = await reading;
  clearInterval(sample);
  assert.deepEqual(seen, [...Array(frames).keys()]);
  const frameBytes = elements * 4 + 64;
  assert.ok(maxBuffered <= maxQueuedBytes + frameBytes, `bufferedAmount peaked at ${maxBuffered}`);
  assert.ok(maxInbox <= maxQueuedBytes + 2 * frameBytes, `inbox peaked at ${maxInbox}`);
  assert.ok(maxBuffered > 0);
  console.log(`backpressure: bufferedAmount peak ${maxBuffered}, inbox peak ${maxInbox}`);
  await client.close();
  await server.close();
});

test('concurrent sends go out in call order, each with the array as it was when send was called', async () => {
  const { server, client, conn } = await pair({ ...fastLimits, maxQueuedBytes: 1024 * 1024 });
  const data = new Float32Array(300_000); // 1.2 MB: every send after the first must wait its turn
  const sends: Promise<void>[] = [];
  for (let seq = 0; seq < 20; seq++) {
    data[0] = seq;
    sends.push(client.send({ type: 'chunk', seq, data }));
  }
  data[0] = -1;
  await delay(100); // the receiver starts late: its inbox fills, it pauses, and the sends wait
  for (let seq = 0; seq < 20; seq++) {
    const m = await conn.receive();
    assert.ok(m.type === 'chunk' && m.seq === seq && m.data[0] === seq, `message ${seq}`);
  }
  await Promise.all(sends);
  await client.close();
  await server.close();
});

test('a normal close delivers queued messages first, then ends iteration; receive() after it says closed', async () => {
  const { server, client, conn } = await pair();
  for (let i = 0; i < 3; i++) await client.send({ type: 'note', text: `m${i}` });
  await client.flush();
  await delay(50);
  const info = await client.close();
  assert.equal(info.code, CloseCode.normal);
  assert.equal(info.byUs, true);
  const texts: string[] = [];
  for await (const m of conn as Connection<TestMessage>) if (m.type === 'note') texts.push(m.text);
  assert.deepEqual(texts, ['m0', 'm1', 'm2']);
  await assert.rejects(conn.receive(), { code: 'dptrain.transport.closed', message: /^connection to worker "w1" \(127\.0\.0\.1:\d+\) is closed$/ });
  await assert.rejects(client.send({ type: 'note', text: 'late' }), { code: 'dptrain.transport.closed' });
  await assert.rejects(conn.receive(10), { code: 'dptrain.transport.closed' });
  await server.close();
});

test('receive(timeoutMs) times out without closing; server.close() says goingAway to clients', async () => {
  const { server, client, conn } = await pair();
  await assert.rejects(conn.receive(50), { code: 'dptrain.transport.timeout', message: /^no message from worker "w1" .* within 50 ms$/ });
  assert.ok(conn.isOpen);
  await server.close();
  const info = await client.closed;
  assert.equal(info.code, CloseCode.goingAway);
  assert.equal(info.error, undefined);
  await until(() => !client.isOpen);
});

test('an application close code reaches the other side as closeCode and closeReason on its error, to be matched without reading the message', async () => {
  const { server, client, conn } = await pair();
  await conn.close(4101, 'evicted: missed the step deadline');
  const info = await client.closed;
  assert.equal(info.code, 4101);
  assert.ok(info.error instanceof TransportError);
  assert.equal(info.error.code, 'dptrain.transport.closed');
  assert.equal(info.error.closeCode, 4101);
  assert.equal(info.error.closeReason, 'evicted: missed the step deadline');
  const receiving = await client.receive().catch((e: unknown) => e);
  assert.ok(receiving instanceof TransportError && receiving.closeCode === 4101, String(receiving));
  // A connection lost without a close frame carries 1006.
  const second = await pair();
  second.conn.terminate();
  const lost = await second.client.closed;
  assert.equal(lost.error?.closeCode, CloseCode.abnormal);
  await server.close();
  await second.server.close();
});
