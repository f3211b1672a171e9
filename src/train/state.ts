/**
 * The training loop's state: everything that changes from one step to the next, in one object.
 * A checkpoint is this state at a step boundary (plus the engine's tensors); a resume rebuilds it
 * from the checkpoint, so the next step sees exactly what it would have seen (docs/reliability.md).
 */
import { FormatError, type StepNotRun } from '../errors.js';
import type { GnsState } from './gns.js';
import type { EarlyStoppingState } from './callbacks.js';
import type { EpochRecord } from './records.js';
import type { Checkpoint } from './checkpoint.js';
import type { StepTimings } from './timing.js';
import { restoreAdaptiveState, saveAdaptiveState, type AdaptiveState } from './adaptive/index.js';

/** Sums over the current epoch's applied steps (skipped steps add nothing but their time). */
export interface EpochSums {
  loss: number;
  correct: number;
  samples: number;
  steps: number;
  /** Training time of the epoch's steps so far (their `ms`), over every session of the run. */
  trainMs: number;
}

/**
 * Wall-clock measurements of the current process. A checkpoint keeps only the times so far (the
 * run's and the current epoch's: savedLoopState), which a resumed run's clock starts from.
 */
export interface LoopClock {
  /** performance.now() when training began in this process. */
  runStarted: number;
  /** performance.now() when the current epoch began, moved back by the time it ran in earlier sessions. */
  epochStarted: number;
  /** Wall time the current epoch ran in earlier sessions (a resume mid-epoch); the loop moves epochStarted back by it. */
  resumedEpochMs: number;
  /**
   * Samples trained before a resume from a checkpoint that did not record their training time
   * (written before dptrain kept it): left out of the throughput, of the epoch and of the run.
   */
  untimed: { epoch: number; run: number };
  /** Where this session began: the summary's `session` figures are counted from here. */
  sessionStart: { step: number; samples: number; trainSeconds: number };
  /** Each step's time split (compute, reduce, update, idle), for the step records and the summary. */
  timings: StepTimings;
  /**
   * When the last step's record took its time, if the next step follows it directly: the loop's
   * own work between two steps (logging, callbacks) then counts in the next step's `ms`, so step
   * times add up to the time spent training; null after an evaluation, a checkpoint or an epoch's end.
   */
  lastStepAt: number | null;
}

export interface LoopState {
  /** Steps taken so far = index of the next step, counted from 0 over the whole run. */
  step: number;
  /** Epoch of the next step; after the last epoch ends, the number of epochs run. */
  epoch: number;
  /** Index of the next step within its epoch (0 at an epoch boundary). */
  position: number;
  /** Samples processed so far, skipped steps' batches included. */
  samples: number;
  /** Updates applied (Adam's t); below `step` by the skipped steps. */
  updates: number;
  epochSums: EpochSums;
  /**
   * Epoch records of the finished epochs (the run's History). After a resume: those in --out's
   * metrics.jsonl, or else the last HISTORY_IN_CHECKPOINT the checkpoint kept, then the new ones.
   */
  history: EpochRecord[];
  gns: GnsState;
  /** The best value of --monitor and the epochs since (--patience or --restore-best), null when neither is on. */
  earlyStopping: EarlyStoppingState | null;
  /** --restore-best: the parameters at the end of the best epoch so far (null before any). */
  bestParams: Float32Array | null;
  /** --restore-best: the BatchNorm running statistics at the end of that epoch (null without BatchNorm). */
  bestBuffers: Float32Array | null;
  skipped: { inRow: number; total: number };
  /** Why the run stops at the next step boundary (a callback or early stopping asked), or null. */
  stopRequest: StopRequest | null;
  /**
   * The engine could not run the next step and none will be (no ws worker joined within
   * --rejoin-timeout): the run ends before it, writes its outputs, then fails with it. Not saved.
   */
  notRun: StepNotRun | null;
  /** Training time of the steps so far (their `ms`), over every session of the run (the summary's samples/s). */
  trainSeconds: number;
  /** Wall time of the run's earlier sessions, each up to the checkpoint the next one resumed from (0 for a new run). */
  earlierSeconds: number;
  clock: LoopClock;
  /** --batch-size auto (or --lr-rule adascale): the batch size, the epoch's offset, the fits; null otherwise. */
  adaptive: AdaptiveState | null;
}

