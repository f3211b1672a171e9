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
