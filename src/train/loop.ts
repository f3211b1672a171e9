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
import { TrainError } from '../errors.js';
import { initParams, paramLayout, parseModelSpec, type ModelSpec } from '../model/index.js';
import { clipFactor, learningRate, scaleLearningRate, type ScheduleConfig } from '../optim/index.js';
import { EarlyStopping, type Callback, type RunInfo } from './callbacks.js';
import { availableCores, resolveTrainConfig, type TrainConfig } from './config.js';
import { checkModelFitsData } from './compatibility.js';
import type { EpochRecord, EvalRecord, RunSummary, SkipRecord, StepRecord, StopReason } from './records.js';
import { StepTimings } from './timing.js';
import { GnsTracker } from './gns.js';
import { RunDirectory, loadParameters } from './run-dir.js';

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
  const config = resolveTrainConfig(options);
  const log = hooks.logger ?? silent;

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
  const initial = config.init
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
  const runDir = config.out ? await RunDirectory.open(config.out) : null;

  // Engine: from here on, every exit path closes it (a thread pool keeps the process alive).
  const engine: Engine = await createEngine(
    {
      model: spec,
      train: trainSet,
      validation: valSet,
      params: initial,
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
  const history: EpochRecord[] = [];
  let step = 0;
  let updates = 0;
  let samples = 0;
  const skipped = { inRow: 0, total: 0 };
  let stopReason: StopReason = 'epochs';
  let stopRequest: string | null = null;
  const control = { stop: (reason: string) => void (stopRequest ??= reason) };
  const timing = new StepTimings(engine.workers);
  const gnsTracker = new GnsTracker();
  let runStarted = performance.now();

  try {
    await runDir?.writeConfig({ ...config, resolved: { ...info, datasetHash: hash, cores: availableCores() } });
    log.info(info, `training ${spec.text} (${layout.size.toLocaleString('en-US')} parameters) on ${trainSet.n} samples of ${config.dataset}, ${valSet?.n ?? 0} held out; batch ${batchSize}, ${stepsPerEpoch} steps per epoch, lr ${peakLr}; ${engine.kind} engine, ${engine.workers} worker(s), ${engine.kernels} kernels`);
    for (const c of callbacks) await c.onTrainBegin?.(info);
    runStarted = performance.now();

    for (let epoch = 0; epoch < config.epochs && step < totalSteps && stopRequest === null; epoch++) {
      const epochStarted = performance.now();
      let epochLoss = 0;
      let epochCorrect = 0;
      let epochSamples = 0;
      let epochSteps = 0;
      let epochEvalMs = 0;

      for (let s = 0; s < stepsPerEpoch && step < totalSteps && stopRequest === null; s++) {
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
      resumedFrom: null,
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
