/**
 * Where a step's time goes: compute (per worker), reduce, update, and idle (the rest of the
 * step: dispatch, waiting for the slowest worker, the loop itself). Kept per step for
 * metrics.jsonl and summed for the end-of-run summary, which names the slowest worker.
 */
import type { GradientResult, WorkerTimeline } from '../engine/index.js';

export interface StepTiming {
  /** Per worker, the time spent computing its shard. */
  computeMs: number[];
  reduceMs: number;
  updateMs: number;
  /** Step time not spent in the slowest worker's compute, the reduce or the update. */
  idleMs: number;
  /**
   * ws engine: per worker, its buckets' timeline (ms from the start of its compute; backward ends
   * at computeMs), the time its all-reduces took (commMs) and how much of it ran during its own
   * compute (hiddenMs): overlap = hiddenMs / commMs.
   */
  buckets?: (WorkerTimeline & { commMs: number; hiddenMs: number })[];
}

export interface TimingSummary {
  /** Totals over the run, in ms; compute is the slowest worker's per step (the critical path). */
  computeMs: number;
  reduceMs: number;
  updateMs: number;
  idleMs: number;
  /** Shares of the total step time. */
  share: { compute: number; reduce: number; update: number; idle: number };
  /** Per worker: total compute time. */
  workerComputeMs: number[];
  /**
   * The worker with the most compute time, by name as skip records name it: a ws worker's --name,
   * `worker 0`, `worker 1`, … for worker threads (and `worker 0` inline); null before any step.
   */
  slowestWorker: { worker: string; computeMs: number; slowestInSteps: number } | null;
}

export class StepTimings {
  readonly #workerComputeMs: number[];
  readonly #slowestCount: number[];
  /** By worker index, the name of the worker that last reported there. */
  readonly #names: string[] = [];
  #compute = 0;
  #reduce = 0;
  #update = 0;
  #idle = 0;

  constructor(workers: number) {
    this.#workerComputeMs = new Array(workers).fill(0);
    this.#slowestCount = new Array(workers).fill(0);
  }

  add(result: GradientResult, updateMs: number, stepMs: number): StepTiming {
    const computeMs = result.workers.map((w) => w.computeMs);
    let slowest = 0;
    for (let w = 0; w < computeMs.length; w++) {
      // The ws engine's membership can grow mid-run: a new worker starts at 0.
      this.#workerComputeMs[w] = (this.#workerComputeMs[w] ?? 0) + computeMs[w];
      this.#slowestCount[w] ??= 0;
      this.#names[w] = result.workers[w].name ?? `worker ${w}`;
      if (computeMs[w] > computeMs[slowest]) slowest = w;
    }
    this.#slowestCount[slowest] += 1;
    const criticalCompute = computeMs[slowest] ?? 0;
    const idleMs = Math.max(0, stepMs - criticalCompute - result.reduceMs - updateMs);
    this.#compute += criticalCompute;
    this.#reduce += result.reduceMs;
    this.#update += updateMs;
    this.#idle += idleMs;
    const timing: StepTiming = { computeMs: computeMs.map(round3), reduceMs: round3(result.reduceMs), updateMs: round3(updateMs), idleMs: round3(idleMs) };
    if (result.timeline) timing.buckets = result.timeline.map(overlapOf);
    return timing;
  }

  summary(): TimingSummary {
    const total = this.#compute + this.#reduce + this.#update + this.#idle || 1;
    let slowest: TimingSummary['slowestWorker'] = null;
    this.#names.forEach((worker, w) => {
      const ms = this.#workerComputeMs[w];
      if (!slowest || ms > slowest.computeMs) slowest = { worker, computeMs: round3(ms), slowestInSteps: this.#slowestCount[w] };
    });
    return {
      computeMs: round3(this.#compute),
      reduceMs: round3(this.#reduce),
      updateMs: round3(this.#update),
      idleMs: round3(this.#idle),
      share: {
        compute: this.#compute / total,
        reduce: this.#reduce / total,
        update: this.#update / total,
        idle: this.#idle / total,
      },
      workerComputeMs: this.#workerComputeMs.map(round3),
      slowestWorker: slowest,
    };
  }
}

/**
 * A worker's communication time and the part of it that ran while it was still computing: the
 * union of its buckets' all-reduce intervals (two buckets' rings overlap in time: ring-demux.ts).
 */
function overlapOf(t: WorkerTimeline): WorkerTimeline & { commMs: number; hiddenMs: number } {
  let commMs = 0;
  let hiddenMs = 0;
  let covered = 0; // the union so far ends here
  for (const b of [...t.buckets].sort((x, y) => x.startMs - y.startMs)) {
    const start = Math.max(b.startMs, covered);
    if (b.endMs <= start) continue;
    commMs += b.endMs - start;
    hiddenMs += Math.max(0, Math.min(b.endMs, t.computeMs) - start);
    covered = b.endMs;
  }
  return { ...t, commMs: round3(commMs), hiddenMs: round3(hiddenMs) };
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
