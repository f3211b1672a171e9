/**
 * The throughput side of goodput: the time of one step as a function of the global batch B,
 * T(B) = fixed + perSample·B, fitted online from the step times the loop measures, separately for
 * each worker count (a ws worker joining or leaving changes both terms; Pollux refits its model
 * the same way). Step times on a shared machine have a long right tail (another process takes the
 * core), so each batch size keeps its recent times and contributes their median; the line is a
 * least-squares fit through those medians with relative residuals, weighted by the counts.
 */
import type { StepTimeLine } from './goodput.js';

/** Recent step times kept per (workers, batch size): enough for a stable median, little to checkpoint. */
export const TIMES_PER_BATCH_SIZE = 32;
/** Batch sizes remembered per worker count; the least recently measured is forgotten first. */
export const BATCH_SIZES_KEPT = 12;

export interface FittedLine extends StepTimeLine {
  /** Distinct batch sizes and step times behind the fit. */
  batchSizes: number;
  samples: number;
}

/** What a checkpoint holds: per worker count, per batch size (in order of last use), the recent times. */
export type StepTimesState = { workers: number; batches: { batchSize: number; ms: number[] }[] }[];

export class StepTimes {
  /** workers -> batch size -> recent times (Map order = least recently measured first). */
  readonly #byWorkers = new Map<number, Map<number, number[]>>();

  add(workers: number, batchSize: number, ms: number): void {
    if (!(Number.isFinite(ms) && ms > 0)) return;
    let batches = this.#byWorkers.get(workers);
    if (!batches) this.#byWorkers.set(workers, (batches = new Map()));
    const times = batches.get(batchSize) ?? [];
    batches.delete(batchSize); // re-inserted last: most recently used
    times.push(ms);
    if (times.length > TIMES_PER_BATCH_SIZE) times.shift();
    batches.set(batchSize, times);
    if (batches.size > BATCH_SIZES_KEPT) batches.delete(batches.keys().next().value!);
  }

  /** Drops the times of (workers, batchSize): they are about to be measured again. */
  forget(workers: number, batchSize: number): void {
    this.#byWorkers.get(workers)?.delete(batchSize);
  }

  /** Batch sizes measured with this many workers. */
  batchSizes(workers: number): number[] {
    return [...(this.#byWorkers.get(workers)?.keys() ?? [])];
  }

  /** Times measured at (workers, batchSize). */
  count(workers: number, batchSize: number): number {
    return this.#byWorkers.get(workers)?.get(batchSize)?.length ?? 0;
  }

  /** The fitted line for this worker count, or null with fewer than two batch sizes measured. */
  fit(workers: number): FittedLine | null {
    const batches = this.#byWorkers.get(workers);
    if (!batches) return null;
    return fitStepTimes([...batches].map(([batchSize, ms]) => ({ batchSize, ms })));
  }

  state(): StepTimesState {
    return [...this.#byWorkers].map(([workers, batches]) => ({ workers, batches: [...batches].map(([batchSize, ms]) => ({ batchSize, ms: [...ms] })) }));
  }

  static restore(state: StepTimesState): StepTimes {
    const out = new StepTimes();
    for (const { workers, batches } of state) {
      out.#byWorkers.set(workers, new Map(batches.map((b) => [b.batchSize, [...b.ms]])));
    }
    return out;
  }
}

/**
 * T(B) = fixed + perSample·B through the median time of each batch size (relative residuals,
 * weighted by its count);
 * null with fewer than two distinct batch sizes. Both terms are kept ≥ 0: a negative intercept
 * refits the line through the origin, a negative slope (bigger batches no slower, within noise)
 * becomes 0 with the weighted mean as the fixed cost.
 */
export function fitStepTimes(groups: readonly { batchSize: number; ms: readonly number[] }[]): FittedLine | null {
  // Step-time noise is multiplicative (a busy core slows a step by a factor), so the residuals
  // are weighted as relative ones (1/y²), times the count behind each median.
  const points = groups.filter((g) => g.ms.length > 0).map((g) => {
    const y = median(g.ms);
    return { x: g.batchSize, y, w: g.ms.length / (y * y) };
  });
  if (points.length < 2) return null;
  let sw = 0, sx = 0, sy = 0;
  for (const p of points) {
    sw += p.w;
    sx += p.w * p.x;
    sy += p.w * p.y;
  }
  const mx = sx / sw;
  const my = sy / sw;
  let sxx = 0, sxy = 0;
  for (const p of points) {
    sxx += p.w * (p.x - mx) ** 2;
    sxy += p.w * (p.x - mx) * (p.y - my);
  }
  let perSampleMs = sxy / sxx;
  let fixedMs = my - perSampleMs * mx;
  if (perSampleMs < 0) {
    perSampleMs = 0;
    fixedMs = my;
  } else if (fixedMs < 0) {
    let sxx0 = 0, sxy0 = 0;
    for (const p of points) {
      sxx0 += p.w * p.x * p.x;
      sxy0 += p.w * p.x * p.y;
    }
    fixedMs = 0;
    perSampleMs = sxy0 / sxx0;
  }
  return { fixedMs, perSampleMs, batchSizes: points.length, samples: groups.reduce((n, g) => n + g.ms.length, 0) };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
