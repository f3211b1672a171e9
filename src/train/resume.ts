/**
 * --resume: which checkpoint a run continues from, the options it continues with, and the check
 * that nothing which shapes the run's trajectory changed (docs/reliability.md: a checkpoint of
 * another model or dataset is refused, naming the difference).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, DptrainError, shown } from '../errors.js';
import { definedFields, plural } from '../util/index.js';
import { loadKernels, type KernelsName } from '../kernels/index.js';
import { isModelFilePath } from '../model/index.js';
import { datasetSpecWithPaths } from '../data/spec.js';
import { defaultTrainConfig, flagOf, resumeWithInit, type TrainConfig } from './config.js';
import { resolveTrainOptions, type LrOrigin } from './defaults.js';
import { givenKeys, warningFields } from './option-effects.js';
import type { CheckpointMeta } from './checkpoint.js';
import { findLatestCheckpoint, type LatestCheckpoint } from './checkpoint-store.js';
import { openInitFile } from './run-dir.js';
import { savedStopRequest } from './state.js';

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
  return found;
}

/** `resuming from DIR/ckpt-….safetensors: step 50, epoch 1, step 50 of the epoch`, once the options are checked. */
export function reportResumePoint(found: LatestCheckpoint, log: Logger): void {
  const m = found.checkpoint.meta;
  log.info({ path: found.path, step: m.step, epoch: m.epoch }, `resuming from ${found.path}: step ${m.step}, epoch ${m.epoch + 1}, step ${m.position} of the epoch`);
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
  // A model file was read once, when the run started: its canonical text stands for it, so the
  // file may since have moved or changed, and relative paths need not start where they did.
  if (typeof saved.model === 'string' && isModelFilePath(saved.model.trim())) saved.model = meta.model;
  Object.assign(saved, recordedPaths(saved, runPathResolver(meta)));
  return { ...saved, ...definedFields(given) } as Partial<TrainConfig>;
}

/**
 * The directory the run in `meta` started in (its config's `cwd`), where its relative paths start:
 * null when it records none (an earlier dptrain), is this process's, or is gone (the whole tree
 * moved), so that they start here, as typed.
 */
function recordedCwd(meta: CheckpointMeta): string | null {
  const cwd = meta.config.cwd;
  if (typeof cwd !== 'string' || !path.isAbsolute(cwd) || cwd === process.cwd()) return null;
  try {
    return fs.statSync(cwd).isDirectory() ? cwd : null;
  } catch {
    return null;
  }
}

/** Resolves a path the run in `meta` recorded as typed: a relative one from where that run started (recordedCwd). */
export function runPathResolver(meta: CheckpointMeta): (file: string) => string {
  const cwd = recordedCwd(meta);
  return (file) => (cwd === null || path.isAbsolute(file) ? file : path.resolve(cwd, file));
}

/**
 * The recorded options that name files or directories, resolved. Not --blas-library: a relative
 * one is rare, a soname is no path, and the checkpoint's value is compared as recorded.
 */
function recordedPaths(saved: Record<string, unknown>, resolve: (file: string) => string): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const key of ['out', 'dataDir'] as const) if (typeof saved[key] === 'string') paths[key] = resolve(saved[key]);
  for (const key of ['dataset', 'test'] as const) if (typeof saved[key] === 'string') paths[key] = datasetSpecWithPaths(saved[key], resolve);
  return paths;
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
  const resuming = typeof options.resume === 'string' && options.resume !== '';
  // Said before the checkpoint is read: the command's mistake comes first.
  if (resuming && options.init !== undefined && options.init !== null) throw resumeWithInit();
  const resumed = resuming ? await loadResumePoint(options.resume as string, log) : null;
  // --init without --model: the model the file was saved for, so that the default cannot conflict with it.
  const initModel = !resumed && typeof options.init === 'string' && options.model === undefined ? await modelOfParameterFile(options.init) : null;
  const chosen = initModel ? { ...options, model: initModel } : options;
  const given = givenKeys(chosen);
  // A resumed run warns about the options given now only, not about the checkpoint's (docs/cli.md: given = typed).
  const { config, warnings } = resumed ? resolveTrainOptions(resumedOptions(resumed.checkpoint.meta, chosen), given) : resolveTrainOptions(chosen);
  for (const warning of warnings) log.warn(warningFields(warning), warning.message);
  return { config, resumed, given, lrOrigin: given.has('lr') ? 'given' : resumed ? 'checkpoint' : 'default' };
}

