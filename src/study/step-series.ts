/**
 * The step records' learning rate and batch sizes for the run report, collected as readRunMetrics
 * reads metrics.jsonl: the rate thinned to a few thousand points that keep a schedule's shape.
 */

/** What the step records say beyond the loss: the learning rate along the run and the batch sizes used. */
export interface StepSeries {
  /** (1-based step, lr), thinned by LrBins. */
  lr: { x: number; y: number }[];
  /** Min and max of the step records' batchSize, an epoch's last (maybe partial) batch aside; null without step records. */
  batchSizes: { min: number; max: number } | null;
}

/** At most this many bins of steps keep the learning rate (each up to 4 points). */
const LR_BINS = 300;

/** A stretch of steps' learning rates: its first, lowest, highest and last (step, lr), as M4 downsampling keeps. */
interface LrBin {
  index: number;
  first: [number, number];
  min: [number, number];
  max: [number, number];
  last: [number, number];
}

/**
 * The learning rate of a run of any length in at most 2·LR_BINS bins of equal width, doubled
 * whenever the bins run out: a schedule's steps, warmup and --batch-size auto's jumps all keep
 * their shape (each bin keeps its extremes), and a 10⁷-step run stays a few thousand points.
 */
class LrBins {
  #width = 1;
  #bins: LrBin[] = [];

  add(step: number, lr: number): void {
    const index = Math.floor(step / this.#width);
    const bin = this.#bins.at(-1);
    const p: [number, number] = [step, lr];
    if (bin === undefined || bin.index !== index) this.#bins.push({ index, first: p, min: p, max: p, last: p });
    else {
      bin.last = p;
      if (lr < bin.min[1]) bin.min = p;
      if (lr > bin.max[1]) bin.max = p;
    }
    if (this.#bins.length > 2 * LR_BINS) this.#merge();
  }

  /** Halves the bins: pairs of neighbours become one bin twice as wide. */
  #merge(): void {
    this.#width *= 2;
    const merged: LrBin[] = [];
    for (const bin of this.#bins) {
      const index = Math.floor(bin.index / 2);
      const into = merged.at(-1);
      if (into === undefined || into.index !== index) merged.push({ ...bin, index });
      else {
        into.last = bin.last;
        if (bin.min[1] < into.min[1]) into.min = bin.min;
        if (bin.max[1] > into.max[1]) into.max = bin.max;
      }
    }
    this.#bins = merged;
  }

  /** The kept points in step order (1-based steps, as the loss curve). */
  points(): { x: number; y: number }[] {
    return this.#bins.flatMap((b) => {
      const kept = [...new Map([b.first, b.min, b.max, b.last].map((p) => [p[0], p])).values()].sort((a, c) => a[0] - c[0]);
      return kept.map(([step, lr]) => ({ x: step + 1, y: lr }));
    });
  }
}

/** Widens a range of batch sizes to hold `b`. */
const widen = (range: { min: number; max: number }, b: number) => void ((range.min = Math.min(range.min, b)), (range.max = Math.max(range.max, b)));

/**
 * Collects the step records' `lr` and `batchSize` as metrics.jsonl is read. An epoch's last batch
 * may be partial, so a step's batch size counts once the next record shows it did not end an epoch.
 */
export class StepSeriesCollector {
  readonly #lr = new LrBins();
  readonly #batchSizes = { min: Infinity, max: -Infinity };
  /** The last step's batch size, not yet counted. */
  #pending: number | null = null;
  #epochEnds: number[] = [];

  step(step: number, lr: number, batchSize: number): void {
    if (this.#pending !== null) widen(this.#batchSizes, this.#pending);
    this.#pending = batchSize;
    if (Number.isFinite(lr)) this.#lr.add(step, lr);
  }

  /** An epoch record: the step before it ended the epoch. */
  epochEnd(): void {
    if (this.#pending !== null) this.#epochEnds.push(this.#pending);
    this.#pending = null;
  }

  result(): StepSeries {
    const range = { ...this.#batchSizes };
    // A run that ended within an epoch: its last batch was a whole one.
    if (this.#pending !== null) widen(range, this.#pending);
    // Every step ended an epoch (full batch): those are the batch sizes.
    if (range.min === Infinity) this.#epochEnds.forEach((b) => widen(range, b));
    return { lr: this.#lr.points(), batchSizes: range.min === Infinity ? null : range };
  }
}
