/**
 * Convolution and pooling kernels over channels-last (HWC) activations, the layout the Model
 * keeps images in between layers: one output pixel's C channels are contiguous, so im2col copies
 * runs of C floats and a convolution is ONE GEMM over the batch, cols [n·Ho·Wo, kh·kw·C] times the
 * weight, whose output is already HWC (no transpose per layer; docs/models.md#layout).
 * The weight stays in PyTorch's [out, C, kh, kw] layout in the parameters; convWeightToKkc
 * reorders it to [out, kh, kw, C] for the GEMM, convGradFromKkcAcc brings the gradient back.
 * Shapes below: x [n, H, W, C], output [n, Ho, Wo, C'], Ho = ⌊(H + 2p − k)/s⌋ + 1.
 */
import type { FloatArray } from '../util/float.js';

/** Geometry of one window sweep (conv or pool) over a batch of HWC images. */
export interface Window2d {
  n: number;
  h: number;
  w: number;
  c: number;
  k: number;
  stride: number;
  pad: number;
  ho: number;
  wo: number;
}

/**
 * cols[(i·Ho + oy)·Wo + ox, (ky·k + kx)·C + ch] = x[i, oy·s − p + ky, ox·s − p + kx, ch], 0 outside.
 * For one ky the k pixels kx = 0..k−1 are adjacent in HWC, so a window row inside the image is
 * one contiguous run of k·C floats (copied in one loop); only edge windows go pixel by pixel.
 * x: [n, H, W, C] -> cols: [n·Ho·Wo, k·k·C]
 */
export function im2colHwc(x: FloatArray, cols: FloatArray, g: Window2d): void {
  const { n, h, w, c, k, stride, pad, ho, wo } = g;
  const run = k * c;
  const K = k * run;
  let row = 0;
  for (let i = 0; i < n; i++) {
    const xi = i * h * w * c;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++, row++) {
        const ix0 = ox * stride - pad;
        const inside = ix0 >= 0 && ix0 + k <= w;
        let to = row * K;
        for (let ky = 0; ky < k; ky++, to += run) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= h) {
            cols.fill(0, to, to + run);
            continue;
          }
          const from = xi + (iy * w + ix0) * c;
          if (inside) {
            for (let q = 0; q < run; q++) cols[to + q] = x[from + q];
            continue;
          }
          for (let kx = 0; kx < k; kx++) {
            const ix = ix0 + kx;
            const at = to + kx * c;
            if (ix < 0 || ix >= w) cols.fill(0, at, at + c);
            else for (let ch = 0; ch < c; ch++) cols[at + ch] = x[from + kx * c + ch];
          }
        }
      }
    }
  }
}

/** The adjoint of im2colHwc: dx = Σ of dcols over the windows (overwrites dx). dcols: [n·Ho·Wo, k·k·C] -> dx: [n, H, W, C] */
export function col2imHwc(dcols: FloatArray, dx: FloatArray, g: Window2d): void {
  const { n, h, w, c, k, stride, pad, ho, wo } = g;
  const run = k * c;
  const K = k * run;
  dx.fill(0, 0, n * h * w * c);
  let row = 0;
  for (let i = 0; i < n; i++) {
    const xi = i * h * w * c;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++, row++) {
        const ix0 = ox * stride - pad;
        const inside = ix0 >= 0 && ix0 + k <= w;
        let from = row * K;
        for (let ky = 0; ky < k; ky++, from += run) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= h) continue;
          const to = xi + (iy * w + ix0) * c;
          if (inside) {
            for (let q = 0; q < run; q++) dx[to + q] += dcols[from + q];
            continue;
          }
          for (let kx = 0; kx < k; kx++) {
            const ix = ix0 + kx;
            if (ix < 0 || ix >= w) continue;
            for (let ch = 0; ch < c; ch++) dx[to + kx * c + ch] += dcols[from + kx * c + ch];
          }
        }
      }
    }
  }
}

/** wk[o, ky, kx, ch] = w[o, ch, ky, kx]. w: [out, C, k, k] -> wk: [out, k, k, C] */
export function convWeightToKkc(w: FloatArray, wk: FloatArray, out: number, c: number, k: number): void {
  const kk = k * k;
  for (let o = 0; o < out; o++) {
    const base = o * c * kk;
    for (let ch = 0; ch < c; ch++) {
      for (let q = 0; q < kk; q++) wk[base + q * c + ch] = w[base + ch * kk + q];
    }
  }
}

