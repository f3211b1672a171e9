/**
 * How a run's options resolve: the given options over the defaults, where a default follows the
 * options it depends on (and, once loaded, the data), so that it never conflicts with a given one;
 * and the table of given options that have no effect, each warned about once (option-effects.ts).
 * docs/cli.md, "Defaults and explicit options", describes both.
 */
import { presetTrainingDefaults } from './presets.js';
import { isAdaptive } from './adaptive/settings.js';
import { sizeModelToData } from './model-sizing.js';
import { ConfigError } from '../errors.js';
import { definedFields } from '../util/defined.js';
import { parseModelSpec } from '../model/index.js';
import { availableCores, checkRestoreBest, defaultTrainConfig, flagOf, validateTrainConfig, type TrainConfig } from './config.js';
import { givenKeys, inertOptions, type NoEffectRule, type OptionWarning } from './option-effects.js';

/** SGD's learning rate at the default batch size, and the batch size below which it is scaled down. */
export const SGD_DEFAULT_LR = 0.05;
export const SGD_DEFAULT_LR_BATCH = 64;
/** Adam's and AdamW's default learning rate, as in PyTorch and Keras. */
export const ADAM_DEFAULT_LR = 0.001;
/** AdamW's default decoupled weight decay, as torch.optim.AdamW's (sgd and adam: none). */
export const ADAMW_DEFAULT_WEIGHT_DECAY = 0.01;

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
    case 'weightDecay':
      return c.optimizer === 'adamw' ? ADAMW_DEFAULT_WEIGHT_DECAY : defaultTrainConfig.weightDecay;
    case 'workers':
      return c.engine === 'threads' ? 'auto' : 1;
    case 'monitor':
      return c.valSplit === 0 ? 'trainLoss' : defaultTrainConfig.monitor;
    // --batch-size auto: the rate follows B by AdaScale's gain from B0 = 64, where the sgd default
    // rate holds; one gradient slot cannot measure the noise scale, so a single local worker
    // splits each batch into 2 chunks (ws: one slot per worker that joins; docs/batch-size.md).
    case 'lrRule':
      return c.batchSize === 'auto' ? 'adascale' : defaultTrainConfig.lrRule;
    case 'baseBatchSize':
      return c.batchSize === 'auto' ? SGD_DEFAULT_LR_BATCH : defaultTrainConfig.baseBatchSize;
    case 'reduceChunks':
      return isAdaptive(c) && (c.engine === 'inline' || (c.engine === 'threads' && (c.workers === 'auto' || c.workers < 2))) ? 2 : defaultTrainConfig.reduceChunks;
    default:
      return defaultTrainConfig[key];
  }
}

