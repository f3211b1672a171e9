/**
 * im2col and its adjoint for channels-last (HWC) images, the layout src/model/layer-ops.ts keeps
 * images in; the same shapes and meaning as src/kernels/conv.ts (the js reference). A window row
 * inside the image is one contiguous run of k·C floats: copied with memory.copy (long runs) or a
 * v128 loop, and accumulated back with f32x4 adds. Addresses are byte offsets into this memory.
 */

/** Copies `count` floats from `src` to `dst` (regions do not overlap). */
@inline
function copyFloats(dst: usize, src: usize, count: i32): void {
  if (count >= 32) {
    memory.copy(dst, src, <usize>count * 4);
    return;
  }
  let q = 0;
  for (; q + 4 <= count; q += 4) v128.store(dst + <usize>q * 4, v128.load(src + <usize>q * 4));
  for (; q < count; q++) store<f32>(dst + <usize>q * 4, load<f32>(src + <usize>q * 4));
}

/** dst[q] += src[q] for `count` floats. */
@inline
function addFloats(dst: usize, src: usize, count: i32): void {
  let q = 0;
  for (; q + 4 <= count; q += 4) {
    const at = dst + <usize>q * 4;
    v128.store(at, f32x4.add(v128.load(at), v128.load(src + <usize>q * 4)));
  }
  for (; q < count; q++) {
    const at = dst + <usize>q * 4;
    store<f32>(at, load<f32>(at) + load<f32>(src + <usize>q * 4));
  }
}

/** x: [n, H, W, C] -> cols: [n·Ho·Wo, k·k·C], zeros outside the image. */
export function im2colHwc(x: usize, cols: usize, n: i32, h: i32, w: i32, c: i32, k: i32, stride: i32, pad: i32, ho: i32, wo: i32): void {
  if (c == 1 && im2colOneChannel(x, cols, n, h, w, k, stride, pad, ho, wo)) return;
  const run = k * c;
  let to = cols;
  for (let i = 0; i < n; i++) {
    const xi = x + <usize>i * <usize>(h * w * c) * 4;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const ix0 = ox * stride - pad;
        const inside = ix0 >= 0 && ix0 + k <= w;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= h) {
            memory.fill(to, 0, <usize>run * 4);
          } else if (inside) {
            copyFloats(to, xi + <usize>((iy * w + ix0) * c) * 4, run);
          } else {
            for (let kx = 0; kx < k; kx++) {
              const ix = ix0 + kx;
              const at = to + <usize>(kx * c) * 4;
              if (ix < 0 || ix >= w) memory.fill(at, 0, <usize>c * 4);
              else copyFloats(at, xi + <usize>((iy * w + ix) * c) * 4, c);
            }
          }
          to += <usize>run * 4;
        }
      }
    }
  }
}

/** A zero-padded single-channel image for im2colOneChannel: up to 64 x 64 after padding, + one v128 of slack. */
const PAD_FLOATS = 64 * 64;
const padImage = memory.data((PAD_FLOATS + 4) * 4, 16);

/**
 * im2colHwc for C = 1 and k <= 4 (a first conv layer on grey images): the copy, memory.copy and
 * memory.fill calls of the general path cost more than the GEMM these k-float window rows feed.
 * Each image is copied once into a zero-padded frame, so that every window row is inside it and
 * moves as one v128 load and store: a store writes 4 − k floats past its row, which the next row's
 * store overwrites (the call's very last row is copied float by float instead). False when the
 * shape does not fit (the general path then runs).
 */
