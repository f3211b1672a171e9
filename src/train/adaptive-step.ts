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
import type { StepRecord } from './records.js';

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
  run.log.info(record, describeChoice(record));
}

/** `step 120: batch size 64 → 128 (goodput: φ 183, E 0.72, predicted goodput +23%, 1.23x B0's, lr gain 1.6)`. */
export function describeChoice(r: AdaptRecord): string {
  const parts = [
    r.phi === null ? 'noise scale not measured yet' : `φ ${r.phi.toPrecision(3)}`,
    r.efficiency === null ? '' : `E ${r.efficiency.toPrecision(2)}`,
    r.predictedGain === null ? '' : `predicted goodput +${(r.predictedGain * 100).toFixed(0)}%`,
    r.overBase === null ? '' : `${r.overBase.toFixed(2)}x B0's`,
    `lr gain ${r.gain.toPrecision(3)}`,
  ].filter(Boolean);
  const why = r.reason === 'workersChanged' ? `${r.workers} workers: ${r.fit ? 'using their step-time fit' : 'probing step times again'}` : r.reason;
  return `step ${r.step}: batch size ${r.previous} → ${r.batchSize} (${why}: ${parts.join(', ')})`;
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

/** The start-up lines: what auto does, and a warning when one gradient slot cannot measure φ. */
export function reportAdaptiveStart(run: PreparedRun): void {
  run.log.info({ adaptive: run.adaptive!.settings }, describeAdaptive(run));
  const slots = run.config.reduceChunks > 0 ? run.config.reduceChunks : run.engine.workers;
  if (slots < 2 && run.engine.kind !== 'ws') {
    run.log.warn({ slots }, `one gradient slot per step cannot measure the noise scale φ, so the batch size returns to ${run.adaptive!.settings.baseBatchSize} after its probe and the learning-rate gain stays 1 — give --reduce-chunks 2 (the default with one worker) or more workers`);
  }
}