/** The options whose default depends on other options, in the order they are resolved. */
const DEPENDENT_DEFAULTS = ['lrRule', 'baseBatchSize', 'momentum', 'weightDecay', 'lr', 'workers', 'reduceChunks', 'monitor'] as const satisfies readonly (keyof TrainConfig)[];

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
 * for mnist, as before), and a given `mlp`, `mlp:H1-H2` or `logreg` takes its widths from it; the batch is at most the training split (learning rate and the other
 * dependent defaults follow); a resumed run keeps its checkpoint's. And with --max-steps given
 * (now, when resumed) but not --epochs, enough epochs to run them (as PyTorch Lightning's max_steps).
 */
export function fitDefaultsToData(config: TrainConfig, given: ReadonlySet<string>, data: DataShape, resumed = false): TrainConfig {
  const c: TrainConfig = { ...config };
  // A preset's own rate and momentum stay (cnn-mnist: lr 0.05 at its batch of 32), as in resolveTrainOptions.
  const preset = presetTrainingDefaults(config.model, given.has('optimizer') ? config.optimizer : undefined);
  // `mlp`, `mlp:256-128` (hidden sizes), `logreg`, `linreg`: the data gives the input and output widths.
  if (given.has('model')) c.model = sizeModelToData(c.model, data);
  if (!resumed) {
    if (!given.has('model')) c.model = defaultModelFor(data);
    if (!given.has('batchSize') && typeof c.batchSize === 'number' && c.batchSize > data.trainSamples && data.trainSamples > 0) c.batchSize = data.trainSamples;
    for (const key of DEPENDENT_DEFAULTS) {
      if (!given.has(key) && !Object.hasOwn(preset, key)) (c as unknown as Record<string, unknown>)[key] = defaultOf(key, c);
    }
  }
  if (given.has('maxSteps') && c.maxSteps > 0 && !given.has('epochs') && data.trainSamples > 0) c.epochs = epochsForSteps(c, data.trainSamples);
  return c;
}

/**
 * The epochs that --max-steps alone implies: enough to run its steps. With --batch-size auto the
 * steps per epoch are not known in advance (a larger B finishes an epoch in fewer steps), so the
 * epochs must not end the run first: every epoch takes at least one step, so N steps never
 * complete more than N epochs. (Derived at B0, 300 steps were 3 epochs, which B's growth ended
 * after 272 steps.) The schedule of such a run spans --max-steps (prepare.ts).
 */
function epochsForSteps(c: TrainConfig, trainSamples: number): number {
  if (c.batchSize === 'auto') return c.maxSteps;
  const batch = c.batchSize === 'full' ? trainSamples : c.batchSize;
  const perEpoch = c.dropLast ? Math.floor(trainSamples / batch) : Math.ceil(trainSamples / batch);
  return Math.max(1, Math.ceil(c.maxSteps / Math.max(1, perEpoch)));
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
  { option: 'baseBatchSize', inert: (c) => (c.lrRule === 'none' && c.batchSize !== 'auto' ? '--lr is used as given at every batch size (--lr-rule none); give --lr-rule linear or sqrt to scale it from here' : null) },
  { option: 'dropLast', inert: (c) => (c.batchSize === 'full' ? 'a full batch leaves no partial last batch' : null) },
  { option: 'workers', inert: (c) => (c.engine === 'inline' ? 'the inline engine runs one worker in the main thread; give --engine threads for more' : c.engine === 'ws' ? "the ws engine's workers are the `dptrain worker` processes that join" : null) },
  { option: 'blasLibrary', inert: (c) => (c.kernels === 'wasm' || c.kernels === 'js' ? `it applies to --kernels blas and auto (this run: ${c.kernels})` : null) },
  { option: 'evalEvery', inert: (c) => (c.valSplit === 0 ? 'there is no validation set (--val-split 0); give --val-split above 0' : null) },
  { option: 'patience', inert: (c) => (c.valSplit === 0 && c.monitor.startsWith('val') ? `there is no validation set to monitor (--val-split 0, --monitor ${c.monitor}); give --val-split above 0 or --monitor trainLoss` : null) },
  { option: 'monitor', inert: EARLY_STOPPING_OPTION },
  { option: 'minDelta', inert: EARLY_STOPPING_OPTION },
  { option: 'checkpointEvery', inert: CHECKPOINT_OPTION },
  { option: 'keep', inert: CHECKPOINT_OPTION },
  { option: 'maxNonfiniteInRow', inert: (c) => (c.onNonfinite === 'stop' ? 'the run stops at the first non-finite step (--on-nonfinite stop); give --on-nonfinite skip to use it' : null) },
  { option: 'batchnorm', inert: (c) => (hasBatchNorm(c.model) ? null : `the model ${c.model} has no BatchNorm layer (bn)`) },
  // With BatchNorm a training call is one pass (model.ts gradientSteps); evaluation still splits its rows.
  { option: 'microBatch', inert: microBatchWithBatchNorm, scope: (c) => (evaluatedSets(c) === null ? null : 'training steps') },
  { option: 'overwrite', inert: (c) => (c.out === null && c.checkpointDir === null ? 'there is no --out or --checkpoint-dir' : c.resume !== null ? 'a resumed run continues its files' : null) },
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
 * `typed`: the options the caller typed, when `options` holds others too (a resumed run's
 * checkpoint options): only those are warned about.
 */
export function resolveTrainOptions(options: Partial<TrainConfig> = {}, typed?: ReadonlySet<string>): ResolvedTrainOptions {
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(defaultTrainConfig, key)) {
      throw new ConfigError('unknownOption', `unknown training option "${key}" — see \`dptrain train --help\` for the list`);
    }
  }
  const given = givenKeys(options);
  const defined = definedFields(options);
  // A model preset brings its own training defaults (presets.ts); options given still win. An
  // optimizer given in place of the preset's takes that optimizer's own lr and momentum instead.
  const preset = presetTrainingDefaults(defined.model, defined.optimizer);
  const config: TrainConfig = { ...defaultTrainConfig, ...preset, ...defined };
  validateTrainConfig(config);
  for (const key of DEPENDENT_DEFAULTS) {
    if (!given.has(key) && !Object.hasOwn(preset, key)) (config as unknown as Record<string, unknown>)[key] = defaultOf(key, config);
  }
  // After the defaults: --monitor's follows --val-split.
  checkRestoreBest(config);
  const warnings = inertOptions(trainNoEffectRules, config, typed ?? given, (key) => defaultOf(key, config), flagOf);
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
  if (c.lrRule === 'adascale') return `lr ${peakLr} at batch ${c.baseBatchSize} (${origin === 'given' ? 'given' : base}), times the AdaScale gain at each step's batch size`;
  if (c.batchSize === 'auto') return `lr ${peakLr} at batch ${c.baseBatchSize} (${origin === 'given' ? 'given' : base})${c.lrRule === 'none' ? ' at every batch size (--lr-rule none)' : `, scaled by --lr-rule ${c.lrRule} to each step's batch size`}`;
  if (c.lrRule !== 'none') return `lr ${peakLr} (${base} at batch ${c.baseBatchSize}, scaled by --lr-rule ${c.lrRule} to batch ${batchSize})`;
  if (origin === 'given') return `lr ${peakLr} (given)`;
  if (origin === 'checkpoint') return `lr ${peakLr} (the checkpoint's)`;
  if (c.optimizer !== 'sgd') return `lr ${peakLr} (Adam's default; --lr sets it)`;
  if (c.lr !== SGD_DEFAULT_LR) return `lr ${peakLr} (default for batch ${batchSize}: ${SGD_DEFAULT_LR}·√(${batchSize}/${SGD_DEFAULT_LR_BATCH}), as 0.05 is too large for small batches; --lr sets it)`;
  return `lr ${peakLr} (default; --lr sets it)`;
}

