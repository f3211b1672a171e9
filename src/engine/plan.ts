/** How a step's rows map onto gradient slots and workers. */
import { shardRanges } from '../data/index.js';
import type { Range } from '../collective/index.js';

export interface SlotPlan {
  /** Rows [start, end) of the epoch permutation for each gradient slot, in slot order. */
  slots: Range[];
  /** For each worker, the slots [start, end) it computes (contiguous, so rows stay contiguous). */
  owners: Range[];
}

/**
 * The batch [start, end) split into `slotCount` pieces whose sizes differ by at most one row,
 * and the pieces split among `workers`. With slotCount = workers each worker has one slot (its
 * shard); with a fixed slotCount the pieces do not depend on the worker count.
 */
export function planSlots(start: number, end: number, slotCount: number, workers: number, unit = 1): SlotPlan {
  return { slots: unitRanges(start, end, slotCount, unit), owners: shardRanges(0, slotCount, workers) };
}

/**
 * [start, end) split into `count` pieces made of whole units of `unit` rows (the last unit may
 * be short), so that ghost batches (--batchnorm ghost:G) never straddle two pieces.
 */
export function unitRanges(start: number, end: number, count: number, unit: number): Range[] {
  if (unit <= 1) return shardRanges(start, end, count);
  const units = shardRanges(0, Math.ceil(Math.max(0, end - start) / unit), count);
  return units.map((u) => ({ start: Math.min(end, start + u.start * unit), end: Math.min(end, start + u.end * unit) }));
}
