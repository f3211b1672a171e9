/**
 * Batch normalization over channels-last rows: x is [rows, C] (a flat batch [n, C], or an image
 * batch [n·H·W, C] in the HWC layout), statistics per channel over a range of rows
 * (docs/models.md#batchnorm). Sums run in float64 (JS numbers) whatever the array type, and are
 * returned as sums, not means, so that partial sums of several workers add up exactly as sums do.
 */
import type { FloatArray } from '../util/float.js';

/** out[c] += Σ x[r, c], out[C + c] += Σ x[r, c]², out[2C] += the rows, over rows [r0, r1). */
export function batchNormSums(x: FloatArray, r0: number, r1: number, c: number, out: Float64Array, at = 0): void {
  // Row by row (the memory order), with per-channel accumulators: one pass over x.
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  for (let r = r0; r < r1; r++) {
    const row = r * c;
    for (let ch = 0; ch < c; ch++) {
      const v = x[row + ch];
      s1[ch] += v;
      s2[ch] += v * v;
    }
  }
  for (let ch = 0; ch < c; ch++) {
    out[at + ch] += s1[ch];
    out[at + c + ch] += s2[ch];
  }
  out[at + 2 * c] += r1 - r0;
}

/**
 * Mean and 1/√(biased variance + ε) per channel from sums laid out as batchNormSums writes them.
 * The variance is E[x²] − E[x]², clamped at 0 (float64 sums of float32 values keep it accurate).
 */
export function batchNormMoments(sums: Float64Array, at: number, c: number, eps: number, mean: Float64Array, rstd: Float64Array): void {
  const count = sums[at + 2 * c];
  for (let ch = 0; ch < c; ch++) {
    const m = sums[at + ch] / count;
    const variance = Math.max(0, sums[at + c + ch] / count - m * m);
    mean[ch] = m;
    rstd[ch] = 1 / Math.sqrt(variance + eps);
  }
}

/**
 * x̂ = (x − mean)·rstd, y = γ·x̂ + β over rows [r0, r1), then max(0, y) when `relu` (a following
 * ReLU fused: one pass instead of two); xhat null in evaluation. y may alias x.
 */
export function batchNormApply(x: FloatArray, y: FloatArray, xhat: FloatArray | null, r0: number, r1: number, c: number, mean: Float64Array, rstd: Float64Array, gamma: FloatArray, beta: FloatArray, relu = false): void {
  // y = x·scale + shift per channel: γ·(x − mean)·rstd + β with the products taken once.
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    scale[ch] = gamma[ch] * rstd[ch];
    shift[ch] = beta[ch] - scale[ch] * mean[ch];
  }
  for (let r = r0; r < r1; r++) {
    const at = r * c;
    if (xhat !== null) for (let ch = 0; ch < c; ch++) xhat[at + ch] = (x[at + ch] - mean[ch]) * rstd[ch];
    if (relu) {
      for (let ch = 0; ch < c; ch++) y[at + ch] = Math.max(0, x[at + ch] * scale[ch] + shift[ch]);
    } else {
      for (let ch = 0; ch < c; ch++) y[at + ch] = x[at + ch] * scale[ch] + shift[ch];
    }
  }
}

/** out[c] += Σ dy, out[C + c] += Σ dy·x̂ over rows [r0, r1): the backward pass's per-channel sums. */
export function batchNormGradSums(dy: FloatArray, xhat: FloatArray, r0: number, r1: number, c: number, out: Float64Array, at = 0): void {
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  for (let r = r0; r < r1; r++) {
    const row = r * c;
    for (let ch = 0; ch < c; ch++) {
      const g = dy[row + ch];
      s1[ch] += g;
      s2[ch] += g * xhat[row + ch];
    }
  }
  for (let ch = 0; ch < c; ch++) {
    out[at + ch] += s1[ch];
    out[at + c + ch] += s2[ch];
  }
}

/**
 * dx = γ·rstd·(dy − Σdy/N − x̂·Σ(dy·x̂)/N) over rows [r0, r1), with the sums and N over the whole
 * normalized set (which may span other workers' rows: sync). dx may alias dy.
 */
export function batchNormInputGrad(dy: FloatArray, xhat: FloatArray, dx: FloatArray, r0: number, r1: number, c: number, totals: Float64Array, at: number, count: number, rstd: Float64Array, gamma: FloatArray): void {
  const scale = new Float64Array(c);
  const meanDy = new Float64Array(c);
  const meanDyH = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    scale[ch] = gamma[ch] * rstd[ch];
    meanDy[ch] = totals[at + ch] / count;
    meanDyH[ch] = totals[at + c + ch] / count;
  }
  for (let r = r0; r < r1; r++) {
    const row = r * c;
    for (let ch = 0; ch < c; ch++) dx[row + ch] = scale[ch] * (dy[row + ch] - meanDy[ch] - xhat[row + ch] * meanDyH[ch]);
  }
}
