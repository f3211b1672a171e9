/**
 * `npm run bench:allreduce`: the ws engine's all-reduce across processes (issue 5, "Benchmark").
 *
 *   1. loopback  algbw and busbw (nccl-tests: algbw = S/t, busbw = algbw · 2(n-1)/n) of W1's and
 *                W2's gradient (235,146 and 1,863,690 floats) for star and ring, n = 2, 3, 4
 *                worker processes on 127.0.0.1, against the raw throughput of one ws connection
 *                measured in the same run (scripts/bench-transport.ts's own sender and receiver,
 *                run as its `server raw c2s` / `client raw c2s` roles; ws's random masks, the
 *                issue's reference B) and of this script's copy of that test sending the all-zero
 *                mask dptrain's own clients send (B0; src/transport/client.ts), the ring's theoretical
 *                time 2(n-1)/n · S / B and the star's 2n · S / B (the coordinator's link carries
 *                n gradients in, then n sums out). Beside them, `bare`: the same ringAllReduce over
 *                plain ws connections with none of dptrain's transport (BareNext/BarePrev below), so
 *                each run also says what dptrain's transport costs over ws alone (--algos picks
 *                among star, ring, bare).
 *   2. lab       the same in the network-namespace lab (cluster/lab up 5 --delay 0.2ms --rate
 *                1gbit: the star's coordinator in h0, worker r in h(r+1), so every worker has a
 *                host of its own for both algorithms), against the raw ws throughput between two
 *                lab hosts; skipped with the reason where `cluster/lab check` fails. The lab has
 *                its own DPTRAIN_LAB_PREFIX (dpab<pid>) and is always taken down at the end (also
 *                on SIGINT/SIGTERM).
 *   3. e2e       end-to-end samples/s on W1 and W2: `dptrain coordinator` + 2 `dptrain worker
 *                --threads 1` on loopback, star and ring, vs `dptrain train --engine threads
 *                --workers 2`, from the runs' metrics.jsonl step times after warm-up.
 *
 * The all-reduce runs on the engine's own code: every worker is a process holding PeerLinks
 * (src/engine/ws/peer-links.ts: its ring listener, an authenticated `peer` connection to its
 * successor) and calls ringAllReduce (src/engine/ws/ring.ts) exactly as `dptrain worker` does;
 * the star is the engine's message path: each worker sends a `grad` message (coordinatorMessages,
 * schema-checked, msgpackr frames) to a coordinator process, which adds them in worker order
 * with the engine's reduceInOrder and sends every worker an `update` carrying the sum, which the
 * worker copies into its gradient. Not included: computing the gradient, the coordinator's
 * sumOfSquares and optimizer update, the ring's `computed`/`ringResult`/`update` messages.
 * One measurement = `iters` back-to-back all-reduces (iters chosen at warm-up so that it lasts
 * at least --min-rep-ms) started together by the parent; its time is the slowest worker's; t is
 * that divided by iters. Medians of --runs measurements, configurations interleaved run by run.
 *
 * Where the time goes: the CPU of the measurement's processes per MB that crossed a connection
 * (ring: 2(n-1)·S in all, star: 2n·S), against the raw test's sender and receiver CPU per MB
 * (this script's copy of bench-transport's raw test, which reports both), and the cores busy —
 * its processes, the lab's delay processes, the whole machine (/proc/stat) — during each
 * measurement. On a shared 2-core machine these say whether a figure was CPU-bound.
 *
 *   npm run build && node dist/scripts/bench-allreduce.js [--runs 7] [--sections loopback,lab,e2e]
 *     [--workers 2,3,4] [--sizes W1,W2] [--algos star,ring,bare]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { partitionRanges } from '../src/collective/index.js';
import { reduceInOrder } from '../src/engine/ws/coordinator.js';
import { coordinatorMessages, type CoordinatorMessage, type MessageOf, type PeerMessage } from '../src/engine/ws/messages.js';
import { wsDefaults } from '../src/engine/ws/options.js';
import { PeerLinks, type PeerInbox } from '../src/engine/ws/peer-links.js';
import { addKernel, ringAllReduce } from '../src/engine/ws/ring.js';
import { dataChunkFloats } from '../src/engine/ws/run-setup.js';
import { connect, listen, type Connection, type Server } from '../src/transport/index.js';
import { silentLogger } from '../src/transport/log.js';
import { BENCH_DATASET, WORKLOADS, badFlagValue, fmt, machineLine, median, scriptFlags } from './bench-common.js';

const script = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(script), '..', '..');
const labScript = path.join(repo, 'cluster', 'lab');
const dptrain = path.join(repo, 'bin', 'dptrain.js');

/** Gradient sizes in floats (docs/benchmarks.md). */
const SIZES: Record<string, number> = Object.fromEntries(WORKLOADS.filter((w) => w.name !== 'W3').map((w) => [w.name, w.params]));
/** As the engine: room for a message's fields around its largest array (coordinator.ts, worker.ts). */
const FRAME_SLACK = 64 * 1024;
const RING_CHUNK_FLOATS = Math.max(1, Math.floor(wsDefaults.ringChunkBytes / 4));
/** The raw ws test of scripts/bench-transport.ts: W2 gradient frames, 16 MiB of backpressure. */
const RAW_FRAME_BYTES = SIZES.W2 * 4;
const RAW_HIGH_WATER = 16 * 1024 * 1024;
/** Bytes each new ring moves untimed before it is measured (AllReduceRunner.run). */
const WARM_BYTES = 64e6;
const DUMMY_HASH = `sha256:${'0'.repeat(64)}`;

/** `bare`: the same ringAllReduce over bare ws connections (BareNext/BarePrev), the transport's reference. */
type Algo = 'star' | 'ring' | 'bare';
interface NodeConfig {
  name: string;
  host: string;
  token: string | null;
  sizes: Record<string, number>;
}

