/**
 * The shared-memory all-reduce's reduce-scatter step: every worker owns one range of the
 * parameters and sums that range over all workers' gradient slots, in worker order (never
 * arrival order), so the same worker count always gives the same bits.
 */

export interface ReduceRangeResult {
  /** Σ over the range of reduced², for the global gradient norm. */
  sumSq: number;
  /** Per slot, Σ over the range of slot², for the per-shard norms of the gradient noise scale. */
  slotSumSq: Float64Array;
}

/**
 * out[j] = slots[0][j] + slots[1][j] + ... + slots[n-1][j] for j in [start, end), added in
 * float64 in slot order and rounded once to float32. The squared norms come from the same pass,
 * so they cost no extra memory traffic.
 * slots: [n, length] row-major (one row per worker), out: [length].
 */
export function reduceSlotsRange(
  slots: Float32Array,
  n: number,
  length: number,
  out: Float32Array,
  start: number,
  end: number,
): ReduceRangeResult {
  const slotSumSq = new Float64Array(n);
  let sumSq = 0;
  if (n === 1) {
    // One worker: the slot is the sum; copy it (the view may be shared by the caller).
    let sq = 0;
    for (let j = start; j < end; j++) {
      const v = slots[j];
      out[j] = v;
      sq += v * v;
    }
    slotSumSq[0] = sq;
    return { sumSq: sq, slotSumSq };
  }
  // One pass over j with the slots as n parallel streams (hardware prefetchers follow a few
  // streams well); the per-slot squares ride along in locals for the common n ≤ 4.
  if (n === 2) return reduceTwo(slots, length, out, start, end);
  const sq = new Float64Array(n);
  for (let j = start; j < end; j++) {
    let acc = slots[j];
    sq[0] += acc * acc;
    for (let s = 1; s < n; s++) {
      const v = slots[s * length + j];
      acc += v;
      sq[s] += v * v;
    }
    const r = Math.fround(acc);
    out[j] = r;
    sumSq += r * r;
  }
  slotSumSq.set(sq);
  return { sumSq, slotSumSq };
}

/** n = 2, the common case on a 2-core machine: a + b in float64 rounded once is the exact float32 sum. */
function reduceTwo(slots: Float32Array, length: number, out: Float32Array, start: number, end: number): ReduceRangeResult {
  let sq0 = 0;
  let sq1 = 0;
  let sumSq = 0;
  for (let j = start; j < end; j++) {
    const a = slots[j];
    const b = slots[length + j];
    sq0 += a * a;
    sq1 += b * b;
    const r = Math.fround(a + b);
    out[j] = r;
    sumSq += r * r;
  }
  return { sumSq, slotSumSq: Float64Array.of(sq0, sq1) };
}
