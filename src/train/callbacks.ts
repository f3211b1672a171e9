/** Hooks into the training loop, as Keras callbacks: on step, on validation within an epoch, on epoch end, early stopping. */
import type { EpochRecord, EvalRecord, RunSummary, StepRecord } from './records.js';
import type { MonitoredMetric } from './config.js';
import type { WorkersChoice } from './auto-workers.js';
import { plural } from '../util/index.js';

export interface RunInfo {
  model: string;
  numParams: number;
  dataset: string;
  trainSamples: number;
  valSamples: number;
  batchSize: number;
  stepsPerEpoch: number;
  epochs: number;
  totalSteps: number;
  /** metrics.jsonl holds the step records of every this many steps (--log-every, resolved). */
  logEvery: number;
  lr: number;
  engine: string;
  workers: number;
  /** The kernel set in use, as its start-up description (e.g. `wasm (simd128)`). */
  kernels?: string;
  optimizer?: string;
  /** --lr-schedule (constant, step, cosine) and --warmup-epochs. */
  lrSchedule?: string;
  warmupEpochs?: number;
  /** How `--workers auto` chose the engine (null when the workers were given, or another engine). */
  workersChoice?: WorkersChoice | null;
}

export interface TrainControl {
  /**
   * Ends training; `reason` goes into the log and summary.stopMessage (stopReason `callback`, or
   * `earlyStopping` from the EarlyStopping callback). From onEpochEnd: after this epoch. From
   * onEval: at once (the epoch ends early and its record covers the steps taken).
   */
  stop(reason: string): void;
}

export interface Callback {
  onTrainBegin?(info: RunInfo): void | Promise<void>;
  onStep?(record: StepRecord): void | Promise<void>;
  /** After a validation within an epoch (--eval-every). */
  onEval?(record: EvalRecord, control: TrainControl): void | Promise<void>;
  onEpochEnd?(record: EpochRecord, control: TrainControl): void | Promise<void>;
  onTrainEnd?(summary: RunSummary): void | Promise<void>;
}

/** Early stopping's progress: the best value of the monitored metric so far and the epochs since. */
export interface EarlyStoppingState {
  /** Best value so far; null before the first epoch that had one. */
  best: number | null;
  /** Epochs since `best` improved. */
  wait: number;
  /** 0-based epoch whose end gave `best` (null before any; absent in older checkpoints). */
  bestEpoch?: number | null;
}

/** What early stopping watches: --monitor, --patience (0: watch the best, never stop), --min-delta. */
export interface EarlyStoppingRule {
  monitor: MonitoredMetric;
  patience: number;
  minDelta: number;
}

/**
 * Keras EarlyStopping's decision at an epoch end, updating `state`: whether the monitored value
 * improved on the best by more than minDelta (losses improve downward, accuracies upward), and
 * the reason to stop once `patience` epochs passed without improvement (null otherwise).
 */
export function judgeEpoch(state: EarlyStoppingState, record: EpochRecord, rule: EarlyStoppingRule): { improved: boolean; stop: string | null } {
  const value = record[rule.monitor];
  if (value === null) return { improved: false, stop: null };
  const sign = rule.monitor.endsWith('Loss') ? -1 : 1;
  // A NaN value (an epoch whose every step was skipped) is no improvement, as in Keras.
  if (!Number.isNaN(value) && (state.best === null || sign * (value - state.best) > rule.minDelta)) {
    state.best = value;
    state.bestEpoch = record.epoch;
    state.wait = 0;
    return { improved: true, stop: null };
  }
  state.wait += 1;
  if (rule.patience === 0 || state.wait < rule.patience) return { improved: false, stop: null };
  return { improved: false, stop: `${rule.monitor} did not improve for ${plural(rule.patience, 'epoch')}` };
}

/**
 * Stops when `monitor` has not improved by more than `minDelta` for `patience` epochs
 * (Keras EarlyStopping semantics; losses improve downward, accuracies upward). train() runs the
 * same rule itself for --patience (judgeEpoch), keeping its state in the loop state.
 */
export class EarlyStopping implements Callback {
  readonly #rule: EarlyStoppingRule;
  #state: EarlyStoppingState = { best: null, wait: 0, bestEpoch: null };

  constructor(monitor: MonitoredMetric, patience: number, minDelta = 0) {
    this.#rule = { monitor, patience, minDelta };
  }

  /** Best value so far (null before any) and epochs since it improved. */
  state(): { best: number | null; wait: number } {
    return { best: this.#state.best, wait: this.#state.wait };
  }

  restore(state: { best: number | null; wait: number }): void {
    this.#state = { best: state.best, wait: state.wait, bestEpoch: null };
  }

  onEpochEnd(record: EpochRecord, control: TrainControl): void {
    const { stop } = judgeEpoch(this.#state, record, this.#rule);
    if (stop !== null) control.stop(`${stop} (best ${this.#state.best?.toPrecision(4) ?? 'none'})`);
  }
}
