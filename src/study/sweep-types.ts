/**
 * The records a sweep produces and the hooks that watch it: RunOutcome (one run, as the sweep
 * measured it, with the setup that logged its noise scale), BatchSizeResult (one batch size,
 * medians over seeds at the chosen rate), SweepResults (results.json) and SweepHooks.
 */
import type { EpochRecord, EvalRecord, RunInfo, StepRecord, TrainLogger } from '../train/index.js';
import type { Regime, ScalingFit } from './fit.js';
import type { GnsPoint } from './metrics.js';
import type { SweepLrRule } from './sweep-defaults.js';
import type { PlannedRun } from './sweep-plan.js';
import type { Target } from './sweep-target.js';

export type RunStatus = 'reached' | 'not reached' | 'diverged';

/**
 * What ended a run: the sweep at its target, a budget (--max-epochs, --max-steps), early stopping
 * (--patience), or a loss or gradient that became NaN or infinite. summary.json's stopReason says
 * "callback" for the first (summaries before it existed: "earlyStopping", as for --patience).
 */
export type StoppedBy = 'target' | 'maxEpochs' | 'maxSteps' | 'patience' | 'nonFinite';

export interface RunOutcome {
  id: string;
  dir: string;
  batchSize: number | 'full';
  resolvedBatchSize: number;
  seed: number;
  /** The peak learning rate the run used (after the rule's scaling). */
  lr: number;
  gridLr: number | null;
  status: RunStatus;
  stoppedBy: StoppedBy;
  /** At the first validation (eval record or epoch end) meeting the target; null unless reached. */
  stepsToTarget: number | null;
  /** samplesToTarget / N: fractional when the target was met within an epoch. */
  epochsToTarget: number | null;
  samplesToTarget: number | null;
  /** Training wall time up to the target: the steps' `ms` summed (validation excluded). */
  secondsToTarget: number | null;
  /** What the target was met at: an eval record within an epoch, or an epoch end. */
  targetAt: 'eval' | 'epoch' | null;
  /** Steps taken: for a diverged run, those before the step whose loss or gradient was not finite. */
  stepsRun: number;
  /** Epochs completed. */
  epochsRun: number;
  final: { trainLoss: number | null; trainAccuracy: number | null; valLoss: number | null; valAccuracy: number | null };
  samplesPerSec: number | null;
  meanStepMs: number | null;
  /** B_simple measured at fixed parameters (measureNoiseScale) at the start and the end. */
  bSimpleStart: number | null;
  bSimpleEnd: number | null;
  /** B_simple logged in metrics.jsonl (`gns`) at the target (or the end when not reached). */
  bSimpleLogged: number | null;
  /** Thinned series of the logged `gns` (empty when no step had two slots holding samples). */
  gnsLogged: GnsPoint[];
  /** What measured the logged series: the engine, its workers, --reduce-chunks, and the gradient slots holding samples in a full step. */
  gnsSetup: GnsSetup;
  /** True when read back from an earlier sweep instead of trained now. */
  resumed: boolean;
  error: string | null;
}

/** The gradient slots a step's noise-scale estimate comes from (docs/batch-size.md; src/train/gns.ts). */
export interface GnsSetup {
  engine: string;
  workers: number;
  reduceChunks: number;
  /** Slots holding samples in a full step: min(reduceChunks or workers, B). B_simple needs ≥ 2. */
  slots: number;
}

export interface BatchSizeResult {
  batchSize: number | 'full';
  resolvedBatchSize: number;
  stepsPerEpoch: number;
  /**
   * The peak learning rate used; tuned: the grid rate with the fewest median steps, null when no
   * rate reached the target (the row's other numbers are then those of the rate that came closest).
   */
  lr: number | null;
  lrGrid: number[] | null;
  seeds: number;
  reachedSeeds: number;
  /** Medians over seeds at the chosen rate (a seed that missed counts as infinitely slow). */
  reached: boolean;
  /** reached; diverged when not reached and more than half the seeds diverged; else not reached. */
  outcome: RunStatus;
  stepsToTarget: number | null;
  epochsToTarget: number | null;
  samplesToTarget: number | null;
  secondsToTarget: number | null;
  /** [min, max] of steps-to-target over the seeds that reached it. */
  stepsRange: [number, number] | null;
  final: RunOutcome['final'];
  samplesPerSec: number | null;
  meanStepMs: number | null;
  bSimpleStart: number | null;
  bSimpleEnd: number | null;
  /** Logged B_simple at the target (median over seeds); null when not measurable. */
  bSimpleLogged: number | null;
  /** Gradient slots holding samples per step; below 2 B_simple is not measurable (B = 1, or one worker without --reduce-chunks). */
  gnsSlots: number;
  /** [S(B₀)/S(B)] / (B/B₀) against the smallest batch size that reached the target. */
  efficiency: number | null;
  regime: Regime | null;
  /** The fitted S(B) at this B. */
  fittedSteps: number | null;
  /** Run ids at the chosen rate. */
  runs: string[];
}

export interface SweepResults {
  format: 'dptrain-sweep-results-v1';
  target: Target;
  /** How steps-to-target are measured. */
  targetCheck: string;
  maxEpochs: number;
  lrRule: SweepLrRule;
  seeds: number[];
  lrTrials: number | null;
  lrFactor: number | null;
  baseLr: number;
  baseBatchSize: number;
  dataset: string;
  model: string;
  trainSamples: number;
  optimizer: string;
  momentum: number;
  fit: ScalingFit | null;
  fitNote: string | null;
  /** How B_simple was obtained. */
  bSimpleSource: string;
  /** The engine, workers and --reduce-chunks of the runs that logged B_simple (null when none did). */
  gns: (Omit<GnsSetup, 'slots'> & { beta: number }) | null;
  batchSizes: BatchSizeResult[];
  runs: RunOutcome[];
  warnings: string[];
  /** Present when the sweep was interrupted: the run stopped mid-way (null: between runs), and the batch sizes that did and did not finish. */
  interrupted?: { run: string | null; finished: (number | 'full')[]; unfinished: (number | 'full')[] };
}

export interface SweepHooks {
  logger?: TrainLogger;
  /** Before the first run: the whole plan. */
  onPlan?(runs: readonly PlannedRun[]): void;
  onRunStart?(run: PlannedRun, index: number, total: number): void;
  /** train()'s step callback, for progress. */
  onStep?(record: StepRecord, run: PlannedRun, info: RunInfo): void;
  /** train()'s validations within an epoch and epoch ends, for a live view's validation series. */
  onEval?(record: EvalRecord, run: PlannedRun): void;
  onEpochEnd?(record: EpochRecord, run: PlannedRun): void;
  onRunEnd?(outcome: RunOutcome, index: number, total: number): void;
  /**
   * Stops the sweep when aborted (Ctrl-C in the CLI): the run in progress stops at its next step
   * and is written as interrupted (no outcome.json, so a later sweep into the same directory
   * trains it again); results.json and results.csv hold the batch sizes whose runs all finished.
   */
  signal?: AbortSignal;
}