function out(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** The same values in every worker: after one all-reduce each holds n times them. */
function fill(buffer: Float32Array): void {
  for (let i = 0; i < buffer.length; i++) buffer[i] = (((i * 7919) % 1001) - 500) * 1e-21;
}

function badAfterSum(buffer: Float32Array, n: number): number {
  let bad = 0;
  for (let i = 0; i < buffer.length; i += 97) {
    const want = n * ((((i * 7919) % 1001) - 500) * 1e-21);
    if (Math.abs(buffer[i] - want) > 1e-6 * Math.abs(want) + 1e-40) bad++;
  }
  return bad;
}

// ---------------------------------------------------------------------------------------------
// The bare ring: ringAllReduce's pieces over plain ws connections, with none of dptrain's transport
// (no msgpack, schema check, frame scan, Link queue or heartbeats): a 32-byte header (step, attempt,
// round, offset as float64) and the floats, copied into a fresh frame as a plain sender would, sent
// with the all-zero mask, read in place on receipt. What the ring reaches over ws alone on this
// machine: the loopback rows "bare" beside "ring" show what dptrain's transport costs on top.

const BARE_HEADER = 32;

class BareNext {
  constructor(readonly ws: WebSocket) {}

  /** Resolves at once while ws's queue is under RAW_HIGH_WATER, else when this frame is written. */
  send(m: PeerMessage): Promise<void> {
    if (m.type !== 'ring') throw new Error(`the bare ring sends only ring pieces (got ${m.type})`);
    const frame = Buffer.allocUnsafe(BARE_HEADER + m.values.byteLength);
    frame.writeDoubleLE(m.step, 0);
    frame.writeDoubleLE(m.attempt, 8);
    frame.writeDoubleLE(m.round, 16);
    frame.writeDoubleLE(m.offset, 24);
    frame.set(new Uint8Array(m.values.buffer, m.values.byteOffset, m.values.byteLength), BARE_HEADER);
    return new Promise((resolve, reject) => {
      const queued = this.ws.bufferedAmount + frame.length <= RAW_HIGH_WATER;
      this.ws.send(frame, { binary: true }, (error) => (error ? reject(error) : queued || resolve()));
      if (queued) resolve();
    });
  }
}

/** PeerInbox's interface (next, unshift) over the bare connection from the predecessor. */
class BarePrev {
  readonly #queue: PeerMessage[] = [];
  #waiter: ((m: PeerMessage) => void) | null = null;

  constructor(ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const at = data.byteOffset + BARE_HEADER;
      const count = (data.length - BARE_HEADER) / 4;
      const values = at % 4 === 0 ? new Float32Array(data.buffer, at, count) : new Float32Array(Uint8Array.prototype.slice.call(data, BARE_HEADER).buffer);
      const m: PeerMessage = { type: 'ring', step: data.readDoubleLE(0), attempt: data.readDoubleLE(8), bucket: 0, round: data.readDoubleLE(16), offset: data.readDoubleLE(24), values };
      const waiter = this.#waiter;
      this.#waiter = null;
      if (waiter) waiter(m);
      else this.#queue.push(m);
    });
  }

  next(): Promise<PeerMessage> {
    const m = this.#queue.shift();
    return m ? Promise.resolve(m) : new Promise((resolve) => (this.#waiter = resolve));
  }

  unshift(m: PeerMessage): void {
    this.#queue.unshift(m);
  }
}

/**
 * A worker's bare ring listener: one BarePrev per predecessor connection, keyed by `?from=` (the
 * predecessor's name and the ring's epoch: each prepare opens new connections, and a worker must
 * not take the predecessor's connection of an earlier ring for the new one).
 */
async function bareListener(host: string): Promise<{ port: number; prev(from: string): Promise<BarePrev> }> {
  const wss = new WebSocketServer({ host, port: 0, perMessageDeflate: false, maxPayload: 4 * RING_CHUNK_FLOATS + FRAME_SLACK });
  await new Promise((resolve) => wss.once('listening', resolve));
  const inboxes = new Map<string, BarePrev>();
  const waiters = new Map<string, (inbox: BarePrev) => void>();
  wss.on('connection', (ws, request) => {
    const from = new URL(request.url ?? '/', 'ws://bare/').searchParams.get('from') ?? '';
    const inbox = new BarePrev(ws);
    const waiter = waiters.get(from);
    waiters.delete(from);
    if (waiter) waiter(inbox);
    else inboxes.set(from, inbox);
  });
  return {
    port: (wss.address() as { port: number }).port,
    prev: (from) => {
      const inbox = inboxes.get(from);
      inboxes.delete(from);
      return inbox ? Promise.resolve(inbox) : new Promise((resolve) => waiters.set(from, resolve));
    },
  };
}

async function bareConnect(url: string): Promise<BareNext> {
  const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: (mask: Buffer) => mask.fill(0) });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return new BareNext(ws);
}

// ---------------------------------------------------------------------------------------------
// Child roles. Each reads JSON commands on stdin and answers one JSON line on stdout per command.

/** A worker: its ring listener and links (PeerLinks), and one coordinator connection per size for the star. */
async function rankRole(cfg: NodeConfig): Promise<void> {
  const token = cfg.token ? Buffer.from(cfg.token, 'hex') : undefined;
  const maxFloats = Math.max(...Object.values(cfg.sizes));
  const peers = await PeerLinks.open({
    name: cfg.name,
    host: cfg.host,
    token,
    dims: { params: maxFloats },
    limits: { maxPayload: Math.max(1 << 20, 4 * RING_CHUNK_FLOATS + FRAME_SLACK) }, // as worker.ts
    log: silentLogger,
  });
  const buffers = new Map(Object.entries(cfg.sizes).map(([size, floats]) => [size, new Float32Array(floats)]));
  const hub = new Map<string, Connection<CoordinatorMessage>>();
  const never = new AbortController().signal;
  let ring: { next: Connection<PeerMessage>; prev: Awaited<ReturnType<PeerLinks['incoming']>> } | null = null;
  const bare = await bareListener(cfg.host);
  let bareRing: { next: BareNext; prev: BarePrev } | null = null;
  out({ port: peers.port, barePort: bare.port });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const c = JSON.parse(line);
    if (c.op === 'hub') {
      for (const [size, url] of Object.entries(c.urls as Record<string, string>)) {
        hub.set(
          size,
          await connect<CoordinatorMessage>(url, {
            name: cfg.name,
            role: 'worker',
            token,
            messages: coordinatorMessages,
            dims: { params: cfg.sizes[size], dataChunk: dataChunkFloats(wsDefaults.dataChunkBytes) },
            meta: { threads: 1, host: os.hostname() },
            limits: { heartbeatTimeoutMs: 60_000 },
            log: silentLogger,
          }),
        );
      }
      out({ ok: true });
    } else if (c.op === 'prepare') {
      const [next, prev] = await Promise.all([peers.outgoing(c.nextName, c.nextUrl, never), peers.incoming(c.prevName, never)]);
      ring = { next, prev };
      bareRing?.next.ws.close();
      const [bareNext, barePrev] = await Promise.all([bareConnect(`${c.nextBareUrl}?from=${cfg.name}.${c.epoch}`), bare.prev(`${c.prevName}.${c.epoch}`)]);
      bareRing = { next: bareNext, prev: barePrev };
      out({ ok: true });
    } else if (c.op === 'run') {
      const buffer = buffers.get(c.size)!;
      const segments = partitionRanges(buffer.length, c.n); // as the coordinator plans a ring step
      fill(buffer);
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (let i = 0; i < c.iters; i++) {
        const step = c.step + i;
        if (c.algo === 'ring') {
          await ringAllReduce(buffer, { step, attempt: 1, bucket: 0, rank: c.rank, size: c.n, segments, chunkFloats: RING_CHUNK_FLOATS, next: ring!.next, prev: ring!.prev, signal: never, onReduced() {} });
        } else if (c.algo === 'bare') {
          const { next, prev } = bareRing!;
          await ringAllReduce(buffer, { step, attempt: 1, bucket: 0, rank: c.rank, size: c.n, segments, chunkFloats: RING_CHUNK_FLOATS, next: next as unknown as Connection<PeerMessage>, prev: prev as unknown as PeerInbox, signal: never, onReduced() {} });
        } else {
          // worker.ts with one bucket: the shard's gradient sum as a `part`, then `grad` with its sums;
          // the coordinator's `update` carries the reduced sum.
          const conn = hub.get(c.size)!;
          await conn.send({ type: 'part', step, attempt: 1, offset: 0, values: buffer });
          await conn.send({ type: 'grad', step, attempt: 1, lossSum: 1, correct: 0, count: 1, gradSumSq: 1, nonFinite: false, computeMs: 1 });
          const m = await conn.receive();
          if (m.type !== 'update' || !m.gradient) throw new Error(`expected an update with a gradient, got ${m.type}`);
          buffer.set(m.gradient);
        }
      }
      const ms = performance.now() - started;
      const used = process.cpuUsage(cpu);
      out({ ms, cpuMs: (used.user + used.system) / 1000, bad: c.iters === 1 ? badAfterSum(buffer, c.n) : 0 });
    } else if (c.op === 'exit') {
      for (const conn of hub.values()) await conn.close(1000, 'bench over');
      await peers.close();
      process.exit(0);
    }
  }
  process.exit(0);
}

