/**
 * The WebAssembly SIMD kernel set (issue 3). The module is compiled from asm/kernels.ts
 * (AssemblyScript) by `npm run build:wasm` into dist/wasm/, instantiated once per thread, and
 * owns one linear memory: a small allocator here places the model's workspace in it, so the
 * products run in place; arrays from elsewhere are copied in and out around each call.
 * docs/kernels.md gives the design and the measured costs.
 */
import { readFile } from 'node:fs/promises';
import { DptrainError } from '../errors.js';
import type { Dtype, FloatArray } from '../util/float.js';
import { reluForward, tanhBackward, tanhForward } from './activations.js';
import type { KernelBuffer, Kernels } from './kernels.js';
import { meanSquaredError, softmaxCrossEntropy } from './losses.js';
import { addBias } from './matmul.js';
import { convKernels } from './conv-set.js';
import type { Window2d } from './conv.js';

/**
 * The parts of the WebAssembly JS API used here. Declared locally: the project's lib settings
 * (ES2023, no DOM) and @types/node 20 do not type the WebAssembly global.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: unknown } }>;
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The two builds of asm/kernels.ts: plain SIMD128, and SIMD128 + relaxed SIMD (FMA). */
export type WasmVariant = 'simd' | 'relaxed';

const FILES: Record<WasmVariant, URL> = {
  simd: new URL('../../wasm/kernels.wasm', import.meta.url),
  relaxed: new URL('../../wasm/kernels-relaxed.wasm', import.meta.url),
};

/** The module's exports (asm/kernels.ts); addresses are byte offsets into `memory`. */
interface WasmExports {
  memory: WasmMemory;
  heapBase(): number;
  packASize(): number;
  packBSize(): number;
  linearForward(x: number, w: number, b: number, y: number, n: number, inDim: number, outDim: number, relu: number, pa: number, pb: number): void;
  matmulDyW(dy: number, w: number, mask: number, dx: number, n: number, outDim: number, inDim: number, pa: number, pb: number): void;
  matmulDyTXAcc(dy: number, x: number, dw: number, n: number, outDim: number, inDim: number, pa: number, pb: number): void;
  biasGradAcc(dy: number, db: number, n: number, outDim: number): void;
  epilogue(c: number, n: number, cols: number, bias: number, mask: number, relu: number): void;
  maxPoolHwcForward(x: number, y: number, argmax: number, bias: number, relu: number, n: number, h: number, w: number, c: number, k: number, stride: number, pad: number, ho: number, wo: number): void;
  im2colHwc(x: number, cols: number, n: number, h: number, w: number, c: number, k: number, stride: number, pad: number, ho: number, wo: number): void;
  col2imHwc(dcols: number, dx: number, n: number, h: number, w: number, c: number, k: number, stride: number, pad: number, ho: number, wo: number): void;
  maxPoolHwcBackward(dy: number, argmax: number, dx: number, mask: number, n: number, h: number, w: number, c: number, k: number, stride: number, pad: number, ho: number, wo: number): void;
  pooledConvGradAcc(dy: number, argmax: number, cols: number, dwk: number, db: number, count: number, filters: number, depth: number, rows: number): number;
  hwcToChw(x: number, y: number, n: number, hw: number, c: number): void;
  chwToHwc(x: number, y: number, n: number, hw: number, c: number): void;
}

/**
 * The wasm set as created here: the Kernels functions, plus the products' epilogues alone for
 * the blas set (blas.ts), which gets its products from the system BLAS.
 */
export type WasmKernelSet = Kernels & {
  readonly variant: WasmVariant;
  /** Bytes of wasm memory in use (workspace, staging, packing buffers). */
  readonly memoryBytes: number;
  /**
   * c (n x cols) += bias, then ReLU where relu; or c = 0 where mask (n x cols) <= 0 (the ReLU
   * gradient). bias and mask may be null. The same operations as the fused product epilogues.
   */
  epilogue(c: FloatArray, n: number, cols: number, bias: FloatArray | null, mask: FloatArray | null, relu: boolean): void;
};

/** Allocation granule: one cache line, also keeps every buffer 16-byte aligned for v128. */
const ALIGN = 64;
const PAGE = 65536;

/**
 * First-fit allocator over the module's memory above heapBase. Buffers are few and long-lived
 * (the workspace of each Model, the packing buffers), so a sorted free list is enough.
 */
