/**
 * The training loop: one function that reads top to bottom. Each step: schedule, plan the batch,
 * compute and all-reduce the gradient sum (the engine), check, clip, update, log.
 */
import {
  applyStandardization,
  batchRange,
  datasetHash,
  fitStandardization,
  loadDataset,
  resolveBatchSize,
  splitDataset,
  stepsPerEpoch as countStepsPerEpoch,
  type Dataset,
} from '../data/index.js';
import { createEngine, type Engine, type FaultInjection, type GradientResult } from '../engine/index.js';
import { ConfigError, TrainError } from '../errors.js';
import { initParams, paramLayout, parseModelSpec, type ModelSpec } from '../model/index.js';
import { clipFactor, learningRate, scaleLearningRate, type ScheduleConfig } from '../optim/index.js';
import { EarlyStopping, type Callback, type RunInfo } from './callbacks.js';
import { availableCores, parseCheckpointEvery, type TrainConfig } from './config.js';
import { checkModelFitsData } from './compatibility.js';
import type { EpochRecord, EvalRecord, RunSummary, SkipRecord, StepRecord, StopReason } from './records.js';
import { StepTimings } from './timing.js';
import { GnsTracker } from './gns.js';
import { RunDirectory, loadParameters } from './run-dir.js';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint } from './checkpoint.js';
import { CheckpointStore, listCheckpoints, type CheckpointWriteHooks } from './checkpoint-store.js';
import { checkResumable, parseLoopState, resolveRun, type LoopState } from './resume.js';

/** Where the run's messages go; pino's logger fits. Silent by default. */
export interface TrainLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface TrainHooks {
  callbacks?: Callback[];
  logger?: TrainLogger;
  /** A dataset already in memory, used instead of loading `config.dataset`. */
  data?: Dataset;
  /** Test-only: make worker tasks fail (threads engine) to exercise recovery. */
  faults?: FaultInjection[];
  /** Called at each phase of a checkpoint write (tests kill the process there). */
  checkpointWrites?: CheckpointWriteHooks;
}

export interface TrainResult {
  config: TrainConfig;
  summary: RunSummary;
  /** One record per epoch, as Keras' History. */
  history: EpochRecord[];
  /** Final parameters, flat, in the layout of `layers.{i}.weight` / `layers.{i}.bias`. */
  params: Float32Array;
}

const silent: TrainLogger = { info() {}, warn() {} };

