/**
 * Training options: the defaults, and the validation every entry point shares (the CLI parses
 * flags into these types, the library call passes them directly). Messages name the flag.
 * defaults.ts resolves given options against these (defaults that follow other options).
 */
import os from 'node:os';
import { ConfigError, shown } from '../errors.js';
import { flagOf } from '../util/flag-name.js';
import type { EngineKind } from '../engine/index.js';
import type { LrRule, OptimizerName } from '../optim/index.js';
import type { KernelsChoice } from '../kernels/index.js';
import { validateAdaptiveOptions } from './adaptive/settings.js';
import { batchNormModeOf, type BatchNormMode } from '../model/op-base.js';

export type ScheduleName = 'constant' | 'step' | 'cosine';
export type MonitoredMetric = 'valLoss' | 'valAccuracy' | 'trainLoss' | 'trainAccuracy';

/** Everything `train()` accepts; every field has a default (see `defaultTrainConfig`). */
export interface TrainConfig {
  /** Dataset spec (docs/formats.md), e.g. `mnist`, `csv:data.csv?label=price`. */
  dataset: string;
  /** Model spec, e.g. `mlp:784-128-10`. */
  model: string;
  /**
   * Global batch size, 'full' for full-batch gradient descent, or 'auto': chosen while training
   * to maximize goodput (docs/batch-size.md, "Choosing the batch size while training").
   */
  batchSize: number | 'full' | 'auto';
  epochs: number;
  /** Stop after this many steps even if epochs remain (0 = no limit). */
  maxSteps: number;
  /**
   * Learning rate (at `baseBatchSize` when `lrRule` scales it). Default: 0.05 for sgd, 0.001 for
   * adam and adamw (PyTorch's and Keras' Adam default); without `lrRule`, sgd's default at a batch
   * below 64 is 0.05·√(B/64) (see `defaultLearningRate`).
   */
  lr: number;
  optimizer: OptimizerName;
  /** SGD momentum. Default: 0.9 for sgd, 0 (none) for adam and adamw, whose momentum is beta1. */
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global gradient-norm clipping threshold (0 = off). */
  clipNorm: number;
  lrSchedule: ScheduleName;
  warmupEpochs: number;
  /** For the step schedule: decay every this many epochs. */
  stepEpochs: number;
  /** For the step schedule: the decay factor. */
  gamma: number;
  /** For the cosine schedule: the final learning rate. */
  minLr: number;
  /** How --lr at baseBatchSize scales to the batch size; adascale: AdaScale's gain from the noise scale. */
  lrRule: LrRule | 'adascale';
  baseBatchSize: number;
  /** Rows computed at once (gradient accumulation); 0 = the model's default. */
  microBatch: number;
  dropLast: boolean;
  valSplit: number;
  standardize: boolean;
  seed: number;
  engine: EngineKind;
  /**
   * Data-parallel workers. Default with threads: 'auto', the inline engine or the machine's
   * available parallelism, whichever a probe of the run's step measures faster (auto-workers.ts);
   * 1 otherwise.
   */
  workers: number | 'auto';
  /**
   * Split every global batch into this many fixed chunks whose gradient sums are reduced in
   * chunk order: bit-identical results for every worker count (0 = one slot per worker).
   */
  reduceChunks: number;
  /** Kernel set: blas (system BLAS for the products), wasm (WebAssembly SIMD), js (plain TypeScript), or auto. */
  kernels: KernelsChoice;
  /** The BLAS library for --kernels blas/auto (a soname or path); null = DPTRAIN_BLAS or the search (docs/kernels.md). */
  blasLibrary: string | null;
  /** Validate after every this many steps within an epoch, as well as at epoch ends (0 = at epoch ends only). */
  evalEvery: number;
  /** Early stopping: epochs without improvement of `monitor` (0 = off). */
  patience: number;
  monitor: MonitoredMetric;
  minDelta: number;
  /**
   * Keep the parameters of the epoch with the best `monitor` value and end with them (final
   * params and final.safetensors), whether or not early stopping ended the run.
   */
  restoreBest: boolean;
  /**
   * Write a step record to metrics.jsonl every this many steps (steps 0, N, 2N, ...); epoch, eval
   * and skip records are always written. 0 = auto: every step for runs of up to 10,000 steps,
   * else every ceil(total steps / 10,000)-th, so a run's file holds at most ~10,000 step records.
   */
  logEvery: number;
  /** Run directory for config.json, metrics.jsonl, summary.json, final.safetensors. */
  out: string | null;
  /**
   * Replace an earlier run's files in `out` (config.json, metrics.jsonl, summary.json,
   * final.safetensors) and its checkpoints in `checkpointDir`; without it, a new run refuses both.
   */
  overwrite: boolean;
  /** safetensors file with initial parameters. */
  init: string | null;
  /** Directory for checkpoints (null = none): ckpt-<step>.safetensors, written atomically. */
  checkpointDir: string | null;
  /** How often to checkpoint: `N`, `Nsteps` or `Nepochs` (e.g. `500steps`, `1epoch`); the run's last step is checkpointed too. */
  checkpointEvery: string;
  /** Checkpoints kept in checkpointDir; older ones are deleted after a new one is written. */
  keep: number;
  /** Continue the run saved in this checkpoint directory, from its latest valid checkpoint. */
  resume: string | null;
  /** What a non-finite loss or gradient does: stop the run, or skip the step on every replica. */
  onNonfinite: NonFinitePolicy;
  /** With onNonfinite = skip: stop after this many skipped steps in a row. */
  maxNonfiniteInRow: number;
  /** --batch-size auto: the smallest batch size to choose (null = baseBatchSize). */
  minBatchSize: number | null;
  /** --batch-size auto: the largest batch size to choose, or 'full' (null = the training split). */
  maxBatchSize: number | 'full' | null;
  /** --batch-size auto: steps between choices (null = each epoch, at most every 50 steps). */
  adaptEvery: number | null;
  /** --batch-size auto: `FIXED_MS,PER_SAMPLE_MS`, a step-time model used instead of measured times (reproducible choices). */
  stepTimeModel: string | null;
  /**
   * How BatchNorm layers normalize in training (docs/models.md#batchnorm): `sync` (over the whole
   * global batch, the same result at any worker count), `local` (over each worker's shard, as
   * PyTorch DDP does), or `ghost:G` (over fixed groups of G consecutive samples).
   */
  batchnorm: string;
  /** Cache of downloaded datasets (null: DPTRAIN_DATA_DIR, else $XDG_CACHE_HOME/dptrain or ~/.cache/dptrain). */
  dataDir: string | null;
  /** Mirrors (comma-separated) tried first for downloads (null: DPTRAIN_DATA_MIRROR, else the published ones). */
  dataMirror: string | null;
  /**
   * A test set (a dataset spec with the training data's features), evaluated with the final
   * parameters at the end; its figures go to summary.json `test`. null: none, unless evalOn is 'test'.
   */
  test: string | null;
  /**
   * 'test': also evaluate the test set (`test`, or a downloaded dataset's official `?split=test`)
   * at every validation point (testLoss, testAccuracy in metrics.jsonl). Validation still comes
   * from --val-split, and early stopping still watches it.
   */
  evalOn: 'val' | 'test';
}

