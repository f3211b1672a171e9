/**
 * Gradient buckets (docs/architecture.md, "Buckets and overlap"): the flat gradient cut into
 * contiguous ranges in BACKWARD order, so that bucket 0 (the last layers' tensors) is final first
 * and its all-reduce can start while backward goes on through the earlier layers, as PyTorch
 * DDP's buckets and Horovod's tensor fusion do. A bucket holds at least `bucketBytes` (the last
 * one may hold less), cut at tensor starts or at row boundaries of a weight; 0 or a size above the
 * model's gives one bucket.
 *
 * `BucketSignal` is how the threads engine's pool tells its owner that a bucket is reduced: every
 * thread counts itself in once its backward pass has finished the bucket, the last one reduces
 * the bucket over the slots (the same slot-order sum as the range reduce, so the same bits) and
 * publishes "buckets reduced so far" in a shared word that the owner awaits with
 * Atomics.waitAsync. Each thread passes bucket b before it reaches b + 1, so that count only grows.
 */
import type { Range } from '../collective/index.js';

/**
 * Buckets in backward order: ranges[0] ends at numParams. The first bucket is closed once it holds
 * at least `firstBucketBytes` (small, as DDP's 1 MiB first bucket, so that the link starts soon),
 * every later one at least `bucketBytes`; a cut falls at a tensor's start or, inside a weight of
 * several rows (shape [rows, ...]), at a row boundary: a dense layer's weight gradient is then
 * finished block by block (Model.setGradientCuts), so its first buckets start while its last rows
 * are still computed. A bucket that holds at least half its size is also closed where a layer
 * starts: backward computes that layer's input gradient next and finishes no gradient meanwhile,
 * so what the bucket holds can leave now instead of waiting for part of the layer before. A model
 * of at most `bucketBytes` is one bucket.
 */
export function planBuckets(tensors: readonly BucketTensor[], numParams: number, bucketBytes: number, firstBucketBytes = bucketBytes): Range[] {
  if (!(bucketBytes > 0) || 4 * numParams <= bucketBytes) return [{ start: 0, end: numParams }];
  const buckets: Range[] = [];
  let end = numParams;
  let target = Math.min(firstBucketBytes, bucketBytes);
  for (let i = tensors.length - 1; i >= 0; i--) {
    const { offset, size, shape } = tensors[i];
    const rows = shape && shape.length >= 2 ? shape[0] : 1;
    const rowWidth = size / rows;
    const layerStart = i > 0 && layerOf(tensors[i]) !== layerOf(tensors[i - 1]);
    // Row boundaries from the tensor's end down to its start (the start itself last).
    for (let r = rows - 1; r >= 0; r--) {
      const start = offset + r * rowWidth;
      const bytes = 4 * (end - start);
      if (bytes >= target || (r === 0 && layerStart && 2 * bytes >= target)) {
        buckets.push({ start, end });
        end = start;
        target = bucketBytes;
      }
    }
  }
  if (end > 0) buckets.push({ start: 0, end });
  return buckets;
}

/** What planBuckets reads of a parameter tensor (model/layout.ts's ParamTensor). */
export interface BucketTensor {
  offset: number;
  size: number;
  shape?: readonly number[];
  /** `layers.{i}.weight`: the tensors of one layer share the name up to the last dot. */
  name?: string;
}

function layerOf(tensor: BucketTensor): string | undefined {
  return tensor.name?.slice(0, tensor.name.lastIndexOf('.'));
}

/** Shared words of one engine's buckets (the same object in every thread's workerData). */
export interface BucketShared {
  ranges: Range[];
  /** [count per bucket..., reduced so far]. */
  words: Int32Array;
  /** Σ reduced² per bucket, and Σ slot_i² per (bucket, slot), written by the bucket's reducer. */
  sumSq: Float64Array;
  slotSumSq: Float64Array;
  /** When each bucket was reduced: performance.timeOrigin + now() (comparable across threads), ms. */
  readyAt: Float64Array;
}

export function createBucketShared(ranges: Range[], slotCount: number): BucketShared {
  const B = ranges.length;
  return {
    ranges,
    words: new Int32Array(new SharedArrayBuffer(4 * (B + 1))),
    sumSq: new Float64Array(new SharedArrayBuffer(8 * B)),
    slotSumSq: new Float64Array(new SharedArrayBuffer(8 * B * slotCount)),
    readyAt: new Float64Array(new SharedArrayBuffer(8 * B)),
  };
}

/** Owner side, before a round: no bucket counted or reduced. */
export function resetBuckets(shared: BucketShared): void {
  for (let b = 0; b <= shared.ranges.length; b++) Atomics.store(shared.words, b, 0);
}

/** A clock every thread of the process reads alike (performance.now() has a per-thread origin). */
export function sharedClock(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Thread side: call `finished(from)` as backward makes grad[from, P) final, and `finished(0)` at
 * the end; `reduce(b)` runs in the thread that completes bucket b last.
 */
export function bucketArrivals(shared: BucketShared, parties: number, reduce: (bucket: number) => void): (from: number) => void {
  let next = 0;
  const B = shared.ranges.length;
  return (from) => {
    while (next < B && from <= shared.ranges[next].start) {
      const b = next++;
      if (Atomics.add(shared.words, b, 1) + 1 !== parties) continue;
      reduce(b);
      shared.readyAt[b] = sharedClock();
      Atomics.store(shared.words, B, b + 1);
      Atomics.notify(shared.words, B);
    }
  };
}

/**
 * Owner side: calls `onBucket(b)` for every bucket in order as soon as it is reduced, until all
 * are or `settled` resolves (the round ended: done, or failed).
 */
export async function watchBuckets(shared: BucketShared, settled: Promise<unknown>, onBucket: (bucket: number) => void): Promise<void> {
  const B = shared.ranges.length;
  let over = false;
  const end = settled.then(
    () => (over = true),
    () => (over = true),
  );
  let seen = 0;
  while (seen < B) {
    const now = Atomics.load(shared.words, B);
    if (now > seen) {
      for (; seen < now; seen++) onBucket(seen);
      continue;
    }
    if (over) return;
    // With a timeout, so that a round that ended without a notify leaves no waiter behind for long.
    const wait = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: Promise<string> | string } }).waitAsync(shared.words, B, now, 1000);
    if (wait.async) await Promise.race([wait.value, end]);
  }
}