/**
 * A request to stop: who asked (early stopping: --patience or an EarlyStopping callback; any other
 * callback's control.stop()) and the reason it gave (summary.json's stopReason and stopMessage).
 */
export interface StopRequest {
  by: 'earlyStopping' | 'callback';
  reason: string;
}

/**
 * Epoch records a checkpoint keeps: the most recent ones. The whole history made every checkpoint
 * grow with the run (a long run of short epochs wrote hundreds of KB per checkpoint); metrics.jsonl
 * holds every record, and a resumed run with --out takes its history from there.
 */
export const HISTORY_IN_CHECKPOINT = 100;

/** The state of a run that has not taken a step. */
export function freshLoopState(earlyStopping: boolean, timings: StepTimings, adaptive: AdaptiveState | null = null): LoopState {
  return {
    step: 0,
    epoch: 0,
    position: 0,
    samples: 0,
    updates: 0,
    epochSums: freshEpochSums(),
    history: [],
    gns: { gradSq: 0, trSigma: 0, steps: 0 },
    earlyStopping: earlyStopping ? { best: null, wait: 0, bestEpoch: null } : null,
    bestParams: null,
    bestBuffers: null,
    skipped: { inRow: 0, total: 0 },
    stopRequest: null,
    notRun: null,
    trainSeconds: 0,
    earlierSeconds: 0,
    clock: startClock(timings, 0, { epoch: 0, run: 0 }, { step: 0, samples: 0, trainSeconds: 0 }),
    adaptive,
  };
}

/** The sums of an epoch that has not taken a step. */
export function freshEpochSums(): EpochSums {
  return { loss: 0, correct: 0, samples: 0, steps: 0, trainMs: 0 };
}

/** Wall time of the run so far over all its sessions, in seconds (this session from the start of training). */
export function runSeconds(state: LoopState): number {
  return state.earlierSeconds + (performance.now() - state.clock.runStarted) / 1000;
}

/** The loop state in a checkpoint's meta.loop; position, step, epoch and samples are meta's own fields. */
export function savedLoopState(state: LoopState): Record<string, unknown> {
  return {
    updates: state.updates,
    // as metrics.jsonl has them: an epoch whose every step was skipped has a NaN train loss, JSON null
    history: state.history.slice(-HISTORY_IN_CHECKPOINT).map(jsonRecord),
    epoch: { ...state.epochSums },
    gns: { ...state.gns },
    earlyStopping: state.earlyStopping && { ...state.earlyStopping },
    skipped: { ...state.skipped },
    // The reason as before, so that older dptrain still read it; who asked beside it.
    stopRequest: state.stopRequest?.reason ?? null,
    ...(state.stopRequest && { stopBy: state.stopRequest.by }),
    trainSeconds: state.trainSeconds,
    // Wall times so far, so that a resumed run's epoch record and summary count the earlier sessions too.
    seconds: runSeconds(state),
    epochMs: state.position > 0 ? performance.now() - state.clock.epochStarted : 0,
    ...(state.adaptive && { adaptive: saveAdaptiveState(state.adaptive) }),
  };
}

/** The clock of a run starting (or resuming) now. */
function startClock(timings: StepTimings, resumedEpochMs: number, untimed: LoopClock['untimed'], sessionStart: LoopClock['sessionStart']): LoopClock {
  const now = performance.now();
  return { runStarted: now, epochStarted: now, resumedEpochMs, untimed, sessionStart, timings, lastStepAt: null };
}

/** An epoch record with its non-finite numbers as null, as JSON.stringify writes them. */
function jsonRecord(record: EpochRecord): EpochRecord {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) out[key] = typeof value === 'number' && !Number.isFinite(value) ? null : value;
  return out as unknown as EpochRecord;
}

/**
 * The loop state saved in a checkpoint, its shape checked (the file's checksum vouches only for
 * its bytes). `earlyStopping` says whether this run watches --monitor, `restoreBest` whether it
 * keeps the best weights (either may have been turned on or off at resume: that state then starts
 * fresh or is dropped).
 */
