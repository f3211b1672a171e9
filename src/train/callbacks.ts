/** Hooks into the training loop, as Keras callbacks: on step, on validation within an epoch, on epoch end, early stopping. */
import type { EpochRecord, EvalRecord, RunSummary, StepRecord } from './records.js';
import type { MonitoredMetric } from './config.js';

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
  lr: number;
  engine: string;
  workers: number;
}

export interface TrainControl {
  /**
   * Ends training; `reason` goes into the log. From onEpochEnd: after this epoch. From onEval: at
   * once (the epoch ends early and its record covers the steps taken).
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

/**
 * Stops when `monitor` has not improved by more than `minDelta` for `patience` epochs
 * (Keras EarlyStopping semantics; losses improve downward, accuracies upward).
 */
export class EarlyStopping implements Callback {
  readonly #monitor: MonitoredMetric;
  readonly #patience: number;
  readonly #minDelta: number;
  #best = Number.NaN;
  #wait = 0;

  constructor(monitor: MonitoredMetric, patience: number, minDelta = 0) {
    this.#monitor = monitor;
    this.#patience = patience;
    this.#minDelta = minDelta;
  }

  /** Best value so far (null before any) and epochs since it improved, for a checkpoint. */
  state(): { best: number | null; wait: number } {
    return { best: Number.isNaN(this.#best) ? null : this.#best, wait: this.#wait };
  }

  restore(state: { best: number | null; wait: number }): void {
    this.#best = state.best ?? Number.NaN;
    this.#wait = state.wait;
  }

  onEpochEnd(record: EpochRecord, control: TrainControl): void {
    const value = record[this.#monitor];
    if (value === null) return;
    const sign = this.#monitor.endsWith('Loss') ? -1 : 1;
    if (Number.isNaN(this.#best) || sign * (value - this.#best) > this.#minDelta) {
      this.#best = value;
      this.#wait = 0;
      return;
    }
    this.#wait += 1;
    if (this.#wait >= this.#patience) {
      control.stop(`${this.#monitor} did not improve for ${this.#patience} epochs (best ${this.#best.toPrecision(4)})`);
    }
  }
}
