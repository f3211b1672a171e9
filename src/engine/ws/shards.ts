/**
 * Who computes which rows: a step's rows [start, end) split among the workers in worker order,
 * in proportion to their threads (a 4-thread host gets twice the rows of a 2-thread one). The
 * boundaries depend only on the rows and the threads list, so a re-run with the same membership
 * assigns the same shards. With fixed chunks, whole chunks are assigned the same way.
 */
import { type Range } from '../../data/index.js';
import { unitRanges } from '../plan.js';

/** Splits [start, end) into contiguous pieces proportional to `weights` (positive integers). */
export function proportionalRanges(start: number, end: number, weights: readonly number[]): Range[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const size = Math.max(0, end - start);
  const ranges: Range[] = [];
  let cumulative = 0;
  let at = start;
  for (const w of weights) {
    cumulative += w;
    // floor(size · cumulative / total) in exact integer arithmetic for any realistic size
    const next = start + Math.floor((size * cumulative) / total);
    ranges.push({ start: at, end: next });
    at = next;
  }
  return ranges;
}

export interface ShardAssignment {
  /** Rows [start, end) of each worker, in worker order. */
  rows: Range[];
  /** With fixed chunks: the chunks' rows, in chunk order, and each worker's chunk indices [start, end). */
  chunks: Range[] | null;
  owners: Range[] | null;
}

/** The shards of one step for workers with `threads`; `chunkCount` > 0 assigns fixed chunks. */
export function assignShards(start: number, end: number, threads: readonly number[], chunkCount: number, unit = 1): ShardAssignment {
  if (chunkCount <= 0) {
    if (unit <= 1) return { rows: proportionalRanges(start, end, threads), chunks: null, owners: null };
    // Whole ghost batches per worker (--batchnorm ghost:G): split the units, then map them back to rows.
    const units = proportionalRanges(0, Math.ceil(Math.max(0, end - start) / unit), threads);
    return { rows: units.map((u) => ({ start: Math.min(end, start + u.start * unit), end: Math.min(end, start + u.end * unit) })), chunks: null, owners: null };
  }
  const chunks = unitRanges(start, end, chunkCount, unit);
  const owners = proportionalRanges(0, chunkCount, threads);
  const rows = owners.map((o) => (o.end > o.start ? { start: chunks[o.start].start, end: chunks[o.end - 1].end } : { start: end, end }));
  return { rows, chunks, owners };
}