class Arena {
  readonly memory: WasmMemory;
  /** Free blocks below #top, sorted by address, never adjacent (they are merged). */
  #free: { at: number; bytes: number }[] = [];
  /** End of the highest block handed out. */
  #top: number;

  constructor(memory: WasmMemory, base: number) {
    this.memory = memory;
    this.#top = Math.ceil(base / ALIGN) * ALIGN;
  }

  /** Bytes in use or free below the top (for tests and the benchmark). */
  get used(): number {
    return this.#top;
  }

  alloc(size: number): number {
    const bytes = Math.max(ALIGN, Math.ceil(size / ALIGN) * ALIGN);
    for (let i = 0; i < this.#free.length; i++) {
      const block = this.#free[i];
      if (block.bytes < bytes) continue;
      const at = block.at;
      if (block.bytes === bytes) this.#free.splice(i, 1);
      else {
        block.at += bytes;
        block.bytes -= bytes;
      }
      return at;
    }
    const at = this.#top;
    const end = at + bytes;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (cause) {
        throw new DptrainError(
          'dptrain.kernels.outOfMemory',
          `the wasm kernels could not grow their memory to ${end} bytes — use a smaller --micro-batch`,
          { cause },
        );
      }
    }
    this.#top = end;
    return at;
  }

  release(at: number, size: number): void {
    const bytes = Math.max(ALIGN, Math.ceil(size / ALIGN) * ALIGN);
    const free = this.#free;
    let i = 0;
    while (i < free.length && free[i].at < at) i++;
    free.splice(i, 0, { at, bytes });
    // Merge with the next block, then with the previous one.
    if (i + 1 < free.length && free[i].at + free[i].bytes === free[i + 1].at) {
      free[i].bytes += free[i + 1].bytes;
      free.splice(i + 1, 1);
    }
    if (i > 0 && free[i - 1].at + free[i - 1].bytes === free[i].at) {
      free[i - 1].bytes += free[i].bytes;
      free.splice(i, 1);
      i--;
    }
    // A free block at the top gives its space back to the top.
    const last = free[free.length - 1];
    if (last !== undefined && last.at + last.bytes === this.#top) {
      this.#top = last.at;
      free.pop();
    }
  }
}

/** A Float32Array in wasm memory; the view is rebuilt when the memory has grown. */
class WasmBuffer implements KernelBuffer<Float32Array> {
  readonly length: number;
  #arena: Arena;
  #at: number;
  #view: Float32Array;
  #freed = false;

  constructor(arena: Arena, length: number) {
    this.#arena = arena;
    this.length = length;
    this.#at = arena.alloc(length * 4);
    this.#view = new Float32Array(arena.memory.buffer, this.#at, length);
    this.#view.fill(0);
  }

  get array(): Float32Array {
    if (this.#freed) throw new Error('this kernel buffer was freed');
    const buffer = this.#arena.memory.buffer;
    if (this.#view.buffer !== buffer) this.#view = new Float32Array(buffer, this.#at, this.length);
    return this.#view;
  }

  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#arena.release(this.#at, this.length * 4);
  }
}

// How a kernel uses an array argument: read, written, or both (accumulated into).
const IN = 1;
const OUT = 2;
const INOUT = 3;

/**
 * The wasm kernel set of one instance. Native: the three products (with the bias + ReLU and
 * ReLU-gradient epilogues), the bias gradient, and for convolutions im2col/col2im, max pooling and
 * the flatten transposes. Delegated to the js functions, which run on
 * views of wasm memory as well: bias add, activations and losses (O(n·width), under 1 % of a step).
 */
class WasmKernels implements WasmKernelSet {
  readonly name = 'wasm' as const;
  readonly detail: string;
  readonly dtypes: readonly Dtype[] = Object.freeze(['float32'] as Dtype[]);
  readonly variant: WasmVariant;
  readonly addBias = addBias;
  readonly reluForward = reluForward;
  readonly tanhForward = tanhForward;
  readonly tanhBackward = tanhBackward;
  readonly softmaxCrossEntropy = softmaxCrossEntropy;
  readonly meanSquaredError = meanSquaredError;
  // Layer kernels besides the GEMMs, im2col/col2im, max pooling and the flatten transposes
  // (average pooling, GELU, dropout): the js functions on views.
  readonly convWeightToKkc = convKernels.convWeightToKkc;
  readonly convGradFromKkcAcc = convKernels.convGradFromKkcAcc;
  readonly avgPoolHwcForward = convKernels.avgPoolHwcForward;
  readonly avgPoolHwcBackward = convKernels.avgPoolHwcBackward;
  readonly globalAvgPoolHwcForward = convKernels.globalAvgPoolHwcForward;
  readonly globalAvgPoolHwcBackward = convKernels.globalAvgPoolHwcBackward;
  readonly geluForward = convKernels.geluForward;
  readonly geluBackward = convKernels.geluBackward;
  readonly dropoutMask = convKernels.dropoutMask;
  readonly multiplyInPlace = convKernels.multiplyInPlace;
  readonly layerNormForward = convKernels.layerNormForward;
  readonly layerNormBackward = convKernels.layerNormBackward;

