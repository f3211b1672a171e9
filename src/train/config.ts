/**
 * Training options: the defaults, and the validation every entry point shares (the CLI parses
 * flags into these types, the library call passes them directly). Messages name the flag.
 */
import os from 'node:os';
import { ConfigError, shown } from '../errors.js';
import type { EngineKind } from '../engine/index.js';
import type { LrRule, OptimizerName } from '../optim/index.js';
import type { KernelsChoice } from '../kernels/index.js';
import { givenKeys, inertOptions, type NoEffectRule, type OptionWarning } from './option-effects.js';

export type ScheduleName = 'constant' | 'step' | 'cosine';
export type MonitoredMetric = 'valLoss' | 'valAccuracy' | 'trainLoss' | 'trainAccuracy';

/** Everything `train()` accepts; every field has a default (see `defaultTrainConfig`). */
export interface TrainConfig {
  /** Dataset spec (design.md §4), e.g. `mnist`, `csv:data.csv?label=price`. */
  dataset: string;
  /** Model spec, e.g. `mlp:784-128-10`. */
  model: string;
  /** Global batch size, or 'full' for full-batch gradient descent. */
  batchSize: number | 'full';
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
  lrRule: LrRule;
  baseBatchSize: number;
  /** Rows computed at once (gradient accumulation); 0 = the model's default. */
  microBatch: number;
  dropLast: boolean;
  valSplit: number;
  standardize: boolean;
  seed: number;
  engine: EngineKind;
  /** Data-parallel workers. Default: the machine's available parallelism for threads, 1 otherwise. */
  workers: number;
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
  /** Run directory for config.json, metrics.jsonl, summary.json, final.safetensors. */
  out: string | null;
  /** Replace the run files in an `out` that already holds a run (without it, such an `out` is refused). */
  overwrite: boolean;
  /** safetensors file with initial parameters. */
  init: string | null;
  /** Directory for checkpoints (null = none): ckpt-<step>.safetensors, written atomically. */
  checkpointDir: string | null;
  /** How often to checkpoint: `N`, `Nsteps` or `Nepochs` (e.g. `500steps`, `1epoch`). */
  checkpointEvery: string;
  /** Checkpoints kept in checkpointDir; older ones are deleted after a new one is written. */
  keep: number;
  /** Continue the run saved in this checkpoint directory, from its latest valid checkpoint. */
  resume: string | null;
  /** What a non-finite loss or gradient does: stop the run, or skip the step on every replica. */
  onNonfinite: NonFinitePolicy;
  /** With onNonfinite = skip: stop after this many skipped steps in a row. */
  maxNonfiniteInRow: number;
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
  workers: os.availableParallelism(),
  reduceChunks: 0,
  kernels: 'auto',
  blasLibrary: null,
  evalEvery: 0,
  patience: 0,
  monitor: 'valLoss',
  minDelta: 0,
  out: null,
  overwrite: false,
  init: null,
  checkpointDir: null,
  checkpointEvery: '1epoch',
  keep: 3,
  resume: null,
  onNonfinite: 'stop',
  maxNonfiniteInRow: 10,
});

export const choices = {
  optimizer: ['sgd', 'adam', 'adamw'],
  lrSchedule: ['constant', 'step', 'cosine'],
  lrRule: ['none', 'linear', 'sqrt'],
  engine: ['threads', 'inline', 'ws'],
  kernels: ['auto', 'blas', 'wasm', 'js'],
  monitor: ['valLoss', 'valAccuracy', 'trainLoss', 'trainAccuracy'],
  onNonfinite: ['stop', 'skip'],
} as const satisfies Partial<Record<keyof TrainConfig, readonly string[]>>;

