/**
 * Everything train() settles before its first step: the configuration (and the checkpoint it
 * resumes from), the data, the model and its initial parameters, batches and learning-rate
 * schedule, checkpoints, the run directory, the engine, and the loop state. What this returns is
 * read-only to the loop, except `state`.
 */
import fs from 'node:fs';
import {
  applyStandardization,
  datasetHash,
  fitStandardization,
  checkInMemoryDataset,
  loadDataset,
  parseDatasetSpec,
  REGISTRY,
  resolveBatchSize,
  splitDataset,
  stepsPerEpoch as countStepsPerEpoch,
  type Dataset,
  type Standardization,
} from '../data/index.js';
import type { Engine, EngineSetup, FaultInjection } from '../engine/index.js';
import type { ModelAbout } from '../io/index.js';
import { modelAboutOf } from './about.js';
import { ConfigError } from '../errors.js';
import { initParams, outputLayerWarning, paramLayout, parseModelSpec, type ModelSpec, type ParamLayout } from '../model/index.js';
import { scaleLearningRate, type LrRule, type ScheduleConfig } from '../optim/index.js';
import type { Callback, EarlyStoppingRule, RunInfo } from './callbacks.js';
import { availableCores, parseBatchNormMode, parseCheckpointEvery, type CheckpointInterval, type TrainConfig } from './config.js';
import { checkBatchNormBatches } from './batchnorm-check.js';
import { openRunEngine, type WorkersChoice } from './auto-workers.js';
import { fitDefaultsToData, type LrOrigin } from './defaults.js';
import { checkDataSuitsModel, checkModelFitsData, fitTestSet } from './compatibility.js';
import { hiddenWidthsWarning } from './model-sizing.js';
import { RunDirectory, loadParameters } from './run-dir.js';
import { CheckpointStore, listCheckpoints, type CheckpointWriteHooks, type LatestCheckpoint } from './checkpoint-store.js';
import { checkOutHoldsRun, checkResumable, finishedRun, reportResumePoint, resolveRun, resumedKernels } from './resume.js';
import { warningFields } from './option-effects.js';
import { freshLoopState, restoreLoopState, type LoopState } from './state.js';
import { StepTimings } from './timing.js';
import { warnAboutRunSettings } from './run-warnings.js';
import { AdaptiveBatch, freshAdaptiveState, resolveAdaptiveSettings } from './adaptive/index.js';

/** Where the run's messages go; pino's logger fits. Silent by default. */
export interface TrainLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface TrainHooks {
  callbacks?: Callback[];
  logger?: TrainLogger;
  /**
   * A dataset already in memory, trained on instead of loading `config.dataset`: the run records
   * its spec as `dataset` (a `dataset` option given too has no effect, and is warned about).
   */
  data?: Dataset;
  /**
   * Ends the run at the next step boundary once aborted (the step in flight finishes first).
   * The loop checks it between steps only (shouldStop in loop.ts).
   */
  signal?: AbortSignal;
  /** Test-only: make worker tasks fail (threads engine) to exercise recovery. */
  faults?: FaultInjection[];
  /** Called at each phase of a checkpoint write (tests kill the process there). */
  checkpointWrites?: CheckpointWriteHooks;
}

/** A run ready for its first (or, resumed, its next) step. */
export interface PreparedRun {
  config: TrainConfig;
  log: TrainLogger;
  callbacks: Callback[];
  signal: AbortSignal | null;
  /** The checkpoint this run continues from, or null. */
  resumed: LatestCheckpoint | null;
  /** A resumed run that had already finished: why (it trains nothing and writes nothing); else null. */
  finished: string | null;
  /** The kernel set is the checkpoint's, not given now (resumedKernels). */
  kernelsFromCheckpoint: boolean;
  /** The spec of the data trained on, and the hash of its samples. */
  dataset: { spec: string; hash: string };
  /** What the model files say about the data (`dptrain.about`, docs/formats.md). */
  about: ModelAbout;
  trainSet: Dataset;
  valSet: Dataset | null;
  /** The test set (--test, or the official test split with --eval-on test), matched to the model as evaluate matches a dataset (fitTestSet) and standardised like train; null without one. */
  testSet: Dataset | null;
  isClassifier: boolean;
  model: ModelSpec;
  layout: ParamLayout;
  /** The global batch size (--batch-size full resolved; auto: the first step's). */
  batchSize: number;
  /** --batch-size auto (or --lr-rule adascale): chooses each step's rows and learning-rate gain; null otherwise. */
  adaptive: AdaptiveBatch | null;
  stepsPerEpoch: number;
  /** Steps of the whole run: epochs × steps per epoch, or --max-steps when smaller. */
  totalSteps: number;
  /** metrics.jsonl gets the step records of steps 0, logEvery, 2·logEvery, ... (--log-every resolved). */
  logEvery: number;
  /** The learning rate after --lr-rule, before the schedule. */
  peakLr: number;
  /** Where config.lr came from (given, a default, the checkpoint), for the start-up line. */
  lrOrigin: LrOrigin;
  schedule: ScheduleConfig;
  /** --patience > 0 or --restore-best: how the loop judges each epoch (patience 0: never stops); null when neither is on. */
  earlyStopping: EarlyStoppingRule | null;
  store: CheckpointStore | null;
  checkpointEvery: CheckpointInterval;
  runDir: RunDirectory | null;
  engine: Engine;
  info: RunInfo;
  /** The loop's only mutable state. */
  state: LoopState;
}

