/** The sweep's feed: its hooks into the runs table and the steps-to-target chart; each run's steps go to the TrainFeed. */
import { classifyRegime, fitScaling, predictSteps, type PlannedRun, type RunOutcome, type SweepHooks } from '../study/index.js';
import { median } from '../util/index.js';
import type { ChartSpec, DashboardHub, SweepRow } from './hub.js';
import type { TrainFeed } from './train-feed.js';

export const SWEEP_CHART: ChartSpec = {
  id: 'sweep-steps', title: 'Steps to target vs batch size', note: 'One point per finished run that reached the target. Dashed: perfect scaling from the smallest batch size (steps halve when B doubles); line: the fit S_min + E_min/B once two batch sizes reached it.',
  xLabel: 'batch size B (log scale)', yLabel: 'steps to target (log scale)', xLog: true, yLog: true, group: 'sweep',
  series: [
    { key: 'sweep.steps', label: 'measured', style: 'points', color: 0 },
    { key: 'sweep.perfect', label: 'perfect scaling', style: 'dashed', color: 8 },
    { key: 'sweep.fit', label: 'fit S_min + E_min/B', style: 'line', color: 1 },
  ],
};

/** A sweep: its table of runs, the steps-to-target chart, and the current run's charts (TrainFeed). */
export class SweepFeed {
  readonly #hub: DashboardHub;
  readonly #train: TrainFeed;
  #rows: SweepRow[] = [];
  #runStarted = false;
  /** The running row's step moved since the table was last sent. */
  #rowsMoved = false;
  readonly #reached: { batchSize: number; steps: number }[] = [];

  constructor(hub: DashboardHub, train: TrainFeed) {
    this.#hub = hub;
    this.#train = train;
    hub.defineChart(SWEEP_CHART);
    hub.onRefresh(() => {
      if (this.#rowsMoved) this.#hub.setSweep(this.#rows);
      this.#rowsMoved = false;
    });
  }

  /** The sweep's hooks, each calling `also`'s first (the CLI's progress bar). */
  hooks(also: SweepHooks = {}): SweepHooks {
    // Ctrl-C: the run in progress stops at its next step and no later run starts (sweep()'s signal).
    also.signal?.addEventListener('abort', () => this.#interrupt(), { once: true });
    return {
      ...also,
      onPlan: (runs) => {
        also.onPlan?.(runs);
        this.#plan(runs);
      },
      onRunStart: (run, index, total) => {
        also.onRunStart?.(run, index, total);
        this.#start(run, index, total);
      },
      onStep: (record, run, info) => {
        also.onStep?.(record, run, info);
        if (!this.#runStarted) {
          this.#runStarted = true;
          this.#train.onTrainBegin(info);
        }
        this.#train.onStep(record);
        const row = this.#rows.find((r) => r.id === run.id);
        if (row) {
          row.step = record.step + 1;
          row.totalSteps = info.totalSteps;
          this.#rowsMoved = true;
        }
      },
      onEval: (record, run) => {
        also.onEval?.(record, run);
        this.#train.onEval(record);
      },
      onEpochEnd: (record, run) => {
        also.onEpochEnd?.(record, run);
        this.#train.onEpochEnd(record);
      },
      onRunEnd: (outcome, index, total) => {
        also.onRunEnd?.(outcome, index, total);
        this.#end(outcome, index, total);
      },
    };
  }

  #plan(runs: readonly PlannedRun[]): void {
    this.#rows = runs.map((r) => ({ id: r.id, batchSize: r.resolvedBatchSize, seed: r.seed, lr: r.gridLr, status: 'pending', step: 0, totalSteps: null, stepsToTarget: null, seconds: null, regime: null }));
    this.#hub.setSweep(this.#rows);
    this.#hub.setProgress({ state: 'training', step: 0, totalSteps: runs.length, message: `${runs.length} runs planned` });
  }

  #start(run: PlannedRun, index: number, total: number): void {
    this.#hub.resetRun();
    this.#runStarted = false;
    const row = this.#rows.find((r) => r.id === run.id);
    if (row) row.status = 'running';
    this.#hub.setSweep(this.#rows);
    this.#hub.setProgress({ message: `run ${index + 1} of ${total}: ${run.id}` });
  }

  /** Ctrl-C: the running run is marked interrupted, the pending ones not run, and the page stops counting. */
  #interrupt(): void {
    for (const row of this.#rows) {
      if (row.status === 'running') row.status = 'interrupted';
      else if (row.status === 'pending') row.status = 'not run';
    }
    this.#hub.setSweep(this.#rows);
    const done = this.#rows.filter((r) => r.status !== 'interrupted' && r.status !== 'not run').length;
    this.#hub.setProgress({ state: 'interrupted', samplesPerSec: null, etaSeconds: null, message: `interrupted (Ctrl-C) after ${done} of ${this.#rows.length} runs: the run in progress stopped and is not counted; --resume continues the sweep` });
  }

  #end(outcome: RunOutcome, index: number, total: number): void {
    const row = this.#rows.find((r) => r.id === outcome.id);
    if (row) {
      row.status = outcome.status;
      row.lr = outcome.lr;
      row.step = outcome.stepsRun;
      row.stepsToTarget = outcome.stepsToTarget;
      row.seconds = outcome.secondsToTarget;
    }
    this.#hub.setSweep(this.#rows);
    this.#hub.setProgress({ message: `${index + 1} of ${total} runs finished`, ...(index + 1 === total && { state: 'finished' as const }) });
    if (outcome.stepsToTarget !== null) this.#reached.push({ batchSize: outcome.resolvedBatchSize, steps: outcome.stepsToTarget });
    this.#drawSteps();
  }

  #drawSteps(): void {
    // One point per batch size, the median over its seeds, as the results table fits them.
    const byB = new Map<number, number[]>();
    for (const p of this.#reached) byB.set(p.batchSize, [...(byB.get(p.batchSize) ?? []), p.steps]);
    const points = [...byB].map(([batchSize, steps]) => ({ batchSize, steps: median(steps) })).sort((a, b) => a.batchSize - b.batchSize);
    this.#hub.setSeries('sweep.steps', { x: points.map((p) => p.batchSize), y: points.map((p) => p.steps) });
    if (points.length === 0) return;
    const bs = points.map((p) => p.batchSize);
    const ref = points[0];
    this.#hub.setSeries('sweep.perfect', { x: bs, y: bs.map((b) => (ref.steps * ref.batchSize) / b) });
    if (bs.length >= 2) {
      const fit = fitScaling(points);
      this.#hub.setSeries('sweep.fit', { x: bs, y: bs.map((b) => predictSteps(fit, b)) });
      // The regime under the fit, as the results table and the report classify (sweep-summary.ts).
      for (const row of this.#rows) row.regime = row.stepsToTarget === null ? null : classifyRegime(row.batchSize, fit.bCrit);
      this.#hub.setSweep(this.#rows);
      this.#train.regimeFit = { bCrit: fit.bCrit };
    }
  }
}