/** dw[o, ch, ky, kx] += dwk[o, ky, kx, ch]. dwk: [out, k, k, C] -> dw: [out, C, k, k] */
export function convGradFromKkcAcc(dwk: FloatArray, dw: FloatArray, out: number, c: number, k: number): void {
  const kk = k * k;
  for (let o = 0; o < out; o++) {
    const base = o * c * kk;
    for (let ch = 0; ch < c; ch++) {
      for (let q = 0; q < kk; q++) dw[base + ch * kk + q] += dwk[base + q * c + ch];
    }
  }
}

/**
 * Max over each window, padding ignored; argmax[j] = index into x of the first maximum in scan
 * order (ky, then kx), as PyTorch breaks ties; a NaN wins, so that it is seen downstream.
 * The channel loop is innermost: one pixel's channels are contiguous in HWC.
 *
 * With `bias` and `relu`, y = relu(max + bias[ch]): the epilogue of the conv before the pool,
 * moved after it (layer-ops.ts fuses conv, ReLU, max pool so). Exact: rounding x + b is monotone
 * in x, and so is ReLU, so the max of relu(x + b) over a window is relu(max x + b), the same bits;
 * the pass over the conv's output (4x the pool's for 2x2 windows) is saved.
 * x: [n, H, W, C], bias: [C] -> y, argmax: [n, Ho, Wo, C]
 */
export function maxPoolHwcForward(x: FloatArray, y: FloatArray, argmax: Int32Array, g: Window2d, bias: FloatArray | null = null, relu = false): void {
  const { n, h, w, c, k, stride, pad, ho, wo } = g;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const xi = i * h * w * c;
    for (let oy = 0; oy < ho; oy++) {
      const y0 = Math.max(0, oy * stride - pad);
      const y1 = Math.min(h, oy * stride - pad + k);
      for (let ox = 0; ox < wo; ox++, j += c) {
        const x0 = Math.max(0, ox * stride - pad);
        const x1 = Math.min(w, ox * stride - pad + k);
        const first = xi + (y0 * w + x0) * c;
        for (let ch = 0; ch < c; ch++) {
          y[j + ch] = x[first + ch];
          argmax[j + ch] = first + ch;
        }
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = iy === y0 ? x0 + 1 : x0; ix < x1; ix++) {
            const base = xi + (iy * w + ix) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = x[base + ch];
              const best = y[j + ch];
              if (v > best || (v !== v && best === best)) {
                y[j + ch] = v;
                argmax[j + ch] = base + ch;
              }
            }
          }
        }
        if (bias !== null) for (let ch = 0; ch < c; ch++) y[j + ch] += bias[ch];
        if (relu) for (let ch = 0; ch < c; ch++) if (y[j + ch] < 0) y[j + ch] = 0; // as reluForward
      }
    }
  }
}

/**
 * The weight and bias gradients of a first conv layer straight from the gradient of the max pool
 * after it (layer-ops.ts): the conv's output gradient is dy[j] at argmax[j] and zero elsewhere, so
 * dW = dyᵀ·cols needs only those rows. For j in order, with f = j mod F (the channel):
 * dwk[f, :] += dy[j] · cols[argmax[j] / F, :], and db[f] += dy[j] when db is given; a zero dy[j]
 * (where the pool's ReLU output was <= 0: about half) is skipped, even against a non-finite cols
 * row, whose loss is non-finite anyway.
 * An argmax outside the conv's output (rows · F) is a RangeError.
 * dy, argmax: [count] (count a multiple of F), cols: [rows, depth] -> dwk: [F, depth], db: [F]
 */
export function pooledConvGradAcc(dy: FloatArray, argmax: Int32Array, cols: FloatArray, dwk: FloatArray, db: FloatArray | null, count: number, filters: number, depth: number, rows: number): void {
  for (let j = 0; j < count; j++) {
    const f = j % filters;
    const g = dy[j];
    if (g === 0) continue; // adds nothing (as the wasm kernel skips it)
    const a = argmax[j];
    if (!(a >= 0 && a < rows * filters && a % filters === f)) throw new RangeError(`argmax[${j}] = ${a} is not a channel-${f} element of the conv's output (${rows} x ${filters})`);
    const from = ((a - f) / filters) * depth;
    const to = f * depth;
    for (let d = 0; d < depth; d++) dwk[to + d] += g * cols[from + d];
    if (db !== null) db[f] += g;
  }
}

/**
 * dx = 0, then dx[argmax[j]] += dy[j]; with `mask` (the input was a ReLU output), only where
 * mask[argmax[j]] > 0: elsewhere dx is 0 anyway, so this is the whole ReLU gradient.
 * dy: [n, Ho, Wo, C] -> dx: [n, H, W, C]
 */