/** Why --micro-batch does not split training with a BatchNorm model, and what it still splits (null without BatchNorm). */
function microBatchWithBatchNorm(c: TrainConfig): string | null {
  if (!hasBatchNorm(c.model)) return null;
  const evaluated = evaluatedSets(c);
  const still = evaluated === null ? ', and this run evaluates nothing (--val-split 0)' : `; only ${evaluated} is computed ${c.microBatch} samples at a time`;
  return `a model with BatchNorm computes each worker's part of a training batch in one pass, as BatchNorm's statistics must cover all of its samples${still} — to bound training memory, give a smaller --batch-size`;
}

/** What a run scores with the model's forward pass alone: "validation", "the test set", both, or null. */
function evaluatedSets(c: TrainConfig): string | null {
  const sets = [...(c.valSplit > 0 ? ['validation'] : []), ...(c.test !== null || c.evalOn === 'test' ? ['the test set'] : [])];
  return sets.length === 0 ? null : sets.join(' and ');
}

/** Whether a model spec has a BatchNorm layer (false for a spec that does not parse: the run reports that). */
function hasBatchNorm(model: string): boolean {
  try {
    const spec = parseModelSpec(model);
    return spec.kind === 'cnn' && spec.layers.some((l) => l.type === 'batchnorm');
  } catch {
    return false;
  }
}
