/**
 * dptrain's WebAssembly SIMD kernels (AssemblyScript, compiled by `npm run build:wasm` into
 * dist/wasm/kernels.wasm). Design and measured figures: docs/kernels.md; issue 3.
 *
 * Every argument is a byte address in this module's linear memory or a count; the memory
 * above heapBase() belongs to the JavaScript side (src/kernels/wasm.ts), which places the
 * model's workspace, the staged params and grad, and the two packing buffers there.
 * Matrices are row-major float32 and shapes are given as in src/kernels/matmul.ts.
 *
 * All three products of a dense layer run through one GEMM driver, C (M x N) = A (M x K) · B (K x N),
 * blocked as in GotoBLAS/BLIS (Goto & van de Geijn, "Anatomy of high-performance matrix
 * multiplication", 2008): a KC x NC block of B is packed into NR-wide column panels, an MC x KC
 * block of A into MR-high row panels, and an MR x NR register tile of C is computed from one
 * panel of each with f32x4 multiply + add (Node 20 validates relaxed SIMD, and so wasm FMA,
 * only behind --experimental-wasm-relaxed-simd; a second build uses it where it validates).
 */

/**
 * Register tile: 4 rows x 8 columns = 8 f32x4 accumulators, + 2 B vectors, 1 A splat and 1 product
 * of the 15 xmm registers V8 allocates (it keeps xmm15 as scratch). Measured (docs/kernels.md),
 * micro-kernel alone: 4x8 38.5 GFLOP/s, 2x16 36.9, 6x8 25.8, 5x8 22.0, 3x12 20.2.
 */
const MR: i32 = 4;
const NR: i32 = 8;
/**
 * Depth of one packed block: an A panel (MR x KC, 4 KiB) and a B panel (KC x NR, 8 KiB) stay in
 * L1. Blocks are between KC/2 and KC_MAX deep, so that K splits into equal blocks.
 */
const KC: i32 = 256;
const KC_MAX: i32 = 384;
/** Rows of A packed at once (128-192 KiB, in L2 beside the packed B block). */
const MC: i32 = 128;
/** Columns of B packed at once (KC x NC floats = 512-768 KiB, in L2). */
const NC: i32 = 512;

// Epilogue flags of the GEMM driver.
const ACCUMULATE: i32 = 1; // C += A·B instead of C = A·B
const RELU: i32 = 2; // C = max(C, 0) after the bias
const MASK: i32 = 4; // C = 0 where mask <= 0 (ReLU gradient; mask is the layer's ReLU output)

/** One MR x NR tile for the edges of C, computed in full and copied out element by element. */
const EDGE: usize = memory.data(MR * NR * 4, 16);

/** First byte free for the JavaScript side's allocator. */
export function heapBase(): usize {
  return __heap_base;
}

/** Bytes the packed A block needs (pass a buffer of this size as `packA`). */
export function packASize(): i32 {
  return MC * KC_MAX * 4;
}

/** Bytes the packed B block needs (pass a buffer of this size as `packB`). */
export function packBSize(): i32 {
  return KC_MAX * NC * 4;
}

// ---------------------------------------------------------------------------------------------
// Packing. A panel holds MR rows of A for kc steps: pa[k*MR + i] = A[i0+i, k0+k].
// A B panel holds NR columns of B for kc steps: pb[k*NR + j] = B[k0+k, j0+j].
// Rows or columns past the edge of the matrix are packed as zeros, so the micro-kernel
// always computes a full tile.

