/**
 * Dense matrix kernels for linear layers, row-major, over Float32Array or Float64Array.
 * Flat signatures (arrays + dimensions) so that a WebAssembly SIMD version can sit behind
 * the same calls. Partial sums are JS numbers (float64), rounded once on store.
 * Only the first n rows of each array are read or written, so workspace buffers may be larger.
 *
 * Speed: each kernel works on a 2 x 4 register block (two rows of one operand against four
 * rows of the other), so every loaded element feeds several multiply-adds. Measured on the
 * W2 layer shape (n 512, 1024 x 1024, float32, Node 20): one row at a time ~1.0 GFLOP/s,
 * 1 x 4 blocks ~2.3 GFLOP/s, 2 x 4 blocks ~3.7 GFLOP/s. Cache tiling on top of that did not
 * measurably help (the operands of one block row fit in L2).
 */
import type { FloatArray } from '../util/float.js';

/**
 * y = x·Wᵀ (overwrites y).
 * x: [n, inDim], w: [outDim, inDim] -> y: [n, outDim]
 *
 * Each output is a dot product of two contiguous rows (a row of x, a row of w); the inner
 * loop runs over k for rows i, i+1 of x and rows j..j+3 of w (8 accumulators).
 */
export function matmulXWt(x: FloatArray, w: FloatArray, y: FloatArray, n: number, inDim: number, outDim: number): void {
  const n2 = n - (n % 2);
  const out4 = outDim - (outDim % 4);
  let i = 0;
  for (; i < n2; i += 2) {
    const xa = i * inDim;
    const xb = xa + inDim;
    const ya = i * outDim;
    const yb = ya + outDim;
    let j = 0;
    for (; j < out4; j += 4) {
      const w0 = j * inDim;
      const w1 = w0 + inDim;
      const w2 = w1 + inDim;
      const w3 = w2 + inDim;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0; // prettier-ignore
      for (let k = 0; k < inDim; k++) {
        const p = x[xa + k];
        const q = x[xb + k];
        const c0 = w[w0 + k];
        const c1 = w[w1 + k];
        const c2 = w[w2 + k];
        const c3 = w[w3 + k];
        a0 += p * c0;
        a1 += p * c1;
        a2 += p * c2;
        a3 += p * c3;
        b0 += q * c0;
        b1 += q * c1;
        b2 += q * c2;
        b3 += q * c3;
      }
      y[ya + j] = a0;
      y[ya + j + 1] = a1;
      y[ya + j + 2] = a2;
      y[ya + j + 3] = a3;
      y[yb + j] = b0;
      y[yb + j + 1] = b1;
      y[yb + j + 2] = b2;
      y[yb + j + 3] = b3;
    }
    for (; j < outDim; j++) {
      const wj = j * inDim;
      let a = 0;
      let b = 0;
      for (let k = 0; k < inDim; k++) {
        const c = w[wj + k];
        a += x[xa + k] * c;
        b += x[xb + k] * c;
      }
      y[ya + j] = a;
      y[yb + j] = b;
    }
  }
  if (i < n) {
    // Odd n: the last row alone.
    const xa = i * inDim;
    const ya = i * outDim;
    for (let j = 0; j < outDim; j++) {
      const wj = j * inDim;
      let a = 0;
      for (let k = 0; k < inDim; k++) a += x[xa + k] * w[wj + k];
      y[ya + j] = a;
    }
  }
}

/**
 * dx = dy·W (overwrites dx).
 * dy: [n, outDim], w: [outDim, inDim] -> dx: [n, inDim]
 *
 * i-k-j order: the inner loop streams rows k..k+3 of W into rows i, i+1 of dx, adding four
 * products in float64 before each store (a quarter of the loads/stores of dx).
 */
export function matmulDyW(dy: FloatArray, w: FloatArray, dx: FloatArray, n: number, outDim: number, inDim: number): void {
  const n2 = n - (n % 2);
  const out4 = outDim - (outDim % 4);
  dx.fill(0, 0, n * inDim);
  let i = 0;
  for (; i < n2; i += 2) {
    const da = i * outDim;
    const db = da + outDim;
    const xa = i * inDim;
    const xb = xa + inDim;
    let k = 0;
    for (; k < out4; k += 4) {
      const a0 = dy[da + k], a1 = dy[da + k + 1], a2 = dy[da + k + 2], a3 = dy[da + k + 3]; // prettier-ignore
      const b0 = dy[db + k], b1 = dy[db + k + 1], b2 = dy[db + k + 2], b3 = dy[db + k + 3]; // prettier-ignore
      const w0 = k * inDim;
      const w1 = w0 + inDim;
      const w2 = w1 + inDim;
      const w3 = w2 + inDim;
      for (let j = 0; j < inDim; j++) {
        const c0 = w[w0 + j];
        const c1 = w[w1 + j];
        const c2 = w[w2 + j];
        const c3 = w[w3 + j];
        dx[xa + j] += a0 * c0 + a1 * c1 + a2 * c2 + a3 * c3;
        dx[xb + j] += b0 * c0 + b1 * c1 + b2 * c2 + b3 * c3;
      }
    }
    for (; k < outDim; k++) {
      const a = dy[da + k];
      const b = dy[db + k];
      const wk = k * inDim;
      for (let j = 0; j < inDim; j++) {
        const c = w[wk + j];
        dx[xa + j] += a * c;
        dx[xb + j] += b * c;
      }
    }
  }
  if (i < n) {
    // Odd n: the last row alone.
    const da = i * outDim;
    const xa = i * inDim;
    for (let k = 0; k < outDim; k++) {
      const a = dy[da + k];
      const wk = k * inDim;
      for (let j = 0; j < inDim; j++) dx[xa + j] += a * w[wk + j];
    }
  }
}