@inline
function im2colOneChannel(x: usize, cols: usize, n: i32, h: i32, w: i32, k: i32, stride: i32, pad: i32, ho: i32, wo: i32): bool {
  const hp = h + 2 * pad;
  const wp = w + 2 * pad;
  if (k > 4 || hp * wp > PAD_FLOATS) return false;
  memory.fill(padImage, 0, <usize>(hp * wp + 4) * 4); // borders stay zero for every image
  const rowBytes = <usize>k * 4;
  const last = cols + <usize>n * <usize>(ho * wo * k * k) * 4 - rowBytes;
  let to = cols;
  for (let i = 0; i < n; i++) {
    const xi = x + <usize>i * <usize>(h * w) * 4;
    for (let iy = 0; iy < h; iy++) memory.copy(padImage + <usize>((iy + pad) * wp + pad) * 4, xi + <usize>(iy * w) * 4, <usize>w * 4);
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let from = padImage + <usize>(oy * stride * wp + ox * stride) * 4;
        for (let ky = 0; ky < k; ky++) {
          if (to == last) {
            for (let kx = 0; kx < k; kx++) store<f32>(to + <usize>kx * 4, load<f32>(from + <usize>kx * 4));
          } else {
            v128.store(to, v128.load(from));
          }
          to += rowBytes;
          from += <usize>wp * 4;
        }
      }
    }
  }
  return true;
}

/** The adjoint: dx = Σ of dcols over the windows (overwrites dx). dcols: [n·Ho·Wo, k·k·C] -> dx: [n, H, W, C] */
export function col2imHwc(dcols: usize, dx: usize, n: i32, h: i32, w: i32, c: i32, k: i32, stride: i32, pad: i32, ho: i32, wo: i32): void {
  const run = k * c;
  memory.fill(dx, 0, <usize>n * <usize>(h * w * c) * 4);
  let from = dcols;
  for (let i = 0; i < n; i++) {
    const xi = dx + <usize>i * <usize>(h * w * c) * 4;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const ix0 = ox * stride - pad;
        const inside = ix0 >= 0 && ix0 + k <= w;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * stride - pad + ky;
          if (iy >= 0 && iy < h) {
            if (inside) addFloats(xi + <usize>((iy * w + ix0) * c) * 4, from, run);
            else {
              for (let kx = 0; kx < k; kx++) {
                const ix = ix0 + kx;
                if (ix >= 0 && ix < w) addFloats(xi + <usize>((iy * w + ix) * c) * 4, from + <usize>(kx * c) * 4, c);
              }
            }
          }
          from += <usize>run * 4;
        }
      }
    }
  }
}

/**
 * Max pooling over HWC windows with the first maximum's index (as an i32 element index into x);
 * a NaN wins. Four channels at a time where C is a multiple of 4, one at a time otherwise. Then,
 * where given, + bias[ch] and ReLU: the epilogue of a conv before the pool (0 bias: none).
 * x: [n, H, W, C] -> y: [n, Ho, Wo, C] (f32), argmax: [n, Ho, Wo, C] (i32)
 */
