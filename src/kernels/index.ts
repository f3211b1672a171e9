export { matmulXWt, matmulDyW, matmulDyTXAcc, addBias, biasGradAcc } from './matmul.js';
export { reluForward, reluBackward, tanhForward, tanhBackward } from './activations.js';
export {
  softmaxCrossEntropy,
  meanSquaredError,
  type SoftmaxCrossEntropyResult,
  type MeanSquaredErrorResult,
} from './losses.js';
