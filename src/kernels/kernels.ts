/**
 * Kernel sets: the same functions over the same flat arrays, implemented either in plain
 * TypeScript (`js`, the reference and the fallback, float32 and float64) or in WebAssembly SIMD
 * (`wasm`, float32 only; wasm.ts). A Model takes one set; `loadKernels` picks it once per thread.
 */
import type { Dtype, FloatArray } from '../util/float.js';
import { reluBackward, reluForward, tanhBackward, tanhForward } from './activations.js';
import { meanSquaredError, softmaxCrossEntropy } from './losses.js';
import { convKernels, type ConvKernels } from './conv-set.js';
import {
  addBias,
  biasGradAcc,
  linearForward,
  matmulDyTXAcc,
  matmulDyW,
  matmulDyWReluMask,
  matmulXWt,
} from './matmul.js';

export type KernelsName = 'js' | 'wasm' | 'blas';

/**
 * A kernel set's name, or 'auto': blas where a BLAS library passes its self-test at >= 1.5x the
 * wasm speed, else wasm where WebAssembly SIMD is available, else js.
 */
export type KernelsChoice = KernelsName | 'auto';

export const kernelsChoices: readonly KernelsChoice[] = Object.freeze(['js', 'wasm', 'blas', 'auto']);

/** What a loaded BLAS library said about itself and how it was chosen (summary.json `blas`). */
export interface BlasReport {
  /** The file that was opened, e.g. `libopenblas.so.0` or an absolute path. */
  library: string;
  /** Where the name came from: `--blas-library`, `DPTRAIN_BLAS`, or the search list. */
  source: 'option' | 'env' | 'search';
  vendor: 'openblas' | 'mkl' | 'accelerate' | 'generic';
  /** `openblas_get_config()`, where the library has it. */
  config: string | null;
  /** `openblas_get_corename()`: the CPU kernel OpenBLAS picked (e.g. `Haswell`, `Zen`, `SkylakeX`). */
  core: string | null;
  /** How one thread per caller was set, e.g. `openblas_set_num_threads(1)`. */
  threads: string;
  /** Largest relative error of the self-test products against the wasm kernels. */
  selfTestError: number;
  /** Speed probe: BLAS GFLOP/s over wasm GFLOP/s on one product (null: not measured). */
  speedup: number | null;
}

/** Why the kernel set was chosen (for the start-up line and summary.json). */
export interface KernelsReport {
  name: KernelsName;
  detail: string;
  /** The BLAS library in use, or the one auto measured and refused. */
  blas: BlasReport | null;
  /** Why auto did not use BLAS (no library, failed self-test, too slow), with how to get it. */
  fallback: string | null;
}

/**
 * An array that a kernel set reads and writes without copying: for js a plain typed array, for
 * wasm a view of the module's linear memory.
 */
export interface KernelBuffer<T extends FloatArray = FloatArray> {
  /**
   * The current view. Read it again after anything that may allocate in the same kernel set:
   * growing WebAssembly memory detaches every older view (its length becomes 0).
   */
  readonly array: T;
  readonly length: number;
  /** Returns the memory to the kernel set; the buffer must not be used afterwards. */
  free(): void;
}

/**
 * The numeric functions a Model needs, with the shapes and meaning of matmul.ts, activations.ts
 * and losses.ts. Arrays may be larger than the shapes say: only the first n rows are used.
 * The wasm set works in place on arrays it allocated (KernelBuffer views) and copies any other
 * Float32Array in and out around the call, so every function accepts plain arrays too.
 */
export interface Kernels extends ConvKernels {
  readonly name: KernelsName;
  /** For the start-up log, e.g. `js`, `wasm (simd128)`, `blas (OpenBLAS 0.3.21, core Zen, ...)`. */
  readonly detail: string;
  /** How the set was chosen (loadKernels fills it in; absent on sets made directly). */
  readonly report?: KernelsReport;
  /** Element types the functions accept: js both, wasm float32 only. */
  readonly dtypes: readonly Dtype[];
  /** A zeroed buffer of `length` elements that these kernels use in place (default float32). */
  allocate(length: number, dtype?: Dtype): KernelBuffer;
  /** True when `array` is used in place, false when a call copies it in and out. */
  isResident(array: FloatArray): boolean;

  linearForward: typeof linearForward;
  matmulXWt: typeof matmulXWt;
  matmulDyW: typeof matmulDyW;
  matmulDyWReluMask: typeof matmulDyWReluMask;
  matmulDyTXAcc: typeof matmulDyTXAcc;
  /**
   * Rows [rowStart, rowEnd) of matmulDyTXAcc's dw (dw[r, :] += Σ_n dy[n, r]·x[n, :]), so that a
   * layer's weight gradient can be finished block by block (ws buckets that cut a tensor). Only
   * where the product takes strided operands in place (blas); a set without it gives whole products.
   */
  matmulDyTXAccRows?: (dy: FloatArray, x: FloatArray, dw: FloatArray, n: number, outDim: number, inDim: number, rowStart: number, rowEnd: number) => void;
  biasGradAcc: typeof biasGradAcc;
  addBias: typeof addBias;
  reluForward: typeof reluForward;
  reluBackward: typeof reluBackward;
  tanhForward: typeof tanhForward;
  tanhBackward: typeof tanhBackward;
  softmaxCrossEntropy: typeof softmaxCrossEntropy;
  meanSquaredError: typeof meanSquaredError;
}

/** A plain typed array standing in for a KernelBuffer. */
class PlainBuffer<T extends FloatArray> implements KernelBuffer<T> {
  readonly array: T;
  constructor(array: T) {
    this.array = array;
  }
  get length(): number {
    return this.array.length;
  }
  free(): void {}
}

/** The plain TypeScript kernels: the reference every other set is tested against. */
export const jsKernels: Kernels = Object.freeze({
  name: 'js',
  detail: 'js',
  dtypes: Object.freeze(['float32', 'float64'] as Dtype[]),
  allocate(length: number, dtype: Dtype = 'float32'): KernelBuffer {
    return new PlainBuffer(dtype === 'float64' ? new Float64Array(length) : new Float32Array(length));
  },
  isResident: () => true,
  linearForward,
  matmulXWt,
  matmulDyW,
  matmulDyWReluMask,
  matmulDyTXAcc,
  biasGradAcc,
  addBias,
  reluForward,
  reluBackward,
  tanhForward,
  tanhBackward,
  softmaxCrossEntropy,
  meanSquaredError,
  ...convKernels,
});
