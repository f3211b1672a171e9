/**
 * `--batch-size auto` in the training loop (docs/batch-size.md, "Choosing the batch size while
 * training"). The loop asks it, at each step boundary, for the rows of the next step and the
 * learning rate, and tells it each step's time; it probes a few batch sizes first, then every
 * --adapt-every steps picks the B that maximizes goodput (goodput.ts) from the smoothed noise
 * scale and the fitted step times (step-times.ts), at most 2x from the current B. Its state is a
 * plain object in the loop state, saved in checkpoints, so a resumed run continues exactly.
 */
import type { Range } from '../../data/index.js';
import { gnsRecord, type GnsState } from '../gns.js';
import { adaScaleGain, analyticOptimum, chooseBatchSize, goodput, statisticalEfficiency, type StepTimeLine } from './goodput.js';
import { StepTimes, type FittedLine } from './step-times.js';

/** How the learning rate follows B: AdaScale's gain, the linear or square-root rule, or not at all. */
export type AdaptiveLrRule = 'adascale' | 'linear' | 'sqrt' | 'none';

export interface AdaptiveSettings {
  /** B0: the batch size --lr is given at (--base-batch-size). */
  baseBatchSize: number;
  /** Bounds of the choice, inclusive (--min-batch-size, --max-batch-size resolved). */
  min: number;
  max: number;
  /** Steps between choices; null = each epoch, at most every DEFAULT_ADAPT_EVERY steps. */
  adaptEvery: number | null;
  /** Training samples N; an epoch is one pass over them. */
  trainSamples: number;
  dropLast: boolean;
  lrRule: AdaptiveLrRule;
  /** --step-time-model: T(B) given instead of measured (reproducible choices), or null. */
  fixedModel: StepTimeLine | null;
  /** False for a fixed batch with --lr-rule adascale: the same gain, no choices. */
  choose: boolean;
}

/** The default cadence's upper bound: a choice at least every this many steps. */
export const DEFAULT_ADAPT_EVERY = 50;
/** Steps measured at each probed batch size (after one warm-up step that is not measured). */
export const PROBE_STEPS = 5;
/** A choice changes B by at most this factor. */
export const MAX_CHANGE = 2;
/** The current B is kept unless another one predicts at least this much more goodput. */
export const MIN_GOODPUT_GAIN = 0.02;
/**
 * At most this share of the steps goes to refreshing the fit: a B kept for
 * (PROBE_STEPS + 1)/REFRESH_SHARE steps has its neighbour measured again (see #choose).
 */
export const REFRESH_SHARE = 0.05;

/** The mutable state; a checkpoint saves it (saveAdaptiveState) and a resume restores it. */
export interface AdaptiveState {
  /** The batch size of the next step. */
  batchSize: number;
  /** Rows of the current epoch's permutation already taken: the next step starts here. */
  epochOffset: number;
  /** AdaScale's scale-invariant iterations Σ r (in base-batch steps): where the schedule is. */
  progress: number;
  /** Batch sizes still to probe (the current one first); empty once the choices begin. */
  probe: number[];
  /**
   * The batch size before the probe (the run's first B, or the B kept when its neighbour is
   * measured again): the choice that ends the probe starts from it, so that a probe measures
   * and does not move B. Null outside a probe.
   */
  beforeProbe: number | null;
  /** The smallest and largest batch size of the run's steps so far (summary.json's `batchSizes`). */
  used: { min: number; max: number } | null;
  /** Steps taken at the current batch size and worker count (the first is a warm-up, not measured). */
  stepsAtSize: number;
  /** Steps since the last choice. */
  sinceChoice: number;
  /** Workers of the last step: a change starts a refit for the new count. */
  workers: number;
  times: StepTimes;
}