  #x: WasmExports;
  #arena: Arena;
  #packA: number;
  #packB: number;
  // Reused per call: argument pointers, and the temporary copies of non-resident arrays.
  #ptrs: number[] = [0, 0, 0, 0];
  #temps: { slot: number; array: Float32Array; length: number; mode: number }[] = [];

  constructor(exports: WasmExports, variant: WasmVariant) {
    this.#x = exports;
    this.variant = variant;
    this.detail = variant === 'relaxed' ? 'wasm (simd128 + relaxed-simd FMA)' : 'wasm (simd128)';
    this.#arena = new Arena(exports.memory, exports.heapBase());
    this.#packA = this.#arena.alloc(exports.packASize());
    this.#packB = this.#arena.alloc(exports.packBSize());
  }

  /** Bytes of wasm memory in use (workspace, staging, packing buffers). */
  get memoryBytes(): number {
    return this.#arena.used;
  }

  allocate(length: number, dtype: Dtype = 'float32'): KernelBuffer<Float32Array> {
    if (dtype !== 'float32') throw new TypeError(`the wasm kernels are float32 only (asked for ${dtype}); use the js kernels for float64`);
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`buffer length must be a non-negative integer (got ${length})`);
    return new WasmBuffer(this.#arena, length);
  }

  isResident(array: FloatArray): boolean {
    return array.buffer === this.#x.memory.buffer;
  }

  linearForward = (
    x: FloatArray,
    w: FloatArray,
    b: FloatArray,
    y: FloatArray,
    n: number,
    inDim: number,
    outDim: number,
    relu: boolean,
  ): void => {
    checkDims(n, inDim, outDim);
    this.#arg(0, x, n * inDim, IN, 'x');
    this.#arg(1, w, outDim * inDim, IN, 'w');
    this.#arg(2, b, outDim, IN, 'b');
    this.#arg(3, y, n * outDim, OUT, 'y');
    const p = this.#begin();
    this.#x.linearForward(p[0], p[1], p[2], p[3], n, inDim, outDim, relu ? 1 : 0, this.#packA, this.#packB);
    this.#end();
  };

  matmulXWt = (x: FloatArray, w: FloatArray, y: FloatArray, n: number, inDim: number, outDim: number): void => {
    checkDims(n, inDim, outDim);
    this.#arg(0, x, n * inDim, IN, 'x');
    this.#arg(1, w, outDim * inDim, IN, 'w');
    this.#arg(2, y, n * outDim, OUT, 'y');
    const p = this.#begin();
    this.#x.linearForward(p[0], p[1], 0, p[2], n, inDim, outDim, 0, this.#packA, this.#packB);
    this.#end();
  };

  matmulDyW = (dy: FloatArray, w: FloatArray, dx: FloatArray, n: number, outDim: number, inDim: number): void => {
    checkDims(n, outDim, inDim);
    this.#arg(0, dy, n * outDim, IN, 'dy');
    this.#arg(1, w, outDim * inDim, IN, 'w');
    this.#arg(2, dx, n * inDim, OUT, 'dx');
    const p = this.#begin();
    this.#x.matmulDyW(p[0], p[1], 0, p[2], n, outDim, inDim, this.#packA, this.#packB);
    this.#end();
  };