/** A row-major (A[i, k] at a + (i*lda + k)*4): x in y = x·Wᵀ, dy in dx = dy·W. */
function packARows(a: usize, lda: i32, i0: i32, k0: i32, mc: i32, kc: i32, dst: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min(MR, mc - ir);
    const panel = dst + <usize>(ir * kc) * 4;
    const row = a + (<usize>(i0 + ir) * lda + k0) * 4;
    if (mr == MR) {
      const r0 = row;
      const r1 = r0 + <usize>lda * 4;
      const r2 = r1 + <usize>lda * 4;
      const r3 = r2 + <usize>lda * 4;
      let k = 0;
      // 4 x 4 transposes: four k-steps of four rows at a time.
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k * 4;
        const x0 = v128.load(r0 + o);
        const x1 = v128.load(r1 + o);
        const x2 = v128.load(r2 + o);
        const x3 = v128.load(r3 + o);
        const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5); // a0 b0 a1 b1
        const t1 = i32x4.shuffle(x2, x3, 0, 4, 1, 5); // c0 d0 c1 d1
        const t2 = i32x4.shuffle(x0, x1, 2, 6, 3, 7); // a2 b2 a3 b3
        const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7); // c2 d2 c3 d3
        const p = panel + <usize>k * 16;
        v128.store(p, i64x2.shuffle(t0, t1, 0, 2));
        v128.store(p, i64x2.shuffle(t0, t1, 1, 3), 16);
        v128.store(p, i64x2.shuffle(t2, t3, 0, 2), 32);
        v128.store(p, i64x2.shuffle(t2, t3, 1, 3), 48);
      }
      for (; k < kc; k++) {
        const o = <usize>k * 4;
        const p = panel + <usize>k * 16;
        store<f32>(p, load<f32>(r0 + o));
        store<f32>(p, load<f32>(r1 + o), 4);
        store<f32>(p, load<f32>(r2 + o), 8);
        store<f32>(p, load<f32>(r3 + o), 12);
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const p = panel + <usize>k * 16;
        for (let i = 0; i < MR; i++) {
          const v: f32 = i < mr ? load<f32>(row + (<usize>i * lda + k) * 4) : 0;
          store<f32>(p + <usize>i * 4, v);
        }
      }
    }
  }
}

/** A column-major (A[i, k] at a + (k*lda + i)*4): dyᵀ in dW += dyᵀ·x. */
function packACols(a: usize, lda: i32, i0: i32, k0: i32, mc: i32, kc: i32, dst: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min(MR, mc - ir);
    const panel = dst + <usize>(ir * kc) * 4;
    const col = a + (<usize>k0 * lda + i0 + ir) * 4;
    if (mr == MR) {
      for (let k = 0; k < kc; k++) v128.store(panel + <usize>k * 16, v128.load(col + <usize>k * lda * 4));
    } else {
      for (let k = 0; k < kc; k++) {
        const p = panel + <usize>k * 16;
        const s = col + <usize>k * lda * 4;
        for (let i = 0; i < MR; i++) store<f32>(p + <usize>i * 4, i < mr ? load<f32>(s + <usize>i * 4) : 0);
      }
    }
  }
}

/** B row-major (B[k, j] at b + (k*ldb + j)*4): W in dx = dy·W, x in dW += dyᵀ·x. */
function packBRows(b: usize, ldb: i32, k0: i32, j0: i32, kc: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    const panel = dst + <usize>(jr * kc) * 4;
    const src = b + (<usize>k0 * ldb + j0 + jr) * 4;
    if (nr == NR) {
      for (let k = 0; k < kc; k++) {
        const s = src + <usize>k * ldb * 4;
        const p = panel + <usize>k * 32;
        v128.store(p, v128.load(s));
        v128.store(p, v128.load(s, 16), 16);
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const s = src + <usize>k * ldb * 4;
        const p = panel + <usize>k * 32;
        for (let j = 0; j < NR; j++) store<f32>(p + <usize>j * 4, j < nr ? load<f32>(s + <usize>j * 4) : 0);
      }
    }
  }
}

/**
 * B column-major (B[k, j] at b + (j*ldb + k)*4): Wᵀ in y = x·Wᵀ. Each panel reads NR rows of W
 * along k and transposes them 4 x 4 at a time.
 */
