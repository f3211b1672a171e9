/**
 * A chart series with bounded memory, however long the run: the newest `tail` to 2·`tail` points
 * at full resolution, and before them the older history in equal buckets of `stride` points
 * (their mean x and y). When the buckets overflow, neighbours merge and the stride doubles, so
 * the older history is evenly coarser but always all there, from the first step on. The page
 * keeps its copy the same way (page-script.ts), so a browser open for days is bounded too.
 */

/** The history kept per series (docs/dashboard.md, "History and memory"). */
export const seriesLimits = Object.freeze({
  /** Points kept per series, at most. */
  maxPoints: 2000,
  /** The newest points at full resolution, at least. */
  tail: 500,
});

export interface SeriesPoints {
  x: number[];
  y: number[];
  /** Points before this index are bucket means of `stride` points each (absent: all at full resolution). */
  tailFrom?: number;
  stride?: number;
}

export class BoundedSeries {
  readonly #tailMin: number;
  /** Buckets kept before they merge: maxPoints less the largest tail and the partial bucket. */
  readonly #bucketsMax: number;
  #bx: number[] = [];
  #by: number[] = [];
  #stride = 1;
  /** The partial bucket: sums of the points that left the tail since the last full bucket. */
  #px = 0;
  #py = 0;
  #pn = 0;
  #tx: number[] = [];
  #ty: number[] = [];

  constructor(maxPoints: number = seriesLimits.maxPoints, tail: number = seriesLimits.tail) {
    if (!(tail >= 1 && maxPoints >= 2 * tail + 5)) throw new RangeError(`maxPoints (${maxPoints}) must be at least 2 × tail (${tail}) + 5`);
    this.#tailMin = tail;
    this.#bucketsMax = maxPoints - 2 * tail - 1;
  }

  get length(): number {
    return this.#bx.length + (this.#pn > 0 ? 1 : 0) + this.#tx.length;
  }

  /** The newest x, or -Infinity when empty. */
  get lastX(): number {
    if (this.#tx.length > 0) return this.#tx[this.#tx.length - 1];
    if (this.#pn > 0) return this.#px / this.#pn;
    return this.#bx.length > 0 ? this.#bx[this.#bx.length - 1] : Number.NEGATIVE_INFINITY;
  }

  /** Appends a point; x must not decrease (a step, a sample count). Non-finite y is skipped. */
  push(x: number, y: number): void {
    if (!Number.isFinite(y)) return;
    this.#tx.push(x);
    this.#ty.push(y);
    // The tail holds tail..2·tail points: the oldest half leaves it in one go.
    if (this.#tx.length >= 2 * this.#tailMin) {
      const n = this.#tx.length - this.#tailMin;
      for (let i = 0; i < n; i++) this.#toBucket(this.#tx[i], this.#ty[i], 1);
      this.#tx = this.#tx.slice(n);
      this.#ty = this.#ty.slice(n);
    }
  }

  /** Replaces every point (for series that are recomputed, not appended: a sweep's results). */
  replace(points: SeriesPoints): void {
    this.#bx = [];
    this.#by = [];
    this.#stride = 1;
    this.#pn = this.#px = this.#py = 0;
    this.#tx = [];
    this.#ty = [];
    for (let i = 0; i < points.x.length; i++) this.push(points.x[i], points.y[i]);
  }

  /** Every point kept, oldest first (copies), with where full resolution begins. */
  points(): SeriesPoints {
    const x = this.#bx.slice();
    const y = this.#by.slice();
    if (this.#pn > 0) {
      x.push(this.#px / this.#pn);
      y.push(this.#py / this.#pn);
    }
    return { x: x.concat(this.#tx), y: y.concat(this.#ty), tailFrom: x.length, stride: this.#stride };
  }

  /**
   * The points newer than `x`, all at full resolution; null when some of them have left the
   * full-resolution tail already (the caller then sends the whole series).
   */
  since(x: number): SeriesPoints | null {
    const older = this.#pn > 0 ? this.#px / this.#pn : this.#bx.length > 0 ? this.#bx[this.#bx.length - 1] : Number.NEGATIVE_INFINITY;
    if (older > x) return null;
    let i = this.#tx.length;
    while (i > 0 && this.#tx[i - 1] > x) i--;
    return { x: this.#tx.slice(i), y: this.#ty.slice(i) };
  }

  /** Adds `n` points' worth (x, y means) to the partial bucket; a full bucket joins the buckets. */
  #toBucket(x: number, y: number, n: number): void {
    this.#px += x * n;
    this.#py += y * n;
    this.#pn += n;
    if (this.#pn < this.#stride) return;
    this.#bx.push(this.#px / this.#pn);
    this.#by.push(this.#py / this.#pn);
    this.#px = this.#py = this.#pn = 0;
    if (this.#bx.length > this.#bucketsMax) this.#mergeBuckets();
  }

  /** Neighbouring buckets merge (equal weights): half as many, twice the stride. */
  #mergeBuckets(): void {
    const bx: number[] = [];
    const by: number[] = [];
    const pairs = Math.floor(this.#bx.length / 2);
    for (let i = 0; i < pairs; i++) {
      bx.push((this.#bx[2 * i] + this.#bx[2 * i + 1]) / 2);
      by.push((this.#by[2 * i] + this.#by[2 * i + 1]) / 2);
    }
    const odd = this.#bx.length % 2 === 1;
    const [lx, ly] = odd ? [this.#bx[this.#bx.length - 1], this.#by[this.#by.length - 1]] : [0, 0];
    this.#bx = bx;
    this.#by = by;
    const oldStride = this.#stride;
    this.#stride *= 2;
    // An odd last bucket is half of a new one: it becomes the partial bucket.
    if (odd) {
      this.#px = lx * oldStride;
      this.#py = ly * oldStride;
      this.#pn = oldStride;
    }
  }
}
