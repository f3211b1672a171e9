export {
  parseModelSpec,
  MAX_LAYER_SIZE,
  layerModelSpec,
  MODEL_PRESETS,
  type ModelSpec,
  type DenseModelSpec,
  type LayerModelSpec,
  type ModelKind,
  type Activation,
  type LossKind,
} from './spec.js';
export { layoutOfStack, paramLayout, paramView, type ParamLayout, type ParamTensor } from './layout.js';
export { initParams } from './init.js';
export {
  Model,
  DEFAULT_MAX_MICRO_BATCH,
  type ModelOptions,
  type TrainingStep,
  type SampleSource,
  type BatchResult,
} from './model.js';
export { buildStack, inputShapeOf, inputSize, outputLayerWarning, outputSize, type LayerStack, type StackLayer } from './stack.js';
export { layerToken, layerOutputShape, shapeText, type LayerSpec, type LayerType } from './layers.js';
export { isModelFilePath, parseModelFile, type ModelFile } from './json-spec.js';
export {
  sequential,
  dense,
  conv2d,
  maxPool2d,
  avgPool2d,
  globalAvgPool,
  flatten,
  relu,
  tanh,
  gelu,
  dropout,
  layerNorm,
  batchNorm,
} from './sequential.js';
export { bufferDtype, bufferLayout, bufferTensors, initBuffers, setBufferTensor, updateRunningStats, BN_EPS, BN_MOMENTUM, type BufferLayout, type BufferTensor, type NormSlot } from './buffers.js';
export { batchNormModeOf, batchNormText, type BatchNormMode } from './op-base.js';
