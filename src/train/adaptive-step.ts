/**
 * Where the training loop meets `--batch-size auto` (adaptive/): before a step, a choice of B when
 * one is due, the step's rows and learning rate; after it, its time and the schedule's progress.
 * Kept apart from loop.ts so that the loop reads the same with a fixed batch size.
 */
import type { Range } from '../data/index.js';
import { TrainError } from '../errors.js';
import { learningRate } from '../optim/index.js';
import { restoreAdaptiveState, saveAdaptiveState, type AdaptRecord } from './adaptive/index.js';
import type { PreparedRun } from './prepare.js';
import type { BatchSizesUsed, StepRecord } from './records.js';

export interface AdaptiveStepPlan extends Range {
  lr: number;
  /** The learning-rate gain applied (AdaScale's r, or the linear or square-root factor). */
  gain: number;
  /**
   * Takes the plan back when the step is not run (an interrupt while no ws worker is left): the
   * state is as before it, so the checkpoint resumes with this step. A choice already logged and
   * written stays; a resume drops metrics.jsonl's records from this step on and chooses again.
   */
  undo(): void;
}

/** Whether the current epoch has no rows left (adaptive runs count rows, fixed ones steps). */
export function epochDone(run: PreparedRun): boolean {
  const { state } = run;
  return run.adaptive && state.adaptive ? run.adaptive.epochDone(state.adaptive) : state.position >= run.stepsPerEpoch;
}

/** The next step of an adaptive run: a choice first when due, then its rows and learning rate. */
export function planAdaptiveStep(run: PreparedRun): AdaptiveStepPlan {
  const { state } = run;
  const adaptive = run.adaptive!;
  const a = state.adaptive!;
  const before = saveAdaptiveState(a);
  const at = { step: state.step, epoch: state.epoch, samples: state.samples, workers: run.engine.workers };
  let record = adaptive.beforeStep(a, state.gns, at);
  // A new worker count is recorded at the boundary where it is seen; a choice due at that same
  // boundary still follows, so the cadence does not depend on when a worker joined.
  if (record?.reason === 'workersChanged') {
    reportChoice(run, record);
    record = adaptive.beforeStep(a, state.gns, at);
  }
  if (record) reportChoice(run, record);
  const gain = adaptive.gain(a, state.gns);
  const scheduled = learningRate(run.peakLr, Math.floor(a.progress), run.schedule);
  const undo = () => void Object.assign(a, restoreAdaptiveState(before, (what) => new TrainError('adaptiveUndo', `the --batch-size auto state saved before step ${at.step} does not restore (${what})`)));
  return { ...adaptive.take(a), lr: gain * scheduled, gain, undo };
}

/** After an applied step: its time for the throughput fit, the gain for the schedule. */
export function finishAdaptiveStep(run: PreparedRun, record: StepRecord, gain: number): void {
  run.adaptive!.afterStep(run.state.adaptive!, { count: record.batchSize, ms: record.ms, gain, workers: run.engine.workers });
}

/** metrics.jsonl gets every choice; the log a line when B changes or the workers did. */
function reportChoice(run: PreparedRun, record: AdaptRecord): void {
  run.runDir?.writeRecord(record);
  if (record.batchSize === record.previous && record.reason !== 'workersChanged') return;
  run.log.info(record, describeChoice(record, { baseBatchSize: run.adaptive!.settings.baseBatchSize, reduceChunks: run.config.reduceChunks, engine: run.engine.kind }));
}

/** What describeChoice needs besides the record: B0, and what decides the gradient slots. */
export interface ChoiceContext {
  baseBatchSize: number;
  reduceChunks: number;
  engine: string;
}

/**
 * `step 120: batch size 64 → 128 (best predicted goodput: φ 183, E 0.72, predicted goodput +23%
 * over B = 64, 1.23x that of B0 = 64, lr gain 1.6)`. The two goodput figures compare the new B
 * with different sizes: the one the choice started from, and B0 (the fixed run it stands for).
 */
export function describeChoice(r: AdaptRecord, context: ChoiceContext): string {
  const b0 = context.baseBatchSize;
  const moved = r.reason === 'goodput' || r.reason === 'limited';
  const parts = [
    r.phi === null ? '' : `φ ${r.phi.toPrecision(3)}`,
    r.efficiency === null ? '' : `E ${r.efficiency.toPrecision(2)}`,
    moved && r.predictedGain !== null ? `predicted goodput +${(r.predictedGain * 100).toFixed(0)}% over B = ${r.from}` : '',
    r.overBase === null ? '' : `${r.overBase.toFixed(2)}x that of B0 = ${b0}`,
    `lr gain ${r.gain.toPrecision(3)}`,
  ].filter(Boolean);
  return `step ${r.step}: batch size ${r.previous} → ${r.batchSize} (${reasonText(r, context)}: ${parts.join(', ')})`;
}