export type NonFinitePolicy = 'stop' | 'skip';

/** A parsed --checkpoint-every. */
export interface CheckpointInterval {
  every: number;
  unit: 'steps' | 'epochs';
}

/** Parses `N`, `Nsteps`, `N steps`, `Nepochs`, `1epoch` (steps when no unit is given). */
export function parseCheckpointEvery(text: string): CheckpointInterval {
  const m = /^\s*(\d+)\s*(steps?|epochs?)?\s*$/i.exec(text);
  const every = m ? Number(m[1]) : NaN;
  if (!m || !(every >= 1 && Number.isSafeInteger(every))) {
    throw new ConfigError('badOption', `--checkpoint-every must be a positive count of steps or epochs, e.g. 500steps or 1epoch (got ${shown(text)})`);
  }
  return { every, unit: m[2]?.toLowerCase().startsWith('epoch') ? 'epochs' : 'steps' };
}

export const defaultTrainConfig: Readonly<TrainConfig> = Object.freeze({
  dataset: 'mnist',
  model: 'mlp:784-128-10',
  batchSize: 64,
  epochs: 10,
  maxSteps: 0,
  lr: 0.05,
  optimizer: 'sgd',
  momentum: 0.9,
  nesterov: false,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  clipNorm: 0,
  lrSchedule: 'constant',
  warmupEpochs: 0,
  stepEpochs: 10,
  gamma: 0.1,
  minLr: 0,
  lrRule: 'none',
  baseBatchSize: 256,
  microBatch: 0,
  dropLast: false,
  valSplit: 0.1,
  standardize: false,
  seed: 0,
  engine: 'threads',
  workers: 'auto',
  reduceChunks: 0,
  kernels: 'auto',
  blasLibrary: null,
  evalEvery: 0,
  patience: 0,
  monitor: 'valLoss',
  minDelta: 0,
  restoreBest: false,
  logEvery: 0,
  out: null,
  overwrite: false,
  init: null,
  checkpointDir: null,
  checkpointEvery: '1epoch',
  keep: 3,
  resume: null,
  onNonfinite: 'stop',
  maxNonfiniteInRow: 10,
  minBatchSize: null,
  maxBatchSize: null,
  adaptEvery: null,
  stepTimeModel: null,
  batchnorm: 'sync',
  dataDir: null,
  dataMirror: null,
  test: null,
  evalOn: 'val',
});

