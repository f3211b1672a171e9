/**
 * Choosing the kernel set, once per thread (the threads engine calls loadKernels in each worker).
 * The one place in kernels/ that does I/O: it reads the compiled .wasm file.
 */
import { ConfigError, DptrainError, shown } from '../errors.js';
import { jsKernels, kernelsChoices, type Kernels, type KernelsChoice } from './kernels.js';
import { loadWasmKernels } from './wasm.js';

/**
 * The kernel set for `choice`: 'js' (plain TypeScript), 'wasm' (WebAssembly SIMD; throws
 * DptrainError `dptrain.kernels.wasmUnavailable` when it cannot run here) or 'auto' (default:
 * wasm where WebAssembly SIMD is available, else js, saying why in `detail`).
 * The wasm module is instantiated on the first call in each thread; later calls return the same set.
 */
export async function loadKernels(choice: KernelsChoice = 'auto'): Promise<Kernels> {
  if (!kernelsChoices.includes(choice)) {
    throw new ConfigError('badKernels', `kernels must be one of ${kernelsChoices.join(', ')} (got ${shown(choice)})`);
  }
  if (choice === 'js') return jsKernels;
  if (choice === 'wasm') return loadWasmKernels();
  try {
    return await loadWasmKernels();
  } catch (error) {
    if (!(error instanceof DptrainError && error.code === 'dptrain.kernels.wasmUnavailable')) throw error;
    return Object.freeze({ ...jsKernels, detail: `js (wasm unavailable: ${error.message})` });
  }
}