/** The CLI flag that sets a config key, for messages: batchSize -> --batch-size. */
export function flagOf(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** SGD's learning rate at the default batch size, and the batch size below which it is scaled down. */
export const SGD_DEFAULT_LR = 0.05;
export const SGD_DEFAULT_LR_BATCH = 64;
/** Adam's and AdamW's default learning rate, as in PyTorch and Keras. */
export const ADAM_DEFAULT_LR = 0.001;

/**
 * The learning rate a run gets when `lr` is not given. sgd: 0.05; below a batch of 64, and with
 * `lrRule` none, 0.05·√(B/64), because 0.05 with momentum 0.9 sits at chance accuracy at B = 1
 * on mnist (docs/cli.md, "Defaults and explicit options"). adam, adamw: 0.001.
 */
export function defaultLearningRate(c: Pick<TrainConfig, 'optimizer' | 'batchSize' | 'lrRule'>): number {
  if (c.optimizer !== 'sgd') return ADAM_DEFAULT_LR;
  if (c.lrRule === 'none' && typeof c.batchSize === 'number' && c.batchSize >= 1 && c.batchSize < SGD_DEFAULT_LR_BATCH) {
    return Number((SGD_DEFAULT_LR * Math.sqrt(c.batchSize / SGD_DEFAULT_LR_BATCH)).toPrecision(3));
  }
  return SGD_DEFAULT_LR;
}

/**
 * The default of `key` in a run whose other options are `c`: a default follows the options it
 * depends on, so that it never conflicts with one that was given (the learning rate and momentum
 * follow the optimizer, the workers follow the engine).
 */
export function defaultOf(key: keyof TrainConfig, c: TrainConfig): unknown {
  switch (key) {
    case 'lr':
      return defaultLearningRate(c);
    case 'momentum':
      return c.optimizer === 'sgd' ? defaultTrainConfig.momentum : 0;
    case 'workers':
      return c.engine === 'threads' ? availableCores() : 1;
    case 'monitor':
      return c.valSplit === 0 ? 'trainLoss' : defaultTrainConfig.monitor;
    default:
      return defaultTrainConfig[key];
  }
}

/** The options whose default depends on other options, in the order they are resolved. */
const DEPENDENT_DEFAULTS = ['momentum', 'lr', 'workers', 'monitor'] as const satisfies readonly (keyof TrainConfig)[];

/** What the data-dependent defaults need to know of the loaded data (its training split). */
export interface DataShape {
  trainSamples: number;
  inputDim: number;
  task: 'classification' | 'regression';
  numClasses: number;
  targetDim: number;
}

/** The model a dataset gets when --model is not given: mlp:IN-128-CLASSES, or linreg:IN-OUT for regression. */
export function defaultModelFor(data: Pick<DataShape, 'inputDim' | 'task' | 'numClasses' | 'targetDim'>): string {
  return data.task === 'classification' ? `mlp:${data.inputDim}-128-${data.numClasses}` : `linreg:${data.inputDim}-${data.targetDim}`;
}

/**
 * Defaults that follow the data, once it is loaded: the model fits the dataset (mlp:784-128-10
 * for mnist, as before); the batch is at most the training split (learning rate and the other
 * dependent defaults follow); a resumed run keeps its checkpoint's. And with --max-steps given
 * (now, when resumed) but not --epochs, enough epochs to run them (as PyTorch Lightning's max_steps).
 */
export function fitDefaultsToData(config: TrainConfig, given: ReadonlySet<string>, data: DataShape, resumed = false): TrainConfig {
  const c: TrainConfig = { ...config };
  if (!resumed) {
    if (!given.has('model')) c.model = defaultModelFor(data);
    if (!given.has('batchSize') && typeof c.batchSize === 'number' && c.batchSize > data.trainSamples && data.trainSamples > 0) c.batchSize = data.trainSamples;
    for (const key of DEPENDENT_DEFAULTS) {
      if (!given.has(key)) (c as unknown as Record<string, unknown>)[key] = defaultOf(key, c);
    }
  }
  if (given.has('maxSteps') && c.maxSteps > 0 && !given.has('epochs') && data.trainSamples > 0) {
    const batch = c.batchSize === 'full' ? data.trainSamples : c.batchSize;
    const perEpoch = c.dropLast ? Math.floor(data.trainSamples / batch) : Math.ceil(data.trainSamples / batch);
    c.epochs = Math.max(1, Math.ceil(c.maxSteps / Math.max(1, perEpoch)));
  }
  return c;
}

const SCHEDULE_OPTION = (schedule: string) => (c: TrainConfig) => (c.lrSchedule === schedule ? null : `it applies to --lr-schedule ${schedule} (this run: ${c.lrSchedule})`);
const ADAM_OPTION = (c: TrainConfig) => (c.optimizer === 'sgd' ? 'it applies to --optimizer adam and adamw (this run: sgd)' : null);
const EARLY_STOPPING_OPTION = (c: TrainConfig) => (c.patience === 0 ? 'early stopping is off (--patience 0); give --patience N to use it' : null);
const CHECKPOINT_OPTION = (c: TrainConfig) => (c.checkpointDir === null && c.resume === null ? 'no checkpoints are written; give --checkpoint-dir DIR' : null);

/**
 * "Option X has no effect when Y", for every training option that can be inert. Given such an
 * option, the run warns once and goes on. docs/cli.md lists the same table.
 */
export const trainNoEffectRules: readonly NoEffectRule<TrainConfig>[] = [
  { option: 'momentum', inert: (c) => (c.optimizer === 'sgd' ? null : `it applies to --optimizer sgd (this run: ${c.optimizer}, whose momentum is --beta1)`) },
  { option: 'nesterov', inert: (c) => (c.optimizer !== 'sgd' ? `it applies to --optimizer sgd (this run: ${c.optimizer})` : c.momentum === 0 ? 'it needs --momentum above 0 (this run: 0)' : null) },
  { option: 'beta1', inert: ADAM_OPTION },
  { option: 'beta2', inert: ADAM_OPTION },
  { option: 'eps', inert: ADAM_OPTION },
  { option: 'stepEpochs', inert: SCHEDULE_OPTION('step') },
  { option: 'gamma', inert: SCHEDULE_OPTION('step') },
  { option: 'minLr', inert: SCHEDULE_OPTION('cosine') },
  { option: 'baseBatchSize', inert: (c) => (c.lrRule === 'none' ? '--lr is used as given at every batch size (--lr-rule none); give --lr-rule linear or sqrt to scale it from here' : null) },
  { option: 'dropLast', inert: (c) => (c.batchSize === 'full' ? 'a full batch leaves no partial last batch' : null) },
  { option: 'workers', inert: (c) => (c.engine === 'inline' ? 'the inline engine runs one worker in the main thread; give --engine threads for more' : c.engine === 'ws' ? "the ws engine's workers are the `dptrain worker` processes that join" : null) },
  { option: 'evalEvery', inert: (c) => (c.valSplit === 0 ? 'there is no validation set (--val-split 0); give --val-split above 0' : null) },
  { option: 'patience', inert: (c) => (c.valSplit === 0 && c.monitor.startsWith('val') ? `there is no validation set to monitor (--val-split 0, --monitor ${c.monitor}); give --val-split above 0 or --monitor trainLoss` : null) },
  { option: 'monitor', inert: EARLY_STOPPING_OPTION },
  { option: 'minDelta', inert: EARLY_STOPPING_OPTION },
  { option: 'checkpointEvery', inert: CHECKPOINT_OPTION },
  { option: 'keep', inert: CHECKPOINT_OPTION },
  { option: 'maxNonfiniteInRow', inert: (c) => (c.onNonfinite === 'stop' ? 'the run stops at the first non-finite step (--on-nonfinite stop); give --on-nonfinite skip to use it' : null) },
  { option: 'overwrite', inert: (c) => (c.out === null ? 'there is no --out directory' : c.resume !== null ? 'a resumed run continues the run files in --out' : null) },
];

/** What resolveTrainOptions found: the run's config, the options given, and the inert ones. */
export interface ResolvedTrainOptions {
  config: TrainConfig;
  /** The keys the caller set (see givenKeys). */
  given: Set<string>;
  /** Given options that have no effect in this run, to be warned about once. */
  warnings: OptionWarning[];
}

/**
 * Merges the given options over the defaults (defaults that depend on other options follow them),
 * validates every field (unknown keys are an error), and lists the given options that have no
 * effect. Inert options the engine would refuse are reset to their neutral value (momentum 0 with
 * adam, no Nesterov without momentum, one worker inline), so config.json records what ran.
 */
export function resolveTrainOptions(options: Partial<TrainConfig> = {}): ResolvedTrainOptions {
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(defaultTrainConfig, key)) {
      throw new ConfigError('unknownOption', `unknown training option "${key}" — see \`dptrain train --help\` for the list`);
    }
  }
  const given = givenKeys(options);
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const config: TrainConfig = { ...defaultTrainConfig, ...defined };
  validate(config);
  for (const key of DEPENDENT_DEFAULTS) {
    if (!given.has(key)) (config as unknown as Record<string, unknown>)[key] = defaultOf(key, config);
  }
  const warnings = inertOptions(trainNoEffectRules, config, given, (key) => defaultOf(key, config), flagOf);
  if (config.optimizer !== 'sgd') config.momentum = 0;
  if (config.optimizer !== 'sgd' || config.momentum === 0) config.nesterov = false;
  if (config.engine === 'inline') config.workers = 1;
  return { config, given, warnings };
}

