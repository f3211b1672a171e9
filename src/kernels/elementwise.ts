/**
 * GELU (exact, with erf, as PyTorch's default nn.GELU) and dropout, element-wise over the
 * first `count` elements. Dropout masks come from a keyed hash of (seed, step, sample, unit), not
 * from a stream, so a sample's mask does not depend on which worker computes it (docs/models.md#dropout).
 */
import type { FloatArray } from '../util/float.js';

const SQRT1_2 = Math.SQRT1_2;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * erf(x) to about 1e-15: for |x| < 3 the series 2/√π·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3···(2n+1)) (all terms
 * positive, no cancellation); beyond, 1 − erfc(x) from erfc's continued fraction (Abramowitz &
 * Stegun 7.1.2 and 7.1.14). Math has no erf, and the gradient checks need the derivative to match.
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  let r: number;
  if (a < 3) {
    let term = a;
    let sum = a;
    const a2 = 2 * a * a;
    for (let n = 0; n < 200 && term > 1e-17 * sum; n++) {
      term *= a2 / (2 * n + 3);
      sum += term;
    }
    r = TWO_OVER_SQRT_PI * Math.exp(-a * a) * sum;
  } else if (a < 6.5) {
    // erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), evaluated from the tail.
    let f = a;
    for (let m = 60; m >= 1; m--) f = a + m / 2 / f;
    r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  } else {
    r = 1;
  }
  return x < 0 ? -r : r;
}

/** y[i] = x[i]·Φ(x[i]) with Φ the standard normal CDF. x, y: [count] (may not alias: backward needs x) */
export function geluForward(x: FloatArray, y: FloatArray, count: number): void {
  for (let i = 0; i < count; i++) {
    const v = x[i];
    y[i] = v * 0.5 * (1 + erf(v * SQRT1_2));
  }
}

/** dx[i] = dy[i]·(Φ(x) + x·φ(x)); x is the GELU input. dx may alias dy. */
export function geluBackward(dy: FloatArray, x: FloatArray, dx: FloatArray, count: number): void {
  for (let i = 0; i < count; i++) {
    const v = x[i];
    const cdf = 0.5 * (1 + erf(v * SQRT1_2));
    const pdf = INV_SQRT_2PI * Math.exp(-0.5 * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

/** murmur3's 32-bit finalizer: every input bit affects every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** What a dropout mask is keyed by, besides the sample index and unit. */
export interface DropoutKey {
  /** The run's seed. */
  seed: number;
  /** The global training step (0-based). */
  step: number;
  /** Which dropout layer of the model (so two layers draw different masks). */
  layer: number;
}

/**
 * mask[r·width + j] = 0 with probability `rate`, else 1/(1 − rate) (inverted dropout), from a
 * hash of (seed, step, layer, samples[r], j) only. mask: [rows, width]
 */
export function dropoutMask(mask: FloatArray, rows: number, width: number, rate: number, key: DropoutKey, samples: ArrayLike<number>, firstSample: number): void {
  const keep = 1 / (1 - rate);
  // Keep a unit when its 32-bit hash is at or above rate·2^32.
  const threshold = Math.min(0xffffffff, Math.floor(rate * 4294967296));
  const base = fmix32(fmix32(fmix32(fmix32(key.seed >>> 0) ^ (Math.floor(key.seed / 4294967296) >>> 0)) ^ (key.step >>> 0)) + key.layer * 0x9e3779b9);
  for (let r = 0; r < rows; r++) {
    const sample = samples[firstSample + r];
    const rowKey = fmix32(base ^ fmix32(sample + 0x632be5ab));
    const at = r * width;
    for (let j = 0; j < width; j++) {
      mask[at + j] = rate > 0 && fmix32(rowKey + Math.imul(j, 0x9e3779b9)) < threshold ? 0 : keep;
    }
  }
}

/** y[i] *= mask[i] (in place; forward and backward alike). */
export function multiplyInPlace(y: FloatArray, mask: FloatArray, count: number): void {
  for (let i = 0; i < count; i++) y[i] *= mask[i];
}
