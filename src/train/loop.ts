/**
 * The training loop. prepareRun (prepare.ts) settles everything before the first step; the loop
 * then reads top to bottom, one step at a time: schedule, plan, compute and all-reduce (the
 * engine), check, clip, update, log, evaluate, checkpoint; and at each epoch's end: evaluate,
 * report, early stopping, checkpoint. All that changes between steps is in `run.state`.
 */
import { batchRange } from '../data/index.js';
import type { GradientResult } from '../engine/index.js';
import { blasChoiceLine, loadKernels } from '../kernels/index.js';
import { Model, type BatchResult } from '../model/index.js';
import { ConfigError, EngineError, StepNotRun, TrainError } from '../errors.js';
import { clipFactor, learningRate } from '../optim/index.js';
import { EarlyStopping, judgeEpoch, type Callback, type TrainControl } from './callbacks.js';
import { availableCores, type TrainConfig } from './config.js';
import { describeLearningRate } from './defaults.js';
import type { BestEpoch, EpochRecord, EvalRecord, RunSummary, SessionFigures, SkipRecord, StepRecord, StopReason, TestFigures } from './records.js';
import { addGnsEstimate, gnsEstimate } from './gns.js';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint } from './checkpoint.js';
import { listCheckpoints, type CheckpointStore } from './checkpoint-store.js';
import { prepareRun, type PreparedRun, type TrainHooks, type TrainLogger } from './prepare.js';
import { freshEpochSums, runSeconds, savedLoopState } from './state.js';
import { checkpointConfig } from './resume.js';
import { batchSizesUsed, epochDone, finishAdaptiveStep, planAdaptiveStep, reportAdaptiveStart, resolvedStepCounts } from './adaptive-step.js';
import { formatLoss, plural } from '../util/index.js';
import { TrainedModel } from '../inference/index.js';

export type { TrainHooks, TrainLogger } from './prepare.js';

export interface TrainResult {
  config: TrainConfig;
  summary: RunSummary;
  /** One record per epoch, as Keras' History. */
  history: EpochRecord[];
  /** Final parameters, flat, in the layout of `layers.{i}.weight` / `layers.{i}.bias`. */
  params: Float32Array;
  /** Final BatchNorm running statistics (running_mean, running_var, num_batches_tracked per layer; empty without BatchNorm). */
  buffers: Float32Array;
  /** The trained model, to predict, evaluate or save (docs/library.md). */
  model: TrainedModel;
  /**
   * --resume found the run already finished (its epochs, --max-steps or early stopping): nothing
   * was trained and nothing written; the result is the run's as its checkpoint holds it.
   */
  alreadyFinished: boolean;
}

const silent: TrainLogger = { info() {}, warn() {} };