  matmulDyWReluMask = (
    dy: FloatArray,
    w: FloatArray,
    y: FloatArray,
    dx: FloatArray,
    n: number,
    outDim: number,
    inDim: number,
  ): void => {
    checkDims(n, outDim, inDim);
    this.#arg(0, dy, n * outDim, IN, 'dy');
    this.#arg(1, w, outDim * inDim, IN, 'w');
    this.#arg(2, y, n * inDim, IN, 'y');
    this.#arg(3, dx, n * inDim, OUT, 'dx');
    const p = this.#begin();
    this.#x.matmulDyW(p[0], p[1], p[2], p[3], n, outDim, inDim, this.#packA, this.#packB);
    this.#end();
  };

  matmulDyTXAcc = (dy: FloatArray, x: FloatArray, dw: FloatArray, n: number, outDim: number, inDim: number): void => {
    checkDims(n, outDim, inDim);
    this.#arg(0, dy, n * outDim, IN, 'dy');
    this.#arg(1, x, n * inDim, IN, 'x');
    this.#arg(2, dw, outDim * inDim, INOUT, 'dw');
    const p = this.#begin();
    this.#x.matmulDyTXAcc(p[0], p[1], p[2], n, outDim, inDim, this.#packA, this.#packB);
    this.#end();
  };

  biasGradAcc = (dy: FloatArray, db: FloatArray, n: number, outDim: number): void => {
    checkDims(n, outDim, 0);
    this.#arg(0, dy, n * outDim, IN, 'dy');
    this.#arg(1, db, outDim, INOUT, 'db');
    const p = this.#begin();
    this.#x.biasGradAcc(p[0], p[1], n, outDim);
    this.#end();
  };

  epilogue = (c: FloatArray, n: number, cols: number, bias: FloatArray | null, mask: FloatArray | null, relu: boolean): void => {
    checkDims(n, cols, 0);
    this.#arg(0, c, n * cols, INOUT, 'c');
    this.#ptrs[1] = this.#ptrs[2] = 0;
    if (bias !== null) this.#arg(1, bias, cols, IN, 'bias');
    if (mask !== null) this.#arg(2, mask, n * cols, IN, 'mask');
    const p = this.#begin();
    this.#x.epilogue(p[0], n, cols, p[1], p[2], relu ? 1 : 0);
    this.#end();
  };

  /**
   * dy = 0 where y <= 0, as the js reluBackward (a NaN in y keeps dy; zeros are +0): the
   * ReLU-gradient epilogue over one row of n. A conv layer after a pooled ReLU output masks its
   * whole dx with it (W4: 100k floats per 16 rows, 4x the js loop's speed).
   */
  reluBackward = (dy: FloatArray, y: FloatArray, n: number): void => {
    if (n === 0) return;
    this.epilogue(dy, 1, n, null, y, false);
  };

  im2colHwc = (x: FloatArray, cols: FloatArray, g: Window2d): void => {
    const rows = g.n * g.ho * g.wo;
    this.#arg(0, x, g.n * g.h * g.w * g.c, IN, 'x');
    this.#arg(1, cols, rows * g.k * g.k * g.c, OUT, 'cols');
    const p = this.#begin();
    this.#x.im2colHwc(p[0], p[1], g.n, g.h, g.w, g.c, g.k, g.stride, g.pad, g.ho, g.wo);
    this.#end();
  };