export function maxPoolHwcForward(x: usize, y: usize, argmax: usize, bias: usize, relu: bool, n: i32, h: i32, w: i32, c: i32, k: i32, stride: i32, pad: i32, ho: i32, wo: i32): void {
  if (k == 2 && stride == 2 && pad == 0 && (c & 3) == 0) {
    maxPool2x2(x, y, argmax, bias, relu, n, h, w, c, ho, wo);
    return;
  }
  let j: usize = 0; // output element index
  const vec = (c & 3) == 0;
  for (let i = 0; i < n; i++) {
    const xi = i * h * w * c; // element index of image i
    for (let oy = 0; oy < ho; oy++) {
      const y0 = max(0, oy * stride - pad);
      const y1 = min(h, oy * stride - pad + k);
      for (let ox = 0; ox < wo; ox++, j += <usize>c) {
        const x0 = max(0, ox * stride - pad);
        const x1 = min(w, ox * stride - pad + k);
        const first = xi + (y0 * w + x0) * c;
        if (vec) {
          for (let ch = 0; ch < c; ch += 4) {
            let best = v128.load(x + <usize>(first + ch) * 4);
            let at = i32x4.add(i32x4.splat(first + ch), v128(0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0));
            for (let iy = y0; iy < y1; iy++) {
              for (let ix = iy == y0 ? x0 + 1 : x0; ix < x1; ix++) {
                const idx = xi + (iy * w + ix) * c + ch;
                const v = v128.load(x + <usize>idx * 4);
                // v > best, or v is NaN while best is not.
                const take = v128.or(f32x4.gt(v, best), v128.and(f32x4.ne(v, v), f32x4.eq(best, best)));
                best = v128.bitselect(v, best, take);
                at = v128.bitselect(i32x4.add(i32x4.splat(idx), v128(0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0)), at, take);
              }
            }
            // The conv's epilogue, as finish4 in kernels.ts applies it (src/kernels/conv.ts says why it is exact here).
            if (bias) best = f32x4.add(best, v128.load(bias + <usize>ch * 4));
            if (relu) best = f32x4.max(best, f32x4.splat(0));
            v128.store(y + (j + <usize>ch) * 4, best);
            v128.store(argmax + (j + <usize>ch) * 4, at);
          }
        } else {
          for (let ch = 0; ch < c; ch++) {
            let best = load<f32>(x + <usize>(first + ch) * 4);
            let at = first + ch;
            for (let iy = y0; iy < y1; iy++) {
              for (let ix = iy == y0 ? x0 + 1 : x0; ix < x1; ix++) {
                const idx = xi + (iy * w + ix) * c + ch;
                const v = load<f32>(x + <usize>idx * 4);
                if (v > best || (v != v && best == best)) {
                  best = v;
                  at = idx;
                }
              }
            }
            if (bias) best += load<f32>(bias + <usize>ch * 4);
            if (relu) best = best < 0 ? 0 : best;
            store<f32>(y + (j + <usize>ch) * 4, best);
            store<i32>(argmax + (j + <usize>ch) * 4, at);
          }
        }
      }
    }
  }
}

/** Whether v replaces best in a max scan: v > best, or v is NaN while best is not. */
@inline
function beats(v: v128, best: v128): v128 {
  return v128.or(f32x4.gt(v, best), v128.and(f32x4.ne(v, v), f32x4.eq(best, best)));
}

/**
 * maxPoolHwcForward for 2 x 2 windows at stride 2, no padding, C % 4 = 0 (the usual maxpool2):
 * the four positions unrolled in the same scan order with the same comparisons, so the same
 * values and argmax, without the general path's window bounds and loops (2x faster on W4).
 */
@inline
function maxPool2x2(x: usize, y: usize, argmax: usize, bias: usize, relu: bool, n: i32, h: i32, w: i32, c: i32, ho: i32, wo: i32): void {
  const lanes = v128(0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0);
  const right = c; // element offsets of the window's other three positions
  const below = w * c;
  const diagonal = w * c + c;
  const rightV = i32x4.splat(right);
  const belowV = i32x4.splat(below);
  const diagonalV = i32x4.splat(diagonal);
  let j: usize = 0;
  for (let i = 0; i < n; i++) {
    const xi = i * h * w * c;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++, j += <usize>c) {
        const first = xi + (2 * oy * w + 2 * ox) * c;
        for (let ch = 0; ch < c; ch += 4) {
          const e = first + ch;
          const a = x + <usize>e * 4;
          const at0 = i32x4.add(i32x4.splat(e), lanes);
          let best = v128.load(a);
          let at = at0;
          let v = v128.load(a + <usize>right * 4);
          let t = beats(v, best);
          best = v128.bitselect(v, best, t);
          at = v128.bitselect(i32x4.add(at0, rightV), at, t);
          v = v128.load(a + <usize>below * 4);
          t = beats(v, best);
          best = v128.bitselect(v, best, t);
          at = v128.bitselect(i32x4.add(at0, belowV), at, t);
          v = v128.load(a + <usize>diagonal * 4);
          t = beats(v, best);
          best = v128.bitselect(v, best, t);
          at = v128.bitselect(i32x4.add(at0, diagonalV), at, t);
          if (bias) best = f32x4.add(best, v128.load(bias + <usize>ch * 4));
          if (relu) best = f32x4.max(best, f32x4.splat(0));
          v128.store(y + (j + <usize>ch) * 4, best);
          v128.store(argmax + (j + <usize>ch) * 4, at);
        }
      }
    }
  }
}

