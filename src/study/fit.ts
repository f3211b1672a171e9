/**
 * The steps/examples trade-off of McCandlish et al. 2018 §2.3: S(B) = S_min + E_min/B, critical
 * batch B_crit = E_min/S_min, and the scaling regime of each batch size (Shallue et al. 2018).
 *
 * Fit (docs/batch-size.md, §2: regress S on 1/B): weighted linear least squares of S on
 * x = 1/B, intercept S_min, slope E_min, with weights w = 1/S². Steps-to-target vary between seeds
 * roughly in proportion to S (at B = 1 a run takes thousands of steps, at full batch a few), so
 * unweighted least squares would let the smallest batch sizes decide everything; 1/S² makes it a
 * fit of RELATIVE residuals, to first order the note's "robust" log-space fit
 * log S = log S_min + log(1 + B_crit/B). Both parameters are kept ≥ 0: when the unconstrained
 * fit gives S_min < 0 (no flattening seen), S_min = 0 and B_crit is beyond the largest B (null);
 * when it gives E_min < 0 (steps do not fall with B), E_min = 0 and B_crit = 0.
 */

export interface ScalingPoint {
  batchSize: number;
  /** Steps to the target (> 0). */
  steps: number;
}

export interface ScalingFit {
  /** Steps needed as B → ∞. */
  sMin: number;
  /** Samples needed as B → 0. */
  eMin: number;
  /** E_min / S_min; null when S_min = 0 (perfect scaling over the whole range). */
  bCrit: number | null;
  /** Root-mean-square relative residual (S_fit − S)/S over the points. */
  rmsRelativeError: number;
  points: number;
  /** How the fit was made, for reports. */
  method: string;
}

export const FIT_METHOD = 'weighted least squares of S on 1/B, weights 1/S² (relative residuals), S_min ≥ 0, E_min ≥ 0';

/** S(B) under a fit. */
export function predictSteps(fit: Pick<ScalingFit, 'sMin' | 'eMin'>, batchSize: number): number {
  return fit.sMin + fit.eMin / batchSize;
}

/**
 * Fits S(B) = S_min + E_min/B. Needs at least 2 distinct batch sizes with finite steps > 0
 * (throws RangeError otherwise); points may repeat a batch size (several seeds).
 */
export function fitScaling(points: readonly ScalingPoint[]): ScalingFit {
  const usable = points.filter((p) => p.batchSize > 0 && Number.isFinite(p.steps) && p.steps > 0 && Number.isFinite(p.batchSize));
  if (new Set(usable.map((p) => p.batchSize)).size < 2) {
    throw new RangeError(`fitting S(B) = S_min + E_min/B needs steps-to-target at 2 or more batch sizes (got ${usable.length} usable points)`);
  }
  // Weighted sums with w = 1/S²; x = 1/B, y = S.
  let sw = 0, swx = 0, swy = 0, swxx = 0, swxy = 0;
  for (const { batchSize, steps } of usable) {
    const w = 1 / (steps * steps);
    const x = 1 / batchSize;
    sw += w; swx += w * x; swy += w * steps; swxx += w * x * x; swxy += w * x * steps;
  }
  const det = sw * swxx - swx * swx;
  let sMin = (swxx * swy - swx * swxy) / det;
  let eMin = (sw * swxy - swx * swy) / det;
  if (sMin < 0) {
    // Through the origin: minimise Σ w (y − e x)².
    sMin = 0;
    eMin = swxy / swxx;
  } else if (eMin < 0) {
    eMin = 0;
    sMin = swy / sw;
  }
  const residuals = usable.map((p) => (predictSteps({ sMin, eMin }, p.batchSize) - p.steps) / p.steps);
  const rms = Math.sqrt(residuals.reduce((a, r) => a + r * r, 0) / residuals.length);
  return {
    sMin,
    eMin,
    bCrit: sMin > 0 ? eMin / sMin : null,
    rmsRelativeError: rms,
    points: usable.length,
    method: FIT_METHOD,
  };
}

export type Regime = 'perfect scaling' | 'diminishing returns' | 'maximal data parallelism';

/**
 * Regime boundaries in units of B_crit, under the fitted curve S = S_min(1 + B_crit/B):
 * - perfect scaling up to B_crit: the tuning playbook's "perfect scaling holds for all batch
 *   sizes up to a critical batch size"; there the scaling efficiency E_min/E(B) = 1/(1 + B/B_crit)
 *   is ≥ 1/2 and a doubling of B still saves ≥ 25% of the steps (S(B)/S(2B) ≥ 4/3, §11i);
 * - maximal data parallelism from 10·B_crit: S is within 10% of S_min and a doubling of B saves
 *   less than 5% of the steps;
 * - diminishing returns in between.
 */
export const REGIME_BOUNDS = Object.freeze({ perfectUpTo: 1, maximalFrom: 10 });

/** The regime of B under a fit (B_crit null = perfect scaling everywhere measured). */
export function classifyRegime(batchSize: number, bCrit: number | null): Regime {
  if (bCrit === null) return 'perfect scaling';
  const r = batchSize / bCrit;
  if (r <= REGIME_BOUNDS.perfectUpTo) return 'perfect scaling';
  if (r >= REGIME_BOUNDS.maximalFrom) return 'maximal data parallelism';
  return 'diminishing returns';
}

/**
 * Measured scaling efficiency against a reference batch size B₀ (the smallest):
 * [S(B₀)/S(B)] / (B/B₀): 1 under perfect scaling, 1/2 at B_crit, → 0 beyond (§9).
 */
export function scalingEfficiency(reference: ScalingPoint, point: ScalingPoint): number {
  return reference.steps / point.steps / (point.batchSize / reference.batchSize);
}