/** metrics.jsonl's record of a choice (docs/formats.md). */
export interface AdaptRecord {
  type: 'adapt';
  epoch: number;
  /** The choice is made before this step (counted from 0 over the run). */
  step: number;
  samples: number;
  /** Workers of the engine at this choice. */
  workers: number;
  /** The batch size from this step on, and the one before. */
  batchSize: number;
  previous: number;
  /** The B the choice started from (its 2x window, its predicted gain): `previous`, or after a probe the size before it. */
  from: number;
  /** What decided: goodput (the best B), limited (the best lies beyond the 2x step or a bound), keep (no gain), or why no choice was possible. */
  reason: 'goodput' | 'limited' | 'keep' | 'probe' | 'noNoiseScale' | 'noFit' | 'workersChanged';
  /** The smoothed noise scale B_simple used (null while not measurable). */
  phi: number | null;
  /** E(B) and the learning-rate gain at the new B (relative to B0). */
  efficiency: number | null;
  gain: number;
  /** Predicted goodput at the new B (base-batch samples per second), and its gain over the previous B. */
  goodput: number | null;
  predictedGain: number | null;
  /**
   * goodput(B) / goodput(B0): the speed-up the model expects over training at a fixed B0 with the
   * same rate (the default run's batch size), probe and step times aside.
   */
  overBase: number | null;
  /** √(a·φ/b): the unconstrained best B of the fitted model. */
  optimum: number | null;
  /** The step-time model used: T(B) = fixedMs + perSampleMs·B for `workers`. */
  fit: { workers: number; fixedMs: number; perSampleMs: number; batchSizes: number; given: boolean } | null;
}

/** The state of a run starting now: B starts at B0 (within the bounds) and probes from there. */
export function freshAdaptiveState(settings: AdaptiveSettings, workers: number): AdaptiveState {
  const start = clamp(settings.baseBatchSize, settings.min, settings.max);
  return {
    batchSize: start,
    epochOffset: 0,
    progress: 0,
    probe: settings.choose && !settings.fixedModel ? probeSizes(start, settings) : [],
    beforeProbe: settings.choose && !settings.fixedModel ? start : null,
    used: null,
    stepsAtSize: 0,
    sinceChoice: 0,
    workers,
    times: new StepTimes(),
  };
}

/**
 * Batch sizes to measure before the first choice: B, 2B, 4B within the bounds (two doublings
 * give the fit a lever arm of 4x); downward when B is at the upper bound.
 */
export function probeSizes(start: number, s: Pick<AdaptiveSettings, 'min' | 'max'>): number[] {
  const up = [start, start * 2, start * 4].map((b) => clamp(b, s.min, s.max));
  const down = [start, Math.ceil(start / 2), Math.ceil(start / 4)].map((b) => clamp(b, s.min, s.max));
  const sizes = [...new Set(up)].length > 1 ? up : down;
  return [...new Set(sizes)];
}

export class AdaptiveBatch {
  readonly settings: Readonly<AdaptiveSettings>;

  constructor(settings: AdaptiveSettings) {
    this.settings = Object.freeze({ ...settings });
  }

  /** Whether the epoch has no rows left for another step. */
  epochDone(state: AdaptiveState): boolean {
    const left = this.settings.trainSamples - state.epochOffset;
    return left <= 0 || (this.settings.dropLast && left < state.batchSize);
  }

  /** The rows of the next step: the next unseen ones of the permutation, so B may change mid-epoch. */
  take(state: AdaptiveState): Range {
    const start = state.epochOffset;
    const end = Math.min(this.settings.trainSamples, start + state.batchSize);
    state.epochOffset = end;
    return { start, end };
  }

  endEpoch(state: AdaptiveState): void {
    state.epochOffset = 0;
  }

  /** The learning-rate factor at the current B: the AdaScale gain with φ as of now (1 while unknown), or the simple rules. */
  gain(state: AdaptiveState, gns: GnsState): number {
    const { baseBatchSize: b0, lrRule } = this.settings;
    const ratio = state.batchSize / b0;
    switch (lrRule) {
      case 'adascale': {
        const phi = currentPhi(gns);
        return phi === null ? 1 : adaScaleGain(state.batchSize, phi, b0);
      }
      case 'linear':
        return ratio;
      case 'sqrt':
        return Math.sqrt(ratio);
      case 'none':
        return 1;
    }
  }