export const choices = {
  optimizer: ['sgd', 'adam', 'adamw'],
  lrSchedule: ['constant', 'step', 'cosine'],
  lrRule: ['none', 'linear', 'sqrt', 'adascale'],
  engine: ['threads', 'inline', 'ws'],
  kernels: ['auto', 'blas', 'wasm', 'js'],
  monitor: ['valLoss', 'valAccuracy', 'trainLoss', 'trainAccuracy'],
  onNonfinite: ['stop', 'skip'],
  evalOn: ['val', 'test'],
} as const satisfies Partial<Record<keyof TrainConfig, readonly string[]>>;

/** The CLI flag that sets a config key, for messages: batchSize -> --batch-size. */
export { flagOf };

/** Checks every field's type and range; messages name the flag. (Options resolve in defaults.ts.) */
export function validateTrainConfig(c: TrainConfig): void {
  nonEmptyString('dataset', c.dataset);
  nonEmptyString('model', c.model);
  if (c.batchSize !== 'full' && c.batchSize !== 'auto' && !(Number.isInteger(c.batchSize) && c.batchSize >= 1)) throw bad('batchSize', c.batchSize, 'a positive integer, "full" or "auto"');
  positiveInteger('epochs', c.epochs);
  nonNegativeInteger('maxSteps', c.maxSteps);
  positiveNumber('lr', c.lr);
  oneOf('optimizer', c.optimizer);
  inRange('momentum', c.momentum, 0, 1, true);
  nonNegativeNumber('weightDecay', c.weightDecay);
  inRange('beta1', c.beta1, 0, 1, true);
  inRange('beta2', c.beta2, 0, 1, true);
  positiveNumber('eps', c.eps);
  nonNegativeNumber('clipNorm', c.clipNorm);
  oneOf('lrSchedule', c.lrSchedule);
  nonNegativeNumber('warmupEpochs', c.warmupEpochs);
  positiveNumber('stepEpochs', c.stepEpochs);
  if (!(c.gamma > 0 && c.gamma <= 1)) throw bad('gamma', c.gamma, 'a number in (0, 1]');
  nonNegativeNumber('minLr', c.minLr);
  oneOf('lrRule', c.lrRule);
  positiveInteger('baseBatchSize', c.baseBatchSize);
  nonNegativeInteger('microBatch', c.microBatch);
  boolean('dropLast', c.dropLast);
  boolean('nesterov', c.nesterov);
  boolean('standardize', c.standardize);
  inRange('valSplit', c.valSplit, 0, 1, true);
  nonNegativeInteger('seed', c.seed);
  if (c.seed > 0xffffffff) throw bad('seed', c.seed, 'an integer from 0 to 4294967295');
  oneOf('engine', c.engine);
  if (c.workers !== 'auto') positiveInteger('workers', c.workers, 'or "auto"');
  nonNegativeInteger('reduceChunks', c.reduceChunks);
  oneOf('kernels', c.kernels);
  if (c.blasLibrary !== null) nonEmptyString('blasLibrary', c.blasLibrary);
  nonNegativeInteger('evalEvery', c.evalEvery);
  nonNegativeInteger('patience', c.patience);
  oneOf('monitor', c.monitor);
  nonNegativeNumber('minDelta', c.minDelta);
  boolean('restoreBest', c.restoreBest);
  nonNegativeInteger('logEvery', c.logEvery);
  if (c.out !== null) nonEmptyString('out', c.out);
  boolean('overwrite', c.overwrite);
  if (c.init !== null) nonEmptyString('init', c.init);
  if (c.checkpointDir !== null) nonEmptyString('checkpointDir', c.checkpointDir);
  parseCheckpointEvery(c.checkpointEvery);
  positiveInteger('keep', c.keep);
  if (c.resume !== null) nonEmptyString('resume', c.resume);
  if (c.resume !== null && c.init !== null) throw resumeWithInit();
  oneOf('onNonfinite', c.onNonfinite);
  positiveInteger('maxNonfiniteInRow', c.maxNonfiniteInRow);
  validateAdaptiveOptions(c);
  parseBatchNormMode(c.batchnorm);
  for (const key of ['dataDir', 'dataMirror', 'test'] as const) if (c[key] !== null) nonEmptyString(key, c[key]);
  oneOf('evalOn', c.evalOn);
}