/** --log-every 0 (auto): at most about this many step records in a run's metrics.jsonl. */
export const AUTO_LOGGED_STEPS = 10_000;

/** Resolves, loads and creates everything the loop needs; on failure nothing is left open. */
export async function prepareRun(options: Partial<TrainConfig>, given: TrainHooks, log: TrainLogger): Promise<PreparedRun> {
  // In-memory data (hooks.data) is checked as a loader's output is; null is as good as none.
  const hooks = given.data == null ? { ...given, data: undefined } : { ...given, data: checkInMemoryDataset(given.data) };
  // --resume: the latest valid checkpoint, whose options the run keeps unless given again.
  const run = await resolveRun(options, log);
  const { resumed } = run;
  // In-memory data: the run trains on it, so it records its spec; a dataset named too has no effect.
  const config = hooks.data ? { ...run.config, dataset: hooks.data.spec } : run.config;
  if (hooks.data) warnAboutDatasetOption(options.dataset, hooks.data.spec, log);

  // Data: load, split train/validation with the run's seed, optionally standardise on train statistics.
  const { trainSet, valSet, testData, dataset, loaded, stats } = await prepareData(config, hooks.data);
  // What no model can fix is said about the data, before a spec is sized from it.
  // All the data's labels, not the training split's: a class only the split left out is no mistake of the data.
  checkDataSuitsModel(loaded, config.dataset, run.given.has('model') ? config.model : null);
  // Defaults that follow the data (model, batch, epochs for --max-steps); see fitDefaultsToData.
  const typedModel = config.model;
  Object.assign(config, fitDefaultsToData(config, run.given, { ...trainSet, trainSamples: trainSet.n }, resumed !== null));
  const widths = run.given.has('model') ? hiddenWidthsWarning(typedModel, trainSet) : null;
  if (widths !== null) log.warn({ model: typedModel, resolved: config.model }, widths);

  // Model: parse, check it fits the data, initialise or load parameters.
  const model = parseModelSpec(config.model);
  checkModelFitsData(model, trainSet, config.dataset);
  // Said once, when the model is chosen: a resumed run's was said when it started.
  const afterOutput = resumed ? null : outputLayerWarning(model);
  if (afterOutput !== null) log.warn({ model: model.text }, afterOutput);
  const about = modelAboutOf(loaded, model, stats, { valSplit: config.valSplit, seed: config.seed }, dataset.hash);
  // The test set matched to the model as evaluate matches a dataset: columns and classes by name, standardised.
  const testSet = testData && fitTestSet(testData, trainSet, about, config.dataset);
  const layout = paramLayout(model);
  if (resumed) {
    checkResumable(resumed.checkpoint.meta, resumed.path, { config, model: model.text, numParams: layout.size, dataset: dataset.spec, datasetHash: dataset.hash }, log);
    if (!run.given.has('kernels')) config.kernels = await resumedKernels(config, log);
  }
  const initial = resumed
    ? resumed.checkpoint.params
    : config.init
      ? await loadParameters(config.init, layout, model.text)
      : (initParams(model, config.seed) as Float32Array);

  // Batches, learning rate and logging; what early stopping and --restore-best watch.
  const adaptiveSettings = resolveAdaptiveSettings(config, trainSet.n);
  const steps = planSteps(config, trainSet.n, adaptiveSettings === null ? null : freshAdaptiveState(adaptiveSettings, 1).batchSize);
  const lastBatch = config.dropLast ? steps.batchSize : trainSet.n % steps.batchSize || steps.batchSize;
  const slots = config.engine === 'ws' ? 0 : config.reduceChunks > 0 ? config.reduceChunks : config.engine === 'inline' ? 1 : config.workers === 'auto' ? availableCores() : config.workers;
  checkBatchNormBatches(model, { mode: parseBatchNormMode(config.batchnorm), batchSize: steps.batchSize, lastBatch, trainSamples: trainSet.n, slots });
  const watchBest = config.patience > 0 || config.restoreBest;
  const earlyStopping = watchBest ? { monitor: config.monitor, patience: config.patience, minDelta: config.minDelta } : null;
  // The loop's bound: with adaptive batches, the epochs (and --max-steps) end the run; info keeps the estimate.
  const totalSteps = adaptiveSettings ? (config.maxSteps > 0 ? config.maxSteps : Number.POSITIVE_INFINITY) : steps.totalSteps;

  // A resumed run that has nothing left to train leaves its outputs and checkpoints as they are.
  const finished = resumed ? finishedRun(resumed, config, totalSteps) : null;

  // Checkpoints and outputs: checked before anything is written (a resumed run's --out must hold no other run).
  if (resumed && config.out && !finished) await checkOutHoldsRun(config.out, resumed);
  const store = finished ? null : await openCheckpointStore(config, resumed, log, hooks.checkpointWrites);
  const start = resumed?.checkpoint.meta;
  const runDir = config.out && !finished ? await RunDirectory.open(config.out, start ? { step: start.step, epoch: start.epoch } : undefined, { overwrite: config.overwrite, log }) : null;
  // Said once the options, the checkpoint and the directories are known to fit.
  if (resumed && finished) log.warn({ path: resumed.path, step: resumed.checkpoint.meta.step }, finished);
  else if (resumed) reportResumePoint(resumed, log);
  else if (config.init) {
    const batchNorm = model.kind === 'cnn' && model.layers.some((l) => l.type === 'batchnorm');
    log.info({ init: config.init }, `starting from the parameters of ${config.init}${batchNorm ? ' (its BatchNorm running statistics are not loaded: they start fresh)' : ''}`);
  }

  const cores = availableCores();
  const stepsPerEpoch = adaptiveSettings === null ? steps.stepsPerEpoch : null;
  warnAboutRunSettings(config, run.given, { cores, stepsPerEpoch, totalSteps: steps.totalSteps, hasValidation: valSet !== null, schedule: steps.schedule, peakLr: steps.peakLr }, log);

  // Engine: from here on, every exit path closes it (a thread pool keeps the process alive).
  let engine: Engine;
  let workersChoice: WorkersChoice | null;
  try {
    // --workers auto (the default with threads): inline or a thread pool, by a probe (auto-workers.ts).
    ({ engine, choice: workersChoice } = await openRunEngine(
      config.engine,
      config.workers,
      { ...engineSetup(config, trainSet, valSet), model, params: initial, optimizerState: resumed?.checkpoint.optimizerState, buffers: resumed?.checkpoint.buffers },
      {
        batchSize: steps.batchSize,
        cores,
        saved: resumed?.checkpoint.meta ?? null,
        threads: { faults: hooks.faults, onWarning: (message, fields) => log.warn(fields, message) },
        // The ws engine: what withCoordinator()'s options leave out comes from this run.
        run: { loaded, datasetSpec: config.dataset, valSplit: config.valSplit, standardize: config.standardize, signal: hooks.signal, log },
      },
    ));
  } catch (error) {
    await runDir?.abandon();
    throw error;
  }

  if (model.kind === 'cnn' && model.layers.some((l) => l.type === 'batchnorm') && config.batchnorm === 'local') {
    log.info({ batchnorm: 'local', workers: engine.workers }, `--batchnorm local: each worker normalizes over its own shard, so results depend on the worker count (${engine.workers} here); the running statistics are updated from the whole global batch, the same on every replica (--batchnorm sync gives the same result at any worker count)`);
  }
  // The loop state: fresh, or the checkpoint's.
  const timings = new StepTimings(engine.workers);
  const state = resumed ? restoreLoopState(resumed.checkpoint, resumed.path, watchBest, config.restoreBest, timings) : freshLoopState(watchBest, timings);
  if (adaptiveSettings) state.adaptive ??= freshAdaptiveState(adaptiveSettings, engine.workers);
  else state.adaptive = null;
  // A resumed run's history: every epoch record in metrics.jsonl when it holds them all.
  if (runDir && runDir.keptEpochs.length === state.epoch && state.epoch > state.history.length) state.history = runDir.keptEpochs;
  if (config.restoreBest && state.earlyStopping?.best != null && state.bestParams === null) {
    log.warn({ path: resumed?.path }, `${resumed?.path} holds no best weights (its run did not use --restore-best): the best ${config.monitor} so far is kept, and the final weights are the best epoch's only if a later epoch improves on it`);
  }
  const info: RunInfo = {
    model: model.text,
    numParams: layout.size,
    dataset: config.dataset,
    trainSamples: trainSet.n,
    valSamples: valSet?.n ?? 0,
    batchSize: steps.batchSize,
    stepsPerEpoch: steps.stepsPerEpoch,
    epochs: config.epochs,
    totalSteps: steps.totalSteps,
    logEvery: steps.logEvery,
    lr: steps.peakLr,
    engine: engine.kind,
    workers: engine.workers,
    kernels: engine.kernels,
    optimizer: config.optimizer,
    lrSchedule: config.lrSchedule,
    warmupEpochs: config.warmupEpochs,
    workersChoice,
  };
  return {
    config,
    log,
    callbacks: [...(hooks.callbacks ?? [])],
    signal: hooks.signal ?? null,
    resumed,
    finished,
    kernelsFromCheckpoint: resumed !== null && !run.given.has('kernels') && config.kernels !== 'auto',
    dataset,
    about,
    trainSet,
    valSet,
    testSet,
    isClassifier: trainSet.task === 'classification',
    model,
    layout,
    ...steps,
    adaptive: adaptiveSettings && new AdaptiveBatch(adaptiveSettings),
    totalSteps,
    lrOrigin: run.lrOrigin,
    earlyStopping,
    store,
    checkpointEvery: parseCheckpointEvery(config.checkpointEvery),
    runDir,
    engine,
    info,
    state,
  };
}