  /**
   * After an applied step: the schedule advances by the gain (AdaScale's scale-invariant
   * iterations; B/B0 for the other rules, i.e. in samples), and a full batch's time is measured,
   * except the first at a new size or worker count (buffers grow, caches are cold).
   */
  afterStep(state: AdaptiveState, step: { count: number; ms: number; gain: number; workers: number }): void {
    const { baseBatchSize: b0, lrRule } = this.settings;
    state.progress += lrRule === 'adascale' ? step.gain : step.count / b0;
    // Not measured when the workers changed during the step (the next boundary starts their fit);
    // counted either way, so that the cadence does not depend on when a worker joined.
    const measured = step.workers === state.workers && step.count === state.batchSize && state.stepsAtSize > 0;
    if (measured) state.times.add(step.workers, step.count, step.ms);
    // Every step: widened in place, not a new object per step.
    if (state.used === null) state.used = { min: state.batchSize, max: state.batchSize };
    else if (state.batchSize < state.used.min) state.used.min = state.batchSize;
    else if (state.batchSize > state.used.max) state.used.max = state.batchSize;
    state.stepsAtSize += 1;
    state.sinceChoice += 1;
  }

  /** A skipped step consumed its rows but changed nothing else. */
  afterSkip(state: AdaptiveState): void {
    state.sinceChoice += 1;
  }

  /**
   * At a step boundary: continue the probe, or make a choice when one is due. Returns the record
   * of a choice (or of a probe step to a new size), null when nothing was decided.
   */
  beforeStep(state: AdaptiveState, gns: GnsState, at: { step: number; epoch: number; samples: number; workers: number }): AdaptRecord | null {
    if (!this.settings.choose) return null;
    if (at.workers !== state.workers) return this.#workersChanged(state, gns, at);
    if (state.probe.length > 0) {
      if (state.stepsAtSize < PROBE_STEPS + 1) return null;
      state.probe.shift();
      if (state.probe.length > 0) return this.#setSize(state, gns, at, state.probe[0], 'probe', null);
    } else if (state.sinceChoice < this.#adaptEvery(state)) {
      return null;
    }
    return this.#choose(state, gns, at);
  }

  /** The step-time model for `workers`: given, or fitted (null before two sizes were measured). */
  model(state: AdaptiveState, workers: number): (FittedLine & { given: boolean }) | null {
    if (this.settings.fixedModel) return { ...this.settings.fixedModel, batchSizes: 0, samples: 0, given: true };
    const fit = state.times.fit(workers);
    return fit && { ...fit, given: false };
  }