function packBCols(b: usize, ldb: i32, k0: i32, j0: i32, kc: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    const panel = dst + <usize>(jr * kc) * 4;
    const src = b + (<usize>(j0 + jr) * ldb + k0) * 4;
    if (nr == NR) {
      // Two halves of four columns each; half h fills lanes 4h..4h+3 of every k-row.
      for (let h = 0; h < 2; h++) {
        const r0 = src + <usize>(4 * h) * ldb * 4;
        const r1 = r0 + <usize>ldb * 4;
        const r2 = r1 + <usize>ldb * 4;
        const r3 = r2 + <usize>ldb * 4;
        const out = panel + <usize>h * 16;
        let k = 0;
        for (; k + 4 <= kc; k += 4) {
          const o = <usize>k * 4;
          const x0 = v128.load(r0 + o);
          const x1 = v128.load(r1 + o);
          const x2 = v128.load(r2 + o);
          const x3 = v128.load(r3 + o);
          const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
          const t1 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
          const t2 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
          const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
          const p = out + <usize>k * 32;
          v128.store(p, i64x2.shuffle(t0, t1, 0, 2));
          v128.store(p, i64x2.shuffle(t0, t1, 1, 3), 32);
          v128.store(p, i64x2.shuffle(t2, t3, 0, 2), 64);
          v128.store(p, i64x2.shuffle(t2, t3, 1, 3), 96);
        }
        for (; k < kc; k++) {
          const o = <usize>k * 4;
          const p = out + <usize>k * 32;
          store<f32>(p, load<f32>(r0 + o));
          store<f32>(p, load<f32>(r1 + o), 4);
          store<f32>(p, load<f32>(r2 + o), 8);
          store<f32>(p, load<f32>(r3 + o), 12);
        }
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const p = panel + <usize>k * 32;
        for (let j = 0; j < NR; j++) {
          store<f32>(p + <usize>j * 4, j < nr ? load<f32>(src + (<usize>j * ldb + k) * 4) : 0);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The micro-kernel: an MR x NR tile of C from an A panel and a B panel, then the epilogue
// (accumulate, bias, ReLU, ReLU-gradient mask) while the tile is still in registers.

/**
 * c + a·b. The relaxed-SIMD build (kernels-relaxed.wasm, for runtimes that validate it) uses
 * f32x4.relaxed_madd, a fused multiply-add on x64 with FMA: one instruction instead of two.
 */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** Applies the epilogue to one row of 4 accumulated values and stores them at c. */
// @ts-ignore: decorator
@inline function finish4(acc: v128, c: usize, flags: i32, bias: usize, mask: usize): void {
  let v = acc;
  if (flags & ACCUMULATE) v = f32x4.add(v, v128.load(c));
  if (bias) v = f32x4.add(v, v128.load(bias));
  if (flags & RELU) v = f32x4.max(v, f32x4.splat(0));
  if (flags & MASK) v = v128.andnot(v, f32x4.le(v128.load(mask), f32x4.splat(0)));
  v128.store(c, v);
}

/**
 * C[0..mr, 0..nr] (epilogue) A-panel · B-panel over kc steps. One k-step per iteration: unrolled
 * by 2, TurboFan schedules the loads of both steps first and spills accumulators (~26 GFLOP/s). c, mask: tile origins with row
 * stride ldc floats; bias: the tile's first bias element or 0. Edge tiles (mr < MR or nr < NR)
 * go through EDGE.
 */
function microKernel(
  kc: i32,
  pa: usize,
  pb: usize,
  c: usize,
  ldc: i32,
  mr: i32,
  nr: i32,
  flags: i32,
  bias: usize,
  mask: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    pa += 16;
    pb += 32;
  }
  if (mr == MR && nr == NR) {
    const s = <usize>ldc * 4;
    const b1 = bias ? bias + 16 : 0;
    finish4(c00, c, flags, bias, mask);
    finish4(c01, c + 16, flags, b1, mask + 16);
    finish4(c10, c + s, flags, bias, mask + s);
    finish4(c11, c + s + 16, flags, b1, mask + s + 16);
    finish4(c20, c + 2 * s, flags, bias, mask + 2 * s);
    finish4(c21, c + 2 * s + 16, flags, b1, mask + 2 * s + 16);
    finish4(c30, c + 3 * s, flags, bias, mask + 3 * s);
    finish4(c31, c + 3 * s + 16, flags, b1, mask + 3 * s + 16);
    return;
  }
  v128.store(EDGE, c00);
  v128.store(EDGE, c01, 16);
  v128.store(EDGE, c10, 32);
  v128.store(EDGE, c11, 48);
  v128.store(EDGE, c20, 64);
  v128.store(EDGE, c21, 80);
  v128.store(EDGE, c30, 96);
  v128.store(EDGE, c31, 112);
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) {
      const at = (<usize>i * ldc + j) * 4;
      let v = load<f32>(EDGE + <usize>(i * NR + j) * 4);
      if (flags & ACCUMULATE) v += load<f32>(c + at);
      if (bias) v += load<f32>(bias + <usize>j * 4);
      if (flags & RELU) v = v < 0 ? 0 : v;
      if (flags & MASK) v = load<f32>(mask + at) <= 0 ? 0 : v;
      store<f32>(c + at, v);
    }
  }
}

/**
 * C (M x N, row stride N) = A·B, or += with ACCUMULATE; bias [N] and RELU or MASK (M x N) are
 * applied once, after the last K block. aCols: A is stored column-major; bCols: B likewise.
 */
function gemm(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  aCols: bool,
  b: usize,
  bCols: bool,
  c: usize,
  flags: i32,
  bias: usize,
  mask: usize,
  packA: usize,
  packB: usize,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    // An empty sum: C = 0 (or unchanged), then the epilogue.
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const at = (<usize>i * N + j) * 4;
        let v: f32 = flags & ACCUMULATE ? load<f32>(c + at) : 0;
        if (bias) v += load<f32>(bias + <usize>j * 4);
        if (flags & RELU) v = v < 0 ? 0 : v;
        if (flags & MASK) v = load<f32>(mask + at) <= 0 ? 0 : v;
        store<f32>(c + at, v);
      }
    }
    return;
  }
  const lda = aCols ? M : K;
  const ldb = bCols ? K : N;
  // K in blocks of about equal depth near KC (a multiple of 4, at most KC_MAX): 784 = 264 + 264 +
  // 256, not 3 x 256 + 16, whose thin last block costs a pass of packing and C traffic for 2 % of the work.
  const blocks = max(1, (K + KC / 2) / KC);
  const depth = min(KC_MAX, (((K + blocks - 1) / blocks) + 3) & ~3);
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += depth) {
      const kc = min(depth, K - pc);
      const last = pc + kc >= K;
      // The first K block overwrites C unless the caller accumulates; only the last applies the rest.
      let f = pc > 0 ? ACCUMULATE : flags & ACCUMULATE;
      if (last) f |= flags & (RELU | MASK);
      if (bCols) packBCols(b, ldb, pc, jc, kc, nc, packB);
      else packBRows(b, ldb, pc, jc, kc, nc, packB);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        if (aCols) packACols(a, lda, ic, pc, mc, kc, packA);
        else packARows(a, lda, ic, pc, mc, kc, packA);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const pb = packB + <usize>(jr * kc) * 4;
          const j = jc + jr;
          const tileBias: usize = last && bias ? bias + <usize>j * 4 : 0;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const at = (<usize>(ic + ir) * N + j) * 4;
            const tileMask: usize = f & MASK ? mask + at : 0;
            microKernel(kc, packA + <usize>(ir * kc) * 4, pb, c + at, N, mr, nr, f, tileBias, tileMask);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Exported kernels (shapes and meaning as in src/kernels/matmul.ts and activations.ts).

/**
 * y = x·Wᵀ (+ b) (then ReLU if relu). x: [n, inDim], w: [outDim, inDim], b: [outDim] or 0
 * -> y: [n, outDim]
 */
export function linearForward(
  x: usize,
  w: usize,
  b: usize,
  y: usize,
  n: i32,
  inDim: i32,
  outDim: i32,
  relu: bool,
  packA: usize,
  packB: usize,
): void {
  gemm(n, outDim, inDim, x, false, w, true, y, relu ? RELU : 0, b, 0, packA, packB);
}

/**
 * dx = dy·W, and with mask (the layer input's ReLU output, [n, inDim]) dx = 0 where mask <= 0.
 * dy: [n, outDim], w: [outDim, inDim] -> dx: [n, inDim]
 */
export function matmulDyW(
  dy: usize,
  w: usize,
  mask: usize,
  dx: usize,
  n: i32,
  outDim: i32,
  inDim: i32,
  packA: usize,
  packB: usize,
): void {
  gemm(n, inDim, outDim, dy, false, w, false, dx, mask ? MASK : 0, 0, mask, packA, packB);
}

/** dw += dyᵀ·x. dy: [n, outDim], x: [n, inDim] -> dw: [outDim, inDim] */
export function matmulDyTXAcc(
  dy: usize,
  x: usize,
  dw: usize,
  n: i32,
  outDim: i32,
  inDim: i32,
  packA: usize,
  packB: usize,
): void {
  gemm(outDim, inDim, n, dy, true, x, false, dw, ACCUMULATE, 0, 0, packA, packB);
}

/**
 * The products' epilogues alone, for the blas kernel set (src/kernels/blas.ts), whose products
 * come from the system BLAS: c (n x cols, row-major) += bias [cols] (when bias != 0), then ReLU
 * (relu), or c = 0 where mask (n x cols) <= 0 (when mask != 0). Same operations, in the same
 * order, as the fused epilogue of the GEMM driver.
 */
export function epilogue(c: usize, n: i32, cols: i32, bias: usize, mask: usize, relu: bool): void {
  const flags = (relu ? RELU : 0) | (mask ? MASK : 0);
  const cols4 = cols & ~3;
  for (let i = 0; i < n; i++) {
    const row = c + <usize>i * cols * 4;
    const maskRow: usize = mask ? mask + <usize>i * cols * 4 : 0;
    let j = 0;
    for (; j < cols4; j += 4) {
      const o = <usize>j * 4;
      finish4(v128.load(row + o), row + o, flags, bias ? bias + o : 0, maskRow + o);
    }
    for (; j < cols; j++) {
      const o = <usize>j * 4;
      let v = load<f32>(row + o);
      if (bias) v += load<f32>(bias + o);
      if (flags & RELU) v = v < 0 ? 0 : v;
      if (flags & MASK) v = load<f32>(maskRow + o) <= 0 ? 0 : v;
      store<f32>(row + o, v);
    }
  }
}

/**
 * db += column sums of dy. dy: [n, outDim] -> db: [outDim]
 * Row by row, adding each row of dy into db: contiguous reads, and db stays in L1. (Summing one
 * column block at a time down the rows strides by a whole row per load and was 20x slower.)
 */
export function biasGradAcc(dy: usize, db: usize, n: i32, outDim: i32): void {
  const out4 = outDim & ~3;
  for (let i = 0; i < n; i++) {
    const row = dy + <usize>i * outDim * 4;
    let j = 0;
    for (; j < out4; j += 4) {
      const d = db + <usize>j * 4;
      v128.store(d, f32x4.add(v128.load(d), v128.load(row + <usize>j * 4)));
    }
    for (; j < outDim; j++) {
      const d = db + <usize>j * 4;
      store<f32>(d, load<f32>(d) + load<f32>(row + <usize>j * 4));
    }
  }
}

// Convolution helpers (issues 14, 15): im2col and col2im, max pooling and the flatten transposes over channels-last images.
export { im2colHwc, col2imHwc, maxPoolHwcForward, maxPoolHwcBackward, pooledConvGradAcc, hwcToChw, chwToHwc } from './conv';
