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
export function planSlots(start: number, end: number, slotCount: number, workers: number): SlotPlan {
  return { slots: shardRanges(start, end, slotCount), owners: shardRanges(0, slotCount, workers) };
}