/** A `dataset` option given with in-memory data (hooks.data) has no effect: warned about once, unless it names that data. */
function warnAboutDatasetOption(given: string | undefined, spec: string, log: TrainLogger): void {
  if (given === undefined || given === spec) return;
  const reason = `the run trains on the data passed in memory (hooks.data, ${spec}) and records its spec`;
  log.warn(warningFields({ option: 'dataset', flag: '--dataset', value: given, reason, message: '' }), `--dataset ${given} has no effect and is ignored: ${reason}`);
}

/**
 * The data of a run: loaded (or given), split with the run's seed, standardised on the training
 * statistics; and its test set as loaded (a CSV's label column found by the training file's label
 * name), which fitTestSet then matches to the model.
 */
async function prepareData(
  config: TrainConfig,
  given: Dataset | undefined,
): Promise<{ trainSet: Dataset; valSet: Dataset | null; testData: Dataset | null; dataset: { spec: string; hash: string }; loaded: Dataset; stats: Standardization | null }> {
  const downloads = { dataDir: config.dataDir ?? undefined, mirror: config.dataMirror ?? undefined };
  const loaded = given ?? (await loadDataset(config.dataset, downloads));
  const testSpec = testSpecOf(config);
  const testData = testSpec === null ? null : await loadDataset(testSpec, { ...downloads, labelColumn: loaded.labelColumn?.name, task: loaded.task });
  let { train: trainSet, val: valSet } = splitDataset(loaded, config.valSplit, config.seed);
  let stats: Standardization | null = null;
  if (config.standardize) {
    stats = fitStandardization(trainSet);
    trainSet = applyStandardization(trainSet, stats);
    valSet = valSet && applyStandardization(valSet, stats);
  }
  return { trainSet, valSet, testData, dataset: { spec: loaded.spec, hash: datasetHash(loaded) }, loaded, stats };
}