/** The star's coordinator: one server per size (the engine's listen options), reduce in worker order, update to all. */
async function hubRole(cfg: NodeConfig): Promise<void> {
  const token = cfg.token ? Buffer.from(cfg.token, 'hex') : undefined;
  const servers = new Map<string, Server<CoordinatorMessage>>();
  const conns = new Map<string, Map<string, Connection<CoordinatorMessage>>>();
  for (const [size, P] of Object.entries(cfg.sizes)) {
    const server = await listen<CoordinatorMessage>({
      host: cfg.host,
      port: 0,
      name: 'coordinator',
      token,
      messages: coordinatorMessages,
      dims: { params: P, dataChunk: dataChunkFloats(wsDefaults.dataChunkBytes) },
      meta: { model: `bench:${size}`, numParams: P, datasetHash: DUMMY_HASH },
      admit: (peer) => (peer.role === 'worker' ? undefined : 'workers only'),
      limits: { maxPayload: Math.min(64 * 1024 * 1024, Math.max(1 << 20, 4 * P + FRAME_SLACK)), heartbeatTimeoutMs: 60_000 }, // as coordinator.ts
      log: silentLogger,
    });
    servers.set(size, server);
    const byName = new Map<string, Connection<CoordinatorMessage>>();
    conns.set(size, byName);
    void (async () => {
      for await (const conn of server) byName.set(conn.peer.name, conn);
    })();
  }
  out({ urls: Object.fromEntries([...servers].map(([size, s]) => [size, s.url])) });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const c = JSON.parse(line);
    if (c.op === 'run') {
      const links = (c.members as string[]).map((name) => conns.get(c.size)!.get(name)!);
      const sum = new Float32Array(cfg.sizes[c.size]);
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (let i = 0; i < c.iters; i++) {
        const parts = await Promise.all(links.map(async (l) => {
          const part = (await l.receive()) as MessageOf<'part'>;
          await l.receive(); // its `grad`
          return part.values!;
        }));
        reduceInOrder(parts, sum);
        const step = c.step + i;
        await Promise.all(links.map((l) => l.send({ type: 'update', step, version: step + 1, lr: 0.1, gradScale: 1, t: step + 1, hash: false, gradient: sum })));
      }
      const used = process.cpuUsage(cpu);
      out({ ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 });
    } else if (c.op === 'exit') {
      for (const s of servers.values()) await s.close();
      process.exit(0);
    }
  }
  process.exit(0);
}

/** scripts/bench-transport.ts's raw ws test (sendRaw/receiveRaw), with a host to bind and connect to (for the lab). */
async function rawServerRole(host: string, frames: number): Promise<void> {
  const wss = new WebSocketServer({ host, port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise((r) => wss.once('listening', r));
  console.log(`port ${(wss.address() as { port: number }).port}`);
  wss.once('connection', (ws) => {
    ws.once('close', () => process.exit(0));
    const cpu = process.cpuUsage();
    let n = 0;
    ws.on('message', () => {
      if (++n === frames) {
        const used = process.cpuUsage(cpu);
        console.log(`cpu ${(used.user + used.system) / 1000}`);
        ws.send('ok');
      }
    });
  });
}

/** `mask`: `random` (ws's default, as bench-transport.ts) or `zero` (as dptrain's clients: ws skips the XOR). */
async function rawClientRole(url: string, frames: number, mask: string): Promise<void> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, ...(mask === 'zero' && { generateMask: (key: Buffer) => void key.fill(0) }) });
  await new Promise((r) => ws.once('open', r));
  const frame = Buffer.alloc(RAW_FRAME_BYTES, 7);
  const acked = new Promise<void>((resolve) => ws.once('message', () => resolve()));
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < frames; i++) {
    while (ws.bufferedAmount > RAW_HIGH_WATER) await new Promise((r) => setImmediate(r));
    ws.send(frame, { binary: true });
  }
  await acked;
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  console.log(`cpu ${(used.user + used.system) / 1000}`);
  console.log(`result ${(frames * RAW_FRAME_BYTES) / 1e6 / (ms / 1000)}`);
  ws.close();
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The parent.

/** A child process speaking JSON lines on stdout. */
class Child {
  readonly proc: ChildProcess;
  readonly label: string;
  readonly #lines: string[] = [];
  readonly #waiters: ((line: string) => void)[] = [];
  #exited: string | null = null;