/** The model spec a parameters or checkpoint file names in its metadata (`dptrain.model`), or null. */
async function modelOfParameterFile(file: string): Promise<string | null> {
  const st = await openInitFile(file);
  await st.close();
  const model = st.header.metadata['dptrain.model'];
  return typeof model === 'string' && model !== '' ? model : null;
}

/**
 * resolveRun's config and checkpoint, for commands that need them before train() (the coordinator
 * loads the dataset first, and takes its own options back from the checkpoint). `ownProblems`: how
 * the command's own options differ from the checkpoint's where they shape the run; any are refused
 * together with the training options that differ (train() refuses those alone). Warns nothing: train() does.
 */
export async function resolveRunConfig(options: Partial<TrainConfig>, ownProblems?: (meta: CheckpointMeta) => string[]): Promise<{ config: TrainConfig; resumed: LatestCheckpoint | null }> {
  const { config, resumed } = await resolveRun(options);
  const own = resumed && ownProblems ? ownProblems(resumed.checkpoint.meta) : [];
  if (own.length > 0) throw resumeMismatch(resumed!.path, [...optionProblems(resumed!.checkpoint.meta, config), ...own]);
  return { config, resumed };
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
  problems.push(...optionProblems(meta, now.config));
  if (problems.length > 0) throw resumeMismatch(path, problems);
  const engineChanged = !sameValue(meta.config.engine, now.config.engine);
  for (const key of ROUNDING_KEYS) {
    // The engine's line says it: another engine runs its own workers.
    if (key === 'workers' && engineChanged) continue;
    if (!sameValue(meta.config[key], now.config[key])) {
      log.warn({ option: flagOf(key), checkpoint: meta.config[key], now: now.config[key] }, `${flagOf(key)} is ${shown(now.config[key])} but the checkpoint ran with ${shown(meta.config[key])}: the run continues correctly, but float rounding differs from an uninterrupted run`);
    }
  }
}

/** The trajectory options of `config` that differ from the checkpoint's, one phrase each. */
function optionProblems(meta: CheckpointMeta, config: TrainConfig): string[] {
  const problems: string[] = [];
  for (const key of TRAJECTORY_KEYS) {
    // An option newer than the checkpoint's version had its default then.
    const saved = Object.hasOwn(meta.config, key) ? meta.config[key] : defaultTrainConfig[key];
    if (!sameValue(saved, config[key])) problems.push(`${flagOf(key)}: the checkpoint used ${shown(saved)}, this run ${shown(config[key])}`);
  }
  // --batchnorm changes the trajectory of a model with BatchNorm (checkpoints before it have no such model).
  if (meta.config.batchnorm !== undefined && !sameValue(meta.config.batchnorm, config.batchnorm)) {
    problems.push(`--batchnorm: the checkpoint used ${shown(meta.config.batchnorm)}, this run ${shown(config.batchnorm)}`);
  }
  return problems;
}

function resumeMismatch(path: string, problems: string[]): ConfigError {
  return new ConfigError('resumeMismatch', `cannot resume from ${path}: ${problems.join('; ')} — resume with the checkpoint's settings (--resume alone reuses them), or start a new run`);
}

/**
 * Why a resumed run has nothing left to train (a warning's text, naming the fix), or null when it
 * has steps to run: the checkpoint is of the run's end (its epochs, --max-steps, early stopping or a callback's stop).
 */
