// The ring all-reduce itself (src/engine/ws/ring.ts) over real ring links: n workers in this process,
// each with its PeerLinks listener on 127.0.0.1, connected in a ring by authenticated WebSockets.
// Every result is checked bit for bit against the ring order of float32 adds; the last test shows
// that the rounds are pipelined piece by piece.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { partitionRanges } from '../src/collective/index.js';
import type { PeerMessage } from '../src/engine/ws/messages.js';
import { PeerLinks, type PeerInbox } from '../src/engine/ws/peer-links.js';
import { ringAllReduce, type RingRound } from '../src/engine/ws/ring.js';
import { RingDemux } from '../src/engine/ws/ring-demux.js';
import type { Connection } from '../src/transport/index.js';
import { silentLogger } from '../src/transport/log.js';

interface Member {
  links: PeerLinks;
  next: Connection<PeerMessage>;
  prev: PeerInbox;
}

async function openRing(n: number, floats: number): Promise<Member[]> {
  const token = randomBytes(32);
  const names = Array.from({ length: n }, (_, r) => `r${r}`);
  const links = await Promise.all(names.map((name) => PeerLinks.open({ name, host: '127.0.0.1', token, dims: { params: floats }, log: silentLogger })));
  const never = new AbortController().signal;
  return Promise.all(
    links.map(async (own, r) => {
      const succ = (r + 1) % n;
      const [next, prev] = await Promise.all([
        own.outgoing(names[succ], `ws://127.0.0.1:${links[succ].port}/`, never),
        own.incoming(names[(r + n - 1) % n], never),
      ]);
      return { links: own, next, prev };
    }),
  );
}

async function closeRing(ring: Member[]): Promise<void> {
  await Promise.all(ring.map((m) => m.links.close()));
}

/** Worker r's vector: values of every magnitude, so that the order of the float32 adds shows in the bits. */
function vectorOf(r: number, floats: number): Float32Array {
  const v = new Float32Array(floats);
  for (let i = 0; i < floats; i++) v[i] = Math.sin(7 * i + r) * 10 ** ((i + 3 * r) % 7 - 3);
  return v;
}

/** Segment k summed in the ring order k, k+1, ..., k-1, in float32. */
function ringOrderSum(vectors: Float32Array[], floats: number): Float32Array {
  const n = vectors.length;
  const sum = new Float32Array(floats);
  partitionRanges(floats, n).forEach((segment, k) => {
    for (let i = segment.start; i < segment.end; i++) {
      let acc = vectors[k][i];
      for (let j = 1; j < n; j++) acc = Math.fround(acc + vectors[(k + j) % n][i]);
      sum[i] = acc;
    }
  });
  return sum;
}

function round(ring: Member[], r: number, step: number, floats: number, chunkFloats: number, overrides: Partial<RingRound> = {}): RingRound {
  return {
    step,
    attempt: 1,
    bucket: 0,
    rank: r,
    size: ring.length,
    segments: partitionRanges(floats, ring.length),
    chunkFloats,
    next: ring[r].next,
    prev: ring[r].prev,
    signal: new AbortController().signal,
    onReduced() {},
    ...overrides,
  };
}

test('n = 2 to 5 workers end with the same bits: the ring-order sum, with uneven, empty and many-piece segments', async () => {
  for (const n of [2, 3, 4, 5]) {
    const ring = await openRing(n, 10_000);
    try {
      let step = 0;
      // 40 floats over 5 workers leaves empty segments (ranges are cache-line aligned); 7-float pieces make many pieces per segment
      for (const [floats, chunkFloats] of [[1, 4], [40, 7], [1_000, 7], [10_000, 262_144], [10_000, 999]]) {
        const vectors = Array.from({ length: n }, (_, r) => vectorOf(r, floats));
        const want = ringOrderSum(vectors, floats);
        const reduced: number[] = [];
        await Promise.all(
          vectors.map((v, r) => ringAllReduce(v, round(ring, r, step, floats, chunkFloats, { onReduced: (s) => reduced.push(s.start, s.end) }))),
        );
        step++;
        for (let r = 0; r < n; r++) assert.deepEqual(vectors[r], want, `n = ${n}, ${floats} floats in pieces of ${chunkFloats}: worker ${r}`);
        assert.equal(reduced.length, 2 * n, 'onReduced once per worker');
      }
    } finally {
      await closeRing(ring);
    }
  }
});