/**
 * --restore-best with a `val…` --monitor needs a validation set. Checked once the defaults are
 * filled in (resolveTrainOptions), since --monitor's default follows --val-split.
 */
export function checkRestoreBest(c: Pick<TrainConfig, 'restoreBest' | 'monitor' | 'valSplit'>): void {
  if (c.restoreBest && c.monitor.startsWith('val') && c.valSplit === 0) {
    throw new ConfigError('badOption', `--restore-best keeps the best epoch by --monitor ${c.monitor}, which needs a validation set, but --val-split is 0 — use --val-split > 0, or --monitor trainLoss`);
  }
}

/** --resume and --init together: two ways to start a run. */
export function resumeWithInit(): ConfigError {
  return new ConfigError('badOption', '--resume continues a run from its checkpoint; --init starts a new run from parameters — use one of them');
}

/** Parses --batchnorm: local, sync or ghost:G (G a positive integer). */
export function parseBatchNormMode(text: unknown): BatchNormMode {
  const mode = batchNormModeOf(text);
  if (mode === null) {
    throw new ConfigError('badOption', `--batchnorm must be local, sync or ghost:G with G a positive number of samples, e.g. ghost:16 (got ${shown(text)})`);
  }
  return mode;
}

function bad(key: string, value: unknown, expected: string): ConfigError {
  return new ConfigError('badOption', `${flagOf(key)} must be ${expected} (got ${shown(value)})`);
}

function positiveInteger(key: string, value: unknown, alternative = ''): void {
  if (!(Number.isInteger(value) && (value as number) >= 1)) {
    throw bad(key, value, `a positive integer${alternative ? ' ' + alternative : ''}`);
  }
}
function nonNegativeInteger(key: string, value: unknown): void {
  if (!(Number.isInteger(value) && (value as number) >= 0)) throw bad(key, value, 'an integer ≥ 0');
}
function positiveNumber(key: string, value: unknown): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw bad(key, value, 'a finite number > 0');
}
function nonNegativeNumber(key: string, value: unknown): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value >= 0)) throw bad(key, value, 'a finite number ≥ 0');
}
function inRange(key: string, value: unknown, low: number, high: number, openHigh: boolean): void {
  const ok = typeof value === 'number' && value >= low && (openHigh ? value < high : value <= high);
  if (!ok) throw bad(key, value, `a number in [${low}, ${high}${openHigh ? ')' : ']'}`);
}
function boolean(key: string, value: unknown): void {
  if (typeof value !== 'boolean') throw bad(key, value, 'true or false');
}
function nonEmptyString(key: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) throw bad(key, value, 'a non-empty string');
}
function oneOf(key: keyof typeof choices, value: unknown): void {
  const allowed: readonly string[] = choices[key];
  if (!allowed.includes(value as string)) throw bad(key, value, `one of ${allowed.join(', ')}`);
}

/** The machine's usable cores (os.availableParallelism). */
export function availableCores(): number {
  return os.availableParallelism();
}
