/**
 * The optimizer of an engine that keeps one copy of the parameters and state (the inline
 * engine), updated in place. Where the arrays are views of a shared WebAssembly.Memory, SGD
 * (plain, momentum, Nesterov) runs in the wasm update kernels (wasm-update.ts) with source and
 * destination the same: each element is loaded before its own store, so in place is safe, and
 * the bits are those of SgdOptimizer and of the threads engine's out-of-place update. Adam,
 * AdamW, or no wasm: the JavaScript optimizer. docs/kernels.md, "Fixed cost per step".
 */
import { updateRange } from './range.js';
import type { Optimizer, UpdateArgs } from './optimizer.js';
import type { WasmUpdateKernels } from './wasm-update.js';

export function inPlaceOptimizer(js: Optimizer, wasm: WasmUpdateKernels | null): Optimizer {
  if (wasm === null) return js;
  const buffer = js.state.momentum_buffer;
  const numParams = buffer?.length;
  return {
    config: js.config,
    state: js.state,
    update(params: Float32Array, grad: Float32Array, args: UpdateArgs): void {
      const [start, end] = updateRange(numParams ?? params.length, params, grad, args);
      const done = wasm.update({ config: js.config, paramsFrom: params, paramsTo: params, bufferFrom: buffer, bufferTo: buffer, grad, start, end, lr: args.lr, gradScale: args.gradScale });
      if (!done) js.update(params, grad, args);
    },
  };
}