export function finishedRun(found: LatestCheckpoint, config: TrainConfig, totalSteps: number): string | null {
  const m = found.checkpoint.meta;
  const stop = savedStopRequest(m.loop);
  let why: string;
  let fix: string;
  if (stop !== null) {
    why = `${stop.by === 'callback' ? 'a callback stopped it' : 'early stopping ended it'} (${stop.reason})`;
    fix = `start a new run to train on (--init ${found.path} starts from its parameters)`;
  } else if (config.maxSteps > 0 && m.step >= config.maxSteps) {
    why = `it reached --max-steps ${config.maxSteps}`;
    fix = 'give a larger --max-steps (0: no limit) to train on';
  } else if (m.step >= totalSteps || (m.position === 0 && m.epoch >= config.epochs)) {
    why = `it ran its ${plural(config.epochs, 'epoch')}, --epochs ${config.epochs}`;
    fix = 'give a larger --epochs to train on';
  } else {
    return null;
  }
  return `nothing to train: the run checkpointed in ${path.dirname(found.path)} had already finished at step ${m.step} (${why}), so its outputs and checkpoints are left as they were — ${fix}`;
}

/**
 * Refuses an --out that holds another run than the checkpoint's (docs/formats.md: two runs never
 * mix): its config.json must record the checkpoint's model, data and trajectory options, which no
 * resume changes. An --out without config.json (new, empty, or other files only) is fine.
 */
export async function checkOutHoldsRun(out: string, found: LatestCheckpoint): Promise<void> {
  const differences = await differencesFromRun(path.join(out, 'config.json'), found.checkpoint.meta);
  if (differences.length === 0) return;
  throw new ConfigError('outDirInUse', `--out ${out} holds another run than the one checkpointed in ${path.dirname(found.path)} (${differences.slice(0, 3).join('; ')}) — resume with the --out that run wrote to, or give a new --out`);
}

/** How the run recorded in `file` (a config.json) differs from the checkpoint's: none when it is the same run, or there is no such file. */
async function differencesFromRun(file: string, meta: CheckpointMeta): Promise<string[]> {
  let recorded: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(await fs.promises.readFile(file, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return ['its config.json is not a run\'s config'];
    recorded = parsed as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    return [`its config.json cannot be read as a run's config (${code ?? (error as Error).message})`];
  }
  const resolved = (typeof recorded.resolved === 'object' && recorded.resolved !== null ? recorded.resolved : {}) as Record<string, unknown>;
  const pairs: [string, unknown, unknown][] = [
    ['model', resolved.model, meta.model],
    ['data', resolved.datasetHash, meta.datasetHash],
    ...[...TRAJECTORY_KEYS, 'batchnorm' as const].map((key): [string, unknown, unknown] => [flagOf(key), recorded[key], meta.config[key]]),
  ];
  // A field one side lacks (an older version's file) tells nothing.
  return pairs.filter(([, there, saved]) => there !== undefined && saved !== undefined && !sameValue(there, saved)).map(([what, there, saved]) => `${what}: ${shown(there)} there, ${shown(saved)} in the checkpoint`);
}

/**
 * The config a checkpoint records. With --kernels auto it records the set auto chose: the speed
 * probe can choose another under load, and the sets differ in float rounding, so a resumed run
 * keeps the checkpoint's set (as --workers auto keeps its engine). The ws engine's workers choose
 * their own sets, so its config stays as given; it adds the coordinator's options (`coordinator`),
 * which `dptrain coordinator --resume` takes back; and `cwd`, where the run's relative paths start
 * (runPathResolver).
 */
export function checkpointConfig(config: TrainConfig, engine: { kind: string; kernelsReport?: { name: KernelsName }; coordinatorRecord?: Readonly<Record<string, unknown>> }): Record<string, unknown> {
  const ran = engine.kind !== 'ws' && config.kernels === 'auto' ? engine.kernelsReport?.name : undefined;
  return { ...config, cwd: process.cwd(), ...(ran && { kernels: ran }), ...(engine.coordinatorRecord && { coordinator: { ...engine.coordinatorRecord } }) };
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