/**
 * dw += dyᵀ·x (accumulates into dw).
 * dy: [n, outDim], x: [n, inDim] -> dw: [outDim, inDim]
 *
 * dw[r, :] += Σ_i dy[i, r]·x[i, :]: the inner loop streams rows i..i+3 of x into rows r, r+1
 * of dw, adding four products in float64 before each store.
 */
export function matmulDyTXAcc(dy: FloatArray, x: FloatArray, dw: FloatArray, n: number, outDim: number, inDim: number): void {
  const out2 = outDim - (outDim % 2);
  const n4 = n - (n % 4);
  let r = 0;
  for (; r < out2; r += 2) {
    const wa = r * inDim;
    const wb = wa + inDim;
    let i = 0;
    for (; i < n4; i += 4) {
      const e0 = i * outDim + r;
      const e1 = e0 + outDim;
      const e2 = e1 + outDim;
      const e3 = e2 + outDim;
      const a0 = dy[e0], a1 = dy[e1], a2 = dy[e2], a3 = dy[e3]; // prettier-ignore
      const b0 = dy[e0 + 1], b1 = dy[e1 + 1], b2 = dy[e2 + 1], b3 = dy[e3 + 1]; // prettier-ignore
      const x0 = i * inDim;
      const x1 = x0 + inDim;
      const x2 = x1 + inDim;
      const x3 = x2 + inDim;
      for (let j = 0; j < inDim; j++) {
        const c0 = x[x0 + j];
        const c1 = x[x1 + j];
        const c2 = x[x2 + j];
        const c3 = x[x3 + j];
        dw[wa + j] += a0 * c0 + a1 * c1 + a2 * c2 + a3 * c3;
        dw[wb + j] += b0 * c0 + b1 * c1 + b2 * c2 + b3 * c3;
      }
    }
    for (; i < n; i++) {
      const a = dy[i * outDim + r];
      const b = dy[i * outDim + r + 1];
      const xi = i * inDim;
      for (let j = 0; j < inDim; j++) {
        const c = x[xi + j];
        dw[wa + j] += a * c;
        dw[wb + j] += b * c;
      }
    }
  }
  if (r < outDim) {
    // Odd outDim: the last row of dw alone.
    const wa = r * inDim;
    for (let i = 0; i < n; i++) {
      const a = dy[i * outDim + r];
      const xi = i * inDim;
      for (let j = 0; j < inDim; j++) dw[wa + j] += a * x[xi + j];
    }
  }
}

/**
 * y[i, :] += b (in place).
 * y: [n, outDim], b: [outDim]
 */
export function addBias(y: FloatArray, b: FloatArray, n: number, outDim: number): void {
  for (let i = 0; i < n; i++) {
    const yi = i * outDim;
    for (let j = 0; j < outDim; j++) y[yi + j] += b[j];
  }
}

/**
 * db += column sums of dy (accumulates).
 * dy: [n, outDim] -> db: [outDim]
 *
 * One float64 accumulator per column (strided reads; O(n·out), negligible next to the matmuls).
 */
export function biasGradAcc(dy: FloatArray, db: FloatArray, n: number, outDim: number): void {
  for (let j = 0; j < outDim; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += dy[i * outDim + j];
    db[j] += s;
  }
}

/**
 * y = x·Wᵀ + b, then ReLU if `relu` (overwrites y): a dense layer's forward pass, the reference
 * for the fused epilogue of the wasm kernels.
 * x: [n, inDim], w: [outDim, inDim], b: [outDim] -> y: [n, outDim]
 */
export function linearForward(
  x: FloatArray,
  w: FloatArray,
  b: FloatArray,
  y: FloatArray,
  n: number,
  inDim: number,
  outDim: number,
  relu: boolean,
): void {
  matmulXWt(x, w, y, n, inDim, outDim);
  addBias(y, b, n, outDim);
  if (relu) {
    const total = n * outDim;
    for (let i = 0; i < total; i++) if (y[i] < 0) y[i] = 0; // as reluForward (activations.ts)
  }
}

/**
 * dx = dy·W, then dx = 0 where the layer input's ReLU output y <= 0 (overwrites dx): the delta of
 * a hidden ReLU layer, the reference for the masked epilogue of the wasm kernels.
 * dy: [n, outDim], w: [outDim, inDim], y: [n, inDim] -> dx: [n, inDim]
 */
export function matmulDyWReluMask(
  dy: FloatArray,
  w: FloatArray,
  y: FloatArray,
  dx: FloatArray,
  n: number,
  outDim: number,
  inDim: number,
): void {
  matmulDyW(dy, w, dx, n, outDim, inDim);
  const total = n * inDim;
  for (let i = 0; i < total; i++) if (y[i] <= 0) dx[i] = 0; // as reluBackward (activations.ts)
}
