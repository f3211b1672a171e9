export {
  matmulXWt,
  matmulDyW,
  matmulDyTXAcc,
  addBias,
  biasGradAcc,
  linearForward,
  matmulDyWReluMask,
} from './matmul.js';
export { reluForward, reluBackward, tanhForward, tanhBackward } from './activations.js';
export {
  softmaxCrossEntropy,
  meanSquaredError,
  type SoftmaxCrossEntropyResult,
  type MeanSquaredErrorResult,
} from './losses.js';
export {
  jsKernels,
  kernelsChoices,
  type Kernels,
  type KernelsName,
  type KernelsChoice,
  type KernelBuffer,
} from './kernels.js';
export { loadKernels } from './load.js';
export { createWasmKernels, type WasmVariant } from './wasm.js';