  /** One step of at most MAX_CHANGE from `batchSize` toward B0, within the bounds. */
  #towardBase(batchSize: number): number {
    const { baseBatchSize: b0, min, max } = this.settings;
    const next = batchSize > b0 ? Math.max(b0, Math.ceil(batchSize / MAX_CHANGE)) : Math.min(b0, batchSize * MAX_CHANGE);
    return clamp(next, min, max);
  }

  /** --adapt-every, or each epoch at the current B and at most every DEFAULT_ADAPT_EVERY steps. */
  #adaptEvery(state: AdaptiveState): number {
    return this.settings.adaptEvery ?? Math.min(DEFAULT_ADAPT_EVERY, Math.ceil(this.settings.trainSamples / state.batchSize));
  }

  #choose(state: AdaptiveState, gns: GnsState, at: { step: number; epoch: number; samples: number; workers: number }): AdaptRecord {
    const phi = currentPhi(gns);
    const line = this.model(state, at.workers);
    state.sinceChoice = 0;
    // A probe is a measurement, not a move: the choice that ends it starts from the B before it.
    // (Compared with the probed 2B, a nearly flat goodput curve keeps 2B within the dead band, and
    // each refresh then doubles B again: 183 → 366 → 732 → 1464 while the model preferred B0.)
    const from = state.beforeProbe ?? state.batchSize;
    state.beforeProbe = null;
    // Without φ there is no goodput to maximize and the gain is 1: back toward B0, where --lr holds.
    if (phi === null) return this.#setSize(state, gns, at, this.#towardBase(from), 'noNoiseScale', line, null, from);
    if (line === null) return this.#setSize(state, gns, at, from, 'noFit', line, null, from);
    const choice = chooseBatchSize({
      current: from,
      phi,
      baseBatchSize: this.settings.baseBatchSize,
      line,
      min: this.settings.min,
      max: this.settings.max,
      maxFactor: MAX_CHANGE,
      minGain: MIN_GOODPUT_GAIN,
    });
    const refresh = choice.batchSize === state.batchSize ? this.#staleNeighbour(state) : null;
    if (refresh !== null) {
      // Every other size was measured before B settled: the refresh fits the current B and its
      // neighbour measured anew. (Keeping a stale 4B kept the lock once the choice after the
      // refresh returned to B rather than staying at the probed 2B.)
      for (const b of state.times.batchSizes(at.workers)) if (b !== state.batchSize) state.times.forget(at.workers, b);
      state.probe = [refresh];
      state.beforeProbe = state.batchSize;
      return this.#setSize(state, gns, at, refresh, 'probe', line);
    }
    return this.#setSize(state, gns, at, choice.batchSize, choice.reason, line, choice.predictedGain, from);
  }

  /**
   * The size to measure again when B has stayed put so long that every other size in the fit is
   * old: 2B (B/2 at the upper bound), or null. The other sizes' times were taken under another
   * load, or during the run's warm-up (the probe's: a fresh run's step time falls 2-3x over its
   * first thousand steps), and a B that is kept is never compared with them again: a fit whose
   * stale 2B looks slow keeps B where it is for the rest of the run. Pollux refits its
   * throughput model from the run's current profile; this keeps a current neighbour in it, at a
   * cost of at most REFRESH_SHARE of the steps (the refresh steps train as usual).
   */
  #staleNeighbour(state: AdaptiveState): number | null {
    if (this.settings.fixedModel || state.stepsAtSize < (PROBE_STEPS + 1) / REFRESH_SHARE) return null;
    const { min, max } = this.settings;
    const up = clamp(state.batchSize * MAX_CHANGE, min, max);
    const next = up !== state.batchSize ? up : clamp(Math.ceil(state.batchSize / MAX_CHANGE), min, max);
    return next !== state.batchSize ? next : null;
  }

  /**
   * A new worker count: its own fit (the old one no longer predicts). With one, the choices go on
   * at their cadence; without, the probe runs again from the current B.
   */
  #workersChanged(state: AdaptiveState, gns: GnsState, at: { step: number; epoch: number; samples: number; workers: number }): AdaptRecord {
    state.workers = at.workers;
    state.stepsAtSize = 0; // the first step with the new workers is a warm-up, not measured
    const line = this.model(state, at.workers);
    state.probe = line === null ? probeSizes(state.batchSize, this.settings) : [];
    // A probe cut short by the change still returns to the size before it.
    if (line === null) state.beforeProbe ??= state.batchSize;
    if (line === null) state.sinceChoice = 0;
    return this.#record(state, gns, at, state.batchSize, 'workersChanged', line, null);
  }

  #setSize(state: AdaptiveState, gns: GnsState, at: { step: number; epoch: number; samples: number }, batchSize: number, reason: AdaptRecord['reason'], line: (FittedLine & { given: boolean }) | null, predictedGain: number | null = null, from = state.batchSize): AdaptRecord {
    const previous = state.batchSize;
    if (batchSize !== previous) state.stepsAtSize = 0;
    state.batchSize = batchSize;
    return this.#record({ ...state, batchSize: previous }, gns, { ...at, workers: state.workers }, batchSize, reason, line, predictedGain, from);
  }

  #record(before: AdaptiveState, gns: GnsState, at: { step: number; epoch: number; samples: number; workers: number }, batchSize: number, reason: AdaptRecord['reason'], line: (FittedLine & { given: boolean }) | null, predictedGain: number | null, from = before.batchSize): AdaptRecord {
    const phi = currentPhi(gns);
    const b0 = this.settings.baseBatchSize;
    const predicted = phi === null || line === null ? null : goodput(batchSize, phi, b0, line);
    return {
      type: 'adapt',
      epoch: at.epoch,
      step: at.step,
      samples: at.samples,
      workers: at.workers,
      batchSize,
      previous: before.batchSize,
      from,
      reason,
      phi,
      efficiency: phi === null ? null : statisticalEfficiency(batchSize, phi, b0),
      gain: this.gain({ ...before, batchSize }, gns),
      goodput: predicted,
      predictedGain,
      overBase: predicted === null ? null : predicted / goodput(b0, phi!, b0, line!),
      optimum: phi === null || line === null ? null : analyticOptimum(phi, line),
      fit: line && { workers: at.workers, fixedMs: line.fixedMs, perSampleMs: line.perSampleMs, batchSizes: line.batchSizes, given: line.given },
    };
  }
}

/** The smoothed B_simple the loop keeps (bias-corrected EMAs' ratio), or null while not measurable. */
export function currentPhi(gns: GnsState): number | null {
  return gnsRecord(gns)?.bSimple ?? null;
}

function clamp(b: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, b));
}
