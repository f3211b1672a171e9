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
 * float64 in slot order and rounded once. The squared norms come from the same pass, so they
 * cost no extra memory traffic.
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
  // Blocked over j so each slot's block stays in L1 while we walk the slots; per-element
  // accumulation in a float64 scratch keeps the worker-order sum exact to one rounding.
  const BLOCK = 2048;
  const acc = new Float64Array(BLOCK);
  for (let b0 = start; b0 < end; b0 += BLOCK) {
    const b1 = Math.min(end, b0 + BLOCK);
    const len = b1 - b0;
    for (let s = 0; s < n; s++) {
      const base = s * length;
      let sq = 0;
      if (s === 0) {
        for (let k = 0; k < len; k++) {
          const v = slots[base + b0 + k];
          acc[k] = v;
          sq += v * v;
        }
      } else {
        for (let k = 0; k < len; k++) {
          const v = slots[base + b0 + k];
          acc[k] += v;
          sq += v * v;
        }
      }
      slotSumSq[s] += sq;
    }
    for (let k = 0; k < len; k++) {
      const v = Math.fround(acc[k]);
      out[b0 + k] = v;
      sumSq += v * v;
    }
  }
  return { sumSq, slotSumSq };
}
