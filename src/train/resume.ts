/**
 * --resume: which checkpoint a run continues from, the options it continues with, and the check
 * that nothing which shapes the run's trajectory changed (docs/reliability.md: a checkpoint of
 * another model or dataset is refused, naming the difference).
 */
import { ConfigError, DptrainError, shown } from '../errors.js';
import { loadKernels, type KernelsName } from '../kernels/index.js';
import { defaultTrainConfig, flagOf, type TrainConfig } from './config.js';
import { resolveTrainOptions, type LrOrigin } from './defaults.js';
import { givenKeys, warningFields } from './option-effects.js';
import type { CheckpointMeta } from './checkpoint.js';
import { findLatestCheckpoint, type LatestCheckpoint } from './checkpoint-store.js';
import { openInitFile } from './run-dir.js';

interface Logger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Options that shape the sequence of parameters: a resumed run must keep the checkpoint's. */
const TRAJECTORY_KEYS = [
  'batchSize', 'lr', 'optimizer', 'momentum', 'nesterov', 'weightDecay', 'beta1', 'beta2', 'eps', 'clipNorm',
  'lrSchedule', 'warmupEpochs', 'stepEpochs', 'gamma', 'minLr', 'lrRule', 'baseBatchSize', 'dropLast',
  'valSplit', 'standardize', 'seed', 'reduceChunks', 'minBatchSize', 'maxBatchSize', 'adaptEvery', 'stepTimeModel',
] as const satisfies readonly (keyof TrainConfig)[];

/** Options that change float rounding only: allowed, with a warning that bit-identity is lost. */
const ROUNDING_KEYS = ['workers', 'engine', 'kernels', 'blasLibrary', 'microBatch'] as const satisfies readonly (keyof TrainConfig)[];

/** The latest valid checkpoint in `dir`; each newer unusable one is reported and passed over. */
export async function loadResumePoint(dir: string, log: Logger): Promise<LatestCheckpoint> {
  const found = await findLatestCheckpoint(dir);
  for (const r of found?.rejected ?? []) {
    log.warn({ path: r.path, reason: r.reason }, `${r.reason}; using the checkpoint before it`);
  }
  if (!found) {
    throw new ConfigError('noCheckpoint', `--resume ${dir}: the directory holds no valid checkpoint (ckpt-*.safetensors) — check the path, or start the run without --resume`);
  }
  const m = found.checkpoint.meta;
  log.info({ path: found.path, step: m.step, epoch: m.epoch }, `resuming from ${found.path}: step ${m.step}, epoch ${m.epoch + 1}, step ${m.position} of the epoch`);
  return found;
}

/**
 * Options a resumed run does not take from its checkpoint: --init and --resume describe how a run
 * starts, and it checkpoints into the directory it resumed from (which may have been moved) unless
 * --checkpoint-dir is given again.
 */
const NOT_RESUMED = new Set(['init', 'resume', 'checkpointDir', 'overwrite']);

/**
 * The options of a resumed run: the checkpoint's, under the ones given now. So `--resume DIR`
 * alone continues the run as it was started; a flag given again must agree (checkResumable).
 */
export function resumedOptions(meta: CheckpointMeta, given: Partial<TrainConfig>): Partial<TrainConfig> {
  const saved: Record<string, unknown> = {};
  for (const key of Object.keys(defaultTrainConfig)) {
    if (!NOT_RESUMED.has(key) && Object.hasOwn(meta.config, key)) saved[key] = meta.config[key];
  }
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  return { ...saved, ...defined } as Partial<TrainConfig>;
}

const silent: Logger = { info() {}, warn() {} };

/** A run's resolved options. */
export interface ResolvedRun {
  config: TrainConfig;
  /** The checkpoint the run continues from (`resume`), or null. */
  resumed: LatestCheckpoint | null;
  /** The keys given now (a model taken from the --init file counts as given). */
  given: Set<string>;
  /** Where `lr` came from, for the start-up line. */
  lrOrigin: LrOrigin;
}

/**
 * The configuration of a run with these options, and the checkpoint it continues from (with
 * `resume`): the checkpoint's options under the given ones (resumedOptions). Each given option
 * that has no effect is warned about here, once (option-effects.ts).
 */
export async function resolveRun(options: Partial<TrainConfig>, log: Logger = silent): Promise<ResolvedRun> {
  const resumed = typeof options.resume === 'string' && options.resume !== '' ? await loadResumePoint(options.resume, log) : null;
  // --init without --model: the model the file was saved for, so that the default cannot conflict with it.
  const initModel = !resumed && typeof options.init === 'string' && options.model === undefined ? await modelOfParameterFile(options.init) : null;
  const chosen = initModel ? { ...options, model: initModel } : options;
  const { config, warnings } = resolveTrainOptions(resumed ? resumedOptions(resumed.checkpoint.meta, chosen) : chosen);
  for (const warning of warnings) log.warn(warningFields(warning), warning.message);
  const given = givenKeys(chosen);
  return { config, resumed, given, lrOrigin: given.has('lr') ? 'given' : resumed ? 'checkpoint' : 'default' };
}