/** Trains one model; see TrainConfig for the options and their defaults. */
export async function train(options: Partial<TrainConfig> = {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  checkArgumentObject(options, 'options', '{ epochs: 5 }');
  checkArgumentObject(hooks, 'hooks', '{ data, callbacks }');
  const run = await prepareRun(options, hooks, hooks.logger ?? silent);
  let ended: { result: TrainResult; checkpoint: string | null };
  try {
    ended = await trainPrepared(run);
  } catch (error) {
    await run.runDir?.abandon();
    throw error;
  } finally {
    await run.engine.close();
  }
  // No ws worker joined in time to run the next step: the outputs are written, and the run failed (exit 1).
  const notRun = run.state.notRun;
  if (notRun) {
    const restart = !ended.checkpoint && run.config.out ? ` (without --checkpoint-dir there is nothing to --resume: --init ${run.config.out}/final.safetensors starts a new run from its parameters)` : '';
    throw new EngineError('noWorkers', `${notRun.message}, so the run ended there: ${describeWritten(run, ended.checkpoint)}${restart}`, { cause: notRun, recoverable: true });
  }
  return ended.result;
}

/** train()'s two arguments are objects (or left out): null or a string is one ConfigError, not a TypeError inside. */
function checkArgumentObject(value: unknown, name: 'options' | 'hooks', example: string): void {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return;
  const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
  throw new ConfigError('badOption', `train(options, hooks): ${name} is ${got}, not an object — pass an object such as ${example}, or leave it out`);
}

/** The loop of a prepared run, up to its outputs; returns the result and the checkpoint written at its stop, if any. */
async function trainPrepared(run: PreparedRun): Promise<{ result: TrainResult; checkpoint: string | null }> {
  const { state } = run;
  // A resumed run that had already finished: prepareRun said so; nothing is trained or written. An
  // epoch its checkpoint is within (--max-steps) is ended as that run ended it, for the same figures.
  if (run.finished) {
    if (state.position > 0) await endEpoch(run, { partial: true });
    return { result: await finishRun(run), checkpoint: null };
  }
  await beginRun(run);
  // Epochs, then steps within each. An epoch that has begun (a resume mid-epoch) always gets its end.
  while (state.position > 0 || (state.epoch < run.config.epochs && state.step < run.totalSteps && !shouldStop(run))) {
    // An epoch resumed mid-way also counts the time it ran before the checkpoint.
    state.clock.epochStarted = performance.now() - state.clock.resumedEpochMs;
    state.clock.resumedEpochMs = 0;
    while (!epochDone(run) && state.step < run.totalSteps && !shouldStop(run)) {
      await trainStep(run);
      await letEventsIn();
    }
    // Interrupted within the epoch (or no worker left): a partial epoch has no end (no validation, no record); its sums go in the checkpoint.
    if (interrupted(run) || state.notRun) break;
    // --max-steps reached within the epoch: the checkpoint keeps the position in the epoch (so that
    // --resume with more steps reads the rest of its permutation), then this run's outputs end it.
    if (stoppedWithinEpoch(run)) {
      await checkpointAtStop(run);
      await endEpoch(run, { partial: true });
      break;
    }
    await endEpoch(run);
  }
  // Every end is checkpointed, so that --resume finds the run's last state: more steps continue from
  // there, and a finished run is recognised as finished (finishedRun) rather than trained again.
  const checkpoint = await checkpointAtStop(run);
  const result = await finishRun(run);
  if (result.summary.stopReason === 'interrupted') run.log.info({ step: state.step, epoch: state.epoch, position: state.position, out: run.config.out, checkpoint }, describeInterrupt(run, checkpoint));
  return { result, checkpoint };
}

/**
 * Whether the run ends at this step boundary: a callback or early stopping asked for it, the
 * engine could not run the step (state.notRun), or the caller's AbortSignal (hooks.signal) fired.
 */
function shouldStop(run: PreparedRun): boolean {
  return run.state.stopRequest !== null || run.state.notRun !== null || (run.signal?.aborted ?? false);
}

/**
 * Whether the run is stopping for its AbortSignal with steps left to run (the signal may fire
 * after the last step: then the run has ended anyway). A callback's stop request comes first.
 */
function interrupted(run: PreparedRun): boolean {
  const { state } = run;
  const stepsLeft = state.step < run.totalSteps && (state.position > 0 ? !epochDone(run) : state.epoch < run.config.epochs);
  return (run.signal?.aborted ?? false) && state.stopRequest === null && stepsLeft;
}

/** Whether the steps ran out (--max-steps) within an epoch that has begun, before its rows did. */
function stoppedWithinEpoch(run: PreparedRun): boolean {
  const { state } = run;
  return state.position > 0 && state.step >= run.totalSteps && state.stopRequest === null && !epochDone(run);
}

/**
 * For `callback`: a stop request ends the run at the next step boundary; the first is kept. The
 * EarlyStopping callback's is early stopping's, as --patience's; any other is the callback's own.
 */
function controlOf(run: PreparedRun, callback: Callback): TrainControl {
  const by = callback instanceof EarlyStopping ? 'earlyStopping' : 'callback';
  return { stop: (reason: string) => void (run.state.stopRequest ??= { by, reason: String(reason) }) };
}

/** Most time between two visits of the event loop during training (ms). */
const EVENT_LOOP_EVERY_MS = 20;
let lastEventLoopVisit = 0;

/**
 * The inline engine's steps resolve as microtasks, so a run on it never gives the event loop a
 * turn: Ctrl-C/SIGTERM handlers, abort signals, the dashboard's sockets and log flushes would wait
 * for the end of the run. Every EVENT_LOOP_EVERY_MS this yields one macrotask turn (~µs).
 */
async function letEventsIn(): Promise<void> {
  const now = performance.now();
  if (now - lastEventLoopVisit < EVENT_LOOP_EVERY_MS) return;
  await new Promise<void>((resolve) => setImmediate(resolve));
  lastEventLoopVisit = performance.now();
}

/** config.json, the start-up line, onTrainBegin. */
async function beginRun(run: PreparedRun): Promise<void> {
  const { config, info, engine, log } = run;
  const coordinator = engine.coordinatorRecord && { coordinator: engine.coordinatorRecord };
  await run.runDir?.writeConfig({ ...config, cwd: process.cwd(), ...coordinator, resolved: { ...info, ...resolvedStepCounts(run), datasetHash: run.dataset.hash, cores: availableCores() } });
  const logged = run.runDir && run.logEvery > 1 ? `; a step record every ${run.logEvery} steps` : '';
  // Interrupted before the first step (a coordinator waiting for --min-workers): nothing will be trained, so no "training" line.
  if (!run.signal?.aborted) log.info(info, `training ${info.model} (${info.numParams.toLocaleString('en-US')} parameters) on ${info.trainSamples} samples of ${config.dataset}, ${info.valSamples} held out; batch ${info.batchSize}, ${plural(info.stepsPerEpoch, 'step')} per epoch, ${describeLearningRate(config, run.lrOrigin, info.batchSize, info.lr)}; ${engine.kind} engine, ${plural(engine.workers, 'worker')}, ${engine.kernels} kernels${logged}${info.workersChoice ? `; ${info.workersChoice.reason}` : ''}`);
  if (run.adaptive) reportAdaptiveStart(run);
  const kernelsReport = engine.kernelsReport;
  if (kernelsReport?.blas || kernelsReport?.fallback) log.info({ blas: kernelsReport.blas, fallback: kernelsReport.fallback }, blasChoiceLine(kernelsReport, run.kernelsFromCheckpoint ? 'checkpoint' : 'option'));
  for (const c of run.callbacks) await c.onTrainBegin?.(info);
  run.state.clock.runStarted = performance.now();
}

/** One step: the position `state.position` of epoch `state.epoch`. */
async function trainStep(run: PreparedRun): Promise<void> {
  const { state, engine, config } = run;
  const stepStarted = state.clock.lastStepAt ?? performance.now();
  state.clock.lastStepAt = null;

  // 1. Schedule: the learning rate of this step.
  // 2. Plan: this step's rows of the epoch permutation (the engine splits them into shards).
  //    --batch-size auto may first choose another batch size; its rate then includes the gain.
  const adaptive = run.adaptive ? planAdaptiveStep(run) : null;
  const lr = adaptive ? adaptive.lr : learningRate(run.peakLr, state.step, run.schedule);
  const { start, end } = adaptive ?? batchRange(state.position, run.trainSet.n, run.batchSize);

  // 3. Compute and all-reduce: the gradient sum over the global batch. An engine that could not
  //    start the step (no ws worker left, interrupted or none joined in time) did nothing of it: the run ends before it.
  let result: GradientResult;
  try {
    result = await engine.computeGradients({ epoch: state.epoch, step: state.step, start, end });
  } catch (error) {
    if (!(error instanceof StepNotRun)) throw error;
    adaptive?.undo();
    // Interrupted, the signal ends the run; no worker joined in time, this does (train() throws it once the outputs are written).
    if (error.code === 'dptrain.engine.noWorkers') state.notRun ??= error;
    return;
  }

  // 4. Check: a non-finite loss or gradient must not reach the parameters; the decision is made
  //    here, once, for every replica (docs/reliability.md).
  if (!Number.isFinite(result.lossSum) || !Number.isFinite(result.gradSumSq)) {
    await skipStep(run, result, lr, stepStarted);
    await checkpointIfDue(run, 'steps');
    return;
  }
  state.skipped.inRow = 0;

  // 5. Clip: by the global norm of the mean gradient.
  const gradNorm = Math.sqrt(result.gradSumSq) / result.count;
  const clip = config.clipNorm > 0 ? clipFactor(gradNorm, config.clipNorm) : 1;

  // 6. Update: the mean gradient is the sum divided by the global sample count.
  state.updates += 1;
  const { updateMs } = await engine.applyUpdate({ lr, gradScale: clip / result.count, t: state.updates });

  // 7. Log: callbacks see every step, metrics.jsonl every --log-every-th.
  state.samples += result.count;
  const sums = state.epochSums;
  sums.loss += result.lossSum;
  sums.correct += result.correct;
  sums.samples += result.count;
  sums.steps += 1;
  // Gradient noise scale from the shard sums, before clipping (docs/batch-size.md).
  const estimate = gnsEstimate(result.shards, result.gradSumSq, result.count);
  const recordAt = performance.now();
  const record: StepRecord = {
    type: 'step',
    epoch: state.epoch,
    step: state.step,
    batchSize: result.count,
    samples: state.samples,
    loss: result.lossSum / result.count,
    accuracy: run.isClassifier ? result.correct / result.count : null,
    lr,
    gradNorm,
    clip,
    ms: recordAt - stepStarted,
    timing: state.clock.timings.add(result, updateMs, recordAt - stepStarted),
    gns: estimate === null ? null : addGnsEstimate(state.gns, estimate),
  };
  // Training time, kept across sessions in checkpoints: the epoch's and the run's samples/s.
  sums.trainMs += record.ms;
  state.trainSeconds += record.ms / 1000;
  if (state.step % run.logEvery === 0) run.runDir?.writeRecord(record);
  if (adaptive) finishAdaptiveStep(run, record, adaptive.gain);
  for (const c of run.callbacks) await c.onStep?.(record);
  state.step += 1;
  state.position += 1;

  // 8. Evaluate: every --eval-every steps within the epoch (its end evaluates anyway); onEval may stop here.
  let between = false;
  if (config.evalEvery > 0 && run.valSet && state.step % config.evalEvery === 0 && !epochDone(run) && state.step < run.totalSteps) {
    await evaluateWithinEpoch(run);
    between = true;
  }

  // 9. Checkpoint: every --checkpoint-every steps.
  if (await checkpointIfDue(run, 'steps')) between = true;
  // The time from this record to the next step counts in that step's ms, unless something other than logging ran between them.
  if (!between && !epochDone(run)) state.clock.lastStepAt = recordAt;
}

/** A step whose loss or gradient is not finite: stop, or (--on-nonfinite skip) drop it on every replica. */
async function skipStep(run: PreparedRun, result: GradientResult, lr: number, stepStarted: number): Promise<void> {
  const { state, config } = run;
  const ms = performance.now() - stepStarted;
  state.epochSums.trainMs += ms;
  state.trainSeconds += ms / 1000;
  const at = describeStepAt(run);
  state.samples += result.count;
  const value = Number.isNaN(result.lossSum) || Number.isNaN(result.gradSumSq) ? 'NaN' : 'Infinity';
  const where = result.nonFiniteWorkers.length > 0 ? ` in the shard of ${result.nonFiniteWorkers.join(', ')}` : '';
  if (config.onNonfinite === 'stop') {
    throw new TrainError('nonFinite', `the loss or gradient became ${value} at ${at}${where} — lower --lr (now ${lr}), bound updates with --clip-norm, check the data, or drop such steps with --on-nonfinite skip`);
  }
  await run.engine.skipUpdate();
  state.skipped.inRow += 1;
  state.skipped.total += 1;
  if (state.adaptive) run.adaptive?.afterSkip(state.adaptive);
  const record: SkipRecord = { type: 'skip', epoch: state.epoch, step: state.step, samples: state.samples, value, workers: result.nonFiniteWorkers, inRow: state.skipped.inRow };
  run.runDir?.writeRecord(record);
  run.log.warn(record, `${at} skipped: the loss or gradient is ${value}${where}; no replica applied it (${state.skipped.inRow} in a row, ${state.skipped.total} in all)`);
  if (state.skipped.inRow >= config.maxNonfiniteInRow) {
    throw new TrainError('nonFiniteInRow', `${state.skipped.inRow} steps in a row had a non-finite loss or gradient, the last at ${at} — lower --lr (now ${lr}), bound updates with --clip-norm, or check the data; --max-nonfinite-in-row sets this limit`);
  }
  state.step += 1;
  state.position += 1;
}

/**
 * `epoch 1/50 step 1/140 (run step 0)`, the step being taken: the epoch and the step within it
 * counted from 1, as the epoch lines and the progress bar show them; the run's step counted from 0,
 * as metrics.jsonl records it (and the interrupt line says it). --batch-size auto has no fixed steps per epoch.
 */
function describeStepAt(run: PreparedRun): string {
  const { state, config } = run;
  const perEpoch = run.adaptive ? '' : `/${run.stepsPerEpoch}`;
  return `epoch ${state.epoch + 1}/${config.epochs} step ${state.position + 1}${perEpoch} (run step ${state.step})`;
}

/** A validation at a step boundary within the epoch (--eval-every); its time is not the epoch's training time (no step's ms). */
async function evaluateWithinEpoch(run: PreparedRun): Promise<void> {
  const { state } = run;
  const val = await run.engine.evaluate(run.valSet!);
  const record: EvalRecord = {
    type: 'eval',
    epoch: state.epoch,
    step: state.step,
    samples: state.samples,
    valLoss: val.lossSum / val.count,
    valAccuracy: run.isClassifier ? val.correct / val.count : null,
    ...(await testFiguresDuringRun(run)),
  };
  run.runDir?.writeRecord(record);
  for (const c of run.callbacks) await c.onEval?.(record, controlOf(run, c));
}

/** --eval-on test: the test set's loss and accuracy with the live parameters; nothing otherwise. */
async function testFiguresDuringRun(run: PreparedRun): Promise<{ testLoss?: number; testAccuracy?: number | null }> {
  if (run.config.evalOn !== 'test' || !run.testSet) return {};
  const test = await run.engine.evaluate(run.testSet);
  return { testLoss: test.lossSum / test.count, testAccuracy: run.isClassifier ? test.correct / test.count : null };
}

/**
 * summary.json's `test`: the test set scored with the final parameters, by the engine when they
 * are its live ones, else (--restore-best's weights) by a model in this thread.
 */
async function finalTestFigures(run: PreparedRun, params: Float32Array, buffers: Float32Array): Promise<TestFigures | null> {
  const data = run.testSet;
  if (!data) return null;
  let result: BatchResult;
  if (run.state.bestParams === null) {
    result = await run.engine.evaluate(data);
  } else {
    const model = new Model(run.model, { kernels: await loadKernels(run.config.kernels, { blasLibrary: run.config.blasLibrary }) });
    result = model.evaluate(params, data, Uint32Array.from({ length: data.n }, (_, i) => i), run.config.microBatch > 0 ? run.config.microBatch : undefined, buffers.length > 0 ? buffers : undefined);
    model.dispose();
  }
  return { spec: data.spec, samples: data.n, loss: result.lossSum / result.count, accuracy: run.isClassifier ? result.correct / result.count : null };
}

/**
 * End of epoch: evaluate on the validation set, report, let callbacks and early stopping stop the
 * run, checkpoint. `partial`: the run stops within the epoch (--max-steps), whose checkpoint was
 * written before this record, so that a resume continues the epoch and writes its whole record.
 */
async function endEpoch(run: PreparedRun, { partial = false } = {}): Promise<void> {
  const { state, config, log } = run;
  const { clock, epochSums: sums } = state;
  const timed = sums.samples - clock.untimed.epoch;
  const val = run.valSet ? await run.engine.evaluate(run.valSet) : null;
  const record: EpochRecord = {
    type: 'epoch',
    epoch: state.epoch,
    steps: sums.steps,
    samples: sums.samples,
    trainLoss: sums.loss / sums.samples,
    trainAccuracy: run.isClassifier ? sums.correct / sums.samples : null,
    valLoss: val ? val.lossSum / val.count : null,
    valAccuracy: val && run.isClassifier ? val.correct / val.count : null,
    ...(await testFiguresDuringRun(run)),
    samplesPerSec: sums.trainMs > 0 ? timed / (sums.trainMs / 1000) : 0,
    ms: performance.now() - clock.epochStarted,
  };
  state.history.push(record);
  run.runDir?.writeRecord(record);
  // A finished run resumed: its end was reported when it ended.
  if (!run.finished) {
    log.info(record, describeEpoch(record, config.epochs));
    for (const c of run.callbacks) await c.onEpochEnd?.(record, controlOf(run, c));
  }

  // Early stopping (--patience) and --restore-best: judge --monitor, keep the best epoch's weights.
  // After the callbacks, so that a callback's stop reason comes first.
  if (run.earlyStopping && state.earlyStopping) {
    const { improved, stop } = judgeEpoch(state.earlyStopping, record, run.earlyStopping);
    if (improved && config.restoreBest) {
      await run.engine.synchronize();
      (state.bestParams ??= new Float32Array(run.layout.size)).set(run.engine.params);
      if (run.engine.buffers.length > 0) (state.bestBuffers ??= new Float32Array(run.engine.buffers.length)).set(run.engine.buffers);
    }
    if (stop !== null) state.stopRequest ??= { by: 'earlyStopping', reason: stop };
  }

  state.epoch += 1;
  state.position = 0;
  if (state.adaptive) run.adaptive?.endEpoch(state.adaptive);
  state.epochSums = freshEpochSums();
  clock.untimed.epoch = 0;
  if (!partial) await checkpointIfDue(run, 'epochs');
}

/** A checkpoint at this step boundary when --checkpoint-every counts `unit` and the count is due. */
async function checkpointIfDue(run: PreparedRun, unit: 'steps' | 'epochs'): Promise<boolean> {
  if (!run.store || run.checkpointEvery.unit !== unit) return false;
  const count = unit === 'steps' ? run.state.step : run.state.epoch;
  if (count % run.checkpointEvery.every !== 0) return false;
  await writeCheckpoint(run, run.store);
  return true;
}

/**
 * The end of a run (its epochs, --max-steps, early stopping, an interrupt, no workers left)
 * checkpoints the step boundary it stopped at, whatever --checkpoint-every says, so that --resume
 * continues from there (with more steps or epochs); unless that step has one already. Null
 * without a store.
 */
async function checkpointAtStop(run: PreparedRun): Promise<string | null> {
  if (!run.store) return null;
  const [latest] = await listCheckpoints(run.store.dir);
  if (latest?.step === run.state.step) return latest.path;
  return writeCheckpoint(run, run.store);
}

/** The checkpoint of this step boundary; returns its path. */
async function writeCheckpoint(run: PreparedRun, store: CheckpointStore): Promise<string> {
  const { state, engine, config } = run;
  await engine.synchronize();
  const checkpoint: Checkpoint = {
    meta: {
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      model: run.model.text,
      numParams: run.layout.size,
      dataset: run.dataset.spec,
      datasetHash: run.dataset.hash,
      optimizer: config.optimizer,
      step: state.step,
      epoch: state.epoch,
      position: state.position,
      samples: state.samples,
      rng: { algorithm: 'xoshiro128**', seed: config.seed, epoch: state.epoch },
      engine: engine.kind,
      workers: engine.workers,
      config: checkpointConfig(config, engine),
      loop: savedLoopState(state),
    },
    params: engine.params,
    optimizerState: { ...engine.optimizerState },
    ...(engine.buffers.length > 0 && { buffers: Float32Array.from(engine.buffers) }),
    ...(state.bestParams && { best: state.bestParams }),
    ...(state.bestParams && state.bestBuffers && { bestBuffers: state.bestBuffers }),
    about: run.about,
  };
  const path = await store.save(checkpoint);
  run.log.info({ path, step: state.step, epoch: state.epoch }, `checkpoint ${path} (step ${state.step})`);
  return path;
}

/** Why the loop ended. */
function stopReasonOf(run: PreparedRun): StopReason {
  const { state } = run;
  if (state.stopRequest !== null) return state.stopRequest.by;
  if (state.notRun !== null) return 'noWorkers';
  if (interrupted(run)) return 'interrupted';
  // --max-steps reached (also when --epochs was derived from it and ends at the same step).
  if (run.config.maxSteps > 0 && state.step >= run.config.maxSteps) return 'maxSteps';
  return 'epochs';
}

/** The best epoch by --monitor, when the loop watched it; `restored` when --restore-best ends with its weights. */
function bestEpochOf(run: PreparedRun): BestEpoch | null {
  const watched = run.state.earlyStopping;
  if (!run.earlyStopping || watched?.best == null) return null;
  return { monitor: run.earlyStopping.monitor, value: watched.best, epoch: watched.bestEpoch ?? -1, restored: run.state.bestParams !== null };
}

/** The end-of-run lines: why it stopped, and which weights it ends with. */
function reportEnd(run: PreparedRun, stopReason: StopReason, best: BestEpoch | null): void {
  const { log, state, config } = run;
  const bestText = best ? `best ${best.monitor} ${best.value.toPrecision(4)} at epoch ${best.epoch + 1}` : `no ${config.monitor} value to judge`;
  if (stopReason === 'earlyStopping') {
    log.info({ reason: state.stopRequest?.reason, best }, `early stopping after epoch ${state.epoch}: ${state.stopRequest?.reason}; ${bestText}`);
  } else if (stopReason === 'callback') {
    log.info({ reason: state.stopRequest?.reason }, `a callback stopped the run after epoch ${state.epoch}: ${state.stopRequest?.reason}`);
  }
  if (!config.restoreBest) return;
  if (best?.restored) log.info({ best }, `restoring the weights of epoch ${best.epoch + 1}, the best by ${best.monitor} (${best.value.toPrecision(4)}), as the final parameters`);
  else log.warn({ best }, `--restore-best: no best weights were kept (${bestText}), so the final parameters are the last epoch's`);
}

/** summary.json and final.safetensors, onTrainEnd, the result. */
async function finishRun(run: PreparedRun): Promise<TrainResult> {
  const { state, engine, config, resumed } = run;
  const stopReason = stopReasonOf(run);
  const best = bestEpochOf(run);
  // A finished run resumed: its end was reported when it ended.
  if (!run.finished) reportEnd(run, stopReason, best);
  const last = state.history.at(-1);
  const summary: RunSummary = {
    steps: state.step,
    epochs: state.epoch,
    samples: state.samples,
    // Over every session of the run (the earlier ones' time comes from the checkpoint); `session` is this process's.
    seconds: run.finished ? state.earlierSeconds : runSeconds(state),
    samplesPerSec: rate(state.samples - state.clock.untimed.run, state.trainSeconds),
    session: sessionOf(run),
    stopReason,
    stopMessage: state.stopRequest?.reason ?? null,
    skippedSteps: state.skipped.total,
    resumedFrom: resumed ? { path: resumed.path, step: resumed.checkpoint.meta.step } : null,
    best,
    final: {
      trainLoss: last?.trainLoss ?? null,
      trainAccuracy: last?.trainAccuracy ?? null,
      valLoss: last?.valLoss ?? null,
      valAccuracy: last?.valAccuracy ?? null,
    },
    test: null,
    model: run.model.text,
    numParams: run.layout.size,
    dataset: config.dataset,
    datasetHash: run.dataset.hash,
    classNames: run.trainSet.classNames ? [...run.trainSet.classNames] : null,
    trainSamples: run.trainSet.n,
    valSamples: run.valSet?.n ?? 0,
    batchSize: state.adaptive?.batchSize ?? run.batchSize,
    ...batchSizesUsed(run),
    lr: run.peakLr,
    engine: engine.kind,
    workers: engine.workers,
    kernels: engine.kernels,
    blas: engine.kernelsReport?.blas ?? null,
    kernelsFallback: engine.kernelsReport?.fallback ?? null,
    cores: availableCores(),
    workersChoice: run.info.workersChoice ?? null,
    timing: state.clock.timings.summary(),
  };
  await engine.synchronize();
  const params = Float32Array.from(state.bestParams ?? engine.params);
  // --restore-best ends with the best epoch's running statistics too, matching its weights.
  const buffers = Float32Array.from(state.bestParams && state.bestBuffers ? state.bestBuffers : engine.buffers);
  summary.test = await finalTestFigures(run, params, buffers);
  if (summary.test) {
    const { spec, samples, loss, accuracy } = summary.test;
    run.log.info({ test: summary.test }, `test set ${spec} (${samples} samples): loss ${formatLoss(loss)}${accuracy === null ? '' : ` acc ${(accuracy * 100).toFixed(2)}%`}`);
  }
  if (resumed && !run.finished && stopReason !== 'interrupted' && stopReason !== 'noWorkers') reportSession(run, summary);
  await run.runDir?.finish(summary, params, run.layout, run.model.text, buffers, run.about);
  if (!run.finished) for (const c of run.callbacks) await c.onTrainEnd?.(summary);
  return { config, summary, history: state.history, params, buffers, model: new TrainedModel(run.model, params, run.about, { kernels: config.kernels, buffers }), alreadyFinished: run.finished !== null };
}

/** Samples per second, 0 without time. */
function rate(samples: number, seconds: number): number {
  return seconds > 0 ? samples / seconds : 0;
}

/** summary.json's `session`: this process's steps, samples and time. */
function sessionOf(run: PreparedRun): SessionFigures {
  const { state } = run;
  const start = state.clock.sessionStart;
  const samples = state.samples - start.samples;
  return {
    fromStep: start.step,
    steps: state.step - start.step,
    samples,
    seconds: run.finished ? 0 : (performance.now() - state.clock.runStarted) / 1000,
    samplesPerSec: rate(samples, state.trainSeconds - start.trainSeconds),
  };
}

/** After a resume: what this session trained, since the totals that follow (and summary.json's) cover the whole run. */
function reportSession(run: PreparedRun, summary: RunSummary): void {
  const { session } = summary;
  const n = (x: number) => x.toLocaleString('en-US');
  run.log.info(
    { session },
    `this session, resumed at step ${n(session.fromStep)}: ${plural(session.steps, 'step')} (${n(session.samples)} samples) in ${session.seconds.toFixed(1)} s, ${n(Math.round(session.samplesPerSec))} samples/s; the run's totals count its earlier sessions too (from the checkpoint): ${n(summary.steps)} steps in ${summary.seconds.toFixed(1)} s, ${n(Math.round(summary.samplesPerSec))} samples/s`,
  );
}

/** `interrupted at epoch 2/10 step 57/141 (run step 198); wrote OUT/{summary.json,final.safetensors} and checkpoint CKPT (continue with --resume DIR)`. */
function describeInterrupt(run: PreparedRun, checkpoint: string | null): string {
  const { state, config } = run;
  return `interrupted at epoch ${Math.min(state.epoch + 1, config.epochs)}/${config.epochs} step ${state.position}/${run.stepsPerEpoch} (run step ${state.step}); ${describeWritten(run, checkpoint)}`;
}

/** `wrote OUT/{summary.json,final.safetensors} and checkpoint CKPT (continue with --resume DIR)`, or that nothing was. */
function describeWritten(run: PreparedRun, checkpoint: string | null): string {
  const wrote = [
    run.config.out ? `${run.config.out}/{summary.json,final.safetensors}` : '',
    checkpoint ? `checkpoint ${checkpoint} (continue with --resume ${run.store!.dir})` : '',
  ].filter(Boolean);
  return wrote.length > 0 ? `wrote ${wrote.join(' and ')}` : "wrote nothing (--out DIR keeps a run's outputs, --checkpoint-dir DIR lets it resume)";
}

function describeEpoch(r: EpochRecord, epochs: number): string {
  const pct = (x: number | null) => (x === null ? '' : ` acc ${(x * 100).toFixed(2)}%`);
  const val = r.valLoss === null ? '' : `, val loss ${formatLoss(r.valLoss)}${pct(r.valAccuracy)}`;
  return `epoch ${r.epoch + 1}/${epochs}: train loss ${formatLoss(r.trainLoss)}${pct(r.trainAccuracy)}${val} (${Math.round(r.samplesPerSec).toLocaleString('en-US')} samples/s)`;
}
