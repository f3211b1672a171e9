// The client's masking key on the wire (src/transport/client.ts, docs/protocol.md §1): by default
// every client frame carries the MASK bit and the all-zero key, so the payload is sent as is; with
// `maskKey: 'random'` the keys are ws's random ones. Checked on the bytes a recording TCP proxy
// between a real client and a real server saw, parsed as RFC 6455 frames.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Codec, connect, listen, TransportError } from '../src/transport/index.js';
import { fastLimits, testMessages } from './transport.helpers.js';

const dims = { params: 8 };

/** A TCP proxy to `port` that keeps every byte the client sent. */
async function recordingProxy(port: number): Promise<{ port: number; clientBytes: () => Buffer; close: () => Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (chunk: Buffer) => {
      chunks.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as net.AddressInfo).port,
    clientBytes: () => Buffer.concat(chunks),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => proxy.close(() => resolve()));
    },
  };
}

interface WireFrame {
  opcode: number;
  masked: boolean;
  key: Buffer;
  payload: Buffer;
}

/** The WebSocket frames after the HTTP upgrade request, unmasked (RFC 6455 §5.2). */
function parseFrames(bytes: Buffer): WireFrame[] {
  let at = bytes.indexOf('\r\n\r\n') + 4;
  assert.ok(at > 3, 'the client sent an upgrade request');
  const frames: WireFrame[] = [];
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at] & 0x0f;
    const masked = (bytes[at + 1] & 0x80) !== 0;
    let length = bytes[at + 1] & 0x7f;
    at += 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    const key = masked ? bytes.subarray(at, at + 4) : Buffer.alloc(4);
    if (masked) at += 4;
    if (at + length > bytes.length) break; // cut off by the close
    const payload = Buffer.from(bytes.subarray(at, at + length));
    for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
    frames.push({ opcode, masked, key: Buffer.from(key), payload });
    at += length;
  }
  return frames;
}

async function clientFrames(maskKey?: 'zero' | 'random'): Promise<WireFrame[]> {
  const server = await listen({ messages: testMessages, dims, limits: fastLimits });
  const proxy = await recordingProxy(server.port);
  try {
    const accepted = server.accept(2_000);
    const client = await connect(`ws://127.0.0.1:${proxy.port}/`, { name: 'w1', messages: testMessages, dims, limits: fastLimits, ...(maskKey && { maskKey }) });
    const conn = await accepted;
    const data = Float32Array.from({ length: 8 }, (_, i) => i + 0.5);
    for (let step = 0; step < 4; step++) await client.send({ type: 'grad', step, data });
    for (let step = 0; step < 4; step++) assert.deepEqual(await conn.receive(1_000), { type: 'grad', step, data });
    await client.close();
  } finally {
    await proxy.close();
    await server.close();
  }
  return parseFrames(proxy.clientBytes());
}

test('by default every client frame carries the MASK bit and the all-zero key, so its payload is the msgpack frame as is', async () => {
  const frames = await clientFrames();
  const binary = frames.filter((f) => f.opcode === 0x2);
  assert.ok(binary.length >= 5, `hello and 4 grads at least (got ${binary.length} binary frames)`);
  for (const f of frames) {
    assert.equal(f.masked, true, 'RFC 6455: a client frame is always masked');
    assert.deepEqual([...f.key], [0, 0, 0, 0]);
  }
  const codec = new Codec();
  const grads = binary.map((f) => codec.decode(f.payload) as { type: string }).filter((m) => m.type === 'grad');
  assert.deepEqual(
    grads.map((m) => (m as unknown as { step: number }).step),
    [0, 1, 2, 3],
  );
});

test("maskKey 'random' sends ws's random keys, and the peer reads the frames the same", async () => {
  const frames = await clientFrames('random');
  assert.ok(frames.length >= 6);
  for (const f of frames) assert.equal(f.masked, true);
  // 2^-32 per frame that a random key is all zeros; at least one of six cannot be, in practice
  assert.ok(frames.some((f) => f.key.readUInt32BE(0) !== 0), 'some key is not zero');
});

test('maskKey must be "zero" or "random"', async () => {
  await assert.rejects(
    connect('ws://127.0.0.1:9/', { name: 'w1', messages: testMessages, maskKey: 'none' as never }),
    (e: unknown) => e instanceof TransportError && e.code === 'dptrain.transport.badOption' && e.message === 'maskKey must be "zero" or "random" (got "none")',
  );
});
