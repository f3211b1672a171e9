/**
 * The shared-memory all-reduce's reduce-scatter step: every worker owns one range of the
 * parameters and sums that range over all workers' gradient slots, in worker order (never
 * arrival order), so the same worker count always gives the same bits.
 *
 * This is the JavaScript reference and fallback of the WebAssembly kernel `reduce` in
 * asm/collective.ts (driven by src/collective/wasm.ts). Both give the same bits, because both
 * follow one order of operations:
 * - element j of the sum is ((slot_0[j] + slot_1[j]) + slot_2[j]) + ... in float32, slot order.
 *   For two slots that is the exact sum rounded once (as a float64 sum rounded once would be);
 *   for three or more it lets the kernel keep partial sums in the output and stream the slots in
 *   groups, about 3x faster than a float64 accumulator (docs/architecture.md, "The threads
 *   engine"). The rounding it adds, at most (n − 1) float32 roundings per element, is far below
 *   the noise of SGD and is the same for every run with the same slot count.
 * - a squared norm over [start, end): element j goes to lane (j − start) & 3. Within a chunk of
 *   32 elements from start (the last 1-3 elements of a range whose length is not a multiple of 4
 *   form a chunk of their own) each lane adds float32 squares in float32; each chunk's lane sums
 *   are added to four float64 lanes, combined at the end as (l0 + l2) + (l1 + l3). At most 8
 *   float32 additions per lane and chunk keep a norm within about 5e-7 (relative) of the exact
 *   value, plenty for clipping and the gradient noise scale, at half the cost of float64 squares.
 *   A norm outside [2^-70, ∞) (a float32 square that overflowed, a NaN, or float32 squares that
 *   underflow) is computed again from exact float64 squares (normSq64), so a finite gradient
 *   always has a finite norm and an infinite or NaN one is reported as such.
 */

export interface ReduceRangeResult {
  /** Σ over the range of reduced², for the global gradient norm. */
  sumSq: number;
  /** Per slot, Σ over the range of slot², for the per-shard norms of the gradient noise scale. */
  slotSumSq: Float64Array;
}

/** Elements per chunk of the float32 norm accumulators. */
export const NORM_CHUNK = 32;
/** Norms below this, or not finite, are recomputed in float64. */
export const NORM_MIN = 2 ** -70;

const fround = Math.fround;

/**
 * out[j] = slots[0][j] + slots[1][j] + ... + slots[n-1][j] for j in [start, end), added in
 * float32 in slot order. The squared norms come from the same pass, so they cost no extra
 * memory traffic. slots: [n, length] row-major (one row per worker), out: [length].
 */
export function reduceSlotsRange(
  slots: Float32Array,
  n: number,
  length: number,
  out: Float32Array,
  start: number,
  end: number,
): ReduceRangeResult {
  if (!Number.isInteger(n) || n < 1 || slots.length < n * length || out.length < length) {
    throw new RangeError(`reduce of ${n} slots of ${length}: slots[${slots.length}], out[${out.length}]`);
  }
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > length) {
    throw new RangeError(`range [${start}, ${end}) is not within [0, ${length})`);
  }
  // lanes[4i + k]: float64 lane k of norm i (slot i < n; the sum for i = n); f: a chunk's float32 lanes.
  const lanes = new Float64Array(4 * (n + 1));
  if (n <= 2) reduceFewInto(slots, n, length, out, start, end, lanes);
  else reduceManyInto(slots, n, length, out, start, end, lanes);
  const norm = (i: number, array: Float32Array, offset: number): number => {
    const l = lanes[4 * i] + lanes[4 * i + 2] + (lanes[4 * i + 1] + lanes[4 * i + 3]);
    return l >= NORM_MIN && l < Infinity ? l : normSq64(array, offset + start, offset + end);
  };
  const slotSumSq = new Float64Array(n);
  for (let s = 0; s < n; s++) slotSumSq[s] = norm(s, slots, s * length);
  return { sumSq: norm(n, out, 0), slotSumSq };
}

/**
 * Σ x² over [start, end) with the bits the reduce gives one slot's norm: through `kernel` (the wasm
 * kernel, reading only) when there is one, else through the JS reference, which rewrites x's values
 * in place with the same values (one slot reduced into itself).
 */
export function slotNormSq(x: Float32Array, start: number, end: number, kernel: { normSq(x: Float32Array, start: number, end: number): number } | null): number {
  return kernel ? kernel.normSq(x, start, end) : reduceSlotsRange(x, 1, x.length, x, start, end).sumSq;
}

/**
 * Σ x² over [start, end) in float64 from exact squares, in four lanes by (j − start) & 3,
 * combined as (l0 + l2) + (l1 + l3) (the kernel normSq64 in asm/collective.ts).
 */
export function normSq64(x: Float32Array, start: number, end: number): number {
  const l = [0, 0, 0, 0];
  for (let j = start; j < end; j++) {
    const v = x[j];
    l[(j - start) & 3] += v * v;
  }
  return l[0] + l[2] + (l[1] + l[3]);
}

