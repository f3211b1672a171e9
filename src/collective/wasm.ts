/**
 * The WebAssembly collective kernels (asm/collective.ts -> dist/wasm/collective.wasm) over a
 * shared WebAssembly.Memory: the threads engine allocates all its parameter, optimizer-state and
 * gradient buffers in one such memory, and every thread instantiates the module over it, so the
 * reduce-scatter runs in place with f32x4 SIMD, with the same bits as the JavaScript reference
 * (reduceSlotsRange), which runs where this cannot. The same module holds the SGD update kernels;
 * optim/wasm-update.ts instantiates it for them (the optimizer update lives in optim/).
 */
import { readFile } from 'node:fs/promises';
import type { ReduceRangeResult } from './shared-reduce.js';

/**
 * The parts of the WebAssembly JS API used here, declared locally: the project's lib settings
 * (ES2023, no DOM) and @types/node 20 do not type the WebAssembly global.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
/** A compiled module; structured-cloneable, so the coordinator compiles once and hands it to every worker. */
export type WasmModule = object;
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}
const WebAssembly = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** WebAssembly page size. */
export const WASM_PAGE = 65536;
/** The most pages a (32-bit) memory can have; also the maximum the module declares for its import. */
export const MAX_WASM_PAGES = 65536;

interface CollectiveExports {
  reduceScratchBytes(n: number): number;
  heapBase(): number;
  reduce(slots: number, n: number, length: number, out: number, start: number, end: number, scratch: number): void;
  copy(dst: number, src: number, bytes: number): void;
  normSq(p: number, start: number, end: number): number;
  zero(dst: number, bytes: number): void;
}

const FILE = new URL('../../wasm/collective.wasm', import.meta.url);

/** Bytes of scratch the kernel `reduce` needs for n slots: four float64 lanes per norm (asm/collective.ts). */
export function reduceScratchBytes(n: number): number {
  return 32 * (n + 1);
}

let compiled: Promise<WasmModule> | null = null;

/**
 * The compiled collective module, once per thread. Rejects with an Error saying why when it
 * cannot run here: the file is not built, or the runtime lacks WebAssembly SIMD, threads (shared
 * memory) or SharedArrayBuffer.
 */
export function compileCollective(): Promise<WasmModule> {
  compiled ??= (async () => {
    if (!WebAssembly) throw new Error('this runtime has no WebAssembly');
    if (typeof SharedArrayBuffer !== 'function') throw new Error('this runtime has no SharedArrayBuffer');
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(FILE));
    } catch (cause) {
      throw new Error(`${FILE.pathname} is not built (npm run build:wasm)`, { cause });
    }
    if (!WebAssembly.validate(bytes)) throw new Error('this runtime does not support WebAssembly SIMD with shared memory');
    const probe = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    if (!(probe.buffer instanceof SharedArrayBuffer)) throw new Error('this runtime cannot share WebAssembly memory between threads');
    return new WebAssembly.Module(bytes);
  })();
  compiled.catch(() => (compiled = null));
  return compiled;
}

/** A shared memory of exactly `pages` pages (initial = maximum: it never grows, so views never detach). */
export function createSharedMemory(pages: number): WasmMemory {
  if (!WebAssembly) throw new Error('this runtime has no WebAssembly');
  if (!Number.isInteger(pages) || pages < 1 || pages > MAX_WASM_PAGES) throw new RangeError(`a shared WebAssembly memory has 1 to ${MAX_WASM_PAGES} pages (asked for ${pages})`);
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

/** A region of the shared memory for one caller's reduce results (16-byte aligned). */
export interface Scratch {
  offset: number;
  bytes: number;
}

/**
 * One thread's instance of the collective module over the engine's shared memory. Arrays passed
 * in must be Float32Array views of that memory. Each concurrent caller of `reduceRange` passes
 * its own scratch region (at least reduceScratchBytes(n) bytes).
 */
export class WasmCollective {
  readonly #x: CollectiveExports;
  readonly #memory: WasmMemory;
  readonly #f64: Float64Array;
  readonly #heapBase: number;

  constructor(module: WasmModule, memory: WasmMemory) {
    if (!WebAssembly) throw new Error('this runtime has no WebAssembly');
    this.#x = new WebAssembly.Instance(module, { env: { memory } }).exports as CollectiveExports;
    if (this.#x.reduceScratchBytes(5) !== reduceScratchBytes(5)) throw new Error('dist/wasm/collective.wasm is out of date (npm run build:wasm)');
    this.#memory = memory;
    this.#f64 = new Float64Array(memory.buffer);
    this.#heapBase = this.#x.heapBase();
  }

  /** Same contract and bits as reduceSlotsRange (shared-reduce.ts); the norms pass through `scratch`. */
  reduceRange(slots: Float32Array, n: number, length: number, out: Float32Array, start: number, end: number, scratch: Scratch): ReduceRangeResult {
    if (!Number.isInteger(n) || n < 1 || slots.length < n * length || out.length < length) {
      throw new RangeError(`reduce of ${n} slots of ${length}: slots[${slots.length}], out[${out.length}]`);
    }
    checkRange(start, end, length);
    if (scratch.offset % 16 !== 0 || scratch.offset < this.#heapBase || scratch.bytes < reduceScratchBytes(n) || scratch.offset + scratch.bytes > this.#memory.buffer.byteLength) {
      throw new RangeError(`a reduce of ${n} slots needs a 16-byte aligned scratch region of ${reduceScratchBytes(n)} bytes in the memory (got ${scratch.bytes} at ${scratch.offset})`);
    }
    this.#x.reduce(this.#address(slots), n, length, this.#address(out), start, end, scratch.offset);
    const at = scratch.offset / 8;
    return { sumSq: this.#f64[at + n], slotSumSq: this.#f64.slice(at, at + n) };
  }

  /**
   * Σ x² over [start, end) of `x` with the bits reduceRange gives the norm of one slot (the JS
   * reference: reduceSlotsRange over one slot), reading only.
   */
  normSq(x: Float32Array, start: number, end: number): number {
    checkRange(start, end, x.length);
    return this.#x.normSq(this.#address(x), start, end);
  }

  /** Zeroes `x` (a native memset: TypedArray.fill on shared memory is several times slower). */
  zero(x: Float32Array): void {
    this.#x.zero(this.#address(x), x.byteLength);
  }

  /** The byte address of a view of the shared memory (checked: the kernels write through it). */
  #address(view: Float32Array): number {
    const size = this.#memory.buffer.byteLength;
    if (!(view.buffer instanceof SharedArrayBuffer) || view.buffer.byteLength !== size || view.byteOffset % 4 !== 0) {
      throw new RangeError('a collective kernel was given an array that is not a view of the engine\'s shared WebAssembly memory');
    }
    return view.byteOffset;
  }
}

function checkRange(start: number, end: number, length: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > length) {
    throw new RangeError(`range [${start}, ${end}) is not within [0, ${length})`);
  }
}