/**
 * The gradient of max pooling: dx = 0, then dy[j] added at argmax[j] (in j order, as the js
 * reference, so the sums are the same bits), skipped where mask (the layer input's ReLU output,
 * [n, H, W, C]; 0 for none) is <= 0. Non-overlapping, unpadded windows with C a multiple of 4
 * (maxpool2 after a conv) take a one-pass path instead: each window position is written once,
 * 0 + dy where it is the argmax (and the mask passes), 0 elsewhere, so dx is not first zeroed and
 * then scattered into (two passes over the layer's largest buffer).
 * dy: [n, Ho, Wo, C], argmax: [n, Ho, Wo, C] (i32 element indices into dx) -> dx: [n, H, W, C]
 */
export function maxPoolHwcBackward(dy: usize, argmax: usize, dx: usize, mask: usize, n: i32, h: i32, w: i32, c: i32, k: i32, stride: i32, pad: i32, ho: i32, wo: i32): void {
  if (stride == k && pad == 0 && (c & 3) == 0) {
    maxPoolBackwardTiled(dy, argmax, dx, mask, n, h, w, c, k, ho, wo);
    return;
  }
  const outCount = <usize>n * <usize>(ho * wo * c);
  memory.fill(dx, 0, <usize>n * <usize>(h * w * c) * 4);
  for (let j: usize = 0; j < outCount; j++) {
    const at = <usize>load<i32>(argmax + j * 4) * 4;
    if (mask != 0 && !(load<f32>(mask + at) > 0)) continue;
    store<f32>(dx + at, load<f32>(dx + at) + load<f32>(dy + j * 4));
  }
}

/** maxPoolHwcBackward for stride = k, pad = 0, C % 4 = 0: windows tile the image without overlap. */
@inline
function maxPoolBackwardTiled(dy: usize, argmax: usize, dx: usize, mask: usize, n: i32, h: i32, w: i32, c: i32, k: i32, ho: i32, wo: i32): void {
  const lanes = v128(0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0);
  const zero = f32x4.splat(0);
  const everywhere = i32x4.splat(-1);
  let j: usize = 0; // output element index
  for (let i = 0; i < n; i++) {
    const xi = i * h * w * c;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++, j += <usize>c) {
        for (let ch = 0; ch < c; ch += 4) {
          // 0 + dy, as the reference's zeroed dx plus dy (so -0 becomes +0 there too).
          const d = f32x4.add(zero, v128.load(dy + (j + <usize>ch) * 4));
          const at = v128.load(argmax + (j + <usize>ch) * 4);
          for (let ky = 0; ky < k; ky++) {
            for (let kx = 0; kx < k; kx++) {
              const idx = xi + ((oy * k + ky) * w + ox * k + kx) * c + ch;
              let take = i32x4.eq(at, i32x4.add(i32x4.splat(idx), lanes));
              const m = mask != 0 ? f32x4.gt(v128.load(mask + <usize>idx * 4), zero) : everywhere;
              take = v128.and(take, m);
              v128.store(dx + <usize>idx * 4, v128.and(d, take));
            }
          }
        }
      }
    }
    // Rows and columns no window covers (H or W not a multiple of k) get no gradient.
    const rowsCovered = ho * k;
    const colsCovered = wo * k;
    if (colsCovered < w) {
      for (let iy = 0; iy < rowsCovered; iy++) {
        memory.fill(dx + <usize>(xi + (iy * w + colsCovered) * c) * 4, 0, <usize>((w - colsCovered) * c) * 4);
      }
    }
    if (rowsCovered < h) memory.fill(dx + <usize>(xi + rowsCovered * w * c) * 4, 0, <usize>((h - rowsCovered) * w * c) * 4);
  }
}

