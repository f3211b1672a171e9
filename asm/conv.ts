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
 * a NaN wins. Four channels at a time where C is a multiple of 4, one at a time otherwise.
 * x: [n, H, W, C] -> y: [n, Ho, Wo, C] (f32), argmax: [n, Ho, Wo, C] (i32)
 */
export function maxPoolHwcForward(x: usize, y: usize, argmax: usize, n: i32, h: i32, w: i32, c: i32, k: i32, stride: i32, pad: i32, ho: i32, wo: i32): void {
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
            store<f32>(y + (j + <usize>ch) * 4, best);
            store<i32>(argmax + (j + <usize>ch) * 4, at);
          }
        }
      }
    }
  }
}