/** resolveTrainOptions' config: the given options over the defaults, validated. */
export function resolveTrainConfig(options: Partial<TrainConfig> = {}): TrainConfig {
  return resolveTrainOptions(options).config;
}

/** Where a run's `lr` came from: given now, a default, or the checkpoint a resumed run continues. */
export type LrOrigin = 'given' | 'default' | 'checkpoint';

/**
 * Where the run's peak learning rate comes from, for the start-up line: e.g. `lr 0.001 (Adam's
 * default; --lr sets it)`, `lr 0.05 (given)`, `lr 0.2 (--lr 0.05 at batch 256, scaled by --lr-rule
 * linear to batch 1024)`.
 */
export function describeLearningRate(c: TrainConfig, origin: LrOrigin, batchSize: number, peakLr: number): string {
  const base = origin === 'given' ? `--lr ${c.lr}` : origin === 'checkpoint' ? `the checkpoint's ${c.lr}` : c.optimizer === 'sgd' ? `default ${c.lr}` : `Adam's default ${c.lr}`;
  if (c.lrRule !== 'none') return `lr ${peakLr} (${base} at batch ${c.baseBatchSize}, scaled by --lr-rule ${c.lrRule} to batch ${batchSize})`;
  if (origin === 'given') return `lr ${peakLr} (given)`;
  if (origin === 'checkpoint') return `lr ${peakLr} (the checkpoint's)`;
  if (c.optimizer !== 'sgd') return `lr ${peakLr} (Adam's default; --lr sets it)`;
  if (c.lr !== SGD_DEFAULT_LR) return `lr ${peakLr} (default for batch ${batchSize}: ${SGD_DEFAULT_LR}·√(${batchSize}/${SGD_DEFAULT_LR_BATCH}), as 0.05 is too large for small batches; --lr sets it)`;
  return `lr ${peakLr} (default; --lr sets it)`;
}

