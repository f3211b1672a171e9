/**
 * The sampler, with Keras `fit` semantics (docs/batch-size.md, "Terms"): an epoch is ceil(N/B) steps over a
 * seeded permutation of (seed, epoch); the last batch holds N mod B samples unless dropLast.
 * A step message carries only (epoch, step, shard range), so every function here is pure.
 */
import { DataError } from '../errors.js';
import { permutation, Rng } from '../util/rng.js';

export interface Range {
  /** First position, inclusive. */
  start: number;
  /** End position, exclusive. */
  end: number;
}

/** 'full' -> n; otherwise B must be an integer in [1, n] (`badBatchSize`). */
export function resolveBatchSize(batchSize: number | 'full', n: number): number {
  if (batchSize === 'full') return n;
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1) {
    const shown = typeof batchSize === 'string' ? JSON.stringify(batchSize) : String(batchSize);
    throw new DataError('badBatchSize', `--batch-size must be a positive integer or "full" (got ${shown})`);
  }
  if (batchSize > n) {
    throw new DataError('badBatchSize', `--batch-size ${batchSize} is larger than the ${n} training samples — use at most ${n}, or "full"`);
  }
  return batchSize;
}

/** Steps in one epoch: ceil(n / B), or floor(n / B) when the partial last batch is dropped. */
export function stepsPerEpoch(n: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/** The sample order of one epoch: Fisher-Yates over 0..n-1 with `new Rng(seed, 'epoch', epoch)`. */
export function epochPermutation(n: number, seed: number, epoch: number): Uint32Array {
  return permutation(n, new Rng(seed, 'epoch', epoch));
}

/** Positions [start, end) of step `stepInEpoch` in the epoch permutation; the last one may be short. */
export function batchRange(stepInEpoch: number, n: number, batchSize: number): Range {
  const start = stepInEpoch * batchSize;
  if (!Number.isInteger(stepInEpoch) || stepInEpoch < 0 || start >= n) {
    throw new DataError('badStep', `step ${stepInEpoch} is outside the epoch of ${Math.ceil(n / batchSize)} steps (n=${n}, batch size ${batchSize})`);
  }
  return { start, end: Math.min(n, start + batchSize) };
}

/**
 * Splits [start, end) into `workers` contiguous shards whose sizes differ by at most 1, the
 * larger ones first; with more workers than samples the last shards are empty.
 */
export function shardRanges(start: number, end: number, workers: number): Range[] {
  if (!Number.isInteger(workers) || workers < 1) {
    throw new DataError('badWorkers', `shardRanges needs a positive integer worker count (got ${workers})`);
  }
  const size = Math.max(0, end - start);
  const base = Math.floor(size / workers);
  const extra = size % workers;
  const shards: Range[] = [];
  let at = start;
  for (let w = 0; w < workers; w++) {
    const len = base + (w < extra ? 1 : 0);
    shards.push({ start: at, end: at + len });
    at += len;
  }
  return shards;
}
