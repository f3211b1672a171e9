/**
 * The blas kernel set (issue 15): the wasm set with its three dense products replaced by the
 * system BLAS's `cblas_sgemm`, called through koffi on the same Float32Arrays (views of the
 * thread's wasm memory: the Model's workspace) with no copy per call. The epilogues (bias, ReLU,
 * the ReLU-gradient mask), the bias gradient, activations and losses stay in wasm and js, as in
 * the wasm set. Before use a library passes a self-test against the wasm products; `auto` also
 * measures its speed. docs/kernels.md, "BLAS".
 */
import { DptrainError } from '../errors.js';
import type { FloatArray } from '../util/float.js';
import { Rng } from '../util/rng.js';
import type { CpuClock } from '../util/thread-cpu.js';
import { NO_TRANS, ROW_MAJOR, TRANS, type BlasLibrary } from './blas-loader.js';
import type { BlasReport, KernelBuffer, Kernels, KernelsReport } from './kernels.js';
import { reluForward } from './activations.js';
import { addBias, biasGradAcc } from './matmul.js';
import { convKernels } from './conv-set.js';
import type { Window2d } from './conv.js';
import type { WasmKernelSet } from './wasm.js';

/** Self-test shapes [n, in, out]: odd edges, a single row, and one past OpenBLAS's small-matrix paths. */
const SELF_TEST_SHAPES: [number, number, number][] = [
  [3, 7, 5],
  [1, 33, 17],
  [17, 33, 9],
  [64, 130, 70],
];

/** Relative error the self-test allows (max|blas − wasm| / max|wasm|), as in the kernel tests. */
export const SELF_TEST_TOLERANCE = 1e-5;

/** The speed probe's product [n, in, out]: W1's first layer at batch 256 (103 MFLOP). */
const PROBE_SHAPE: [number, number, number] = [256, 784, 256];

/**
 * `auto` uses a library only at this many times the wasm kernel's speed. Reference BLAS runs well
 * below 1x and OpenBLAS at 2.6x or more even under heavy load, so the bar sits between them with a
 * margin on both sides: a verdict that flipped with load would change the bits between two runs.
 */
export const AUTO_MIN_SPEEDUP = 1.5;

/** A Float32Array of at least `length` elements, or a TypeError/RangeError naming the argument. */
function checked(array: FloatArray, length: number, what: string): Float32Array {
  if (!(array instanceof Float32Array)) {
    throw new TypeError(`${what} must be a Float32Array for the blas kernels (got ${(array as object)?.constructor?.name})`);
  }
  // BLAS writes through raw pointers: a short array would be a write past its end.
  if (array.length < length) throw new RangeError(`${what} has ${array.length} elements but the shapes need ${length}`);
  return array;
}

function isDim(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;
}

/**
 * Every property of `wasm`, own or inherited (methods bound to it, getters forwarded), so that the
 * blas set carries each wasm function, including ones added to the wasm set later.
 */
export function delegateAll(wasm: WasmKernelSet): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  for (let o: object | null = wasm; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor' || Object.hasOwn(set, key)) continue;
      const d = Object.getOwnPropertyDescriptor(o, key)!;
      if (d.get) Object.defineProperty(set, key, { get: () => Reflect.get(wasm, key), enumerable: true });
      else if (typeof d.value === 'function') set[key] = (d.value as (...a: unknown[]) => unknown).bind(wasm);
      else set[key] = d.value;
    }
  }
  return set;
}

/**
 * Floats of the blas set's scratch in wasm memory, allocated once with the set: bias vectors and
 * bias gradients of params and grad that live elsewhere are staged through it (O(width) per call)
 * without allocating during a step, which could grow the memory and detach the Model's views.
 * Every function of the set that takes a tensor of params or grad goes through it (the products
 * take them in place): linearForward's bias, biasGradAcc's db, and the conv bias that
 * maxPoolHwcForward applies and pooledConvGradAcc accumulates (conv, ReLU, max pool fused). A
 * vector wider than the scratch runs in js on the views instead, never through a wasm copy.
 */
const SCRATCH_FLOATS = 1 << 16;

