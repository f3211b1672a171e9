/**
 * Gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (norm type 2):
 * factor = min(1, maxNorm / (norm + 1e-6)), applied by the optimizer through UpdateArgs.gradScale.
 */
import { ConfigError, shown } from '../errors.js';

/**
 * Σ grad[i]² over [start, end) (default all), accumulated in float64. Results of disjoint ranges
 * add up to the whole (up to float64 rounding; add them in a fixed order for reproducible runs).
 */
export function sumOfSquares(grad: Float32Array | Float64Array, start = 0, end = grad.length): number {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > grad.length) {
    throw new RangeError(`range [${start}, ${end}) is not within [0, ${grad.length})`);
  }
  let sum = 0;
  for (let i = start; i < end; i++) {
    const g = grad[i];
    sum += g * g;
  }
  return sum;
}

/**
 * The factor that scales a gradient of L2 norm `gradNorm` to at most `maxNorm` (--clip-norm):
 * min(1, maxNorm / (gradNorm + 1e-6)). Like PyTorch, a NaN norm gives NaN and an infinite norm 0,
 * so the caller must check for non-finite gradients first.
 */
export function clipFactor(gradNorm: number, maxNorm: number): number {
  if (typeof maxNorm !== 'number' || !(maxNorm > 0 && maxNorm < Infinity)) {
    throw new ConfigError('badClipNorm', `--clip-norm must be a finite number > 0 (got ${shown(maxNorm)})`);
  }
  return Math.min(1, maxNorm / (gradNorm + 1e-6));
}