/** Trains one model; see TrainConfig for the options and their defaults. */
export async function train(options: Partial<TrainConfig> = {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.logger ?? silent;
  // --resume: the latest valid checkpoint, whose options the run keeps unless given again.
  const { config, resumed } = await resolveRun(options, log);

  // Data: load, split train/validation with the run's seed, optionally standardise on train statistics.
  const loaded = hooks.data ?? (await loadDataset(config.dataset));
  let { train: trainSet, val: valSet } = splitDataset(loaded, config.valSplit, config.seed);
  if (config.standardize) {
    const stats = fitStandardization(trainSet);
    trainSet = applyStandardization(trainSet, stats);
    valSet = valSet && applyStandardization(valSet, stats);
  }
  const hash = datasetHash(loaded);

  // Model: parse, check it fits the data, initialise or load parameters.
  const spec: ModelSpec = parseModelSpec(config.model);
  checkModelFitsData(spec, trainSet, config.dataset);
  const layout = paramLayout(spec);
  if (resumed) {
    checkResumable(resumed.checkpoint.meta, resumed.path, { config, model: spec.text, numParams: layout.size, dataset: loaded.spec, datasetHash: hash }, log);
  }
  const initial = resumed
    ? resumed.checkpoint.params
    : config.init
      ? await loadParameters(config.init, layout, spec.text)
      : (initParams(spec, config.seed) as Float32Array);

  // Batches and learning rate: Keras fit semantics, LR scaled from the base batch size.
  const batchSize = resolveBatchSize(config.batchSize, trainSet.n);
  const stepsPerEpoch = countStepsPerEpoch(trainSet.n, batchSize, config.dropLast);
  const totalSteps = config.maxSteps > 0 ? Math.min(config.maxSteps, config.epochs * stepsPerEpoch) : config.epochs * stepsPerEpoch;
  const peakLr = scaleLearningRate(config.lr, batchSize, config.baseBatchSize, config.lrRule);
  const schedule: ScheduleConfig = {
    name: config.lrSchedule,
    warmupSteps: Math.round(config.warmupEpochs * stepsPerEpoch),
    totalSteps,
    stepSize: Math.max(1, Math.round(config.stepEpochs * stepsPerEpoch)),
    gamma: config.gamma,
    minLr: config.minLr,
  };

  const callbacks = [...(hooks.callbacks ?? [])];
  if (config.patience > 0) callbacks.push(new EarlyStopping(config.monitor, config.patience, config.minDelta));
  // Checkpoints: a resumed run keeps checkpointing where it resumed from, unless told otherwise; a
  // new run never mixes its checkpoints with another run's. Checked before --out is touched.
  const checkpointDir = config.checkpointDir ?? config.resume;
  const store = checkpointDir ? await CheckpointStore.open(checkpointDir, { keep: config.keep, log, hooks: hooks.checkpointWrites }) : null;
  const checkpointEvery = parseCheckpointEvery(config.checkpointEvery);
  if (store && !resumed) {
    const existing = await listCheckpoints(store.dir);
    if (existing.length > 0) {
      throw new ConfigError('checkpointDirInUse', `--checkpoint-dir ${store.dir} already holds checkpoints of a run (the latest at step ${existing[0].step}) — continue that run with --resume ${store.dir}, or choose an empty directory`);
    }
  }
  const start = resumed ? resumed.checkpoint.meta : null;
  const runDir = config.out ? await RunDirectory.open(config.out, start ? { step: start.step, epoch: start.epoch } : undefined) : null;

  // Engine: from here on, every exit path closes it (a thread pool keeps the process alive).
  const engine: Engine = await createEngine(
    {
      model: spec,
      train: trainSet,
      validation: valSet,
      params: initial,
      optimizerState: resumed?.checkpoint.optimizerState,
      optimizer: {
        name: config.optimizer,
        momentum: config.momentum,
        nesterov: config.nesterov,
        weightDecay: config.weightDecay,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
      },
      seed: config.seed,
      microBatch: config.microBatch > 0 ? config.microBatch : undefined,
      chunks: config.reduceChunks > 0 ? config.reduceChunks : undefined,
      kernels: config.kernels,
    },
    {
      kind: config.engine,
      workers: config.workers,
      threads: { faults: hooks.faults, onWarning: (message, fields) => log.warn(fields, message) },
    },
  );
  const info: RunInfo = {
    model: spec.text,
    numParams: layout.size,
    dataset: config.dataset,
    trainSamples: trainSet.n,
    valSamples: valSet?.n ?? 0,
    batchSize,
    stepsPerEpoch,
    epochs: config.epochs,
    totalSteps,
    lr: peakLr,
    engine: engine.kind,
    workers: engine.workers,
  };

  const isClassifier = trainSet.task === 'classification';
  const saved: LoopState | null = resumed ? parseLoopState(resumed.checkpoint.meta.loop, resumed.path) : null;
  const history: EpochRecord[] = saved ? [...saved.history] : [];
  let step = start?.step ?? 0;
  let updates = saved?.updates ?? 0;
  let samples = start?.samples ?? 0;
  let stopReason: StopReason = 'epochs';
  let stopRequest: string | null = saved?.stopRequest ?? null;
  const control = { stop: (reason: string) => void (stopRequest ??= reason) };
  const timing = new StepTimings(engine.workers);
  const gnsTracker = new GnsTracker();
  if (saved) gnsTracker.restore(saved.gns);
  const earlyStopping = callbacks.find((c): c is EarlyStopping => c instanceof EarlyStopping) ?? null;
  if (saved?.earlyStopping && earlyStopping) earlyStopping.restore(saved.earlyStopping);
  const skipped = { inRow: saved?.skipped.inRow ?? 0, total: saved?.skipped.total ?? 0 };
  // Where the first epoch starts: mid-epoch after a step checkpoint (possibly after its last step, before its end).
  let firstPosition = start?.position ?? 0;
  let runStarted = performance.now();

  try {
    await runDir?.writeConfig({ ...config, resolved: { ...info, datasetHash: hash, cores: availableCores() } });
    log.info(info, `training ${spec.text} (${layout.size.toLocaleString('en-US')} parameters) on ${trainSet.n} samples of ${config.dataset}, ${valSet?.n ?? 0} held out; batch ${batchSize}, ${stepsPerEpoch} steps per epoch, lr ${peakLr}; ${engine.kind} engine, ${engine.workers} worker(s), ${engine.kernels} kernels`);
    for (const c of callbacks) await c.onTrainBegin?.(info);
    runStarted = performance.now();

    // A checkpoint at a step boundary: `epoch` and `position` name the next step to run.
    const maybeCheckpoint = async (unit: 'step' | 'epoch', epoch: number, position: number, state: () => LoopState): Promise<void> => {
      if (!store) return;
      const count = unit === 'step' ? step : epoch;
      if (checkpointEvery.unit !== (unit === 'step' ? 'steps' : 'epochs') || count % checkpointEvery.every !== 0) return;
      const checkpoint: Checkpoint = {
        meta: {
          formatVersion: CHECKPOINT_FORMAT_VERSION,
          model: spec.text,
          numParams: layout.size,
          dataset: loaded.spec,
          datasetHash: hash,
          optimizer: config.optimizer,
          step,
          epoch,
          position,
          samples,
          rng: { algorithm: 'xoshiro128**', seed: config.seed, epoch },
          engine: engine.kind,
          workers: engine.workers,
          config: { ...config },
          loop: state() as unknown as Record<string, unknown>,
        },
        params: engine.params,
        optimizerState: { ...engine.optimizerState },
      };
      const path = await store.save(checkpoint);
      log.info({ path, step, epoch }, `checkpoint ${path} (step ${step})`);
    };

    for (let epoch = start?.epoch ?? 0; epoch < config.epochs && (step < totalSteps || firstPosition > 0) && stopRequest === null; epoch++) {
      const epochStarted = performance.now();
      const resumedEpoch = saved && epoch === start!.epoch ? saved.epoch : null;
      let epochLoss = resumedEpoch?.loss ?? 0;
      let epochCorrect = resumedEpoch?.correct ?? 0;
      let epochSamples = resumedEpoch?.samples ?? 0;
      let epochSteps = resumedEpoch?.steps ?? 0;
      let epochEvalMs = 0;
      const firstStep = firstPosition;
      firstPosition = 0;
      // The loop's state at a step boundary, for a checkpoint.
      const loopState = (): LoopState => ({
        updates,
        // as metrics.jsonl has them: an epoch whose every step was skipped has a NaN train loss, JSON null
        history: JSON.parse(JSON.stringify(history)) as EpochRecord[],
        epoch: { loss: epochLoss, correct: epochCorrect, samples: epochSamples, steps: epochSteps },
        gns: gnsTracker.state(),
        earlyStopping: earlyStopping?.state() ?? null,
        skipped: { ...skipped },
        stopRequest,
      });

      for (let s = firstStep; s < stepsPerEpoch && step < totalSteps && stopRequest === null; s++) {
        const stepStarted = performance.now();

        // 1. Schedule: the learning rate of this step.
        const lr = learningRate(peakLr, step, schedule);

        // 2. Plan: this step's rows of the epoch permutation.
        const { start, end } = batchRange(s, trainSet.n, batchSize);

        // 3. Compute and all-reduce: the gradient sum over the global batch.
        const result = await engine.computeGradients({ epoch, step, start, end });

        // 4. Check: a non-finite loss or gradient must not reach the parameters; the decision is
        //    made here, once, for every replica (research/reliability.md §6).
        if (!Number.isFinite(result.lossSum) || !Number.isFinite(result.gradSumSq)) {
          samples += result.count;
          const record = nonFiniteStep(result, { epoch, step, samples, inRow: skipped.inRow + 1 });
          if (config.onNonfinite === 'stop') {
            throw new TrainError(
              'nonFinite',
              `the loss or gradient became ${record.value} at step ${step} (epoch ${epoch + 1})${record.workers.length > 0 ? ` in the shard of ${record.workers.join(', ')}` : ''} — lower --lr (now ${lr}), bound updates with --clip-norm, check the data, or drop such steps with --on-nonfinite skip`,
            );
          }
          await engine.skipUpdate();
          skipped.inRow += 1;
          skipped.total += 1;
          runDir?.writeRecord(record);
          log.warn(record, `step ${step} (epoch ${epoch + 1}) skipped: the loss or gradient is ${record.value}${record.workers.length > 0 ? ` in the shard of ${record.workers.join(', ')}` : ''}; no replica applied it (${skipped.inRow} in a row, ${skipped.total} in all)`);
          if (skipped.inRow >= config.maxNonfiniteInRow) {
            throw new TrainError('nonFiniteInRow', `${skipped.inRow} steps in a row had a non-finite loss or gradient (the last at step ${step}) — lower --lr (now ${lr}), bound updates with --clip-norm, or check the data; --max-nonfinite-in-row sets this limit`);
          }
          step += 1;
          await maybeCheckpoint('step', epoch, s + 1, loopState);
          continue;
        }
        skipped.inRow = 0;

        // 5. Clip: by the global norm of the mean gradient.
        const gradNorm = Math.sqrt(result.gradSumSq) / result.count;
        const clip = config.clipNorm > 0 ? clipFactor(gradNorm, config.clipNorm) : 1;

        // 6. Update: the mean gradient is the sum divided by the global sample count.
        updates += 1;
        const { updateMs } = await engine.applyUpdate({ lr, gradScale: clip / result.count, t: updates });

        // 7. Log.
        samples += result.count;
        epochLoss += result.lossSum;
        epochCorrect += result.correct;
        epochSamples += result.count;
        epochSteps += 1;
        const record: StepRecord = {
          type: 'step',
          epoch,
          step,
          batchSize: result.count,
          samples,
          loss: result.lossSum / result.count,
          accuracy: isClassifier ? result.correct / result.count : null,
          lr,
          gradNorm,
          clip,
          ms: performance.now() - stepStarted,
          timing: timing.add(result, updateMs, performance.now() - stepStarted),
          // Gradient noise scale from the shard sums, before clipping (research/batch-size.md §2.3).
          gns: gnsTracker.update(result.shards, result.gradSumSq, result.count),
        };
        runDir?.writeRecord(record);
        for (const c of callbacks) await c.onStep?.(record);
        step += 1;

        // 8. Evaluate: every --eval-every steps within the epoch (its end evaluates anyway); onEval may stop here.
        if (config.evalEvery > 0 && valSet && step % config.evalEvery === 0 && s + 1 < stepsPerEpoch && step < totalSteps) {
          const evalStarted = performance.now();
          const val = await engine.evaluate(valSet);
          const evalRecord: EvalRecord = {
            type: 'eval',
            epoch,
            step,
            samples,
            valLoss: val.lossSum / val.count,
            valAccuracy: isClassifier ? val.correct / val.count : null,
          };
          runDir?.writeRecord(evalRecord);
          for (const c of callbacks) await c.onEval?.(evalRecord, control);
          epochEvalMs += performance.now() - evalStarted;
        }

        // 9. Checkpoint: every --checkpoint-every steps.
        await maybeCheckpoint('step', epoch, s + 1, loopState);
      }

      // End of epoch: evaluate on the validation set, report, let callbacks stop the run.
      const trainMs = performance.now() - epochStarted - epochEvalMs;
      const val = valSet ? await engine.evaluate(valSet) : null;
      const record: EpochRecord = {
        type: 'epoch',
        epoch,
        steps: epochSteps,
        samples: epochSamples,
        trainLoss: epochLoss / epochSamples,
        trainAccuracy: isClassifier ? epochCorrect / epochSamples : null,
        valLoss: val ? val.lossSum / val.count : null,
        valAccuracy: val && isClassifier ? val.correct / val.count : null,
        samplesPerSec: epochSamples / (trainMs / 1000),
        ms: performance.now() - epochStarted,
      };
      history.push(record);
      runDir?.writeRecord(record);
      log.info(record, describeEpoch(record, config.epochs));
      for (const c of callbacks) await c.onEpochEnd?.(record, control);
      epochLoss = epochCorrect = epochSamples = epochSteps = 0;
      await maybeCheckpoint('epoch', epoch + 1, 0, loopState);
    }
    if (stopRequest !== null) {
      stopReason = 'earlyStopping';
      log.info({ reason: stopRequest }, 'early stopping');
    } else if (step >= totalSteps && totalSteps < config.epochs * stepsPerEpoch) {
      stopReason = 'maxSteps';
    }

    const seconds = (performance.now() - runStarted) / 1000;
    const last = history.at(-1);
    const trainMs = history.reduce((sum, e) => sum + e.samples / e.samplesPerSec, 0);
    const summary: RunSummary = {
      steps: step,
      epochs: history.length,
      samples,
      seconds,
      samplesPerSec: trainMs > 0 ? samples / trainMs : 0,
      stopReason,
      skippedSteps: skipped.total,
      resumedFrom: resumed ? { path: resumed.path, step: resumed.checkpoint.meta.step } : null,
      final: {
        trainLoss: last?.trainLoss ?? null,
        trainAccuracy: last?.trainAccuracy ?? null,
        valLoss: last?.valLoss ?? null,
        valAccuracy: last?.valAccuracy ?? null,
      },
      model: spec.text,
      numParams: layout.size,
      dataset: config.dataset,
      datasetHash: hash,
      trainSamples: trainSet.n,
      valSamples: valSet?.n ?? 0,
      batchSize,
      stepsPerEpoch,
      lr: peakLr,
      engine: engine.kind,
      workers: engine.workers,
      kernels: engine.kernels,
      cores: availableCores(),
      timing: timing.summary(),
    };
    const params = Float32Array.from(engine.params);
    await runDir?.finish(summary, params, layout, spec.text);
    for (const c of callbacks) await c.onTrainEnd?.(summary);
    return { config, summary, history, params };
  } catch (error) {
    await runDir?.abandon();
    throw error;
  } finally {
    await engine.close();
  }
}

/** The record of a step whose loss or gradient is non-finite. */
function nonFiniteStep(result: GradientResult, at: { epoch: number; step: number; samples: number; inRow: number }): SkipRecord {
  const value = Number.isNaN(result.lossSum) || Number.isNaN(result.gradSumSq) ? 'NaN' : 'Infinity';
  return { type: 'skip', epoch: at.epoch, step: at.step, samples: at.samples, value, workers: result.nonFiniteWorkers, inRow: at.inRow };
}

function describeEpoch(r: EpochRecord, epochs: number): string {
  const pct = (x: number | null) => (x === null ? '' : ` acc ${(x * 100).toFixed(2)}%`);
  const val = r.valLoss === null ? '' : `, val loss ${r.valLoss.toFixed(4)}${pct(r.valAccuracy)}`;
  return `epoch ${r.epoch + 1}/${epochs}: train loss ${r.trainLoss.toFixed(4)}${pct(r.trainAccuracy)}${val} (${Math.round(r.samplesPerSec).toLocaleString('en-US')} samples/s)`;
}