/** The products of the blas set over `sgemm`, with the epilogues and the bias gradient from `wasm`. */
function blasProducts(library: BlasLibrary, wasm: WasmKernelSet, scratch: KernelBuffer) {
  // dW at one row stays gemm: cblas_sger measured no faster (10.4 vs 11.3 µs at 128x784).
  const { sgemm, sgemv } = library;
  /** `v`'s first `length` elements as an array in wasm memory: `v` itself, or the scratch; null when too wide. */
  const staged = (v: Float32Array, length: number): Float32Array | null => {
    if (wasm.isResident(v)) return v;
    if (length > SCRATCH_FLOATS) return null;
    const s = (scratch.array as Float32Array).subarray(0, length);
    s.set(v.subarray(0, length));
    return s;
  };
  // x: [n, in], w: [out, in] -> y: [n, out] = x·Wᵀ
  const xwt = (x: FloatArray, w: FloatArray, y: FloatArray, n: number, inDim: number, outDim: number): Float32Array => {
    const yy = checked(y, n * outDim, 'y');
    // One row (B = 1): y = W·x by gemv reads W once; gemm would first pack all of it.
    if (n === 1 && sgemv) {
      sgemv(ROW_MAJOR, NO_TRANS, outDim, inDim, 1, checked(w, outDim * inDim, 'w'), inDim, checked(x, inDim, 'x'), 1, 0, yy, 1);
      return yy;
    }
    sgemm(ROW_MAJOR, NO_TRANS, TRANS, n, outDim, inDim, 1, checked(x, n * inDim, 'x'), inDim, checked(w, outDim * inDim, 'w'), inDim, 0, yy, outDim);
    return yy;
  };
  // dy: [n, out], w: [out, in] -> dx: [n, in] = dy·W
  const dyw = (dy: FloatArray, w: FloatArray, dx: FloatArray, n: number, outDim: number, inDim: number): Float32Array => {
    const d = checked(dx, n * inDim, 'dx');
    if (n === 1 && sgemv) {
      sgemv(ROW_MAJOR, TRANS, outDim, inDim, 1, checked(w, outDim * inDim, 'w'), inDim, checked(dy, outDim, 'dy'), 1, 0, d, 1);
      return d;
    }
    sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, n, inDim, outDim, 1, checked(dy, n * outDim, 'dy'), outDim, checked(w, outDim * inDim, 'w'), inDim, 0, d, inDim);
    return d;
  };
  // A zero dimension: the wasm kernels define the result (an empty sum, an empty output).
  const degenerate = (a: number, b: number, c: number): boolean => {
    if (!(isDim(a) && isDim(b) && isDim(c))) throw new RangeError(`kernel dimensions must be non-negative integers (got ${a}, ${b}, ${c})`);
    return a === 0 || b === 0 || c === 0;
  };
  return {
    linearForward: (x: FloatArray, w: FloatArray, b: FloatArray, y: FloatArray, n: number, inDim: number, outDim: number, relu: boolean): void => {
      if (degenerate(n, inDim, outDim)) return wasm.linearForward(x, w, b, y, n, inDim, outDim, relu);
      const bias = checked(b, outDim, 'b');
      const out = xwt(x, w, y, n, inDim, outDim);
      const bias_ = staged(bias, outDim);
      if (bias_ !== null) return wasm.epilogue(out, n, outDim, bias_, null, relu);
      addBias(out, bias, n, outDim);
      if (relu) reluForward(out, n * outDim);
    },
    matmulXWt: (x: FloatArray, w: FloatArray, y: FloatArray, n: number, inDim: number, outDim: number): void => {
      if (degenerate(n, inDim, outDim)) return wasm.matmulXWt(x, w, y, n, inDim, outDim);
      xwt(x, w, y, n, inDim, outDim);
    },
    matmulDyW: (dy: FloatArray, w: FloatArray, dx: FloatArray, n: number, outDim: number, inDim: number): void => {
      if (degenerate(n, outDim, inDim)) return wasm.matmulDyW(dy, w, dx, n, outDim, inDim);
      dyw(dy, w, dx, n, outDim, inDim);
    },
    matmulDyWReluMask: (dy: FloatArray, w: FloatArray, y: FloatArray, dx: FloatArray, n: number, outDim: number, inDim: number): void => {
      if (degenerate(n, outDim, inDim)) return wasm.matmulDyWReluMask(dy, w, y, dx, n, outDim, inDim);
      checked(y, n * inDim, 'y');
      wasm.epilogue(dyw(dy, w, dx, n, outDim, inDim), n, inDim, null, y, false);
    },
    // dy: [n, out] -> db: [out] += column sums of dy (the wasm kernel, db staged when it lives elsewhere)
    biasGradAcc: (dy: FloatArray, db: FloatArray, n: number, outDim: number): void => {
      const d = checked(db, outDim, 'db');
      const s = staged(d, outDim);
      if (s === null) return biasGradAcc(dy, d, n, outDim);
      wasm.biasGradAcc(dy, s, n, outDim);
      // Read the scratch afresh: copying a non-resident dy in may have grown (and detached) the memory.
      if (s !== d) d.set((scratch.array as Float32Array).subarray(0, outDim));
    },
    // The conv's bias and ReLU applied by the pool after it (the bias is a params tensor): staged, as above.
    maxPoolHwcForward: (x: FloatArray, y: FloatArray, argmax: Int32Array, g: Window2d, bias: FloatArray | null = null, relu = false): void => {
      if (bias === null) return wasm.maxPoolHwcForward(x, y, argmax, g, null, relu);
      const b = checked(bias, g.c, 'bias');
      const s = staged(b, g.c);
      if (s === null) return convKernels.maxPoolHwcForward(x, y, argmax, g, b, relu);
      wasm.maxPoolHwcForward(x, y, argmax, g, s, relu);
    },
    // The first conv's gradient from its pool's: db (a grad tensor) staged in and back out, as biasGradAcc.
    pooledConvGradAcc: (dy: FloatArray, argmax: Int32Array, cols: FloatArray, dwk: FloatArray, db: FloatArray | null, count: number, filters: number, depth: number, rows: number): void => {
      if (db === null) return wasm.pooledConvGradAcc(dy, argmax, cols, dwk, null, count, filters, depth, rows);
      const d = checked(db, filters, 'db');
      const s = staged(d, filters);
      if (s === null) return convKernels.pooledConvGradAcc(dy, argmax, cols, dwk, d, count, filters, depth, rows);
      wasm.pooledConvGradAcc(dy, argmax, cols, dwk, s, count, filters, depth, rows);
      if (s !== d) d.set((scratch.array as Float32Array).subarray(0, filters));
    },
    // dy: [n, out], x: [n, in] -> dw: [out, in] += dyᵀ·x
    matmulDyTXAcc: (dy: FloatArray, x: FloatArray, dw: FloatArray, n: number, outDim: number, inDim: number): void => {
      if (degenerate(n, outDim, inDim)) return wasm.matmulDyTXAcc(dy, x, dw, n, outDim, inDim);
      sgemm(ROW_MAJOR, TRANS, NO_TRANS, outDim, inDim, n, 1, checked(dy, n * outDim, 'dy'), outDim, checked(x, n * inDim, 'x'), inDim, 1, checked(dw, outDim * inDim, 'dw'), inDim);
    },
    // The same product for dw's rows [rowStart, rowEnd): dy's columns from rowStart (lda = outDim).
    matmulDyTXAccRows: (dy: FloatArray, x: FloatArray, dw: FloatArray, n: number, outDim: number, inDim: number, rowStart: number, rowEnd: number): void => {
      if (!(isDim(rowStart) && isDim(rowEnd) && rowStart <= rowEnd && rowEnd <= outDim)) throw new RangeError(`rows [${rowStart}, ${rowEnd}) are not within [0, ${outDim})`);
      const rows = rowEnd - rowStart;
      if (degenerate(n, rows, inDim)) return; // no rows, or an empty sum: dw stays as it is
      const dyRows = checked(dy, n * outDim, 'dy').subarray(rowStart);
      sgemm(ROW_MAJOR, TRANS, NO_TRANS, rows, inDim, n, 1, dyRows, outDim, checked(x, n * inDim, 'x'), inDim, 1, checked(dw, outDim * inDim, 'dw').subarray(rowStart * inDim), inDim);
    },
  };
}

