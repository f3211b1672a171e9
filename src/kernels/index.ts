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
  type KernelsReport,
  type BlasReport,
} from './kernels.js';
export { loadKernels, blasChoiceLine, type LoadKernelsOptions } from './load.js';
export { createWasmKernels, type WasmVariant, type WasmKernelSet } from './wasm.js';
export { blasCandidates, openBlas, BLAS_INSTALL_HINT } from './blas-loader.js';
export { AUTO_MIN_SPEEDUP, SELF_TEST_TOLERANCE } from './blas.js';
export { type Window2d } from './conv.js';
export { type DropoutKey, erf } from './elementwise.js';
export { type ConvKernels } from './conv-set.js';
export { batchNormSums, batchNormMoments, batchNormApply, batchNormGradSums, batchNormInputGrad } from './batchnorm.js';
