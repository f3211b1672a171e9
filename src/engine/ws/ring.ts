/**
 * The ring all-reduce between workers (Patarasuk & Yuan 2009; Baidu's ring-allreduce, as in
 * Horovod and Gloo's allreduce_ring_chunked): the vector is cut into n segments; in n-1
 * reduce-scatter rounds each worker sends one segment to its successor and adds the one it
 * receives from its predecessor, after which worker r holds the full sum of segment (r+1) mod n;
 * n-1 all-gather rounds then pass the finished segments around. Each worker sends and receives
 * 2(n-1)/n of the vector: bandwidth-optimal, but 2(n-1) latency-bound rounds.
 *
 * Determinism: segment k is always summed in the ring order k, k+1, ..., k-1 (float32 adds), so
 * a given membership gives the same bits on every run; only the worker count and order matter.
 * Segments travel in pieces of at most `chunkFloats` floats; `Connection.send` waits while the
 * link's queue is full (backpressure), and receiving runs concurrently with sending, so two
 * neighbours that both send never wait for each other.
 *
 * The reduce-scatter's add is the ring's one float loop. On loopback the ring is CPU-bound, and a
 * plain JS loop over the two Float32Arrays cost about 2 ns per element here (AMD EPYC, Node 20):
 * 0.6 ms per 1 MiB piece, a sixth of a ring worker's CPU. `addInto` runs it with f32x4 SIMD in a
 * tiny WebAssembly module of its own instead (0.12 ms per piece, its copies in and out included;
 * docs/benchmarks.md "All-reduce across hosts"). Each f32x4.add lane is the IEEE float32 sum of the
 * same two operands, and the JS fallback's double sum rounded to float32 is that same correctly
 * rounded sum, so both give the same bits (NaN payloads aside) and determinism is unchanged.
 */
import { EngineError } from '../../errors.js';
import { addHalf, decodeHalf, halfBytes, halfOf, HalfScratch, roundHalf, type Connection, type HalfKind } from '../../transport/index.js';
import type { Range } from '../../collective/index.js';
import type { PeerMessage } from './messages.js';
import { abortable, Superseded } from './peer-links.js';
import type { PieceSource } from './ring-demux.js';

export interface RingRound {
  step: number;
  attempt: number;
  /** The bucket this ring reduces (its pieces say so: two buckets' rings may share the link). */
  bucket: number;
  rank: number;
  size: number;
  segments: Range[];
  chunkFloats: number;
  next: Connection<PeerMessage>;
  /** The predecessor's pieces of this bucket (RingDemux.forBucket). */
  prev: PieceSource;
  signal: AbortSignal;
  /** Called once, after the reduce-scatter, with the segment this worker finished. */
  onReduced(segment: Range): void;
  /**
   * --compress: pieces travel as 16-bit floats (`ring16`) and are added in float32; each finished
   * segment is rounded to 16 bits by its owner, so every replica ends with the same values.
   */
  compress?: HalfKind | null;
}

/** A failure of the link from the predecessor (so the coordinator can name it). */
export class RingLinkError extends EngineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ringFailed', message, options);
  }
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * The add kernel, compiled by `asc --runtime stub -O3 --enable simd --initialMemory 2
 * --maximumMemory 2` (AssemblyScript 0.28) from:
 *
 *   export function add(dst: usize, src: usize, n: i32): void {   // dst[i] = dst[i] + src[i], i < n
 *     let i: i32 = 0;
 *     for (; i + 4 <= n; i += 4) {
 *       const o = <usize>i << 2;
 *       v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
 *     }
 *     for (; i < n; i++) {
 *       const o = <usize>i << 2;
 *       store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
 *     }
 *   }
 *
 * It owns its memory (2 pages, exported): BLOCK floats of the destination at byte 0, BLOCK of the
 * source after them. It lives here rather than in asm/collective.ts because that module imports
 * the threads engine's shared memory, and copies into a SharedArrayBuffer are several times slower
 * than into a private one (measured: 0.29 vs 0.12 ms per 1 MiB piece).
 */
const ADD_WASM =
  'AGFzbQEAAAABBwFgA39/fwADAgEABQQBAQICBxACA2FkZAAABm1lbW9yeQIACm8BbQEDfwNAIANBBGoiBCACTARAIANBAnQiAyAAaiIFIAX9AAQAIAEgA2r9AAQA/eQB/QsEACAEIQMMAQsLA0AgAiADSgRAIANBAnQiBCAAaiIFIAUqAgAgASAEaioCAJI4AgAgA0EBaiEDDAELCws=';
