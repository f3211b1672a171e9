export {
  parseModelSpec,
  MAX_LAYER_SIZE,
  type ModelSpec,
  type ModelKind,
  type Activation,
  type LossKind,
} from './spec.js';
export { paramLayout, paramView, type ParamLayout, type ParamTensor } from './layout.js';
export { initParams } from './init.js';
export {
  Model,
  DEFAULT_MAX_MICRO_BATCH,
  type ModelOptions,
  type SampleSource,
  type BatchResult,
} from './model.js';