test('the rounds are pipelined: a worker forwards a finished piece before the round it came from is over', async () => {
  // Two workers, four pieces per segment. Worker 1 holds back the last piece of its reduce-scatter
  // round until worker 0 has sent the first piece of its all-gather round. Without pipelining,
  // worker 0 would wait for that held-back piece before starting the all-gather: a deadlock.
  const floats = 1_024;
  const chunkFloats = 128; // 512-float segments: 4 pieces each
  const ring = await openRing(2, floats);
  try {
    const segments = partitionRanges(floats, 2);
    let firstAllGatherPiece!: () => void;
    const sentFirstAllGatherPiece = new Promise<void>((resolve) => (firstAllGatherPiece = resolve));
    const order: string[] = [];
    const tap = (r: number, next: Connection<PeerMessage>, hold: (m: PeerMessage & { type: 'ring' }) => Promise<void>) =>
      ({
        send: async (m: PeerMessage) => {
          if (m.type === 'ring') {
            await hold(m);
            order.push(`${r}:${m.round}:${m.offset}`);
          }
          return next.send(m);
        },
      }) as unknown as Connection<PeerMessage>;
    const next0 = tap(0, ring[0].next, async (m) => {
      if (m.round === 1 && m.offset === segments[1].start) firstAllGatherPiece();
    });
    const next1 = tap(1, ring[1].next, async (m) => {
      if (m.round === 0 && m.offset + m.values.length === segments[1].end) await sentFirstAllGatherPiece;
    });
    const vectors = [vectorOf(0, floats), vectorOf(1, floats)];
    const want = ringOrderSum(vectors, floats);
    let timer!: NodeJS.Timeout;
    const stuck = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no progress in 10 s; sends so far: ${order.join(' ')}`)), 10_000)));
    await Promise.race([
      Promise.all([
        ringAllReduce(vectors[0], round(ring, 0, 1, floats, chunkFloats, { next: next0 })),
        ringAllReduce(vectors[1], round(ring, 1, 1, floats, chunkFloats, { next: next1 })),
      ]),
      stuck,
    ]).finally(() => clearTimeout(timer));
    assert.deepEqual(vectors[0], want);
    assert.deepEqual(vectors[1], want);
    assert.ok(order.indexOf(`0:1:${segments[1].start}`) < order.indexOf(`1:0:${segments[1].end - chunkFloats}`), order.join(' '));
  } finally {
    await closeRing(ring);
  }
});

test('two buckets\' rings at once on the same links (RingDemux): each ends with the ring-order sum of its bucket, n = 2 and 3', async () => {
  for (const n of [2, 3]) {
    const floats = 3_000;
    const ring = await openRing(n, floats);
    try {
      // Two buckets in backward order, [1200, 3000) then [0, 1200); bucket 1 starts at once, while
      // bucket 0 still travels, so their pieces interleave on every link.
      const buckets = [{ start: 1_200, end: floats }, { start: 0, end: 1_200 }];
      const vectors = Array.from({ length: n }, (_, r) => vectorOf(r, floats));
      const want = Array.from({ length: n }, () => new Float32Array(floats));
      for (const b of buckets) {
        const sum = ringOrderSum(vectors.map((v) => v.slice(b.start, b.end)), b.end - b.start);
        for (const w of want) w.set(sum, b.start);
      }
      await Promise.all(
        vectors.map((v, r) => {
          const demux = new RingDemux(ring[r].prev, buckets.length, 7, 1);
          return Promise.all(
            buckets.map((b, k) => {
              const segments = partitionRanges(b.end - b.start, n).map((s) => ({ start: s.start + b.start, end: s.end + b.start }));
              return ringAllReduce(v, round(ring, r, 7, floats, 100, { bucket: k, segments, prev: demux.forBucket(k) }));
            }),
          );
        }),
      );
      for (let r = 0; r < n; r++) assert.deepEqual(vectors[r], want[r], `n = ${n}: worker ${r}`);
    } finally {
      await closeRing(ring);
    }
  }
});