/** Floats per block: 64 KiB of each operand, so both stay in L1/L2 between copy, add and copy back. */
const BLOCK = 16_384;

interface WasmAdd {
  add(dst: number, src: number, n: number): void;
  memory: { buffer: ArrayBuffer };
}

/** The SIMD kernel's add over its memory, or null where WebAssembly SIMD is missing. */
const wasmAdd: ((dst: Float32Array, offset: number, src: Float32Array) => void) | null = (() => {
  const wasm = (globalThis as unknown as { WebAssembly?: { validate(b: Uint8Array): boolean; Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: unknown } } }).WebAssembly;
  const bytes = Buffer.from(ADD_WASM, 'base64');
  if (!wasm || !wasm.validate(bytes)) return null;
  const x = new wasm.Instance(new wasm.Module(bytes), {}).exports as WasmAdd;
  const memory = new Float32Array(x.memory.buffer, 0, 2 * BLOCK);
  return (dst, offset, src) => {
    for (let i = 0; i < src.length; i += BLOCK) {
      const k = Math.min(BLOCK, src.length - i);
      memory.set(dst.subarray(offset + i, offset + i + k), 0);
      memory.set(src.subarray(i, i + k), BLOCK);
      x.add(0, 4 * BLOCK, k);
      dst.set(memory.subarray(0, k), offset + i);
    }
  };
})();

/** The reference: dst[offset + i] += src[i] in float32 (one double add, rounded on the store). */
export function addIntoJs(dst: Float32Array, offset: number, src: Float32Array): void {
  for (let i = 0, n = src.length; i < n; i++) dst[offset + i] += src[i];
}

/**
 * dst[offset + i] = dst[offset + i] + src[i] in float32 for every i < src.length: the ring's
 * reduce-scatter add. Same bits with the SIMD kernel or without (see the header).
 */
export const addInto: (dst: Float32Array, offset: number, src: Float32Array) => void = wasmAdd ?? addIntoJs;

/** Which add this process uses (for the benchmark's header line). */
export const addKernel: 'wasm-simd' | 'js' = wasmAdd ? 'wasm-simd' : 'js';

/** The 16-bit pieces' output, reused by every ring of this thread (send copies each at once). */
const sendScratch = new HalfScratch();

/**
 * All-reduces `buffer` (this worker's gradient sum) in place over the ring.
 *
 * The 2(n-1) rounds are pipelined piece by piece, as NCCL's and Gloo's chunked rings do: the
 * segment received in round t is the one sent in round t+1, with the same piece boundaries, so a
 * piece is forwarded as soon as it has been added (or copied), not when the whole round is over.
 * The wire order is unchanged (round by round, pieces in order); only the bubble at each round
 * boundary is gone, where each worker used to wait for a piece while its own queue was empty.
 */
export async function ringAllReduce(buffer: Float32Array, r: RingRound): Promise<void> {
  const n = r.size;
  const half = r.compress ?? null;
  if (n === 1) {
    if (half) roundHalf(half, buffer.subarray(r.segments[0].start, r.segments[0].end));
    r.onReduced(r.segments[0]);
    return;
  }
  const rounds = 2 * (n - 1);
  // reduce-scatter round t < n-1 sends segment (rank - t) and adds (rank - t - 1) into its own;
  // all-gather round t = n-1+s sends the finished segment (rank + 1 - s) and stores (rank - s).
  const sendSegment = (t: number) => r.segments[t < n - 1 ? mod(r.rank - t, n) : mod(r.rank + 1 - (t - (n - 1)), n)];
  const receiveSegment = (t: number) => r.segments[t < n - 1 ? mod(r.rank - t - 1, n) : mod(r.rank - (t - (n - 1)), n)];
  const progress = new RoundProgress();
  const sending = (async () => {
    const scratch = half ? sendScratch : null;
    for (let t = 0; t < rounds; t++) {
      const segment = sendSegment(t);
      for (const [start, end] of pieces(segment, r.chunkFloats)) {
        if (t > 0 && !progress.reached(t - 1, end - segment.start)) await abortable(progress.until(t - 1, end - segment.start), r.signal, 'a ring send');
        const values = buffer.subarray(start, end);
        const piece = { step: r.step, attempt: r.attempt, bucket: r.bucket, round: t, offset: start };
        const message: PeerMessage = half ? { type: 'ring16', ...piece, packed: halfBytes(scratch!.encode(half, values)) } : { type: 'ring', ...piece, values };
        await abortable(r.next.send(message), r.signal, 'a ring send');
      }
    }
  })();
  const receiving = (async () => {
    try {
      for (let t = 0; t < rounds; t++) {
        const segment = receiveSegment(t);
        for (const [start, end] of pieces(segment, r.chunkFloats)) {
          const m = await nextPiece(r, t, start, segment);
          if (m.offset + m.length !== end || (half === null) !== (m.type === 'ring')) {
            throw new RingLinkError(`the predecessor sent piece [${m.offset}, ${m.offset + m.length}) of round ${t}${m.type === 'ring16' ? ' in 16 bits' : ''}; expected [${start}, ${end})${half ? ' in 16 bits' : ''}`);
          }
          if (m.type === 'ring') {
            if (t < n - 1) addInto(buffer, start, m.values);
            else buffer.set(m.values, start);
          } else {
            if (t < n - 1) addHalf(half!, m.half, buffer, start);
            else decodeHalf(half!, m.half, buffer, start);
            // The owner's finished piece: rounded as every other replica will receive it.
            if (t === n - 2) roundHalf(half!, buffer.subarray(start, end));
          }
          progress.advance(t, end - segment.start);
        }
        if (t === n - 2) r.onReduced(segment);
      }
    } catch (error) {
      progress.fail(error);
      throw error;
    }
  })();
  // Both must finish; if one fails, the other is abandoned by the caller's abort.
  await Promise.all([sending, receiving]);
}

