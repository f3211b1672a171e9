/**
 * Helpers for the transport tests: a raw ws client and server that speak the handshake by hand
 * (so that tests can break it on purpose), a log collector, and small waits. Real sockets on
 * 127.0.0.1 with free ports; no mocks.
 */
import WebSocket, { WebSocketServer } from 'ws';
import { Codec } from '../src/transport/codec.js';
import { computeProof, createNonce } from '../src/transport/auth.js';
import { PROTOCOL_VERSION } from '../src/transport/messages.js';
import { defineMessages, f } from '../src/transport/schema.js';
import type { TransportLogger } from '../src/transport/log.js';

/** The application messages the tests carry: W2's gradient is 1,863,690 floats. */
export const testMessages = defineMessages({
  grad: { step: f.integer({ min: 0 }), data: f.float32('params') },
  chunk: { seq: f.integer({ min: 0 }), data: f.float32() },
  note: { text: f.string({ maxLength: 100 }), shard: f.optional(f.object({ start: f.integer({ min: 0 }), end: f.integer({ min: 0 }) })) },
});
export type TestMessage = ReturnType<typeof testMessages.validate>;

export const W2_PARAMS = 1_863_690;

/** Fast limits for tests: short timeouts, so failures show in well under a second. */
export const fastLimits = {
  handshakeTimeoutMs: 2_000,
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 1_000,
  closeTimeoutMs: 500,
  reconnect: { initialDelayMs: 20, maxDelayMs: 100, attempts: 3 },
};

export interface LogLine {
  level: 'info' | 'warn';
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that keeps every line, for assertions on "a clear reason logged". */
export function collectLog(): TransportLogger & { lines: LogLine[]; warnings(): string[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (fields, message) => lines.push({ level: 'info', fields: fields as Record<string, unknown>, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message }),
    warnings: () => lines.filter((l) => l.level === 'warn').map((l) => l.message),
  };
}

/** A queue of frames from a raw socket. */
export class FrameQueue {
  readonly #frames: Buffer[] = [];
  readonly #waiters: ((b: Buffer) => void)[] = [];
  push(frame: Buffer): void {
    const w = this.#waiters.shift();
    if (w) w(frame);
    else this.#frames.push(frame);
  }
  next(timeoutMs = 2_000): Promise<Buffer> {
    const f0 = this.#frames.shift();
    if (f0) return Promise.resolve(f0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((b) => {
        clearTimeout(timer);
        resolve(b);
      });
    });
  }
}

export interface RawPeer {
  ws: WebSocket;
  frames: FrameQueue;
  codec: Codec;
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
}

function wrap(ws: WebSocket): RawPeer {
  const frames = new FrameQueue();
  const codec = new Codec();
  ws.on('message', (data) => frames.push(data as Buffer));
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return {
    ws,
    frames,
    codec,
    closed,
    send: (message) => ws.send(codec.encode(message)),
    next: async (timeoutMs) => codec.decode(await frames.next(timeoutMs)) as Record<string, unknown>,
  };
}

/** A plain ws client with no handshake logic. */
export function rawClient(url: string, options: WebSocket.ClientOptions = {}): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    const peer = wrap(ws);
    ws.once('open', () => resolve(peer));
    ws.once('error', reject);
  });
}

/** Runs the client side of the handshake by hand; returns the server's last message (welcome or refuse). */
export async function rawHandshake(
  peer: RawPeer,
  o: { token?: Uint8Array; name?: string; role?: string; protocol?: number } = {},
): Promise<Record<string, unknown>> {
  const nonce = createNonce();
  const name = o.name ?? 'raw';
  const role = o.role ?? 'worker';
  peer.send({ type: 'hello', protocol: o.protocol ?? PROTOCOL_VERSION, name, role, nonce, meta: {} });
  const challenge = await peer.next();
  if (challenge.type !== 'challenge') return challenge;
  const proof = computeProof(o.token, 'client', {
    protocol: PROTOCOL_VERSION,
    role,
    clientName: name,
    serverName: challenge.name as string,
    clientNonce: nonce,
    serverNonce: challenge.nonce as Uint8Array,
  });
  peer.send({ type: 'proof', proof });
  return peer.next();
}

/** A plain ws server on a free loopback port; `onPeer` sees each raw connection. */
export async function rawServer(onPeer: (peer: RawPeer) => void): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => onPeer(wrap(ws)));
  const address = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${address.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` until it holds or `timeoutMs` passes. */
export async function until(predicate: () => boolean, timeoutMs = 3_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** Seeded PRNG (mulberry32) for fuzzing and test data. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export { PROTOCOL_VERSION };

/** Runs the server side of the handshake by hand (optionally with another protocol version). */
export async function rawServerHandshake(
  peer: RawPeer,
  o: { token?: Uint8Array; name?: string; protocol?: number; welcome?: boolean } = {},
): Promise<Record<string, unknown>> {
  const hello = await peer.next();
  const name = o.name ?? 'rawserver';
  const serverNonce = createNonce();
  const proof = computeProof(o.token, 'server', {
    protocol: PROTOCOL_VERSION,
    role: hello.role as string,
    clientName: hello.name as string,
    serverName: name,
    clientNonce: hello.nonce as Uint8Array,
    serverNonce,
  });
  // protocol 3: the challenge carries no proof; the server's proof comes with the welcome.
  peer.send({ type: 'challenge', protocol: o.protocol ?? PROTOCOL_VERSION, name, nonce: serverNonce });
  const answer = await peer.next();
  if (answer.type === 'proof' && o.welcome !== false) peer.send({ type: 'welcome', proof, meta: {} });
  return answer;
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The upgrade flood of issue 13 item 2: `sockets` raw TCP connections from `localAddress` (any
 * 127.x.y.z is a distinct source address on Linux) that send a valid WebSocket upgrade and then
 * nothing, each reopened as soon as the server closes or refuses it. Counts the HTTP status of
 * every answer until `stop()`.
 */
export function silentFlood(port: number, o: { localAddress: string; sockets: number }): { statuses: Map<string, number>; stop(): void } {
  const statuses = new Map<string, number>();
  const open = new Set<import('node:net').Socket>();
  let stopped = false;
  const one = async () => {
    const net = await import('node:net');
    const crypto = await import('node:crypto');
    while (!stopped) {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: o.localAddress });
      open.add(socket);
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        if (!head.includes('\r\n')) {
          head += chunk.toString('latin1');
          if (head.includes('\r\n')) {
            const status = head.slice(9, 12);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
        }
      });
      socket.on('error', () => {});
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      open.delete(socket);
      if (!stopped) await delay(50); // 20 sockets: up to 400 upgrades a second once refused at once
    }
  };
  for (let i = 0; i < o.sockets; i++) void one();
  return {
    statuses,
    stop: () => {
      stopped = true;
      for (const socket of open) socket.destroy();
    },
  };
}
