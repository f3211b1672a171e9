// ws limits from the wire (issue 6, docs/reliability.md): frames built from literal
// bytes on a plain net.Socket, so that no ws client's own limits or masking hide what the
// server does. Over-limit frame headers (before and after the handshake), a fragment flood from
// 50 connections at once, a frame dribbled in more socket chunks than maxBufferedChunks, and a
// compressed frame; and the same limits on the client side, against a hand-made server.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { after, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { deflateRawSync } from 'node:zlib';
import { Codec } from '../src/transport/codec.js';
import { computeProof, createNonce } from '../src/transport/auth.js';
import { CloseCode, connect, defaultLimits, listen, PROTOCOL_VERSION, TransportError } from '../src/transport/index.js';
import { collectLog, delay, fastLimits, testMessages } from './transport.helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Heap in use after a full collection, bytes. */
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

after(() => {
  for (const socket of RawSocket.all) socket.destroy();
});

const dims = { params: 16 };
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One WebSocket frame header (+ mask and masked payload for a client), from its fields. */
function frame(o: { fin?: boolean; rsv1?: boolean; opcode: number; payload?: Buffer; claimedLength?: number; mask?: boolean }): Buffer {
  const payload = o.payload ?? Buffer.alloc(0);
  const length = o.claimedLength ?? payload.length;
  const head: number[] = [(o.fin === false ? 0 : 0x80) | (o.rsv1 ? 0x40 : 0) | o.opcode];
  const masked = o.mask !== false;
  if (length < 126) head.push((masked ? 0x80 : 0) | length);
  else if (length < 65_536) head.push((masked ? 0x80 : 0) | 126, length >> 8, length & 0xff);
  else {
    head.push((masked ? 0x80 : 0) | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    head.push(...big);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** A WebSocket client made of a net.Socket: the upgrade, frames and the dptrain handshake by hand. */
class RawSocket {
  readonly socket: net.Socket;
  readonly codec = new Codec();
  readonly closed: Promise<{ code: number; reason: string }>;
  #buffer = Buffer.alloc(0);
  readonly #frames: { opcode: number; payload: Buffer }[] = [];
  #wake: (() => void) | null = null;
  #close!: (c: { code: number; reason: string }) => void;

  /** Every socket opened, destroyed after the file's tests even when one failed half-way. */
  static readonly all = new Set<net.Socket>();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => (this.#close = resolve));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.#close({ code: 1006, reason: 'socket closed without a close frame' }));
  }

  /** Connects and upgrades; `extensions` offers permessage-deflate. Resolves with the 101 response head. */
  static async open(url: string, o: { extensions?: string } = {}): Promise<{ raw: RawSocket; response: string }> {
    const { hostname, port } = new URL(url);
    const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
    RawSocket.all.add(socket);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const key = crypto.randomBytes(16).toString('base64');
    socket.write(
      `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${o.extensions ? `Sec-WebSocket-Extensions: ${o.extensions}\r\n` : ''}\r\n`,
    );
    let head = Buffer.alloc(0);
    while (!head.includes('\r\n\r\n')) {
      const chunk = await new Promise<Buffer>((resolve, reject) => socket.once('data', resolve).once('error', reject));
      head = Buffer.concat([head, chunk]);
    }
    const end = head.indexOf('\r\n\r\n') + 4;
    const response = head.subarray(0, end).toString('latin1');
    assert.match(response, /^HTTP\/1\.1 101 /);
    const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
    assert.ok(response.includes(`Sec-WebSocket-Accept: ${accept}`), response);
    const raw = new RawSocket(socket);
    if (end < head.length) raw.#onData(head.subarray(end));
    return { raw, response };
  }

  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  /** One binary message in one masked frame. */
  send(message: unknown): void {
    this.write(frame({ opcode: 2, payload: Buffer.from(this.codec.encode(message)) }));
  }

  async next(timeoutMs = 2_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.#frames.length === 0) {
      if (Date.now() > deadline) throw new Error('no frame');
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    const f = this.#frames.shift()!;
    return this.codec.decode(f.payload) as Record<string, unknown>;
  }

  /** The dptrain handshake (no token), to get past the pre-authentication frame limit. */
  async join(name: string): Promise<void> {
    const nonce = createNonce();
    this.send({ type: 'hello', protocol: PROTOCOL_VERSION, name, role: 'worker', nonce, meta: {} });
    const challenge = await this.next();
    assert.equal(challenge.type, 'challenge');
    const transcript = { protocol: PROTOCOL_VERSION, role: 'worker', clientName: name, serverName: challenge.name as string, clientNonce: nonce, serverNonce: challenge.nonce as Uint8Array };
    this.send({ type: 'proof', proof: computeProof(undefined, 'client', transcript) });
    assert.equal((await this.next()).type, 'welcome');
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      let length = b[1] & 0x7f;
      let at = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b.length < at + length) return;
      const opcode = b[0] & 0x0f;
      const payload = b.subarray(at, at + length);
      this.#buffer = b.subarray(at + length);
      if (opcode === 8) this.#close({ code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString('utf8') });
      else if (opcode !== 9 && opcode !== 10) this.#frames.push({ opcode, payload }); // heartbeat pings are not messages
      this.#wake?.();
    }
  }
}

async function server(limits: object = {}) {
  const log = collectLog();
  const s = await listen({ messages: testMessages, dims, log, limits: { ...fastLimits, ...limits } });
  return { s, log };
}

test('the defaults keep ws\'s limits low on both sides: frames, fragments and socket chunks', { timeout: 30_000 }, () => {
  assert.equal(defaultLimits.maxPayload, 64 * 1024 * 1024);
  assert.equal(defaultLimits.maxHandshakePayload, 64 * 1024);
  assert.ok(defaultLimits.maxFragments <= 1024, 'ws 8.21 defaults to 131072 fragments (#2331)');
  assert.ok(defaultLimits.maxBufferedChunks <= 65_536, 'ws 8.21 defaults to 1048576 chunks');
});

test('a frame header claiming more than maxHandshakePayload before the handshake, or more than maxPayload after it, is closed with 1009 before its payload is sent', { timeout: 30_000 }, async () => {
  const { s, log } = await server({ maxPayload: 1 << 20 });
  // Before the handshake: 64 KiB + 1, and 2^53 - 1 bytes. Only the header crosses the wire.
  for (const claimed of [64 * 1024 + 1, Number.MAX_SAFE_INTEGER]) {
    const { raw } = await RawSocket.open(s.url);
    raw.write(frame({ opcode: 2, claimedLength: claimed }));
    assert.equal((await raw.closed).code, CloseCode.tooLarge, `claimed ${claimed}`);
    raw.destroy();
  }
  // After the handshake: maxPayload + 1, announced by a header alone, then by a real frame.
  const heapBefore = heapAfterGc();
  const { raw } = await RawSocket.open(s.url);
  await raw.join('big');
  const conn = await s.accept(2_000);
  raw.write(frame({ opcode: 2, claimedLength: (1 << 20) + 1 }));
  assert.equal((await raw.closed).code, CloseCode.tooLarge);
  const info = await conn.closed;
  assert.ok(info.error instanceof TransportError && info.error.code === 'dptrain.transport.payloadTooLarge', String(info.error));
  assert.ok(log.warnings().some((m) => /worker "big" .*sent a frame over the 1048576-byte limit; closing \(1009\)/.test(m)), log.warnings().join('\n'));
  raw.destroy();
  // The payload was never buffered: the heap did not grow by anything like the claimed size.
  assert.ok(heapAfterGc() - heapBefore < 512 * 1024, 'heap grew by less than half of one frame');
  assert.ok((s.rejections.get('badFrame:tooLarge') ?? 0) >= 1);
  // The server still serves a well-behaved client.
  const client = await connect(s.url, { name: 'ok', messages: testMessages, dims, limits: fastLimits });
  const ok = await s.accept(2_000);
  await client.send({ type: 'note', text: 'fine' });
  assert.deepEqual(await ok.receive(), { type: 'note', text: 'fine' });
  await client.close();
  await s.close();
});

test('a fragment flood from 50 connections at once (1-byte and empty continuations) is closed with 1008 at maxFragments, and the heap stays bounded', { timeout: 30_000 }, async () => {
  const maxFragments = 64;
  const { s } = await server({ maxFragments });
  const attackers: RawSocket[] = [];
  const conns = [];
  for (let i = 0; i < 50; i++) {
    const { raw } = await RawSocket.open(s.url);
    await raw.join(`flood${i}`);
    attackers.push(raw);
    conns.push(await s.accept(2_000));
  }
  const heapBefore = heapAfterGc();
  // Each sends FIN=0 then 20,000 continuation frames: half of one byte, half empty (ws #2329).
  const one = frame({ fin: false, opcode: 0, payload: Buffer.from([0x01]) });
  const empty = frame({ fin: false, opcode: 0 });
  const flood = Buffer.concat([frame({ fin: false, opcode: 2, payload: Buffer.from([0x91]) }), ...Array.from({ length: 20_000 }, (_, i) => (i % 2 ? one : empty))]);
  for (const raw of attackers) raw.write(flood);
  const closes = await Promise.all(attackers.map((raw) => raw.closed));
  assert.ok(closes.every((c) => c.code === CloseCode.policyViolation), JSON.stringify(closes.slice(0, 3)));
  for (const conn of conns) {
    const info = await conn.closed;
    assert.equal(info.error?.code, 'dptrain.transport.badFrame');
  }
  assert.equal(s.rejections.get('badFrame:WS_ERR_TOO_MANY_BUFFERED_PARTS'), 50);
  const grown = heapAfterGc() - heapBefore;
  assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${(grown / 1024 / 1024).toFixed(1)} MB for 50 x ${(flood.length / 1024).toFixed(0)} KiB floods`);
  for (const raw of attackers) raw.destroy();
  await s.close();
});

test('a frame dribbled in more socket chunks than maxBufferedChunks is closed with 1008', { timeout: 30_000 }, async () => {
  const { s } = await server({ maxBufferedChunks: 16 });
  const { raw } = await RawSocket.open(s.url);
  await raw.join('dribble');
  const conn = await s.accept(2_000);
  const whole = frame({ opcode: 2, payload: Buffer.alloc(4_096, 0x90) });
  let sent = 0;
  const closed = raw.closed.then((c) => c);
  let over = false;
  void closed.then(() => (over = true));
  for (let at = 0; at < whole.length && !over; at += 64) {
    raw.write(whole.subarray(at, at + 64));
    sent += 1;
    await delay(5); // one socket read each
  }
  assert.equal((await closed).code, CloseCode.policyViolation);
  assert.ok(sent < whole.length / 64, `closed after ${sent} of ${Math.ceil(whole.length / 64)} pieces`);
  assert.equal((await conn.closed).error?.code, 'dptrain.transport.badFrame');
  raw.destroy();
  await s.close();
});

test('permessage-deflate is never negotiated, and a compressed frame (RSV1) is a protocol error (1002)', { timeout: 30_000 }, async () => {
  const { s } = await server();
  const { raw, response } = await RawSocket.open(s.url, { extensions: 'permessage-deflate; client_max_window_bits' });
  assert.doesNotMatch(response, /Sec-WebSocket-Extensions/i);
  await raw.join('deflate');
  const conn = await s.accept(2_000);
  // A 1 KiB deflate stream that would inflate to 1 MiB of zeros.
  raw.write(frame({ opcode: 2, rsv1: true, payload: deflateRawSync(Buffer.alloc(1 << 20)) }));
  assert.equal((await raw.closed).code, CloseCode.protocolError);
  assert.ok((await conn.closed).error, 'the server reports the bad frame');
  raw.destroy();
  await s.close();
});

/**
 * A hand-made WebSocket server: answers one upgrade with 101 and hands over the socket, with
 * `withResponse` written in the same write as the 101 response (so it arrives in the same read).
 */
async function rawServer(onSocket: (socket: net.Socket) => void, withResponse?: Buffer): Promise<{ url: string; close(): void }> {
  const srv = net.createServer((socket) => {
    let head = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const key = /Sec-WebSocket-Key: (\S+)/i.exec(head.toString('latin1'))![1];
      const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
      const response = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket.write(withResponse ? Buffer.concat([response, withResponse]) : response);
      onSocket(socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  return { url: `ws://127.0.0.1:${port}/`, close: () => srv.close() };
}

const clientLimits = { ...fastLimits, maxPayload: 1 << 20, maxFragments: 64, heartbeatTimeoutMs: 5_000, reconnect: { attempts: 1 } };

test('the client has the same limits: a server that announces an oversized frame or floods fragments is refused at once', { timeout: 30_000 }, async () => {
  const attacks: Record<string, (socket: net.Socket) => void> = {
    // While the client waits for the challenge: judged against maxHandshakePayload (64 KiB).
    oversized: (socket) => setTimeout(() => socket.write(frame({ opcode: 2, claimedLength: 64 * 1024 + 1, mask: false })), 200),
    fragments: (socket) =>
      setTimeout(() => {
        socket.write(frame({ fin: false, opcode: 2, payload: Buffer.from([0x91]), mask: false }));
        for (let i = 0; i < 5_000; i++) socket.write(frame({ fin: false, opcode: 0, mask: false }));
      }, 200),
  };
  for (const [name, attack] of Object.entries(attacks)) {
    const srv = await rawServer(attack);
    const started = Date.now();
    await assert.rejects(connect(srv.url, { name: 'w1', messages: testMessages, dims, limits: clientLimits }), (error: unknown) => {
      assert.ok(error instanceof TransportError, String(error));
      if (name === 'oversized') assert.match(error.message, /sent a frame over the 65536-byte limit; closing \(1009\)/);
      return true;
    });
    assert.ok(Date.now() - started < 2_000, `${name}: refused at once, not by a heartbeat timeout`);
    srv.close();
  }
});

test(
  'a server whose oversized frame arrives in the same read as its 101 response is refused without an uncaught exception',
  // ws parses bytes that came with the 101 on the next tick: the Link must be listening by then (client.ts openSocket).
  { timeout: 30_000 },
  async () => {
    const srv = await rawServer(() => {}, frame({ opcode: 2, claimedLength: (1 << 20) + 1, mask: false }));
    await assert.rejects(connect(srv.url, { name: 'w1', messages: testMessages, dims, limits: clientLimits }), TransportError);
    srv.close();
  },
);