/** The chunks of [start, end): 32 elements at a time, then the last 1-3 on their own. */
function chunkEnd(c: number, start: number, end: number): number {
  const body = start + ((end - start) & ~3);
  return c < body ? Math.min(c + NORM_CHUNK, body) : end;
}

/**
 * One or two slots, with the lane accumulators in locals (the common case on 2 cores): the body
 * four elements at a time, then the 1-3 left as a chunk of their own (through the general loop).
 */
function reduceFewInto(slots: Float32Array, n: number, length: number, out: Float32Array, start: number, end: number, lanes: Float64Array): void {
  const body = start + ((end - start) & ~3);
  if (n === 1) reduceOneBody(slots, out, start, body, lanes);
  else reduceTwoBody(slots, length, out, start, body, lanes);
  if (body < end) reduceManyInto(slots, n, length, out, body, end, lanes, start);
}

function reduceOneBody(slots: Float32Array, out: Float32Array, start: number, body: number, lanes: Float64Array): void {
  for (let c = start; c < body; c += NORM_CHUNK) {
    const ce = Math.min(c + NORM_CHUNK, body);
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (let j = c; j < ce; j += 4) {
      const x0 = slots[j], x1 = slots[j + 1], x2 = slots[j + 2], x3 = slots[j + 3];
      out[j] = x0;
      out[j + 1] = x1;
      out[j + 2] = x2;
      out[j + 3] = x3;
      a0 = fround(a0 + fround(x0 * x0));
      a1 = fround(a1 + fround(x1 * x1));
      a2 = fround(a2 + fround(x2 * x2));
      a3 = fround(a3 + fround(x3 * x3));
    }
    // The one slot is the sum: both norms get the same lanes.
    lanes[0] += a0;
    lanes[1] += a1;
    lanes[2] += a2;
    lanes[3] += a3;
    lanes[4] += a0;
    lanes[5] += a1;
    lanes[6] += a2;
    lanes[7] += a3;
  }
}

function reduceTwoBody(slots: Float32Array, length: number, out: Float32Array, start: number, body: number, lanes: Float64Array): void {
  for (let c = start; c < body; c += NORM_CHUNK) {
    const ce = Math.min(c + NORM_CHUNK, body);
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0; // slot 0
    let b0 = 0, b1 = 0, b2 = 0, b3 = 0; // slot 1
    let r0 = 0, r1 = 0, r2 = 0, r3 = 0; // the sum
    for (let j = c; j < ce; j += 4) {
      const x0 = slots[j], x1 = slots[j + 1], x2 = slots[j + 2], x3 = slots[j + 3];
      const y0 = slots[length + j], y1 = slots[length + j + 1], y2 = slots[length + j + 2], y3 = slots[length + j + 3];
      const s0 = fround(x0 + y0), s1 = fround(x1 + y1), s2 = fround(x2 + y2), s3 = fround(x3 + y3);
      out[j] = s0;
      out[j + 1] = s1;
      out[j + 2] = s2;
      out[j + 3] = s3;
      a0 = fround(a0 + fround(x0 * x0));
      a1 = fround(a1 + fround(x1 * x1));
      a2 = fround(a2 + fround(x2 * x2));
      a3 = fround(a3 + fround(x3 * x3));
      b0 = fround(b0 + fround(y0 * y0));
      b1 = fround(b1 + fround(y1 * y1));
      b2 = fround(b2 + fround(y2 * y2));
      b3 = fround(b3 + fround(y3 * y3));
      r0 = fround(r0 + fround(s0 * s0));
      r1 = fround(r1 + fround(s1 * s1));
      r2 = fround(r2 + fround(s2 * s2));
      r3 = fround(r3 + fround(s3 * s3));
    }
    lanes[0] += a0;
    lanes[1] += a1;
    lanes[2] += a2;
    lanes[3] += a3;
    lanes[4] += b0;
    lanes[5] += b1;
    lanes[6] += b2;
    lanes[7] += b3;
    lanes[8] += r0;
    lanes[9] += r1;
    lanes[10] += r2;
    lanes[11] += r3;
  }
}

/**
 * Any number of slots: one pass over j with the slots as n parallel streams. `laneStart` is the
 * start of the whole range (lanes count from it; the tail of reduceFewInto starts at a multiple of 4 past it).
 */
function reduceManyInto(slots: Float32Array, n: number, length: number, out: Float32Array, start: number, end: number, lanes: Float64Array, laneStart = start): void {
  const f = new Float32Array(4 * (n + 1)); // float32 storage rounds each partial lane sum
  for (let c = start; c < end; ) {
    const ce = chunkEnd(c, start, end);
    f.fill(0);
    for (let j = c; j < ce; j++) {
      const k = (j - laneStart) & 3;
      let acc = slots[j];
      f[k] += fround(acc * acc);
      for (let s = 1; s < n; s++) {
        const v = slots[s * length + j];
        f[4 * s + k] += fround(v * v);
        acc = fround(acc + v);
      }
      out[j] = acc;
      f[4 * n + k] += fround(acc * acc);
    }
    for (let i = 0; i < f.length; i++) lanes[i] += f[i];
    c = ce;
  }
}