/** y[i, ch, p] = x[i, p, ch]: channels-last to channels-first. x: [n, hw, C] -> y: [n, C, hw] */
export function hwcToChw(x: usize, y: usize, n: i32, hw: i32, c: i32): void {
  // Writes in order, reads strided: one image (hw·C floats) is small enough to stay in cache.
  for (let i = 0; i < n; i++) {
    const base = <usize>i * <usize>(hw * c);
    let to = y + base * 4;
    for (let ch = 0; ch < c; ch++) {
      let from = x + (base + <usize>ch) * 4;
      for (let p = 0; p < hw; p++) {
        store<f32>(to, load<f32>(from));
        to += 4;
        from += <usize>c * 4;
      }
    }
  }
}

/** The inverse of hwcToChw. x: [n, C, hw] -> y: [n, hw, C] */
export function chwToHwc(x: usize, y: usize, n: i32, hw: i32, c: i32): void {
  for (let i = 0; i < n; i++) {
    const base = <usize>i * <usize>(hw * c);
    let to = y + base * 4;
    for (let p = 0; p < hw; p++) {
      let from = x + (base + <usize>p) * 4;
      for (let ch = 0; ch < c; ch++) {
        store<f32>(to, load<f32>(from));
        to += 4;
        from += <usize>hw * 4;
      }
    }
  }
}

/**
 * pooledConvGradAcc of src/kernels/conv.ts (the reference, same order of operations): a first
 * conv layer's weight and bias gradients from the gradient of the max pool after it, reading only
 * the cols rows of the argmax positions (a quarter of them for 2 x 2 pools). db 0: no bias.
 * Returns -1, or the first j whose argmax is not a channel-(j mod F) element of the conv's
 * output (rows x F), where it stopped.
 * dy, argmax: [count], cols: [rows, depth] -> dwk: [F, depth] +=, db: [F] +=
 */
export function pooledConvGradAcc(dy: usize, argmax: usize, cols: usize, dwk: usize, db: usize, count: i32, filters: i32, depth: i32, rows: i32): i32 {
  const limit = <u32>(rows * filters);
  // pixel = (a − f) / F by a multiply and a shift (Granlund & Montgomery 1994): exact for
  // numerators below 2^31 with shift = 32 + ceil(log2 F) and magic = ceil(2^shift / F) < 2^33,
  // so the product fits 64 bits. An i32 division, or an f64 reciprocal, per entry made this
  // kernel slower than the scatter and GEMM it replaces.
  const shift = <u64>(32 + (32 - clz<i32>(filters - 1)));
  const magic = ((<u64>1 << shift) + <u64>filters - 1) / <u64>filters;
  // A power of two (32, 64 filters: the usual case) is a plain shift, faster still.
  const log = (filters & (filters - 1)) == 0 ? ctz<i32>(filters) : -1;
  let f = -1;
  for (let j = 0; j < count; j++) {
    if (++f == filters) f = 0;
    const g = load<f32>(dy + <usize>j * 4);
    // A zero gradient adds nothing (about half of them: the pool's ReLU output was <= 0).
    if (g == 0) continue;
    const a = load<i32>(argmax + <usize>j * 4);
    // An index outside cols would read other buffers: stop and report it (the caller throws).
    if (<u32>a >= limit) return j;
    const pixel = log >= 0 ? (a - f) >> log : <i32>((<u64><u32>(a - f) * magic) >> shift);
    if (pixel * filters + f != a) return j;
    const from = cols + <usize>(pixel * depth) * 4;
    const to = dwk + <usize>(f * depth) * 4;
    const gv = f32x4.splat(g);
    let d = 0;
    for (; d + 4 <= depth; d += 4) {
      const at = to + <usize>d * 4;
      v128.store(at, f32x4.add(v128.load(at), f32x4.mul(gv, v128.load(from + <usize>d * 4))));
    }
    for (; d < depth; d++) {
      const at = to + <usize>d * 4;
      store<f32>(at, load<f32>(at) + g * load<f32>(from + <usize>d * 4));
    }
    if (db) store<f32>(db + <usize>f * 4, load<f32>(db + <usize>f * 4) + g);
  }
  return -1;
}