/** --test, else with --eval-on test a downloaded dataset's official test split; null for none. */
function testSpecOf(config: TrainConfig): string | null {
  if (config.test !== null) return config.test;
  if (config.evalOn !== 'test') return null;
  const { kind } = parseDatasetSpec(config.dataset);
  if (Object.hasOwn(REGISTRY, kind)) return `${kind}?split=test`;
  throw new ConfigError('badOption', `--eval-on test needs a test set: ${config.dataset} has no official test split — give --test SPEC (e.g. csv:test.csv or idx:t10k-images-idx3-ubyte.gz)`);
}

/**
 * Batches and learning rate with Keras fit semantics (LR scaled from the base batch size), and the
 * step-record cadence. With adaptive batches (`adaptiveStart`, the first B), the rate is --lr at
 * B0 (the loop multiplies it by the gain), the schedule counts base-batch steps (AdaScale's
 * scale-invariant iterations), and steps per epoch are an estimate at the first B.
 */
function planSteps(config: TrainConfig, trainSamples: number, adaptiveStart: number | null): Pick<PreparedRun, 'batchSize' | 'stepsPerEpoch' | 'totalSteps' | 'logEvery' | 'peakLr' | 'schedule'> {
  const batchSize = adaptiveStart ?? resolveBatchSize(config.batchSize as number | 'full', trainSamples);
  const scheduleBatch = adaptiveStart === null ? batchSize : Math.min(config.baseBatchSize, trainSamples);
  const stepsPerEpoch = countStepsPerEpoch(trainSamples, batchSize, config.dropLast);
  const scheduleSteps = countStepsPerEpoch(trainSamples, scheduleBatch, config.dropLast);
  const allSteps = config.epochs * stepsPerEpoch;
  const totalSteps = config.maxSteps > 0 ? Math.min(config.maxSteps, allSteps) : allSteps;
  const schedule: ScheduleConfig = {
    name: config.lrSchedule,
    warmupSteps: Math.round(config.warmupEpochs * scheduleSteps),
    // Auto: in base-batch steps (τ), up to --max-steps' worth, as a fixed B0 run's schedule.
    totalSteps: adaptiveStart === null ? totalSteps : config.maxSteps > 0 ? Math.min(config.maxSteps, config.epochs * scheduleSteps) : config.epochs * scheduleSteps,
    stepSize: Math.max(1, Math.round(config.stepEpochs * scheduleSteps)),
    gamma: config.gamma,
    minLr: config.minLr,
  };
  return {
    batchSize,
    stepsPerEpoch,
    totalSteps,
    logEvery: config.logEvery > 0 ? config.logEvery : Math.max(1, Math.ceil(totalSteps / AUTO_LOGGED_STEPS)),
    peakLr: adaptiveStart === null ? scaleLearningRate(config.lr, batchSize, config.baseBatchSize, config.lrRule as LrRule) : config.lr,
    schedule,
  };
}

