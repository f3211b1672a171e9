/**
 * The optimizer over two versions of the parameters and the optimizer state, as the threads
 * engine keeps them in shared memory: an update reads version v and writes version v + 1 (the
 * parity v % 2 picks the buffer), so an update that dies halfway can be run again, and threads
 * update disjoint ranges at once. SGD (plain, momentum, Nesterov) runs out of place in wasm where
 * available (wasm-update.ts); otherwise (Adam/AdamW, or no wasm) the range of version v is copied
 * to v + 1 and the optimizer updates the copy in place. Both give the same bits.
 */
import { createOptimizer, type Optimizer, type OptimizerConfig, type UpdateArgs } from './optimizer.js';
import type { WasmUpdateKernels } from './wasm-update.js';

/** The number of [numParams] state tensors `config`'s optimizer keeps (0, 1 or 2). */
export function stateTensorCount(config: OptimizerConfig): number {
  let count = 0;
  createOptimizer(config, 0, (length) => (count++, new Float32Array(length)));
  return count;
}

/** The two versions' buffers: params [numParams] each, state [stateTensors × numParams] each. */
export interface VersionBuffers {
  params: [Float32Array, Float32Array];
  state: [Float32Array, Float32Array];
}

export class VersionedOptimizer {
  readonly config: Readonly<OptimizerConfig>;
  readonly numParams: number;
  readonly stateTensors: number;
  readonly #buffers: VersionBuffers;
  /** Optimizers over state[0] and state[1]. */
  readonly #optimizers: [Optimizer, Optimizer];
  readonly #wasm: WasmUpdateKernels | null;

  /** `wasm`: the update kernels over the memory that holds the buffers, or null for JavaScript. */
  constructor(config: OptimizerConfig, buffers: VersionBuffers, wasm: WasmUpdateKernels | null) {
    const P = buffers.params[0].length;
    this.config = Object.freeze({ ...config });
    this.numParams = P;
    this.stateTensors = stateTensorCount(config);
    if (buffers.params[1].length !== P || buffers.state.some((s) => s.length !== this.stateTensors * P)) {
      throw new RangeError(`version buffers must hold ${P} parameters and ${this.stateTensors} × ${P} state values each`);
    }
    this.#buffers = buffers;
    // Each optimizer's state tensors are consecutive [P] views of its version's state buffer.
    const over = (state: Float32Array) => {
      let tensor = 0;
      return (length: number) => {
        const view = state.subarray(tensor * P, tensor * P + length);
        tensor += 1;
        return view;
      };
    };
    this.#optimizers = [createOptimizer(config, P, over(buffers.state[0])), createOptimizer(config, P, over(buffers.state[1]))];
    this.#wasm = wasm;
  }

  /** The parameters of `version`. */
  params(version: number): Float32Array {
    return this.#buffers.params[version % 2];
  }

  /** The optimizer state of `version` by PyTorch name (live views). */
  state(version: number): Readonly<Record<string, Float32Array>> {
    return this.#optimizers[version % 2].state;
  }

  /**
   * The update of [start, end) (default all) from `version` to version + 1 with the gradient
   * `grad`; version `version` is only read.
   */
  update(version: number, grad: Float32Array, args: UpdateArgs): void {
    const start = args.start ?? 0;
    const end = args.end ?? this.numParams;
    const from = version % 2;
    const to = 1 - from;
    const { params, state } = this.#buffers;
    const P = this.numParams;
    const outOfPlace = this.#wasm?.update({
      config: this.config,
      paramsFrom: params[from],
      paramsTo: params[to],
      bufferFrom: this.stateTensors > 0 ? state[from].subarray(0, P) : undefined,
      bufferTo: this.stateTensors > 0 ? state[to].subarray(0, P) : undefined,
      grad,
      start,
      end,
      lr: args.lr,
      gradScale: args.gradScale,
    });
    if (outOfPlace) return;
    params[to].set(params[from].subarray(start, end), start);
    for (let k = 0; k < this.stateTensors; k++) {
      state[to].set(state[from].subarray(k * P + start, k * P + end), k * P + start);
    }
    this.#optimizers[to].update(params[to], grad, { lr: args.lr, gradScale: args.gradScale, t: args.t, start, end });
  }
}
