/**
 * The adaptive step deadline: a worker that has not answered within `factor` × the median of
 * the recent step times (never less than `floorMs`) is dropped and the step re-run without it.
 * A median ignores the odd slow step (a GC pause, an epoch's evaluation) that a mean would not,
 * and the floor covers the first steps, before there is a history (hivemind #676 asks for this).
 */
import { median } from '../../util/index.js';

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
    return Math.max(this.#floorMs, Math.ceil(this.#factor * median(this.#recent)));
  }
}

/** One worker's recent responsiveness, for the progress view and the slow-worker warning. */
export interface WorkerPace {
  name: string;
  /**
   * Mean time from `step` to its result over the window without its slowest tenth of steps, ms:
   * a GC pause or the warm-up step is not a trend, while a straggler's many small stalls add up.
   */
  ms: number;
  /** Mean share of the gradient phase's wall time that it took (0..1): ~1 means everyone waited for it. */
  share: number;
  /** Steps in the window. */
  steps: number;
}

/**
 * Stragglers: a worker that answers much later than the others, step after step, makes every
 * step wait for it, but it is not failing, so the deadline leaves it alone (docs/reliability.md
 * row 6: no timeout below the deadline, no reassignment storm). It is reported instead: the
 * slowest worker with its share of the step time, and a warning when its time over the window
 * exceeds `factor` × the median worker's (and by at least `minMs`, so sub-millisecond noise of
 * tiny steps is not news).
 */
export class Stragglers {
  readonly #recent = new Map<string, { ms: number; share: number }[]>();
  readonly #window: number;
  readonly #factor: number;
  readonly #minMs: number;

  constructor(options: { window: number; factor: number; minMs: number }) {
    this.#window = options.window;
    this.#factor = options.factor;
    this.#minMs = options.minMs;
  }

  /** Records a completed step: each member's response time, and the gradient phase's wall time, ms. */
  record(responses: readonly { name: string; ms: number }[], stepMs: number): void {
    const present = new Set(responses.map((r) => r.name));
    for (const name of [...this.#recent.keys()]) if (!present.has(name)) this.#recent.delete(name); // left or dropped
    for (const { name, ms } of responses) {
      const list = this.#recent.get(name) ?? [];
      list.push({ ms, share: stepMs > 0 ? Math.min(1, ms / stepMs) : 0 });
      if (list.length > this.#window) list.shift();
      this.#recent.set(name, list);
    }
  }

  /** Every current worker's pace, in the order recorded. */
  paces(): WorkerPace[] {
    return [...this.#recent].map(([name, list]) => ({
      name,
      ms: trimmedMean(list.map((r) => r.ms)),
      share: list.reduce((sum, r) => sum + r.share, 0) / list.length,
      steps: list.length,
    }));
  }

  /**
   * The worker that is consistently slow, with the reference it is compared with (the median
   * worker's time; the faster one's with two workers); null when none is (fewer than 2
   * workers, fewer than half a window of steps, or within the margins). `current` (the worker
   * reported last time) stays slow until it is within half the margins ((1 + factor) / 2 ×
   * reference, minMs / 2), so a worker near the threshold is not reported on and off.
   */
  slow(current: string | null = null): { worker: WorkerPace; referenceMs: number } | null {
    const paces = this.paces().filter((p) => p.steps >= Math.ceil(this.#window / 2));
    if (paces.length < 2) return null;
    const times = paces.map((p) => p.ms).sort((a, b) => a - b);
    // With two workers the median is their mean, half made of the slow one: compare with the faster.
    const referenceMs = paces.length === 2 ? times[0] : median(times);
    const worker = paces.reduce((a, b) => (b.ms > a.ms ? b : a));
    const [factor, minMs] = worker.name === current ? [(1 + this.#factor) / 2, this.#minMs / 2] : [this.#factor, this.#minMs];
    if (worker.ms <= factor * referenceMs || worker.ms - referenceMs < minMs) return null;
    return { worker, referenceMs };
  }
}

/** The mean without the largest tenth of the values (rounded down, at least the largest one of 10 or more). */
function trimmedMean(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const kept = sorted.slice(0, sorted.length - Math.floor(sorted.length / 10));
  return kept.reduce((sum, v) => sum + v, 0) / kept.length;
}