export function maxPoolHwcBackward(dy: FloatArray, argmax: Int32Array, dx: FloatArray, g: Window2d, mask: FloatArray | null = null): void {
  const outCount = g.n * g.ho * g.wo * g.c;
  dx.fill(0, 0, g.n * g.h * g.w * g.c);
  if (mask === null) for (let j = 0; j < outCount; j++) dx[argmax[j]] += dy[j];
  else {
    for (let j = 0; j < outCount; j++) {
      const at = argmax[j];
      if (mask[at] > 0) dx[at] += dy[j];
    }
  }
}

/** Mean over each window, padding counted as zeros (PyTorch's count_include_pad = True). */
export function avgPoolHwcForward(x: FloatArray, y: FloatArray, g: Window2d): void {
  const { n, h, w, c, k, stride, pad, ho, wo } = g;
  const scale = 1 / (k * k);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const xi = i * h * w * c;
    for (let oy = 0; oy < ho; oy++) {
      const y0 = Math.max(0, oy * stride - pad);
      const y1 = Math.min(h, oy * stride - pad + k);
      for (let ox = 0; ox < wo; ox++, j += c) {
        const x0 = Math.max(0, ox * stride - pad);
        const x1 = Math.min(w, ox * stride - pad + k);
        for (let ch = 0; ch < c; ch++) y[j + ch] = 0;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const base = xi + (iy * w + ix) * c;
            for (let ch = 0; ch < c; ch++) y[j + ch] += x[base + ch];
          }
        }
        for (let ch = 0; ch < c; ch++) y[j + ch] *= scale;
      }
    }
  }
}

/** The adjoint of avgPoolHwcForward (overwrites dx). */
export function avgPoolHwcBackward(dy: FloatArray, dx: FloatArray, g: Window2d): void {
  const { n, h, w, c, k, stride, pad, ho, wo } = g;
  const scale = 1 / (k * k);
  dx.fill(0, 0, n * h * w * c);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const xi = i * h * w * c;
    for (let oy = 0; oy < ho; oy++) {
      const y0 = Math.max(0, oy * stride - pad);
      const y1 = Math.min(h, oy * stride - pad + k);
      for (let ox = 0; ox < wo; ox++, j += c) {
        const x0 = Math.max(0, ox * stride - pad);
        const x1 = Math.min(w, ox * stride - pad + k);
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const base = xi + (iy * w + ix) * c;
            for (let ch = 0; ch < c; ch++) dx[base + ch] += dy[j + ch] * scale;
          }
        }
      }
    }
  }
}

/** y[i, ch] = mean over the hw pixels of x[i, ·, ch]. x: [n, hw, C] -> y: [n, C] */
export function globalAvgPoolHwcForward(x: FloatArray, y: FloatArray, n: number, hw: number, c: number): void {
  const scale = 1 / hw;
  for (let i = 0; i < n; i++) {
    const xi = i * hw * c;
    for (let ch = 0; ch < c; ch++) y[i * c + ch] = 0;
    for (let p = 0; p < hw; p++) for (let ch = 0; ch < c; ch++) y[i * c + ch] += x[xi + p * c + ch];
    for (let ch = 0; ch < c; ch++) y[i * c + ch] *= scale;
  }
}

/** dx[i, p, ch] = dy[i, ch] / hw. dy: [n, C] -> dx: [n, hw, C] */
export function globalAvgPoolHwcBackward(dy: FloatArray, dx: FloatArray, n: number, hw: number, c: number): void {
  const scale = 1 / hw;
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < hw; p++) for (let ch = 0; ch < c; ch++) dx[(i * hw + p) * c + ch] = dy[i * c + ch] * scale;
  }
}

/** y[i, ch, p] = x[i, p, ch]: channels-last to PyTorch's channels-first. x: [n, hw, C] -> y: [n, C, hw] */
export function hwcToChw(x: FloatArray, y: FloatArray, n: number, hw: number, c: number): void {
  for (let i = 0; i < n; i++) {
    const base = i * hw * c;
    for (let p = 0; p < hw; p++) for (let ch = 0; ch < c; ch++) y[base + ch * hw + p] = x[base + p * c + ch];
  }
}

/** The inverse of hwcToChw. x: [n, C, hw] -> y: [n, hw, C] */
export function chwToHwc(x: FloatArray, y: FloatArray, n: number, hw: number, c: number): void {
  for (let i = 0; i < n; i++) {
    const base = i * hw * c;
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) y[base + p * c + ch] = x[base + ch * hw + p];
  }
}