function validate(c: TrainConfig): void {
  nonEmptyString('dataset', c.dataset);
  nonEmptyString('model', c.model);
  if (c.batchSize !== 'full') positiveInteger('batchSize', c.batchSize, 'or "full"');
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
  positiveInteger('workers', c.workers);
  nonNegativeInteger('reduceChunks', c.reduceChunks);
  oneOf('kernels', c.kernels);
  if (c.blasLibrary !== null) nonEmptyString('blasLibrary', c.blasLibrary);
  nonNegativeInteger('evalEvery', c.evalEvery);
  nonNegativeInteger('patience', c.patience);
  oneOf('monitor', c.monitor);
  nonNegativeNumber('minDelta', c.minDelta);
  if (c.out !== null) nonEmptyString('out', c.out);
  boolean('overwrite', c.overwrite);
  if (c.init !== null) nonEmptyString('init', c.init);
  if (c.checkpointDir !== null) nonEmptyString('checkpointDir', c.checkpointDir);
  parseCheckpointEvery(c.checkpointEvery);
  positiveInteger('keep', c.keep);
  if (c.resume !== null) nonEmptyString('resume', c.resume);
  if (c.resume !== null && c.init !== null) {
    throw new ConfigError('badOption', '--resume continues a run from its checkpoint; --init starts a new run from parameters — use one of them');
  }
  oneOf('onNonfinite', c.onNonfinite);
  positiveInteger('maxNonfiniteInRow', c.maxNonfiniteInRow);
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
