/**
 * The ws engine's gradient buckets within one step (docs/architecture.md, "Buckets and overlap"):
 * which ranges each member sends, a queue through which the local engine hands a worker its
 * buckets as they become final, and the worker's timeline of them for metrics.jsonl.
 */
import { partitionRanges, type Range } from '../../collective/index.js';
import { sharedClock } from '../buckets.js';
import type { BucketTiming, WorkerTimeline } from '../engine.js';

/**
 * Ring segments per bucket: bucket b split into n ranges like the whole vector was, so with one
 * bucket the ring is the one it always was (and with n = 2 every bucketing gives the same bits:
 * a + b = b + a).
 */
export function bucketSegments(buckets: readonly Range[], n: number): Range[][] {
  return buckets.map((bucket) => partitionRanges(bucket.end - bucket.start, n).map((r) => ({ start: bucket.start + r.start, end: bucket.start + r.end })));
}

/** What a ring member sends the coordinator of each reduced bucket (messages.ts, `step.ring.report`). */
export type RingReport = 'segment' | 'bucket' | 'none' | 'norm';

/**
 * What member `rank` of `n` sends the coordinator, in order: star its buckets; ring, by `report`,
 * its finished segment of each bucket, each whole bucket, or nothing (`none`, `norm`).
 */
export function expectedParts(buckets: readonly Range[], algorithm: 'star' | 'ring', rank: number, n: number, report: RingReport = 'segment'): Range[] {
  if (algorithm === 'star' || report === 'bucket') return buckets.slice();
  if (report === 'none' || report === 'norm') return [];
  return bucketSegments(buckets, n).map((segments) => segments[(rank + 1) % n]);
}

/** Buckets handed over by the local engine, taken in order. */
export class BucketQueue {
  #ready = 0;
  #failure: { error: unknown } | null = null;
  #waiters: { bucket: number; resolve(): void; reject(error: unknown): void }[] = [];

  /** Buckets [0, count) are final. */
  readyUpTo(count: number): void {
    this.#ready = Math.max(this.#ready, count);
    this.#waiters = this.#waiters.filter((w) => {
      if (w.bucket >= this.#ready) return true;
      w.resolve();
      return false;
    });
  }

  /** How many buckets, from the first, are final. */
  get released(): number {
    return this.#ready;
  }

  /** The compute failed: every wait rejects. */
  fail(error: unknown): void {
    this.#failure = { error };
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }

  take(bucket: number): Promise<void> {
    if (bucket < this.#ready) return Promise.resolve();
    if (this.#failure) return Promise.reject(this.#failure.error);
    return new Promise((resolve, reject) => this.#waiters.push({ bucket, resolve, reject }));
  }
}

/** A worker's step timeline, ms from the start of its compute (the `timeline` of `grad`/`ringResult`). */
export class StepTimeline {
  readonly #origin = sharedClock();
  #computeMs = 0;
  readonly #buckets: BucketTiming[];

  constructor(buckets: number) {
    this.#buckets = Array.from({ length: buckets }, () => ({ readyMs: 0, startMs: 0, endMs: 0 }));
  }

  now(): number {
    return Math.max(0, sharedClock() - this.#origin);
  }

  /** `at`: a sharedClock() reading (the bucket's reduce in a pool thread). */
  ready(bucket: number, at: number): void {
    this.#buckets[bucket].readyMs = Number.isFinite(at) ? Math.max(0, at - this.#origin) : this.now();
  }

  started(bucket: number): void {
    this.#buckets[bucket].startMs = this.now();
  }

  ended(bucket: number): void {
    this.#buckets[bucket].endMs = this.now();
  }

  /** Backward ended (and the local reduce): `at`, a sharedClock() reading of the last bucket's reduce, else now. */
  computed(at = Number.NaN): void {
    this.#computeMs = Number.isFinite(at) ? Math.max(0, at - this.#origin) : this.now();
  }

  toJSON(): Omit<WorkerTimeline, 'worker'> {
    const r = (ms: number) => Math.round(ms * 1000) / 1000;
    return { computeMs: r(this.#computeMs), buckets: this.#buckets.map((b) => ({ readyMs: r(b.readyMs), startMs: r(b.startMs), endMs: r(b.endMs) })) };
  }
}
