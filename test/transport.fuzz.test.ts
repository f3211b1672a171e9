// Seeded fuzzing of decode + validate (issue 6, wire hardening): thousands of random and mutated
// frames. No crash, no hang (every decode under 1 s), no prototype pollution, no heap blow-up,
// and every frame either accepted as a valid message or refused with a counted reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { Codec, TransportError } from '../src/transport/index.js';
import { seeded, testMessages } from './transport.helpers.js';

const SEED = 20_240_601;
const BUDGET_MS = 4_000; // the test stops generating after this, whatever the count
const MAX_FRAMES = 20_000;
const dims = { params: 16 };

/**
 * Runs `accept` (decode and validate `frame`); true if it passed. A refusal must be a counted
 * `badFrame`/`badMessage` TransportError, added to `counts` by `problem:reason`; anything else
 * (a crash, a wrong error) fails the test, naming frame `n`.
 */
function acceptOrCount(frame: Uint8Array, n: number, counts: Map<string, number>, accept: () => void): boolean {
  try {
    accept();
    return true;
  } catch (error) {
    if (!(error instanceof TransportError) || (error.problem !== 'badFrame' && error.problem !== 'badMessage')) {
      assert.fail(`frame ${n} (${Buffer.from(frame.subarray(0, 32)).toString('hex')}) threw ${String(error)}`);
    }
    const key = `${error.problem}:${error.reason}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return false;
  }
}

test('thousands of random and mutated frames are each accepted or refused with a counted reason', () => {
  const random = seeded(SEED);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const codec = new Codec({ maxPayload: 1 << 20 });
  const carelessPackr = new Packr({ useRecords: true, moreTypes: true, structuredClone: true });
  const plainPackr = new Packr({ moreTypes: true, useRecords: false });

  const keys = ['type', 'step', 'data', 'seq', 'text', 'shard', 'start', 'end', '__proto__', 'constructor', 'prototype', 'x'];
  const randomValue = (depth: number): unknown => {
    switch (int(depth > 3 ? 8 : 11)) {
      case 0: return int(1000) - 500;
      case 1: return random() * 1e6;
      case 2: return pick([NaN, Infinity, -0, 2 ** 53 + 2, -(2 ** 63)]);
      case 3: return pick(['grad', 'chunk', 'note', 'hello', '', 'x'.repeat(int(200))]);
      case 4: return pick([true, false, null]);
      case 5: return new Float32Array(pick([0, 1, 12, 16, 17]));
      case 6: return pick([new Float64Array(16), new Uint8Array(8), new Int32Array(3)]);
      case 7: return Buffer.alloc(int(40));
      case 8: return Array.from({ length: int(5) }, () => randomValue(depth + 1));
      case 9: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(keys), randomValue(depth + 1)]));
      default: return pick([new Set([1]), new Date(0), /a+/, new Error('e'), new Map([[1, 2]])]);
    }
  };
  const validMessage = (): unknown =>
    pick([
      { type: 'grad', step: int(100), data: new Float32Array(16) },
      { type: 'chunk', seq: int(10), data: new Float32Array(int(64)) },
      { type: 'note', text: 'hi', shard: { start: 0, end: 8 } },
    ]);
  const hostile = (): Uint8Array => {
    const lengths = [0xffffffff, 0x7fffffff, 0x10000, 0x1312d00, int(0xffffffff)];
    switch (int(8)) {
      case 0: { // huge length prefixes
        const header = pick([0xdd, 0xdf, 0xdb, 0xc6, 0xc9]);
        const frame = Buffer.alloc(5 + int(8));
        frame[0] = header;
        frame.writeUInt32BE(pick(lengths), 1);
        return frame;
      }
      case 1: return Buffer.alloc(1 + int(5_000), pick([0x91, 0x81, 0xdc])); // deep nesting
      case 2: { // forbidden keys, as fixstr or str8
        const key = Buffer.from(pick(['__proto__', 'constructor', 'prototype']));
        return Buffer.concat([Buffer.from([0x81]), random() < 0.5 ? Buffer.from([0xa0 + key.length]) : Buffer.from([0xd9, key.length]), key, Buffer.from([0x81, 0xa1, 0x70, 0xc3])]);
      }
      case 3: return carelessPackr.pack(Array.from({ length: 3 }, () => ({ type: 'note', text: 'r', n: int(9) }))); // records
      case 4: return Buffer.from([pick([0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7]), int(256), int(256), int(256), int(256), int(256)]); // random ext
      case 5: { // array16 chains (msgpackr PR #200)
        const chain = Buffer.alloc(3 * (1 + int(30_000)));
        for (let i = 0; i < chain.length; i += 3) chain.set([0xdc, 0xff, 0xff], i);
        return chain;
      }
      case 6: return carelessPackr.pack(randomValue(0)); // structured clone, sets, regexps, errors
      default: return Buffer.from([0xc7, int(256), 0x74, int(20), ...Array.from({ length: int(12) }, () => int(256))]); // odd typed arrays
    }
  };
  const mutate = (frame: Uint8Array): Uint8Array => {
    const out = Buffer.from(frame);
    switch (int(5)) {
      case 0: for (let i = 0, n = 1 + int(4); i < n && out.length; i++) out[int(out.length)] ^= 1 << int(8); return out;
      case 1: for (let i = 0, n = 1 + int(4); i < n && out.length; i++) out[int(out.length)] = int(256); return out;
      case 2: return out.subarray(0, int(out.length + 1)); // truncate
      case 3: return Buffer.concat([out, Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)))]); // trailing bytes
      default: { const at = int(out.length + 1); return Buffer.concat([out.subarray(0, at), Buffer.from([int(256)]), out.subarray(at)]); } // insert
    }
  };

  const counts = new Map<string, number>();
  let accepted = 0;
  let frames = 0;
  let slowest = 0;
  const heapBefore = process.memoryUsage().heapUsed;
  const start = Date.now();
  while (frames < MAX_FRAMES && Date.now() - start < BUDGET_MS) {
    let frame: Uint8Array;
    switch (int(5)) {
      case 0: frame = Buffer.from(Array.from({ length: int(64) }, () => int(256))); break;
      case 1: frame = mutate(plainPackr.pack(validMessage())); break;
      case 2: frame = hostile(); break;
      case 3: frame = random() < 0.5 ? mutate(hostile()) : plainPackr.pack(randomValue(0)); break;
      default: frame = plainPackr.pack(validMessage()); break;
    }
    frames++;
    const t0 = performance.now();
    const ok = acceptOrCount(frame, frames, counts, () => {
      const message = testMessages.validate(codec.decode(frame), dims);
      assert.ok(testMessages.has(message.type));
    });
    if (ok) accepted++;
    slowest = Math.max(slowest, performance.now() - t0);
  }
  const refused = [...counts.values()].reduce((a, b) => a + b, 0);
  const table = Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)));
  console.log(`fuzz: ${frames} frames in ${Date.now() - start} ms, ${accepted} accepted, ${refused} refused, slowest ${slowest.toFixed(1)} ms`, table);

  assert.ok(frames >= 2_000, `only ${frames} frames in the time budget`);
  assert.equal(accepted + refused, frames, 'every frame is accounted for');
  assert.ok(accepted > 0 && refused > 0);
  // the codec counted every frame refusal it made, by the same reasons
  for (const [key, n] of counts) if (key.startsWith('badFrame:')) assert.equal(codec.rejections.get(key), n, key);
  assert.ok(slowest < 1000, `slowest decode took ${slowest} ms`); // a hang, not a slow moment: GC pauses on a loaded 2-core machine reach ~250 ms
  assert.equal(({} as Record<string, unknown>).p, undefined);
  assert.equal(Object.getOwnPropertyNames(Object.prototype).includes('p'), false);
  assert.ok(process.memoryUsage().heapUsed - heapBefore < 256 * 1024 * 1024, 'heap stayed bounded');
  // the structural scan catches what msgpackr would choke on: msgpackr itself never had to refuse
  assert.equal(counts.get('badFrame:decodeFailed') ?? 0, 0, 'frames that passed the scan but msgpackr refused');
});

// The engine's own messages (src/engine/ws/messages.ts) through the same decode + validate path:
// valid messages of every type, then mutated field by field (removed, retyped, out of range,
// NaN, wrong-length tensors, unknown and forbidden fields, nested objects broken). Every frame
// is accepted as a message that validates again to itself, or refused with a counted reason.
test('mutated ws-engine messages of every type are each accepted or refused with a counted reason, within a bounded heap', async () => {
  const { coordinatorMessages, peerMessages } = await import('../src/engine/ws/messages.js');
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const random = seeded(SEED + 1);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const P = 16;
  const engineDims = { params: P, dataChunk: 64 };
  const codec = new Codec({ maxPayload: 1 << 20 });
  const packr = new Packr({ moreTypes: true, useRecords: false });
  const f32 = (n: number) => new Float32Array(n).map((_, i) => i / 7);
  const hash = `sha256:${'ab'.repeat(32)}`;
  const sums = { lossSum: 1.5, correct: 3, count: 10, gradSumSq: 2, nonFinite: false, computeMs: 1.25 };
  const samples: Record<string, unknown>[] = [
    { type: 'setup', model: 'mlp:2-3-2', numParams: P, dataset: 'synthetic:spirals', datasetHash: hash, trainHash: hash, valSplit: 0.1, standardize: false, seed: 1,
      optimizer: { name: 'adam', momentum: 0, nesterov: false, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, microBatch: 0, kernels: 'wasm', chunks: 0, ring: true, ringChunkFloats: 8,
      buckets: [{ start: 8, end: 16 }, { start: 0, end: 8 }], overlap: true, compress: 'bf16', compressFeedback: false },
    { type: 'dataChunk', array: 'x', offset: 0, values: f32(64) },
    { type: 'state', version: 3, params: f32(P) },
    { type: 'optimizerState', name: 'exp_avg', values: f32(P) },
    { type: 'step', epoch: 0, step: 4, attempt: 1, version: 4, start: 0, end: 30, algorithm: 'ring',
      ring: { rank: 0, size: 2, segments: [{ start: 0, end: 8 }, { start: 8, end: 16 }], nextName: 'w2', nextUrl: 'ws://127.0.0.1:9/', prevName: 'w2' } },
    { type: 'step', epoch: 0, step: 4, attempt: 2, version: 4, start: 0, end: 30, algorithm: 'star', chunks: { first: 0, rows: [{ start: 0, end: 15 }] } },
    { type: 'update', step: 4, version: 5, lr: 0.01, gradScale: 0.1, t: 5, hash: true, gradient: f32(P) },
    { type: 'update', step: 4, version: 5, lr: 0.01, gradScale: 0.1, t: 5, hash: false, packed: new Uint8Array(2 * P) },
    { type: 'skip', step: 4, version: 4 },
    { type: 'probe', step: 4, attempt: 1 },
    { type: 'done', reason: 'the run is over' },
    { type: 'ready', datasetHash: hash, trainHash: hash, numParams: P, kernels: 'js', ringPort: 4000 },
    { type: 'grad', step: 4, attempt: 1, ...sums },
    { type: 'grad', step: 4, attempt: 1, ...sums, timeline: { computeMs: 3, buckets: [{ readyMs: 1, startMs: 1.5, endMs: 4 }] } },
    { type: 'part', step: 4, attempt: 1, offset: 8, values: f32(8) },
    { type: 'part', step: 4, attempt: 1, offset: 8, packed: new Uint8Array(16) },
    { type: 'chunkGrad', step: 4, attempt: 1, chunk: 0, ...sums, gradient: f32(P) },
    { type: 'computed', step: 4, attempt: 1, computeMs: 3 },
    { type: 'ringResult', step: 4, attempt: 1, ...sums },
    { type: 'ringFailed', step: 4, attempt: 1, peer: 'w2', reason: 'reset' },
    { type: 'probeReply', step: 4, attempt: 1 },
    { type: 'hash', version: 5, digest: 'ab'.repeat(32) },
    { type: 'leave', reason: 'Ctrl-C' },
  ];
  for (const m of samples) coordinatorMessages.validate(codec.decode(packr.pack(m)), engineDims); // the samples are valid
  const ring = { type: 'ring', step: 4, attempt: 1, bucket: 0, round: 0, offset: 0, values: f32(8) };
  peerMessages.validate(codec.decode(packr.pack(ring)), engineDims);
  peerMessages.validate(codec.decode(packr.pack({ type: 'ring16', step: 4, attempt: 1, bucket: 0, round: 0, offset: 0, packed: new Uint8Array(16) })), engineDims);

  const oddValues = [undefined, null, true, -1, 1.5, 2 ** 53, -0, NaN, Infinity, '', 'x'.repeat(2_000), 'ws://x', [], {}, { __proto__: null, a: 1 },
    new Float32Array(P + 1), new Float32Array(0), new Float64Array(P), new Uint8Array(P * 4), Buffer.alloc(32), [1, 2, 3], { start: 0 }];
  const mutate = (value: unknown, depth: number): unknown => {
    if (depth > 3 || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return random() < 0.5 ? pick(oddValues) : value;
    if (Array.isArray(value)) return value.length > 0 && random() < 0.7 ? value.map((v) => (random() < 0.3 ? mutate(v, depth + 1) : v)) : pick(oddValues);
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(out);
    switch (int(5)) {
      case 0: delete out[pick(keys)]; break;
      case 1: out[pick(['extra', 'admin', 'constructor', 'prototype', 'toString'])] = pick(oddValues); break;
      case 2: out.type = pick(['grad', 'hello', 'skip', 'Grad', '', 'ring', 'welcome', 'refuse']); break;
      default: { const k = pick(keys); out[k] = mutate(out[k], depth + 1); }
    }
    return out;
  };

  const counts = new Map<string, number>();
  let accepted = 0;
  let frames = 0;
  let slowest = 0;
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const start = Date.now();
  while (frames < MAX_FRAMES && Date.now() - start < BUDGET_MS) {
    const toPeer = random() < 0.1;
    const base = toPeer ? ring : pick(samples);
    let frame: Uint8Array;
    try {
      frame = packr.pack(mutate(base, 0));
    } catch {
      continue; // msgpackr cannot pack it (undefined at the top, say): nothing would reach the wire
    }
    if (random() < 0.2) frame = Buffer.concat([Buffer.from(frame).subarray(0, int(frame.length + 1)), Buffer.from([int(256)])]);
    frames++;
    const set = toPeer ? peerMessages : coordinatorMessages;
    const t0 = performance.now();
    const ok = acceptOrCount(frame, frames, counts, () => {
      const message = set.validate(codec.decode(frame), engineDims);
      // Accepted: the result is a message of the set, and checking it again changes nothing.
      assert.deepEqual(set.validate(message, engineDims), message);
    });
    if (ok) accepted++;
    slowest = Math.max(slowest, performance.now() - t0);
  }
  gc();
  const grown = process.memoryUsage().heapUsed - heapBefore;
  const refused = [...counts.values()].reduce((a, b) => a + b, 0);
  console.log(`engine fuzz: ${frames} frames, ${accepted} accepted, ${refused} refused, slowest ${slowest.toFixed(1)} ms, heap ${(grown / 1024 / 1024).toFixed(1)} MB`, Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b))));
  assert.ok(frames >= 2_000, `only ${frames} frames in the time budget`);
  assert.equal(accepted + refused, frames);
  assert.ok(accepted > 0 && refused > 0);
  for (const reason of ['missingField', 'unknownField', 'wrongType', 'wrongLength', 'unknownType']) assert.ok(counts.has(`badMessage:${reason}`), `no frame was refused for ${reason}`);
  for (const [key, n] of counts) if (key.startsWith('badFrame:')) assert.equal(codec.rejections.get(key), n, key);
  assert.ok(slowest < 1000, `slowest decode took ${slowest} ms`); // a hang, not a slow moment: GC pauses on a loaded 2-core machine reach ~250 ms
  assert.equal(({} as Record<string, unknown>).a, undefined);
  assert.ok(grown < 32 * 1024 * 1024, `heap grew by ${grown} bytes`);
});

// Large Float32Arrays travel as the aligned extension 0x61 (src/transport/aligned-arrays.ts) and
// decode to a view of the frame. Mutations aimed at its header, padding count, padding bytes and
// trailer, and shifts that break the alignment, are each refused with a counted reason or decode
// to arrays that own exactly their bytes: a view never reaches past its extension.
test('mutated frames holding aligned large Float32Arrays are each accepted or refused with a counted reason', () => {
  const random = seeded(SEED + 2);
  const int = (n: number) => Math.floor(random() * n);
  const codec = new Codec();
  const counts = new Map<string, number>();
  let accepted = 0;
  let views = 0;
  const FRAMES = 3_000;
  for (let n = 1; n <= FRAMES; n++) {
    const floats = 16_384 + int(40);
    const values = new Float32Array(floats).map((_, i) => i * 0.25);
    const frame = Buffer.from(codec.encode({ type: 'x'.repeat(1 + int(8)), values, tail: int(3) }));
    const ext = frame.indexOf(0x61, frame.indexOf(Buffer.from('values')) + 6); // the extension's type byte
    const k = frame[ext + 2];
    const trailer = ext + 3 + k + 4 * floats; // the 7 - k zero bytes after the array
    let mutated: Buffer;
    switch (int(7)) {
      case 0: mutated = frame; mutated[ext - 5 + int(6)] ^= 1 << int(8); break; // the ext32 header or type byte
      case 1: mutated = frame; mutated[ext + 1] = int(12); break; // the type code
      case 2: mutated = frame; mutated[ext + 2] = int(256); break; // the padding count
      case 3: mutated = frame; if (k > 0) mutated[ext + 3 + int(k)] = 1 + int(255); else mutated[ext + 2] = 1 + int(7); break; // a padding byte
      case 4: mutated = frame; if (7 - k > 0) mutated[trailer + int(7 - k)] = 1 + int(255); else mutated[ext + 2] = int(7); break; // a trailer byte
      case 5: { const at = int(ext + 1); mutated = Buffer.concat([frame.subarray(0, at), Buffer.from([0xc0]), frame.subarray(at)]); break; } // shift it
      default: mutated = frame.subarray(0, trailer + int(7 - k + 1)); break; // truncated in the trailer
    }
    const copy = Buffer.from(mutated); // a buffer of its own at offset 0, as ws hands frames over
    if (
      acceptOrCount(copy, n, counts, () => {
        const decoded = codec.decode(copy) as Record<string, unknown>;
        for (const value of Object.values(decoded)) {
          if (!(value instanceof Float32Array)) continue;
          if (value.buffer === copy.buffer) {
            views++;
            assert.ok(value.byteOffset % 4 === 0 && value.byteOffset + value.byteLength <= copy.length);
          } else assert.equal(value.buffer.byteLength, value.byteLength);
        }
      })
    ) accepted++;
  }
  const refused = [...counts.values()].reduce((a, b) => a + b, 0);
  console.log(`aligned-array fuzz: ${FRAMES} frames, ${accepted} accepted (${views} views), ${refused} refused`, Object.fromEntries(counts));
  assert.equal(accepted + refused, FRAMES);
  assert.ok(refused > FRAMES / 3 && views > 0, 'both outcomes occurred');
  for (const [key, n] of counts) if (key.startsWith('badFrame:')) assert.equal(codec.rejections.get(key), n, key);
  assert.equal(counts.get('badFrame:decodeFailed') ?? 0, 0, 'frames that passed the scan but msgpackr refused');
});