/**
 * The blas kernel set over an opened library: every function of `wasm`, with the dense products
 * from BLAS. `report` says which library (the set's `detail` is built from it).
 */
export function createBlasKernels(wasm: WasmKernelSet, library: BlasLibrary, report: KernelsReport): Kernels {
  const set = delegateAll(wasm);
  const scratch = wasm.allocate(SCRATCH_FLOATS);
  Object.assign(set, blasProducts(library, wasm, scratch), {
    name: 'blas',
    report,
    // The products take any Float32Array in place (params and grad in the engines' shared memory
    // too: the Model then stages nothing); only bias vectors go through the scratch.
    isResident: (array: FloatArray) => array instanceof Float32Array,
  });
  // The description follows the report, which auto completes after its speed probe.
  Object.defineProperty(set, 'detail', { get: () => report.detail, enumerable: true });
  return Object.freeze(set) as unknown as Kernels;
}

/** One-line description of a library for `detail`: vendor/version, core, file, threads. */
export function describeBlas(blas: BlasReport): string {
  const version = blas.config ? blas.config.split(/\s+/).slice(0, 2).join(' ') : blas.vendor;
  const parts = [version];
  if (blas.core) parts.push(`core ${blas.core}`);
  parts.push(blas.library, '1 thread per worker');
  if (blas.speedup !== null) parts.push(`${blas.speedup.toFixed(1)}x wasm`);
  return `blas (${parts.join(', ')})`;
}

