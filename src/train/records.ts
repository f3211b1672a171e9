/** The records a run emits: one per step, one per validation within an epoch, one per epoch, one summary (docs/formats.md). */
import type { StepTiming, TimingSummary } from './timing.js';
import type { GnsRecord } from './gns.js';
import type { WorkersChoice } from './auto-workers.js';
import type { BlasReport } from '../kernels/index.js';

/** metrics.jsonl line for one synchronized update. */
export interface StepRecord {
  type: 'step';
  epoch: number;
  /** Counted from 0 over the whole run. */
  step: number;
  /** Samples in this step's global batch (the last batch of an epoch may be partial). */
  batchSize: number;
  /** Running total of samples processed. */
  samples: number;
  /** Mean loss over this batch. */
  loss: number;
  /** Fraction correct in this batch; null for regression. */
  accuracy: number | null;
  lr: number;
  /** Norm of the mean gradient, before clipping. */
  gradNorm: number;
  /** The factor --clip-norm scaled the gradient by: min(1, clipNorm / gradNorm); 1 when not clipped. */
  clip: number;
  /** Wall time of the step. */
  ms: number;
  /** The step's time split into compute per worker, reduce, update and idle. */
  timing: StepTiming;
  /**
   * Gradient noise scale: moving averages of tr(Σ) and |G|² from the shard gradients, and
   * bSimple = trSigma / gradSq. Null while fewer than two gradient slots hold samples
   * (one worker without --reduce-chunks, or a batch of one sample).
   */
  gns: GnsRecord | null;
}

/**
 * metrics.jsonl line for a validation at a step boundary within an epoch (--eval-every N: after
 * every N-th step of the run, except where an epoch ends, whose record carries the validation).
 */
export interface EvalRecord {
  type: 'eval';
  epoch: number;
  /** Steps taken so far: the parameters evaluated are those after this many updates. */
  step: number;
  /** Samples processed so far. */
  samples: number;
  valLoss: number;
  /** Null for regression. */
  valAccuracy: number | null;
  /** With --eval-on test only: the test set's figures at the same point. */
  testLoss?: number;
  testAccuracy?: number | null;
}

/**
 * metrics.jsonl line for a step whose loss or gradient was non-finite and that every replica
 * dropped (--on-nonfinite skip): its batch is consumed, no update is applied.
 */
export interface SkipRecord {
  type: 'skip';
  epoch: number;
  step: number;
  /** Samples processed so far, this batch included. */
  samples: number;
  /** 'NaN' or 'Infinity': what the loss or gradient norm became. */
  value: 'NaN' | 'Infinity';
  /** Workers whose shard was non-finite, by name. */
  workers: string[];
  /** Skipped steps in a row, this one included. */
  inRow: number;
}

/** metrics.jsonl line at the end of each epoch. */
export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  /** Steps taken in this epoch. */
  steps: number;
  samples: number;
  /** Sample-weighted mean of the epoch's batch losses (as Keras reports it). */
  trainLoss: number;
  trainAccuracy: number | null;
  /** Null when there is no validation set (--val-split 0). */
  valLoss: number | null;
  valAccuracy: number | null;
  /** With --eval-on test only: the test set's loss and accuracy after this epoch. */
  testLoss?: number;
  testAccuracy?: number | null;
  samplesPerSec: number;
  ms: number;
}

/** summary.json's `test`: the test set (--test, --eval-on test) scored with the final parameters. */
export interface TestFigures {
  spec: string;
  samples: number;
  loss: number;
  /** Null for regression. */
  accuracy: number | null;
}

/**
 * Why the run ended; `earlyStopping`: --patience or an EarlyStopping callback; `callback`: another
 * callback's control.stop() (summaries written before it existed say `earlyStopping`);
 * `interrupted`: the `signal` passed to train() was aborted (Ctrl-C in the CLI); `noWorkers`: a ws
 * run had no worker left and none joined within --rejoin-timeout (train() then rejects with
 * dptrain.engine.noWorkers, its outputs written).
 */
export type StopReason = 'epochs' | 'maxSteps' | 'earlyStopping' | 'callback' | 'interrupted' | 'noWorkers';

/** summary.json's `best`. */
export interface BestEpoch {
  monitor: string;
  value: number;
  epoch: number;
  restored: boolean;
}

/**
 * summary.json's `session`: what this process trained. The same as the totals for a run never
 * resumed; after --resume, the steps from the checkpoint on (none when the run had already finished).
 */
export interface SessionFigures {
  /** The step this session started at (the checkpoint's, or 0). */
  fromStep: number;
  steps: number;
  samples: number;
  /** Wall time of this session's training, from the first step's start. */
  seconds: number;
  /** This session's samples over its training time. */
  samplesPerSec: number;
}

/** summary.json's `batchSizes` of an auto run. */
export interface BatchSizesUsed {
  /** The smallest and largest B of the run's steps (an epoch's partial last step aside). */
  min: number;
  max: number;
  /** The B the run ended with: the last choice. */
  last: number;
  /** Samples per step over the run; null before its first step. */
  mean: number | null;
}

/** summary.json: the run's totals, over every session of a resumed run (as PyTorch Lightning's Timer). */
export interface RunSummary {
  steps: number;
  epochs: number;
  samples: number;
  /** Wall time of the run, each earlier session counted up to the checkpoint the next one resumed from. */
  seconds: number;
  /** Samples over the steps' training time (validations, checkpoints and start-up excluded). */
  samplesPerSec: number;
  session: SessionFigures;
  stopReason: StopReason;
  /** The reason given with `earlyStopping` or `callback` (control.stop's argument), else null; absent in summaries written before it. */
  stopMessage: string | null;
  /** Steps dropped because their loss or gradient was non-finite (--on-nonfinite skip). */
  skippedSteps: number;
  /** The checkpoint this run continued from (--resume), or null. */
  resumedFrom: { path: string; step: number } | null;
  /**
   * The best epoch by --monitor, when early stopping (--patience) or --restore-best watched it
   * (null otherwise, or before any epoch had a value): `epoch` is 0-based as in metrics.jsonl;
   * `restored` says whether the final parameters are that epoch's (--restore-best).
   */
  best: BestEpoch | null;
  final: {
    trainLoss: number | null;
    trainAccuracy: number | null;
    valLoss: number | null;
    valAccuracy: number | null;
  };
  /** The test set's figures with the final parameters; null without --test or --eval-on test. */
  test: TestFigures | null;
  model: string;
  numParams: number;
  dataset: string;
  datasetHash: string;
  /** The dataset's class names by class index (fashion-mnist, cifar10, mnist digits, CSV text labels); null where it has none. */
  classNames: string[] | null;
  trainSamples: number;
  valSamples: number;
  /** The fixed batch size; with --batch-size auto, the last one chosen (batchSizes has the range). */
  batchSize: number;
  /** With --batch-size auto: the batch sizes the steps used; null with a fixed batch size. */
  batchSizes: BatchSizesUsed | null;
  /** Steps per epoch; with --batch-size auto, the run's average (trainSamples over batchSizes.mean, rounded up). */
  stepsPerEpoch: number;
  lr: number;
  engine: string;
  workers: number;
  kernels: string;
  /** The BLAS library the products ran on (or the one auto measured and refused); null without BLAS. */
  blas: BlasReport | null;
  /** Why auto did not use BLAS (no library, self-test, speed), with how to get it; null otherwise. */
  kernelsFallback: string | null;
  cores: number;
  /** How `--workers auto` chose the engine: the engine, workers, why, and the probe's step times; null when it did not apply. */
  workersChoice: WorkersChoice | null;
  timing: TimingSummary;
}