  constructor(command: string, args: string[], label: string, env: NodeJS.ProcessEnv = process.env) {
    this.label = label;
    this.proc = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = readline.createInterface({ input: this.proc.stdout! });
    rl.on('line', (line) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(line);
      else this.#lines.push(line);
    });
    this.proc.on('exit', (code, signal) => {
      this.#exited = `${label} exited (${code ?? signal})`;
      for (const w of this.#waiters.splice(0)) w('');
    });
  }

  line(timeoutMs = 120_000): Promise<string> {
    const next = this.#lines.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.#exited) return Promise.reject(new Error(this.#exited));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no answer within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((line) => {
        clearTimeout(timer);
        if (line === '' && this.#exited) reject(new Error(this.#exited));
        else resolve(line);
      });
    });
  }

  async json<T = Record<string, unknown>>(timeoutMs?: number): Promise<T> {
    return JSON.parse(await this.line(timeoutMs)) as T;
  }

  send(command: unknown): void {
    this.proc.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  async request<T = Record<string, unknown>>(command: unknown): Promise<T> {
    this.send(command);
    return this.json<T>();
  }

  stop(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
  }
}

/** How to start a process on one "host": directly, or inside a lab namespace. */
interface Place {
  ip: string;
  start(args: string[], label: string): Child;
}

const local: Place = { ip: '127.0.0.1', start: (args, label) => new Child(process.execPath, [script, ...args], label) };

interface Cluster {
  hub: Child;
  ranks: Child[];
  names: string[];
  ringUrls: string[];
  bareUrls: string[];
}

async function startCluster(hubPlace: Place, rankPlaces: Place[], sizes: Record<string, number>, token: string | null): Promise<Cluster> {
  const hub = hubPlace.start(['hub', JSON.stringify({ name: 'coordinator', host: hubPlace.ip, token, sizes } satisfies NodeConfig)], 'star coordinator');
  const names = rankPlaces.map((_, r) => `r${r}`);
  const ranks = rankPlaces.map((p, r) => p.start(['rank', JSON.stringify({ name: names[r], host: p.ip, token, sizes } satisfies NodeConfig)], `worker ${names[r]}`));
  const { urls } = await hub.json<{ urls: Record<string, string> }>();
  const ports = await Promise.all(ranks.map((r) => r.json<{ port: number; barePort: number }>()));
  const ringUrls = ports.map(({ port }, r) => `ws://${rankPlaces[r].ip}:${port}/`);
  const bareUrls = ports.map(({ barePort }, r) => `ws://${rankPlaces[r].ip}:${barePort}/`);
  await Promise.all(ranks.map((r) => r.request({ op: 'hub', urls })));
  return { hub, ranks, names, ringUrls, bareUrls };
}

async function stopCluster(c: Cluster): Promise<void> {
  for (const child of [...c.ranks, c.hub]) child.send({ op: 'exit' });
  await Promise.all(
    [...c.ranks, c.hub].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.proc.exitCode !== null || child.proc.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.stop(), 5_000);
          child.proc.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
        }),
    ),
  );
}

interface Config {
  n: number;
  size: string;
  algo: Algo;
}
const key = (c: Config) => `${c.algo} ${c.size} n=${c.n}`;

class AllReduceRunner {
  readonly #c: Cluster;
  readonly #helperCpuMs: (() => number) | null;
  #step = 0;
  #ringN = 0;
  /** Counts prepares: the bare ring's connections are new each time. */
  #epoch = 0;

  /** `helperCpuMs`: CPU so far of helper processes to account separately (the lab's delay processes). */
  constructor(cluster: Cluster, helperCpuMs: (() => number) | null) {
    this.#c = cluster;
    this.#helperCpuMs = helperCpuMs;
  }

  /** Opens (or reuses) the ring links of the first n workers, outside any timing. */
  async #prepare(n: number): Promise<void> {
    if (this.#ringN === n) return;
    const { names, ringUrls, bareUrls, ranks } = this.#c;
    await Promise.all(
      ranks
        .slice(0, n)
        .map((child, r) =>
          child.request({ op: 'prepare', epoch: this.#epoch, nextName: names[(r + 1) % n], nextUrl: ringUrls[(r + 1) % n], nextBareUrl: bareUrls[(r + 1) % n], prevName: names[(r + n - 1) % n] }),
        ),
    );
    this.#epoch++;
    this.#ringN = n;
  }

  /**
   * `iters` all-reduces back to back: ms per all-reduce (the slowest worker's time / iters), and
   * the CPU time of all its processes (workers and, for the star, the coordinator) per all-reduce.
   */
  async run(cfg: Config, iters: number): Promise<{ ms: number; cpuMs: number; machineCores: number; helperCores: number }> {
    if (cfg.algo !== 'star' && this.#ringN !== cfg.n) {
      await this.#prepare(cfg.n);
      // New TCP connections start with small socket buffers that the kernel grows as data flows.
      // dptrain keeps its ring connections from step to step, so the rings are measured warm:
      // WARM_BYTES go over the new ring and bare connections untimed first.
      const warmIters = Math.ceil(WARM_BYTES / (4 * SIZES[cfg.size]));
      for (const algo of ['ring', 'bare'] as Algo[]) await this.#measure({ ...cfg, algo }, warmIters);
    }
    return this.#measure(cfg, iters);
  }

  async #measure(cfg: Config, iters: number): Promise<{ ms: number; cpuMs: number; machineCores: number; helperCores: number }> {
    const helper = this.#helperCpuMs?.() ?? 0;
    const busy = machineBusyMs();
    const wall = performance.now();
    const step = this.#step;
    this.#step += iters + 1;
    const members = this.#c.names.slice(0, cfg.n);
    if (cfg.algo === 'star') this.#c.hub.send({ op: 'run', size: cfg.size, members, iters, step });
    const replies = await Promise.all(
      this.#c.ranks.slice(0, cfg.n).map((child, rank) => child.request<{ ms: number; cpuMs: number; bad: number }>({ op: 'run', algo: cfg.algo, size: cfg.size, n: cfg.n, rank, iters, step })),
    );
    const elapsed = performance.now() - wall;
    const machineCores = (machineBusyMs() - busy) / elapsed;
    const helperCores = ((this.#helperCpuMs?.() ?? 0) - helper) / elapsed;
    const hubCpuMs = cfg.algo === 'star' ? (await this.#c.hub.json<{ cpuMs: number }>()).cpuMs : 0;
    const bad = replies.reduce((a, r) => a + r.bad, 0);
    if (bad > 0) throw new Error(`${key(cfg)}: ${bad} sampled elements differ from n × the input after one all-reduce`);
    return { ms: Math.max(...replies.map((r) => r.ms)) / iters, cpuMs: (hubCpuMs + replies.reduce((a, r) => a + r.cpuMs, 0)) / iters, machineCores, helperCores };
  }

  /** Warm-up (checked) and the iteration count that makes one measurement last ≥ minRepMs. */
  async calibrate(cfg: Config, minRepMs: number, maxIters: number): Promise<number> {
    await this.run(cfg, 1);
    await this.run(cfg, 1);
    const { ms } = await this.run(cfg, 2);
    return Math.max(1, Math.min(maxIters, Math.ceil(minRepMs / ms)));
  }
}

interface Stats {
  median: number;
  min: number;
  max: number;
  values: number[];
}
function stats(values: number[]): Stats {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), values };
}

/** MB/s (1e6 bytes/s) of S floats in t ms. */
const mbps = (floats: number, ms: number) => (floats * 4) / 1e3 / ms;
const busFactor = (n: number) => (2 * (n - 1)) / n;
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

let clockTicks = 0;
const CLK_TCK = () => (clockTicks ||= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100);

/** CPU time the whole machine spent busy (every process, interrupts, softirq), ms: /proc/stat. */
function machineBusyMs(): number {
  const [, user, nice, system, , , irq, softirq, steal] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return ((user + nice + system + irq + softirq + (steal || 0)) * 1000) / CLK_TCK();
}

/** CPU time of process `pid` so far (utime + stime), ms; 0 once it is gone. */
function processCpuMs(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK();
  } catch {
    return 0;
  }
}

/** The lab's delay processes (cluster/lab-delay.c or .py: the NFQUEUE delay of the fallback shaper), by pid. */
function delayProcesses(prefix: string, hosts: number): number[] {
  const pids: number[] = [];
  for (let i = 0; i < hosts; i++) {
    const r = spawnSync('ip', ['netns', 'pids', `${prefix}-h${i}`], { encoding: 'utf8' });
    for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('lab-delay')) pids.push(pid);
      } catch {
        // gone
      }
    }
  }
  return pids;
}

