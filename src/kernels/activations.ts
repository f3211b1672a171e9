/**
 * Element-wise activations, in place over the first `n` elements (n = rows · width).
 * Backward functions take the post-activation output y, which is what the model keeps.
 */
import type { FloatArray } from '../util/float.js';

/** z[i] = max(z[i], 0) (in place); NaN stays NaN so that non-finite losses are seen. z: [n] */
export function reluForward(z: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) if (z[i] < 0) z[i] = 0;
}

/** dy[i] = 0 where y[i] <= 0 (in place); y is the ReLU output. dy, y: [n] */
export function reluBackward(dy: FloatArray, y: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) if (y[i] <= 0) dy[i] = 0;
}

/** z[i] = tanh(z[i]) (in place). z: [n] */
export function tanhForward(z: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) z[i] = Math.tanh(z[i]);
}

/** dy[i] *= 1 - y[i]² (in place); y is the tanh output. dy, y: [n] */
export function tanhBackward(dy: FloatArray, y: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const yi = y[i];
    dy[i] *= 1 - yi * yi;
  }
}
