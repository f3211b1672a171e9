/**
 * The gradient noise scale B_simple = tr(Σ)/|G|² (McCandlish et al. 2018, "An Empirical Model of
 * Large-Batch Training", appendix A.1), from what a data-parallel step already has: each shard's
 * gradient SUM and its sample count, and the all-reduced global sum. docs/batch-size.md explains
 * how the study uses it; the unequal-shard form used here follows.
 *
 * With K non-empty shards, shard k holding b_k samples with gradient sum s_k (mean g_k = s_k/b_k),
 * and the global batch B = Σ b_k with mean ḡ = Σ s_k / B:
 *
 *   T̂  = ( Σ_k b_k|g_k|² − B|ḡ|² ) / (K − 1) = ( Σ_k |s_k|²/b_k − |S|²/B ) / (K − 1)   unbiased for tr Σ
 *   Ĝ² = |ḡ|² − T̂/B                                                                  unbiased for |G|²
 *
 * With equal shards these are A.1's formulas with B_small = b, B_big = B. Each per-step value is
 * very noisy (Ĝ² may be negative), so the tracker keeps separate exponential moving averages of
 * Ĝ² and T̂ and reports the ratio of the averages, never an average of ratios, and never clamps
 * the per-step values.
 */

/** One shard's contribution: sample count and |gradient sum|² (as engine ShardReport has them). */
export interface ShardGradient {
  count: number;
  /** |Σ over the shard's samples of the per-sample gradient|². */
  gradSumSq: number;
}

/** Per-step unbiased estimates. */
export interface GnsEstimate {
  /** Ĝ², unbiased for |G|² (may be negative for one step). */
  gradSq: number;
  /** T̂, unbiased for tr Σ (per-sample gradient covariance). */
  trSigma: number;
}

/** What metrics.jsonl logs as `"gns"` (docs/formats.md): the two moving averages and their ratio. */
export interface GnsRecord {
  /** EMA(tr Σ) / EMA(|G|²) in samples; null while EMA(|G|²) ≤ 0 (no meaningful ratio yet). */
  bSimple: number | null;
  /** Bias-corrected EMA of T̂. */
  trSigma: number;
  /** Bias-corrected EMA of Ĝ². */
  gradSq: number;
}

/**
 * The unbiased per-step estimates from shard sums; null when fewer than 2 shards hold samples
 * (one shard alone says nothing about the spread) or when an input is not finite.
 * `globalSumSq` = |Σ_k s_k|², `globalCount` = B = Σ_k b_k.
 */
export function gnsEstimate(shards: readonly ShardGradient[], globalSumSq: number, globalCount: number): GnsEstimate | null {
  let k = 0;
  let weighted = 0; // Σ_k |s_k|² / b_k = Σ_k b_k |g_k|²
  let total = 0;
  for (const shard of shards) {
    if (shard.count <= 0) continue;
    if (!Number.isFinite(shard.gradSumSq)) return null;
    k += 1;
    total += shard.count;
    weighted += shard.gradSumSq / shard.count;
  }
  if (k < 2 || !Number.isFinite(globalSumSq) || !(globalCount > 0)) return null;
  if (total !== globalCount) {
    throw new RangeError(`the shard counts add up to ${total}, not the global count ${globalCount}`);
  }
  const trSigma = (weighted - globalSumSq / globalCount) / (k - 1);
  const gradSq = globalSumSq / (globalCount * globalCount) - trSigma / globalCount;
  return { gradSq, trSigma };
}

/** EMA decay of the tracker; 0.99 as gpt-neox and the fastai batch-size finder use (≈100-step window). */
export const DEFAULT_GNS_BETA = 0.99;

/** A GnsTracker's running sums (uncorrected EMAs and their step count). */
export interface GnsState {
  gradSq: number;
  trSigma: number;
  steps: number;
}

/**
 * Adds one per-step estimate to the averages in `state` (EMA decay `beta`) and returns the
 * current record. GnsTracker and the training loop (whose state holds the averages) share it.
 */
export function addGnsEstimate(state: GnsState, estimate: GnsEstimate, beta = DEFAULT_GNS_BETA): GnsRecord {
  state.gradSq = beta * state.gradSq + (1 - beta) * estimate.gradSq;
  state.trSigma = beta * state.trSigma + (1 - beta) * estimate.trSigma;
  state.steps += 1;
  return gnsRecord(state, beta)!;
}

/** The record of the averages in `state`, or null before any step contributed. */
export function gnsRecord(state: GnsState, beta = DEFAULT_GNS_BETA): GnsRecord | null {
  if (state.steps === 0) return null;
  // The same correction divides both averages, so it cancels in the ratio; it matters only
  // for the reported averages themselves.
  const correction = 1 - beta ** state.steps;
  const gradSq = state.gradSq / correction;
  const trSigma = state.trSigma / correction;
  return { bSimple: gradSq > 0 ? trSigma / gradSq : null, trSigma, gradSq };
}

/**
 * Keeps bias-corrected exponential moving averages of Ĝ² and T̂ over steps and reports
 * B_simple = EMA(T̂)/EMA(Ĝ²). Steps without an estimate (one shard, non-finite) leave it unchanged.
 */
export class GnsTracker {
  readonly beta: number;
  #state: GnsState = { gradSq: 0, trSigma: 0, steps: 0 };

  /** `beta` in [0, 1): the EMA decay per step (default 0.99). */
  constructor(beta = DEFAULT_GNS_BETA) {
    if (!(typeof beta === 'number' && beta >= 0 && beta < 1)) {
      throw new RangeError(`GnsTracker beta must be a number in [0, 1) (got ${String(beta)})`);
    }
    this.beta = beta;
  }

  /** Steps that contributed so far. */
  get steps(): number {
    return this.#state.steps;
  }

  /** Adds one step; returns the current record, or null when this step gave no estimate. */
  update(shards: readonly ShardGradient[], globalSumSq: number, globalCount: number): GnsRecord | null {
    const estimate = gnsEstimate(shards, globalSumSq, globalCount);
    if (estimate === null) return null;
    return this.add(estimate);
  }

  /** Adds one per-step estimate (e.g. from gnsEstimate) and returns the current record. */
  add(estimate: GnsEstimate): GnsRecord {
    return addGnsEstimate(this.#state, estimate, this.beta);
  }

  /** The averages, for a checkpoint; `restore` continues from them exactly. */
  state(): GnsState {
    return { ...this.#state };
  }

  restore(state: GnsState): void {
    this.#state = { ...state };
  }

  /** The record after the last update, or null before any. */
  current(): GnsRecord | null {
    return gnsRecord(this.#state, this.beta);
  }
}