interface RawResult {
  /** MB/s of the test whose figure is the reference (bench-transport.ts's on loopback, this script's copy in the lab). */
  mbps: number;
  /** This script's copy of the test: its MB/s, and the sender's and the receiver's CPU per MB (in-process, start-up excluded). */
  copyMbps: number;
  senderMsPerMB: number;
  receiverMsPerMB: number;
}

/** One run of bench-transport.ts's raw (or dptrain Connection) client→server test on loopback; MB/s. */
async function transportPair(layer: 'raw' | 'dptrain', frames: number): Promise<number> {
  const transport = path.join(path.dirname(script), 'bench-transport.js');
  const server = new Child(process.execPath, [transport, 'server', layer, 'c2s', String(frames)], `bench-transport server ${layer}`);
  const port = Number((await server.line()).replace(/^port /, ''));
  const client = new Child(process.execPath, [transport, 'client', layer, 'c2s', String(frames), String(port)], `bench-transport client ${layer}`);
  const result = Number((await client.line()).replace(/^result /, ''));
  await Promise.all([server, client].map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
  return result;
}

/** This script's copy of the raw ws test between two places (loopback or two lab hosts). */
async function rawPair(serverPlace: Place, clientPlace: Place, frames: number, mask: 'random' | 'zero'): Promise<RawResult> {
  const server = serverPlace.start(['raw-server', serverPlace.ip, String(frames)], 'raw ws server');
  const port = Number((await server.line()).replace(/^port /, ''));
  const client = clientPlace.start(['raw-client', `ws://${serverPlace.ip}:${port}/`, String(frames), mask], 'raw ws client');
  const senderMs = Number((await client.line(300_000)).replace(/^cpu /, ''));
  const mbps = Number((await client.line(300_000)).replace(/^result /, ''));
  const receiverMs = Number((await server.line(300_000)).replace(/^cpu /, ''));
  await Promise.all([server, client].map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
  const MB = (frames * RAW_FRAME_BYTES) / 1e6;
  return { mbps, copyMbps: mbps, senderMsPerMB: senderMs / MB, receiverMsPerMB: receiverMs / MB };
}

interface AllReduceResults {
  raw: Stats;
  /** Medians over the rounds of this script's copy: MB/s, sender and receiver CPU ms per MB. */
  copy: { mbps: number; senderMsPerMB: number; receiverMsPerMB: number };
  connection: Stats | null;
  times: Map<string, Stats>;
  /** Each run's all-reduce time and raw ws B, paired: busbw / B per run, for the ratio measured within one run. */
  pairs: Map<string, { ms: number; rawMbps: number }[]>;
  cpuMs: Map<string, number>;
  machineCores: Map<string, number>;
  helperCores: Map<string, number> | null;
  iters: Map<string, number>;
}

/** Bytes that cross a connection in one all-reduce, all connections together: ring 2(n-1)·S, star 2n·S. */
const movedMB = (cfg: Config) => ((cfg.algo === 'star' ? 2 * cfg.n : 2 * (cfg.n - 1)) * SIZES[cfg.size] * 4) / 1e6;

/**
 * Interleaved: each round runs the raw test(s) once, then every configuration once.
 * `measureConnection` also runs bench-transport's dptrain Connection test (loopback only).
 */
async function measureAllReduce(
  cluster: Cluster,
  configs: Config[],
  rounds: number,
  minRepMs: number,
  raw: () => Promise<RawResult>,
  connection: (() => Promise<number>) | null,
  helperCpuMs: (() => number) | null = null,
): Promise<AllReduceResults> {
  const runner = new AllReduceRunner(cluster, helperCpuMs);
  const iters = new Map<string, number>();
  for (const cfg of configs) iters.set(key(cfg), await runner.calibrate(cfg, minRepMs, 40));
  const rawValues: RawResult[] = [];
  const connValues: number[] = [];
  const times = new Map<string, number[]>(configs.map((c) => [key(c), []]));
  const cpu = new Map<string, number[]>(configs.map((c) => [key(c), []]));
  const machine = new Map<string, number[]>(configs.map((c) => [key(c), []]));
  const helper = new Map<string, number[]>(configs.map((c) => [key(c), []]));
  for (let round = 0; round < rounds; round++) {
    rawValues.push(await raw());
    if (connection) connValues.push(await connection());
    for (const cfg of configs) {
      const r = await runner.run(cfg, iters.get(key(cfg))!);
      times.get(key(cfg))!.push(r.ms);
      cpu.get(key(cfg))!.push(r.cpuMs);
      machine.get(key(cfg))!.push(r.machineCores);
      helper.get(key(cfg))!.push(r.helperCores);
    }
    process.stderr.write(`  round ${round + 1}/${rounds} done (load ${load()})\n`);
  }
  return {
    raw: stats(rawValues.map((r) => r.mbps)),
    copy: {
      mbps: median(rawValues.map((r) => r.copyMbps)),
      senderMsPerMB: median(rawValues.map((r) => r.senderMsPerMB)),
      receiverMsPerMB: median(rawValues.map((r) => r.receiverMsPerMB)),
    },
    connection: connection ? stats(connValues) : null,
    times: new Map([...times].map(([k, v]) => [k, stats(v)])),
    pairs: new Map([...times].map(([k, v]) => [k, v.map((ms, i) => ({ ms, rawMbps: rawValues[i].mbps }))])),
    cpuMs: new Map([...cpu].map(([k, v]) => [k, median(v)])),
    machineCores: new Map([...machine].map(([k, v]) => [k, median(v)])),
    helperCores: helperCpuMs ? new Map([...helper].map(([k, v]) => [k, median(v)])) : null,
    iters,
  };
}

function printAllReduce(title: string, configs: Config[], r: AllReduceResults, ratioLabel: string, cpuBound: boolean, copyMask: 'zero' | 'random'): void {
  const B = r.raw.median;
  console.log(`\n${title}`);
  console.log(`raw ws, one connection, client→server: ${fmt(B)} MB/s = B (median; runs ${r.raw.values.map((v) => fmt(v)).join(', ')})`);
  const c = r.copy;
  console.log(
    `raw ws CPU per MB (this script's copy of the test, ${copyMask === 'zero' ? 'all-zero mask as dptrain sends = B0' : "ws's random masks"}, ${fmt(c.mbps)} MB/s; the sender's includes its wait loop): sender ${fmt(c.senderMsPerMB, 2)} ms + receiver ${fmt(c.receiverMsPerMB, 2)} ms = ${fmt(c.senderMsPerMB + c.receiverMsPerMB, 2)} ms` +
      (cpuBound
        ? `; a ring worker both sends and receives on one thread, so where the CPU is the limit its busbw is at most about max(sender, receiver) / (sender + receiver) = ${fmt((100 * Math.max(c.senderMsPerMB, c.receiverMsPerMB)) / (c.senderMsPerMB + c.receiverMsPerMB))}% of B, even with a core per process`
        : ''),
  );
  if (r.connection) console.log(`dptrain Connection (codec + schema + backpressure), client→server: ${fmt(r.connection.median)} MB/s (runs ${r.connection.values.map((v) => fmt(v)).join(', ')})`);
  console.log('');
  console.log(`| size | n | algorithm | t (ms) [min–max] | algbw (MB/s) | busbw (MB/s) | busbw / raw ws | theory (ms): ring 2(n−1)/n·S/B, star 2n·S/B | t / theory | bytes moved / t, all links (MB/s) | CPU per MB moved (ms) | cores busy: its processes${r.helperCores ? ' / lab delay processes' : ''} / whole machine |`);
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const cfg of configs) {
    const s = r.times.get(key(cfg))!;
    const floats = SIZES[cfg.size];
    const alg = mbps(floats, s.median);
    const bus = alg * busFactor(cfg.n);
    // The ring: every worker sends and receives 2(n-1)/n·S at once. The star: the coordinator's link
    // carries n·S in, then (the sum needs every gradient) n·S out.
    const theory = ((cfg.algo === 'star' ? 2 * cfg.n : busFactor(cfg.n)) * floats * 4) / 1e3 / B;
    console.log(
      `| ${cfg.size} (${fmt((floats * 4) / 1e6, 2)} MB) | ${cfg.n} | ${cfg.algo} | ${fmt(s.median, 2)} [${fmt(s.min, 1)}–${fmt(s.max, 1)}] | ${fmt(alg)} | ${fmt(bus)} | ${fmt((100 * bus) / B)}% | ${fmt(theory, 2)} | ${fmt(s.median / theory, 2)}x | ${fmt((movedMB(cfg) * 1000) / s.median)} | ${fmt(r.cpuMs.get(key(cfg))! / movedMB(cfg), 2)} | ${fmt(r.cpuMs.get(key(cfg))! / s.median, 2)}${r.helperCores ? ` / ${fmt(r.helperCores.get(key(cfg))!, 2)}` : ''} / ${fmt(r.machineCores.get(key(cfg))!, 2)} |`,
    );
  }
  console.log(`(iterations per measurement: ${[...r.iters].map(([k, v]) => `${k}: ${v}`).join('; ')})`);
  console.log(ratioLabel);
}

function configsFor(sizes: string[], ns: number[], algos: Algo[] = ['star', 'ring']): Config[] {
  const configs: Config[] = [];
  for (const size of sizes) for (const n of ns) for (const algo of algos) configs.push({ n, size, algo });
  return configs;
}

async function loopbackSection(flags: Flags): Promise<void> {
  const ns = flags.workers.split(',').map(Number);
  const sizes = flags.sizes.split(',');
  const maxN = Math.max(...ns);
  console.log(`\n## 1. Loopback (127.0.0.1): ${maxN} worker processes + 1 star coordinator process, load ${load()}`);
  const cluster = await startCluster(local, Array.from({ length: maxN }, () => local), pick(sizes), null);
  try {
    const configs = configsFor(sizes, ns, flags.algos.split(',') as Algo[]);
    const frames = Number(flags['raw-frames']);
    const r = await measureAllReduce(cluster, configs, Number(flags.runs), Number(flags['min-rep-ms']), async () => ({ ...(await rawPair(local, local, frames, 'zero')), mbps: await transportPair('raw', frames) }), () => transportPair('dptrain', frames));
    const busbw = (c: Config, ms: number) => mbps(SIZES[c.size], ms) * busFactor(c.n);
    const ratios = (algo: Algo) =>
      configs
        .filter((c) => c.algo === algo)
        .map((c) => {
          const bus = busbw(c, r.times.get(key(c))!.median);
          const paired = r.pairs.get(key(c))!.map((p) => (100 * busbw(c, p.ms)) / p.rawMbps);
          return `${c.size} n=${c.n} ${fmt((100 * bus) / r.raw.median)}% (${fmt((100 * bus) / r.copy.mbps)}% of B0; per run ${fmt(median(paired))}% median, ${paired.map((v) => fmt(v)).join(', ')})`;
        });
    // dptrain's ring against the bare one, run by run (they ran back to back in every run)
    const overRing = configs
      .filter((c) => c.algo === 'ring' && r.pairs.has(key({ ...c, algo: 'bare' })))
      .map((c) => {
        const bare = r.pairs.get(key({ ...c, algo: 'bare' }))!;
        const perRun = r.pairs.get(key(c))!.map((p, i) => (100 * bare[i].ms) / p.ms);
        return `${c.size} n=${c.n} ${fmt(median(perRun))}% (${perRun.map((v) => fmt(v)).join(', ')})`;
      });
    printAllReduce(
      `Loopback all-reduce, medians of ${flags.runs} interleaved runs (load at the end ${load()})`,
      configs,
      r,
      [
        `target (issue 5): ring busbw ≥ 60% of raw ws (median busbw / median B; in brackets also each run's busbw / that run's B): ${ratios('ring').join('; ')}`,
        `bare ws ring, the same ringAllReduce with none of dptrain's transport: ${ratios('bare').join('; ')}`,
        `dptrain ring busbw / bare ring busbw, each run: ${overRing.join('; ')}`,
      ]
        .filter((line) => !line.endsWith(': '))
        .join('\n'),
      true,
      'zero',
    );
  } finally {
    await stopCluster(cluster);
  }
}

function pick(sizes: string[]): Record<string, number> {
  return Object.fromEntries(sizes.map((s) => [s, SIZES[s]]));
}

async function labSection(flags: Flags): Promise<void> {
  const ns = flags.workers.split(',').map(Number);
  const maxN = Math.max(...ns);
  const hosts = maxN + 1;
  console.log(`\n## 2. Namespace lab: cluster/lab up ${hosts} --delay 0.2ms --rate 1gbit (star coordinator in h0, worker r in h(r+1))`);
  const check = spawnSync(labScript, ['check', '--delay', '--rate'], { encoding: 'utf8' });
  if (check.status !== 0) {
    console.log(`skipped: ${(check.stdout + check.stderr).trim() || `cluster/lab check exited with ${check.status}`}`);
    return;
  }
  console.log(check.stdout.trim().split('\n').map((l) => `  ${l}`).join('\n'));
  const prefix = `dpab${process.pid}`.slice(0, 12);
  const env = { ...process.env, DPTRAIN_LAB_PREFIX: prefix };
  let down = false;
  const takeDown = () => {
    if (down) return;
    down = true;
    const r = spawnSync(labScript, ['down'], { env, encoding: 'utf8' });
    process.stderr.write(`  ${(r.stdout + r.stderr).trim()}\n`);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    takeDown();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', takeDown);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const up = spawnSync(labScript, ['up', String(hosts), '--delay', '0.2ms', '--rate', '1gbit'], { env, encoding: 'utf8' });
    if (up.status !== 0) {
      console.log(`skipped: cluster/lab up failed: ${(up.stdout + up.stderr).trim()}`);
      return;
    }
    console.log(`  ${up.stdout.trim()} (DPTRAIN_LAB_PREFIX=${prefix})`);
    const place = (i: number): Place => ({
      ip: `10.77.0.${i + 1}`,
      start: (args, label) => new Child(labScript, ['run', `h${i}`, '--', process.execPath, script, ...args], `${label} in h${i}`, env),
    });
    const sizes = flags['lab-sizes'].split(',');
    const token = randomBytes(32).toString('hex');
    const cluster = await startCluster(place(0), Array.from({ length: maxN }, (_, r) => place(r + 1)), pick(sizes), token);
    try {
      const configs = configsFor(sizes, ns);
      const frames = Number(flags['lab-raw-frames']);
      const delayers = delayProcesses(prefix, hosts);
      const delayCpuMs = () => delayers.reduce((a, pid) => a + processCpuMs(pid), 0);
      console.log(`  ${delayers.length} cluster/lab-delay processes (the NFQUEUE delay of the fallback shaper; their CPU is shown apart)`);
      const r = await measureAllReduce(cluster, configs, Number(flags['lab-runs']), Number(flags['min-rep-ms']), () => rawPair(place(2), place(1), frames, 'random'), null, delayers.length > 0 ? delayCpuMs : null);
      const ring = configs
        .filter((c) => c.algo === 'ring' && c.size === 'W2')
        .map((c) => `n=${c.n} ${fmt(r.times.get(key(c))!.median / ((busFactor(c.n) * SIZES.W2 * 4) / 1e3 / r.raw.median), 2)}x`);
      printAllReduce(
        `Lab all-reduce (raw ws measured h1 → h2, ${frames} frames per run), medians of ${flags['lab-runs']} interleaved runs (load at the end ${load()})`,
        configs,
        r,
        `target (issue 5): ring all-reduce of W2's gradient within 1.5x of the theoretical ring time: ${ring.join(', ') || 'W2 not measured'}`,
        false,
        'random',
      );
    } finally {
      await stopCluster(cluster);
    }
  } finally {
    takeDown();
    process.off('exit', takeDown);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// ---- end to end ----

interface E2eResult {
  samplesPerSec: number;
  stepMs: number;
  reduceShare: number;
}

function waitExit(child: ChildProcess, timeoutMs: number, label: string): Promise<number> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
  });
}