/** A segment's pieces: [start, end) of at most `chunk` floats; an empty segment is one empty piece, so rounds stay in step. */
function* pieces(segment: Range, chunk: number): Generator<[number, number]> {
  if (segment.end === segment.start) {
    yield [segment.start, segment.end];
    return;
  }
  for (let start = segment.start; start < segment.end; start += chunk) yield [start, Math.min(segment.end, start + chunk)];
}

type Piece = (PeerMessage & { type: 'ring'; length: number }) | (PeerMessage & { type: 'ring16'; length: number; half: Uint16Array });

/** The predecessor's next piece of this attempt, which must be round `round` at `offset` within `segment`. */
async function nextPiece(r: RingRound, round: number, offset: number, segment: Range): Promise<Piece> {
  for (;;) {
    const m = await r.prev.next(r.signal).catch((error: unknown) => {
      if (error instanceof Superseded) throw error;
      throw new RingLinkError(`the ring link from the predecessor failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    });
    if (m.step < r.step || (m.step === r.step && m.attempt < r.attempt)) continue; // a piece of an abandoned attempt
    if (m.step > r.step || m.attempt > r.attempt) {
      r.prev.unshift(m); // the predecessor is already in a later attempt; ours is being replaced
      throw new Superseded('this ring attempt');
    }
    const piece: Piece = m.type === 'ring' ? { ...m, length: m.values.length } : { ...m, half: halfOf(m.packed), length: m.packed.length >>> 1 };
    if (m.bucket !== r.bucket || m.round !== round || m.offset !== offset || m.offset + piece.length > segment.end || (m.type === 'ring16' && m.packed.length % 2 !== 0)) {
      throw new RingLinkError(
        `the predecessor sent piece [${m.offset}, ${m.offset + piece.length}) of bucket ${m.bucket}, round ${m.round}; expected bucket ${r.bucket}, round ${round} at offset ${offset} within [${segment.start}, ${segment.end})`,
      );
    }
    return piece;
  }
}

/** How far the receiver has got (round, floats of that round's segment), for the sender to wait on. */
class RoundProgress {
  #round = -1;
  #floats = 0;
  #failure: { error: unknown } | null = null;
  #waiters: { round: number; floats: number; resolve(): void; reject(error: unknown): void }[] = [];

  /** Whether the receiver has processed `floats` floats of round `round` (or a later round). */
  reached(round: number, floats: number): boolean {
    return this.#round > round || (this.#round === round && this.#floats >= floats);
  }

  /** Resolves once `reached(round, floats)`; rejects with the receiver's error if it fails first. */
  until(round: number, floats: number): Promise<void> {
    if (this.reached(round, floats)) return Promise.resolve();
    if (this.#failure) return Promise.reject(this.#failure.error);
    return new Promise((resolve, reject) => this.#waiters.push({ round, floats, resolve, reject }));
  }

  advance(round: number, floats: number): void {
    this.#round = round;
    this.#floats = floats;
    this.#waiters = this.#waiters.filter((w) => {
      if (!this.reached(w.round, w.floats)) return true;
      w.resolve();
      return false;
    });
  }

  /** The receiver failed: the sender stops waiting (its rejection is the receiver's error, already reported). */
  fail(error: unknown): void {
    this.#failure = { error };
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }
}
