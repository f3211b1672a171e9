/**
 * The adaptive step deadline: a worker that has not answered within `factor` × the median of
 * the recent step times (never less than `floorMs`) is dropped and the step re-run without it.
 * A median ignores the odd slow step (a GC pause, an epoch's evaluation) that a mean would not,
 * and the floor covers the first steps, before there is a history (hivemind #676 asks for this).
 */
export class StepDeadline {
  readonly #recent: number[] = [];
  readonly #window: number;
  readonly #factor: number;
  readonly #floorMs: number;

  constructor(options: { window: number; factor: number; floorMs: number }) {
    this.#window = options.window;
    this.#factor = options.factor;
    this.#floorMs = options.floorMs;
  }

  /** Records a completed step's time, ms. */
  record(ms: number): void {
    this.#recent.push(ms);
    if (this.#recent.length > this.#window) this.#recent.shift();
  }

  /** The current deadline, ms. */
  get ms(): number {
    if (this.#recent.length === 0) return this.#floorMs;
    const sorted = [...this.#recent].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    return Math.max(this.#floorMs, Math.ceil(this.#factor * median));
  }
}