export function restoreLoopState(checkpoint: Checkpoint, source: string, earlyStopping: boolean, restoreBest: boolean, timings: StepTimings): LoopState {
  const { meta } = checkpoint;
  const raw = meta.loop;
  const bad = (what: string) => new FormatError('checkpointInvalid', `${source}: the loop state's ${what} is missing or malformed — the file was not written by this version of dptrain; resume from another checkpoint`);
  const num = (v: unknown, what: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(what);
    return v;
  };
  const obj = (v: unknown, what: string) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what);
    return v as Record<string, unknown>;
  };
  const epoch = obj(raw.epoch, 'epoch');
  const gns = obj(raw.gns, 'gns');
  const skipped = obj(raw.skipped, 'skipped');
  if (!Array.isArray(raw.history) || raw.history.some((r) => typeof r !== 'object' || r === null || (r as { type?: unknown }).type !== 'epoch')) throw bad('history');
  let saved: EarlyStoppingState | null = null;
  if (raw.earlyStopping !== null) {
    const e = obj(raw.earlyStopping, 'earlyStopping');
    if (e.best !== null) num(e.best, 'earlyStopping.best');
    const bestEpoch = e.bestEpoch === undefined || e.bestEpoch === null ? null : num(e.bestEpoch, 'earlyStopping.bestEpoch');
    saved = { best: e.best as number | null, wait: num(e.wait, 'earlyStopping.wait'), bestEpoch };
  }
  if (raw.stopRequest !== null && typeof raw.stopRequest !== 'string') throw bad('stopRequest');
  if (raw.stopBy !== undefined && raw.stopBy !== 'earlyStopping' && raw.stopBy !== 'callback') throw bad('stopBy');
  const history = raw.history as EpochRecord[];
  // Older checkpoints did not save the times below: their history holds every finished epoch, and the current epoch's time is unknown.
  const trainSeconds = raw.trainSeconds === undefined ? history.reduce((sum, e) => sum + e.samples / e.samplesPerSec, 0) : num(raw.trainSeconds, 'trainSeconds');
  const epochSamples = num(epoch.samples, 'epoch.samples');
  const untimed = epoch.trainMs === undefined ? epochSamples : 0;
  return {
    step: meta.step,
    epoch: meta.epoch,
    position: meta.position,
    samples: meta.samples,
    updates: num(raw.updates, 'updates'),
    epochSums: {
      loss: num(epoch.loss, 'epoch.loss'),
      correct: num(epoch.correct, 'epoch.correct'),
      samples: epochSamples,
      steps: num(epoch.steps, 'epoch.steps'),
      trainMs: epoch.trainMs === undefined ? 0 : num(epoch.trainMs, 'epoch.trainMs'),
    },
    history: [...history],
    gns: { gradSq: num(gns.gradSq, 'gns.gradSq'), trSigma: num(gns.trSigma, 'gns.trSigma'), steps: num(gns.steps, 'gns.steps') },
    earlyStopping: earlyStopping ? (saved ?? { best: null, wait: 0, bestEpoch: null }) : null,
    bestParams: restoreBest && checkpoint.best ? Float32Array.from(checkpoint.best) : null,
    bestBuffers: restoreBest && checkpoint.bestBuffers ? Float32Array.from(checkpoint.bestBuffers) : null,
    skipped: { inRow: num(skipped.inRow, 'skipped.inRow'), total: num(skipped.total, 'skipped.total') },
    stopRequest: savedStopRequest(raw),
    notRun: null,
    trainSeconds,
    earlierSeconds: raw.seconds === undefined ? trainSeconds : num(raw.seconds, 'seconds'),
    clock: startClock(timings, raw.epochMs === undefined ? 0 : num(raw.epochMs, 'epochMs'), { epoch: untimed, run: untimed }, { step: meta.step, samples: meta.samples, trainSeconds }),
    adaptive: raw.adaptive === undefined ? null : restoreAdaptiveState(raw.adaptive, bad),
  };
}

/** A checkpoint's stop request (restoreLoopState checks its shape); one saved before `stopBy` was is early stopping's, as it was reported then. */
export function savedStopRequest(raw: Record<string, unknown>): StopRequest | null {
  if (typeof raw.stopRequest !== 'string') return null;
  return { by: raw.stopBy === 'callback' ? 'callback' : 'earlyStopping', reason: raw.stopRequest };
}