/** The reason of a choice in words (the record keeps its code). */
function reasonText(r: AdaptRecord, context: ChoiceContext): string {
  switch (r.reason) {
    case 'goodput':
      return 'best predicted goodput';
    case 'limited':
      return `toward the best B of the model (${r.optimum === null ? '?' : Math.round(r.optimum)}), at most 2x per choice`;
    case 'keep':
      return r.previous === r.batchSize ? 'kept: no B predicts 2% more goodput' : `probe of ${r.previous} done: back to ${r.batchSize}, as no B predicts 2% more goodput`;
    case 'probe':
      return `probe: measuring step times at ${r.batchSize}`;
    case 'noNoiseScale':
      return `${noNoiseScaleText(r, context)}: back toward B0 = ${context.baseBatchSize}, where --lr holds`;
    case 'noFit':
      return 'no step-time fit yet (fewer than two batch sizes measured)';
    case 'workersChanged':
      return `${r.workers} workers: ${r.fit ? 'using their step-time fit' : 'probing step times again'}`;
  }
}

/**
 * Why φ is missing: not measured yet (its averages are young), or never with one gradient slot
 * per step (docs/batch-size.md §8: two slots holding samples; slots are --reduce-chunks, or one
 * per worker without it).
 */
function noNoiseScaleText(r: AdaptRecord, context: ChoiceContext): string {
  if (gradientSlots(context.reduceChunks, r.workers) >= 2) return 'noise scale φ not measured yet';
  if (context.engine === 'ws') return 'no noise scale φ until a second worker joins: one worker gives one gradient slot per step, and φ needs two';
  const setup = context.reduceChunks === 1 ? '--reduce-chunks 1' : 'one worker with --reduce-chunks 0';
  return `no noise scale φ, and there will be none: ${setup} gives one gradient slot per step, and φ needs two (give --reduce-chunks 2 or more, or 2+ workers)`;
}

/** The start-up line of an adaptive run: where B starts, its bounds and cadence, and the step-time model. */
export function describeAdaptive(run: PreparedRun): string {
  const s = run.adaptive!.settings;
  const a = run.state.adaptive!;
  if (!s.choose) return `--lr-rule adascale: the learning rate is --lr times (B/B0)(φ + B0)/(φ + B) with B0 = ${s.baseBatchSize} and φ the smoothed noise scale`;
  const cadence = s.adaptEvery === null ? 'each epoch (at most every 50 steps)' : `every ${s.adaptEvery} steps`;
  const model = s.fixedModel ? `the given T(B) = ${s.fixedModel.fixedMs} + ${s.fixedModel.perSampleMs}·B ms` : a.probe.length > 0 ? `step times fitted after probing B = ${a.probe.join(', ')}` : 'the fitted step times';
  return `--batch-size auto: ${run.resumed ? 'continues' : 'starts'} at ${a.batchSize}, chooses in [${s.min}, ${s.max}] ${cadence} by goodput = B/T(B)·(φ + ${s.baseBatchSize})/(φ + B), with ${model}; learning rate by --lr-rule ${s.lrRule}`;
}

/** Gradient slots per step, which φ needs two of: the --reduce-chunks chunks, or one per worker. */
function gradientSlots(reduceChunks: number, workers: number): number {
  return reduceChunks > 0 ? reduceChunks : workers;
}

/** The start-up lines: what auto does, and a warning when one gradient slot cannot measure φ. */
export function reportAdaptiveStart(run: PreparedRun): void {
  run.log.info({ adaptive: run.adaptive!.settings }, describeAdaptive(run));
  const slots = gradientSlots(run.config.reduceChunks, run.engine.workers);
  if (slots < 2 && run.engine.kind !== 'ws') {
    run.log.warn({ slots }, `one gradient slot per step cannot measure the noise scale φ, so the batch size returns to ${run.adaptive!.settings.baseBatchSize} after its probe and the learning-rate gain stays 1 — give --reduce-chunks 2 (the default with one worker) or more workers`);
  }
}

/**
 * summary.json's `batchSizes` and `stepsPerEpoch` for an auto run: the range of B its steps used,
 * the last, and the mean (samples per step); steps per epoch are the run's average, N over the
 * mean B. A fixed batch size (also with --lr-rule adascale) has null and its own steps per epoch.
 */
export function batchSizesUsed(run: PreparedRun): { batchSizes: BatchSizesUsed | null; stepsPerEpoch: number } {
  const a = run.state.adaptive;
  if (!run.adaptive?.settings.choose || !a) return { batchSizes: null, stepsPerEpoch: run.stepsPerEpoch };
  const { step, samples } = run.state;
  const mean = step > 0 ? samples / step : null;
  const batchSizes = { min: a.used?.min ?? a.batchSize, max: a.used?.max ?? a.batchSize, last: a.batchSize, mean };
  return { batchSizes, stepsPerEpoch: Math.ceil(run.trainSet.n / (mean ?? a.batchSize)) };
}

/**
 * config.json's `resolved` counts for an auto run, written before its first step: its steps per
 * epoch and total steps depend on the choices to come, so null, or --max-steps when given (the
 * epochs it implies never end the run first). The start-up line and the progress bar use the
 * estimate at the first B.
 */
export function resolvedStepCounts(run: PreparedRun): { stepsPerEpoch: number | null; totalSteps: number | null } {
  if (!run.adaptive?.settings.choose) return { stepsPerEpoch: run.info.stepsPerEpoch, totalSteps: run.info.totalSteps };
  return { stepsPerEpoch: null, totalSteps: run.config.maxSteps > 0 ? run.config.maxSteps : null };
}