/** Samples/s over the step records after warm-up (each step's wall time: compute, all-reduce, update). */
function readSteps(dir: string, warmup: number): E2eResult {
  const steps = fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'step')
    .slice(warmup);
  const samples = steps.reduce((a, s) => a + s.batchSize, 0);
  const ms = steps.reduce((a, s) => a + s.ms, 0);
  const reduce = steps.reduce((a, s) => a + s.timing.reduceMs, 0);
  return { samplesPerSec: samples / (ms / 1000), stepMs: median(steps.map((s) => s.ms)), reduceShare: reduce / ms };
}

async function e2eRun(workload: (typeof WORKLOADS)[number], engine: 'threads' | Algo, steps: number, warmup: number, dir: string): Promise<E2eResult> {
  fs.rmSync(dir, { recursive: true, force: true });
  const common = ['--dataset', BENCH_DATASET, '--model', workload.model, '--batch-size', String(workload.batchSize), '--lr', '0.1', '--momentum', '0', '--max-steps', String(steps), '--out', dir, '--log-format', 'json'];
  const label = `${workload.name} ${engine}`;
  if (engine === 'threads') {
    const child = spawn(process.execPath, [dptrain, 'train', '--engine', 'threads', '--workers', '2', ...common], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const code = await waitExit(child, 300_000, label);
    if (code !== 0) throw new Error(`${label}: dptrain train exited ${code}: ${err}`);
    return readSteps(dir, warmup);
  }
  const coordinator = spawn(process.execPath, [dptrain, 'coordinator', '--listen', '127.0.0.1:0', '--min-workers', '2', '--allreduce', engine, ...common], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    coordinator.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-20000);
      const m = /"url":"(ws:\/\/[^"]+)"/.exec(err);
      if (m) resolve(m[1]);
    });
    coordinator.once('exit', (code) => reject(new Error(`${label}: the coordinator exited ${code} before listening: ${err}`)));
  });
  const workers = [1, 2].map((k) =>
    spawn(process.execPath, [dptrain, 'worker', '--connect', url, '--threads', '1', '--name', `w${k}`, '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'ignore'] }),
  );
  try {
    const code = await waitExit(coordinator, 300_000, label);
    if (code !== 0) throw new Error(`${label}: the coordinator exited ${code}: ${err.slice(-2000)}`);
    await Promise.all(workers.map((w) => waitExit(w, 30_000, `${label} worker`)));
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGTERM');
  }
  return readSteps(dir, warmup);
}

async function e2eSection(flags: Flags): Promise<void> {
  const workloads = WORKLOADS.filter((w) => w.name === 'W1' || w.name === 'W2');
  const steps = flags['e2e-steps'].split(',').map(Number);
  const warmup = flags['e2e-warmup'].split(',').map(Number);
  const runs = Number(flags['e2e-runs']);
  const engines: ('threads' | Algo)[] = ['threads', 'star', 'ring'];
  console.log(`\n## 3. End to end on loopback: ${BENCH_DATASET}, SGD lr 0.1 momentum 0, load ${load()}`);
  console.log(`dptrain coordinator + 2 × dptrain worker --threads 1 (3 processes) vs dptrain train --engine threads --workers 2; ${steps.join('/')} steps (W1/W2), the first ${warmup.join('/')} not counted`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dptrain-bench-allreduce-'));
  const results = new Map<string, E2eResult[]>();
  try {
    for (let run = 0; run < runs; run++) {
      for (const [wi, w] of workloads.entries()) {
        for (const engine of engines) {
          const r = await e2eRun(w, engine, steps[wi], warmup[wi], path.join(tmp, `${w.name}-${engine}`));
          const k = `${w.name}|${engine}`;
          results.set(k, [...(results.get(k) ?? []), r]);
        }
      }
      process.stderr.write(`  e2e run ${run + 1}/${runs} done (load ${load()})\n`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`\nmedians of ${runs} interleaved runs (load at the end ${load()})`);
  console.log('| workload | engine | samples/s [min–max] | vs threads x2 | median step (ms) | all-reduce share of the step |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const w of workloads) {
    const base = median(results.get(`${w.name}|threads`)!.map((r) => r.samplesPerSec));
    for (const engine of engines) {
      const rs = results.get(`${w.name}|${engine}`)!;
      const sps = rs.map((r) => r.samplesPerSec);
      const name = engine === 'threads' ? 'train --engine threads --workers 2' : `coordinator + 2 workers, ${engine}`;
      console.log(
        `| ${w.name} | ${name} | ${fmt(median(sps))} [${fmt(Math.min(...sps))}–${fmt(Math.max(...sps))}] | ${fmt(median(sps) / base, 2)}x | ${fmt(median(rs.map((r) => r.stepMs)), 1)} | ${fmt(100 * median(rs.map((r) => r.reduceShare)), 1)}% |`,
      );
    }
  }
  console.log(`(all-reduce share: the engine's reduceMs / step ms — for threads the shared-memory reduce, for ws everything in the gradient phase but the slowest worker's compute)`);
}

type Flags = ReturnType<typeof parseFlags>;
function parseFlags() {
  const flags = scriptFlags(process.argv.slice(2), {
    sections: 'loopback,lab,e2e',
    runs: '7',
    'min-rep-ms': '250',
    workers: '2,3,4',
    sizes: 'W1,W2',
    algos: 'star,ring,bare',
    'raw-frames': '64',
    'lab-runs': '5',
    'lab-sizes': 'W1,W2',
    'lab-raw-frames': '16',
    'e2e-runs': '5',
    'e2e-steps': '60,24',
    'e2e-warmup': '10,4',
  });
  // checked before any process starts
  for (const s of [...flags.sizes.split(','), ...flags['lab-sizes'].split(',')]) {
    if (!(s in SIZES)) badFlagValue(`unknown size ${s}; use ${Object.keys(SIZES).join(',')}`);
  }
  const unknown = flags.algos.split(',').filter((a) => !['star', 'ring', 'bare'].includes(a));
  if (unknown.length > 0) badFlagValue(`--algos: unknown ${unknown.join(', ')}; choose among star, ring, bare`);
  return flags;
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const started = performance.now();
  const require = createRequire(import.meta.url);
  let bufferutil = 'not installed';
  try {
    const b = require('bufferutil') as { mask: { toString(): string } };
    bufferutil = /native code/.test(b.mask.toString()) ? 'native' : 'JS fallback';
  } catch {
    // stays "not installed"
  }
  console.log(machineLine());
  console.log(`ws ${require('ws/package.json').version}, bufferutil ${bufferutil}; ring pieces ${RING_CHUNK_FLOATS.toLocaleString('en-US')} floats, reduce-scatter add ${addKernel}, dptrain clients' mask key zero; MB = 1e6 bytes; algbw = S/t, busbw = algbw·2(n−1)/n (nccl-tests)`);
  console.log(`The machine has ${os.availableParallelism()} cores: the n workers, the star's coordinator and the raw test share them, and anything else running (load average above, before this script started; later load figures count its own processes too).`);
  const sections = new Set(flags.sections.split(','));
  if (sections.has('loopback')) await loopbackSection(flags);
  if (sections.has('lab')) await labSection(flags);
  if (sections.has('e2e')) await e2eSection(flags);
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s; load average at the end ${load()}`);
}

const role = process.argv[2];
if (role === 'rank') await rankRole(JSON.parse(process.argv[3]) as NodeConfig);
else if (role === 'hub') await hubRole(JSON.parse(process.argv[3]) as NodeConfig);
else if (role === 'raw-server') await rawServerRole(process.argv[3], Number(process.argv[4]));
else if (role === 'raw-client') await rawClientRole(process.argv[3], Number(process.argv[4]), process.argv[5] ?? 'random');
else await main();