function random(length: number, rng: Rng): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = 2 * rng.next() - 1;
  return a;
}

function relativeError(got: Float32Array, want: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/**
 * The three products (forward, dx, dW accumulate) of `blas` against `wasm` on a few shapes:
 * the largest relative error. Outputs start as NaN, so a product that reads instead of writing
 * (or writes nothing) fails.
 */
export function selfTest(blas: Kernels, wasm: Kernels): number {
  let worst = 0;
  for (const [n, inDim, outDim] of SELF_TEST_SHAPES) {
    const rng = new Rng(n * 7919 + inDim, 'blas-self-test', outDim);
    const x = random(n * inDim, rng);
    const w = random(outDim * inDim, rng);
    const b = random(outDim, rng);
    const dy = random(n * outDim, rng);
    const dw0 = random(outDim * inDim, rng);
    const products: ((k: Kernels) => Float32Array)[] = [
      (k) => {
        const y = new Float32Array(n * outDim).fill(NaN);
        k.linearForward(x, w, b, y, n, inDim, outDim, true);
        return y;
      },
      (k) => {
        const dx = new Float32Array(n * inDim).fill(NaN);
        k.matmulDyWReluMask(dy, w, x, dx, n, outDim, inDim);
        return dx;
      },
      (k) => {
        const dw = Float32Array.from(dw0);
        k.matmulDyTXAcc(dy, x, dw, n, outDim, inDim);
        return dw;
      },
    ];
    for (const product of products) worst = Math.max(worst, relativeError(product(blas), product(wasm)));
  }
  return worst;
}

/**
 * GFLOP/s of `blas` over `wasm` on PROBE_SHAPE's forward product, operands in wasm memory (as in
 * a Model). Timed in the calling thread's CPU time (a BLAS set to one thread computes in the
 * calling thread), so that neither other processes' load nor the process's own background threads
 * (V8 compiling the wasm kernels' optimized tier, the garbage collector) move the verdict between
 * runs; interleaved, best of 5 each.
 */
export function speedProbe(blas: Kernels, wasm: WasmKernelSet, clock: CpuClock): number {
  const [n, inDim, outDim] = PROBE_SHAPE;
  const rng = new Rng(1, 'blas-probe');
  const bufs = [n * inDim, outDim * inDim, n * outDim].map((length) => wasm.allocate(length));
  try {
    bufs[0].array.set(random(n * inDim, rng));
    bufs[1].array.set(random(outDim * inDim, rng));
    const [x, w, y] = bufs.map((buf) => buf.array);
    const time = (k: Kernels): number => {
      const t0 = clock.now();
      k.matmulXWt(x, w, y, n, inDim, outDim);
      return clock.now() - t0;
    };
    time(blas); // first calls: OpenBLAS allocates its buffers, V8 tiers up
    time(wasm);
    let best = { blas: Infinity, wasm: Infinity };
    for (let r = 0; r < 5; r++) best = { blas: Math.min(best.blas, time(blas)), wasm: Math.min(best.wasm, time(wasm)) };
    return best.wasm / Math.max(best.blas, 1);
  } finally {
    for (const buf of bufs) buf.free();
  }
}

/** The self-test failed: the library computes wrong products (or is broken on this CPU). */
export function selfTestError(library: string, error: number, core: string | null): DptrainError {
  const coreNote = core ? ` (OpenBLAS core ${core}: older OpenBLAS builds miscompute on some CPUs; try OPENBLAS_CORETYPE=Haswell)` : '';
  return new DptrainError('dptrain.kernels.blasSelfTest', `the BLAS library ${library} failed its self-test: relative error ${error.toExponential(2)} against the wasm kernels (allowed ${SELF_TEST_TOLERANCE})${coreNote} — use --kernels wasm, or another library with --blas-library`);
}