/** The engine's setup from the config and the data (the model and parameters are added by the caller). */
function engineSetup(config: TrainConfig, train: Dataset, validation: Dataset | null): Omit<EngineSetup, 'model' | 'params' | 'optimizerState'> {
  const { optimizer: name, momentum, nesterov, weightDecay, beta1, beta2, eps } = config;
  return {
    train,
    validation,
    optimizer: { name, momentum, nesterov, weightDecay, beta1, beta2, eps },
    seed: config.seed,
    microBatch: config.microBatch > 0 ? config.microBatch : undefined,
    chunks: config.reduceChunks > 0 ? config.reduceChunks : undefined,
    kernels: config.kernels,
    blasLibrary: config.blasLibrary,
    batchNorm: parseBatchNormMode(config.batchnorm),
  };
}

/**
 * The checkpoint store, or null without one. A resumed run keeps checkpointing where it resumed
 * from, unless told otherwise; a new run never mixes its checkpoints with another run's.
 */
async function openCheckpointStore(config: TrainConfig, resumed: LatestCheckpoint | null, log: TrainLogger, hooks: CheckpointWriteHooks | undefined): Promise<CheckpointStore | null> {
  const dir = config.checkpointDir ?? config.resume;
  if (!dir) return null;
  const store = await CheckpointStore.open(dir, { keep: config.keep, log, hooks });
  if (!resumed) {
    const existing = await listCheckpoints(store.dir);
    if (existing.length > 0 && !config.overwrite) {
      throw new ConfigError('checkpointDirInUse', `--checkpoint-dir ${store.dir} already holds checkpoints of a run (the latest at step ${existing[0].step}) — continue that run with --resume ${store.dir}, pass --overwrite to delete them, or choose an empty directory`);
    }
    // --overwrite: a new run replaces the earlier run's checkpoints too.
    await Promise.all(existing.map((c) => fs.promises.rm(c.path, { force: true })));
    if (existing.length > 0) log.warn({ dir: store.dir, removed: existing.length }, `--overwrite: removed the earlier run's ${existing.length} checkpoint(s) from ${store.dir}`);
  }
  return store;
}
