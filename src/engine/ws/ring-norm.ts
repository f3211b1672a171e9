/**
 * The coordinator's squared norm of a ring step's reduced gradient, added up while the step is
 * still running: each reduced `part` is measured as it arrives, so the step's end waits only for
 * the norm of the last part instead of a pass over the whole gradient (docs/architecture.md,
 * "Buckets and overlap").
 *
 * The norms are kept per ring segment of each bucket (step-buckets.ts, bucketSegments) and added
 * in that fixed order at the end. Whether a worker sends whole buckets or its segments
 * (--reduced-from), and in whatever order the parts arrive, the sum has the same bits.
 */
import type { Range } from '../../collective/index.js';
import { bucketSegments } from './step-buckets.js';

/** Σ gradient[i]² over [start, end), with the bits of the engines' reduce norm (shared-reduce.ts). */
export type RangeNormSq = (start: number, end: number) => number;

export class RingNorm {
  /** The segments, bucket by bucket, in order; `starts` maps a segment's start to its index. */
  readonly #grid: Range[];
  readonly #starts = new Map<number, number>();
  readonly #sumSq: Float64Array;
  readonly #measured: Uint8Array;
  readonly #normSq: RangeNormSq;

  constructor(buckets: readonly Range[], members: number, normSq: RangeNormSq) {
    this.#grid = bucketSegments(buckets, members).flat();
    this.#grid.forEach((r, i) => this.#starts.set(r.start, i));
    this.#sumSq = new Float64Array(this.#grid.length);
    this.#measured = new Uint8Array(this.#grid.length);
    this.#normSq = normSq;
  }

  /** The reduced values of [start, end) are in place: measures the segments it holds. */
  add(start: number, end: number): void {
    let i = this.#starts.get(start);
    if (i === undefined) return; // not on the grid: total() measures what is missing
    for (; i < this.#grid.length && this.#grid[i].end <= end; i++) {
      const r = this.#grid[i];
      this.#sumSq[i] = this.#normSq(r.start, r.end);
      this.#measured[i] = 1;
    }
  }

  /** The whole gradient's squared norm: the segments' norms in grid order (any not yet measured, now). */
  total(): number {
    let sum = 0;
    for (let i = 0; i < this.#grid.length; i++) {
      if (this.#measured[i] === 0) this.add(this.#grid[i].start, this.#grid[i].end);
      sum += this.#sumSq[i];
    }
    return sum;
  }
}