/** The model spec a parameters or checkpoint file names in its metadata (`dptrain.model`), or null. */
async function modelOfParameterFile(file: string): Promise<string | null> {
  const st = await openInitFile(file);
  await st.close();
  const model = st.header.metadata['dptrain.model'];
  return typeof model === 'string' && model !== '' ? model : null;
}

/** resolveRun's config, for commands that need it before train() (the coordinator loads the dataset first). Warns nothing: train() does. */
export async function resolveRunConfig(options: Partial<TrainConfig>): Promise<TrainConfig> {
  return (await resolveRun(options)).config;
}

export interface ResumeTarget {
  config: TrainConfig;
  model: string;
  numParams: number;
  dataset: string;
  datasetHash: string;
}

/** Refuses a checkpoint whose model, data or trajectory options differ; warns where only rounding changes. */
export function checkResumable(meta: CheckpointMeta, path: string, now: ResumeTarget, log: Logger): void {
  const problems: string[] = [];
  if (meta.model !== now.model) problems.push(`model: the checkpoint holds ${meta.model}, this run builds ${now.model}`);
  else if (meta.numParams !== now.numParams) problems.push(`parameters: the checkpoint holds ${meta.numParams}, this model has ${now.numParams}`);
  if (meta.datasetHash !== now.datasetHash) {
    problems.push(`dataset: the checkpoint was trained on ${meta.dataset} (${meta.datasetHash}), this run loaded ${now.dataset} (${now.datasetHash})`);
  }
  for (const key of TRAJECTORY_KEYS) {
    // An option newer than the checkpoint's version had its default then.
    const saved = Object.hasOwn(meta.config, key) ? meta.config[key] : defaultTrainConfig[key];
    if (!sameValue(saved, now.config[key])) problems.push(`${flagOf(key)}: the checkpoint used ${shown(saved)}, this run ${shown(now.config[key])}`);
  }
  // --batchnorm changes the trajectory of a model with BatchNorm (checkpoints before it have no such model).
  if (meta.config.batchnorm !== undefined && !sameValue(meta.config.batchnorm, now.config.batchnorm)) {
    problems.push(`--batchnorm: the checkpoint used ${shown(meta.config.batchnorm)}, this run ${shown(now.config.batchnorm)}`);
  }
  if (problems.length > 0) {
    throw new ConfigError('resumeMismatch', `cannot resume from ${path}: ${problems.join('; ')} — resume with the checkpoint's settings (--resume alone reuses them), or start a new run`);
  }
  for (const key of ROUNDING_KEYS) {
    if (!sameValue(meta.config[key], now.config[key])) {
      log.warn({ option: flagOf(key), checkpoint: meta.config[key], now: now.config[key] }, `${flagOf(key)} is ${shown(now.config[key])} but the checkpoint ran with ${shown(meta.config[key])}: the run continues correctly, but float rounding differs from an uninterrupted run`);
    }
  }
}

/**
 * The config a checkpoint records. With --kernels auto it records the set auto chose: the speed
 * probe can choose another under load, and the sets differ in float rounding, so a resumed run
 * keeps the checkpoint's set (as --workers auto keeps its engine). The ws engine's workers choose
 * their own sets, so its config stays as given.
 */
export function checkpointConfig(config: TrainConfig, engine: { kind: string; kernelsReport?: { name: KernelsName } }): Record<string, unknown> {
  const ran = engine.kind !== 'ws' && config.kernels === 'auto' ? engine.kernelsReport?.name : undefined;
  return ran ? { ...config, kernels: ran } : { ...config };
}

/** Kernel sets that may be missing on the machine a run resumes on: auto then chooses again. */
const UNLOADABLE = new Set(['dptrain.kernels.blasUnavailable', 'dptrain.kernels.blasSelfTest', 'dptrain.kernels.wasmUnavailable']);

/**
 * The kernel set of a resumed run not given --kernels: its checkpoint's, where that set loads here;
 * else auto, with a warning that rounding may differ from the uninterrupted run.
 */
export async function resumedKernels(config: TrainConfig, log: Logger): Promise<TrainConfig['kernels']> {
  if (config.kernels === 'auto' || config.kernels === 'js') return config.kernels;
  try {
    await loadKernels(config.kernels, { blasLibrary: config.blasLibrary });
    return config.kernels;
  } catch (error) {
    if (!(error instanceof DptrainError && UNLOADABLE.has(error.code))) throw error;
    log.warn({ checkpoint: config.kernels, code: error.code }, `the checkpoint ran on the ${config.kernels} kernels, which do not load here (${error.message}); --kernels auto chooses again: the run continues correctly, but float rounding may differ from an uninterrupted run`);
    return 'auto';
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));
}