  /** Native when argmax lives in this memory (the Model puts it there); the js function otherwise. */
  maxPoolHwcForward = (x: FloatArray, y: FloatArray, argmax: Int32Array, g: Window2d, bias: FloatArray | null = null, relu = false): void => {
    if (argmax.buffer !== this.#x.memory.buffer) return convKernels.maxPoolHwcForward(x, y, argmax, g, bias, relu);
    const outCount = g.n * g.ho * g.wo * g.c;
    if (argmax.length < outCount) throw new RangeError(`argmax has ${argmax.length} elements but the shapes need ${outCount}`);
    const at = argmax.byteOffset; // stable even if #begin grows the memory
    this.#arg(0, x, g.n * g.h * g.w * g.c, IN, 'x');
    this.#arg(1, y, outCount, OUT, 'y');
    this.#ptrs[2] = 0;
    if (bias !== null) this.#arg(2, bias, g.c, IN, 'bias');
    const p = this.#begin();
    this.#x.maxPoolHwcForward(p[0], p[1], at, p[2], relu ? 1 : 0, g.n, g.h, g.w, g.c, g.k, g.stride, g.pad, g.ho, g.wo);
    this.#end();
  };

  /** Native when argmax lives in this memory (as maxPoolHwcForward); the js function otherwise. */
  maxPoolHwcBackward = (dy: FloatArray, argmax: Int32Array, dx: FloatArray, g: Window2d, mask: FloatArray | null = null): void => {
    if (argmax.buffer !== this.#x.memory.buffer) return convKernels.maxPoolHwcBackward(dy, argmax, dx, g, mask);
    const outCount = g.n * g.ho * g.wo * g.c;
    const inCount = g.n * g.h * g.w * g.c;
    if (argmax.length < outCount) throw new RangeError(`argmax has ${argmax.length} elements but the shapes need ${outCount}`);
    const at = argmax.byteOffset;
    this.#arg(0, dy, outCount, IN, 'dy');
    this.#arg(1, dx, inCount, OUT, 'dx');
    this.#ptrs[2] = 0;
    if (mask !== null) this.#arg(2, mask, inCount, IN, 'mask');
    const p = this.#begin();
    this.#x.maxPoolHwcBackward(p[0], at, p[1], p[2], g.n, g.h, g.w, g.c, g.k, g.stride, g.pad, g.ho, g.wo);
    this.#end();
  };

  /** Native when argmax lives in this memory (as maxPoolHwcForward); the js function otherwise. */
  pooledConvGradAcc = (dy: FloatArray, argmax: Int32Array, cols: FloatArray, dwk: FloatArray, db: FloatArray | null, count: number, filters: number, depth: number, rows: number): void => {
    if (argmax.buffer !== this.#x.memory.buffer) return convKernels.pooledConvGradAcc(dy, argmax, cols, dwk, db, count, filters, depth, rows);
    checkDims(count, filters, depth);
    checkDims(rows, 0, 0);
    if (filters === 0 || count % filters !== 0) throw new RangeError(`count (${count}) must be a multiple of filters (${filters})`);
    if (argmax.length < count) throw new RangeError(`argmax has ${argmax.length} elements but the shapes need ${count}`);
    const at = argmax.byteOffset;
    this.#arg(0, dy, count, IN, 'dy');
    this.#arg(1, cols, rows * depth, IN, 'cols');
    this.#arg(2, dwk, filters * depth, INOUT, 'dwk');
    this.#ptrs[3] = 0;
    if (db !== null) this.#arg(3, db, filters, INOUT, 'db');
    const p = this.#begin();
    const bad = this.#x.pooledConvGradAcc(p[0], at, p[1], p[2], p[3], count, filters, depth, rows);
    this.#end();
    if (bad >= 0) throw new RangeError(`argmax[${bad}] is not a channel-${bad % filters} element of the conv's output (${rows} x ${filters})`);
  };

  // x: [n, hw, C] -> y: [n, C, hw]
  hwcToChw = (x: FloatArray, y: FloatArray, n: number, hw: number, c: number): void => {
    checkDims(n, hw, c);
    this.#arg(0, x, n * hw * c, IN, 'x');
    this.#arg(1, y, n * hw * c, OUT, 'y');
    const p = this.#begin();
    this.#x.hwcToChw(p[0], p[1], n, hw, c);
    this.#end();
  };

  // x: [n, C, hw] -> y: [n, hw, C]
  chwToHwc = (x: FloatArray, y: FloatArray, n: number, hw: number, c: number): void => {
    checkDims(n, hw, c);
    this.#arg(0, x, n * hw * c, IN, 'x');
    this.#arg(1, y, n * hw * c, OUT, 'y');
    const p = this.#begin();
    this.#x.chwToHwc(p[0], p[1], n, hw, c);
    this.#end();
  };

  col2imHwc = (dcols: FloatArray, dx: FloatArray, g: Window2d): void => {
    const rows = g.n * g.ho * g.wo;
    this.#arg(0, dcols, rows * g.k * g.k * g.c, IN, 'dcols');
    this.#arg(1, dx, g.n * g.h * g.w * g.c, OUT, 'dx');
    const p = this.#begin();
    this.#x.col2imHwc(p[0], p[1], g.n, g.h, g.w, g.c, g.k, g.stride, g.pad, g.ho, g.wo);
    this.#end();
  };

  /**
   * Records argument `slot`: its address if it lives in this memory, else a temporary copy made
   * by #begin. Addresses are taken before anything is allocated, because growing the memory
   * detaches the caller's views (their data stays at the same address).
   */
  #arg(slot: number, array: FloatArray, length: number, mode: number, what: string): void {
    if (!(array instanceof Float32Array)) {
      throw new TypeError(`${what} must be a Float32Array for the wasm kernels (got ${array?.constructor?.name})`);
    }
    if (array.length < length) {
      throw new RangeError(`${what} has ${array.length} elements but the shapes need ${length}`);
    }
    if (array.buffer === this.#x.memory.buffer) this.#ptrs[slot] = array.byteOffset;
    else this.#temps.push({ slot, array, length, mode });
  }

  #begin(): number[] {
    const temps = this.#temps;
    if (temps.length === 0) return this.#ptrs;
    for (const t of temps) this.#ptrs[t.slot] = this.#arena.alloc(t.length * 4);
    const heap = new Float32Array(this.#x.memory.buffer);
    for (const t of temps) {
      if (t.mode & IN) heap.set(t.array.subarray(0, t.length), this.#ptrs[t.slot] / 4);
    }
    return this.#ptrs;
  }

  #end(): void {
    const temps = this.#temps;
    if (temps.length === 0) return;
    const heap = new Float32Array(this.#x.memory.buffer);
    for (const t of temps) {
      const at = this.#ptrs[t.slot];
      if (t.mode & OUT) t.array.set(heap.subarray(at / 4, at / 4 + t.length));
    }
    for (let i = temps.length - 1; i >= 0; i--) this.#arena.release(this.#ptrs[temps[i].slot], temps[i].length * 4);
    temps.length = 0;
  }
}

function checkDims(a: number, b: number, c: number): void {
  if (!(isDim(a) && isDim(b) && isDim(c))) throw new RangeError(`kernel dimensions must be non-negative integers (got ${a}, ${b}, ${c})`);
}

function isDim(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;
}

/** True when this runtime validates `bytes` (the relaxed build needs Node >= 22 or a flag on 20). */
async function readValid(variant: WasmVariant): Promise<Uint8Array | null> {
  const bytes = new Uint8Array(await readFile(FILES[variant]));
  return WebAssembly.validate(bytes) ? bytes : null;
}

/**
 * A fresh instance of one build, not cached (tests and the benchmark compare builds with it).
 * Throws DptrainError `dptrain.kernels.wasmUnavailable` when the file is missing (not built) or
 * this runtime cannot run it.
 */
export async function createWasmKernels(variant: WasmVariant = 'simd'): Promise<WasmKernelSet> {
  let bytes: Uint8Array | null;
  try {
    bytes = await readValid(variant);
  } catch (cause) {
    throw new DptrainError(
      'dptrain.kernels.wasmUnavailable',
      `the wasm kernels are not built (${FILES[variant].pathname} is missing) — run npm run build:wasm, or use the js kernels`,
      { cause },
    );
  }
  if (bytes === null) {
    throw new DptrainError(
      'dptrain.kernels.wasmUnavailable',
      variant === 'relaxed'
        ? 'this runtime does not support WebAssembly relaxed SIMD (Node >= 22, or Node 20 with --experimental-wasm-relaxed-simd)'
        : 'this runtime does not support WebAssembly SIMD — use the js kernels',
    );
  }
  const { instance } = await WebAssembly.instantiate(bytes, {
    env: {
      abort: () => {
        throw new Error('wasm kernels aborted');
      },
    },
  });
  return new WasmKernels(instance.exports as unknown as WasmExports, variant);
}

/** This thread's wasm kernel set, created on first use: the relaxed build where it validates. */
let threadKernels: Promise<WasmKernelSet> | null = null;

/** The wasm kernel set of the calling thread (instantiated once per thread, then cached). */
export function loadWasmKernels(): Promise<WasmKernelSet> {
  threadKernels ??= (async () => {
    try {
      return await createWasmKernels('relaxed');
    } catch (error) {
      if (error instanceof DptrainError && error.code === 'dptrain.kernels.wasmUnavailable') return createWasmKernels('simd');
      throw error;
    }
  })();
  // A failed load is not cached, so that a later call reports the same error afresh.
  threadKernels.catch(() => {
    threadKernels = null;
  });
  return threadKernels;
}
