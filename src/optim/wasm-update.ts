/**
 * The SGD update in WebAssembly: the `sgd`, `momentum` and `nesterov` kernels of asm/collective.ts
 * (compiled into dist/wasm/collective.wasm with the reduce), out of place and f32x4 SIMD over a
 * shared WebAssembly.Memory. Bit-identical to SgdOptimizer.update (sgd.ts) run in place on a copy
 * of version v (docs/kernels.md). Adam and AdamW have no wasm kernel: VersionedOptimizer runs them
 * in JavaScript. Only optim/ calls these kernels.
 */
import type { OptimizerConfig } from './optimizer.js';

/** The parts of the WebAssembly JS API used here (the project's lib settings do not type the global). */
interface WasmApi {
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WebAssembly = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** A shared WebAssembly.Memory, as collective/wasm.ts creates it. */
export interface SharedWasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

interface UpdateExports {
  reduceScratchBytes(n: number): number;
  sgd(pFrom: number, pTo: number, grad: number, start: number, end: number, lr: number, s: number, wd: number): void;
  momentum(pFrom: number, pTo: number, bFrom: number, bTo: number, grad: number, start: number, end: number, lr: number, s: number, wd: number, mu: number): void;
  nesterov(pFrom: number, pTo: number, bFrom: number, bTo: number, grad: number, start: number, end: number, lr: number, s: number, wd: number, mu: number): void;
}

/** Which SGD variant the wasm update implements for a config, or null (Adam/AdamW: JavaScript). */
export function wasmUpdateKind(config: OptimizerConfig): 'sgd' | 'momentum' | 'nesterov' | null {
  if (config.name !== 'sgd') return null;
  if (config.momentum === 0) return 'sgd';
  return config.nesterov ? 'nesterov' : 'momentum';
}

/** Arguments of one out-of-place update of [start, end): read version v, write version v + 1. */
export interface OutOfPlaceUpdate {
  config: OptimizerConfig;
  paramsFrom: Float32Array;
  paramsTo: Float32Array;
  /** The momentum buffer of versions v and v + 1 (SGD with momentum only). */
  bufferFrom?: Float32Array;
  bufferTo?: Float32Array;
  grad: Float32Array;
  start: number;
  end: number;
  lr: number;
  gradScale: number;
}

/**
 * One thread's instance of the update kernels over a shared memory. `module` is the compiled
 * collective module (collective/wasm.ts compileCollective); every array passed in must be a
 * Float32Array view of `memory`.
 */
export class WasmUpdateKernels {
  readonly #x: UpdateExports;
  readonly #memory: SharedWasmMemory;

  constructor(module: object, memory: SharedWasmMemory) {
    if (!WebAssembly) throw new Error('this runtime has no WebAssembly');
    this.#x = new WebAssembly.Instance(module, { env: { memory } }).exports as UpdateExports;
    if (typeof this.#x.sgd !== 'function' || typeof this.#x.nesterov !== 'function') throw new Error('dist/wasm/collective.wasm is out of date (npm run build:wasm)');
    this.#memory = memory;
  }

  /**
   * The SGD update of [start, end) out of place, bit-identical to SgdOptimizer.update in place on a
   * copy of version v. Returns false (doing nothing) for an optimizer it does not implement.
   */
  update(u: OutOfPlaceUpdate): boolean {
    const kind = wasmUpdateKind(u.config);
    if (kind === null) return false;
    const length = u.paramsFrom.length;
    if (!Number.isInteger(u.start) || !Number.isInteger(u.end) || u.start < 0 || u.start > u.end || u.end > length) {
      throw new RangeError(`range [${u.start}, ${u.end}) is not within [0, ${length})`);
    }
    for (const a of [u.paramsTo, u.grad]) if (a.length !== length) throw new RangeError(`update arrays of different lengths (${a.length} vs ${length})`);
    const { weightDecay: wd, momentum: mu } = u.config;
    const [pFrom, pTo, grad] = [this.#address(u.paramsFrom), this.#address(u.paramsTo), this.#address(u.grad)];
    if (kind === 'sgd') {
      this.#x.sgd(pFrom, pTo, grad, u.start, u.end, u.lr, u.gradScale, wd);
      return true;
    }
    if (!u.bufferFrom || !u.bufferTo || u.bufferFrom.length !== length || u.bufferTo.length !== length) {
      throw new RangeError('SGD with momentum needs the momentum buffer of both versions');
    }
    const [bFrom, bTo] = [this.#address(u.bufferFrom), this.#address(u.bufferTo)];
    this.#x[kind](pFrom, pTo, bFrom, bTo, grad, u.start, u.end, u.lr, u.gradScale, wd, mu);
    return true;
  }

  /** The byte address of a view of the shared memory (checked: the kernels write through it). */
  #address(view: Float32Array): number {
    const size = this.#memory.buffer.byteLength;
    if (!(view.buffer instanceof SharedArrayBuffer) || view.buffer.byteLength !== size || view.byteOffset % 4 !== 0) {
      throw new RangeError("an update kernel was given an array that is not a view of the engine's shared WebAssembly memory");
    }
    return view.byteOffset;
  }
}
