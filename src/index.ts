/** dptrain's public library API. */
export {
  train,
  resolveTrainConfig,
  defaultTrainConfig,
  EarlyStopping,
  saveParameters,
  loadParameters,
  loadModel,
  type TrainConfig,
  type TrainHooks,
  type TrainLogger,
  type TrainResult,
  type Callback,
  type RunInfo,
  type TrainControl,
  type StepRecord,
  type EpochRecord,
  type EvalRecord,
  type RunSummary,
  type MonitoredMetric,
} from './train/index.js';
export { loadDataset, createDataset, datasetHash, type Dataset } from './data/index.js';
export {
  TrainedModel,
  type Predictions,
  type Evaluation,
  type EvaluateOptions,
  type EvaluationPart,
  type PredictInput,
  type ClassificationMetrics,
  type RegressionMetrics,
  type ClassMetrics,
  type OutputMetrics,
} from './inference/index.js';
export { type ModelAbout } from './io/index.js';
export {
  sweep,
  writeReport,
  fitScaling,
  GnsTracker,
  gnsEstimate,
  measureNoiseScale,
  type SweepOptions,
  type SweepResults,
  type ScalingFit,
  type GnsRecord,
} from './study/index.js';
export { parseModelSpec, paramLayout, initParams, Model, type ModelSpec, type ParamLayout } from './model/index.js';
export {
  buildStack,
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
  MODEL_PRESETS,
  type LayerSpec,
  type LayerModelSpec,
  type DenseModelSpec,
} from './model/index.js';
export { encodeSafetensors, decodeSafetensors, loadSafetensors, saveSafetensors, type Tensor } from './io/index.js';
export { InlineEngine, ThreadsEngine, createEngine, type Engine, type StepPlan, type GradientResult, type UpdatePlan } from './engine/index.js';
export { withCoordinator, type CoordinatorOptions, type CoordinatorStatus, type MembershipEvent } from './engine/index.js';
export {
  DptrainError,
  ConfigError,
  DataError,
  ModelError,
  FormatError,
  TrainError,
  EngineError,
} from './errors.js';
export { startDashboard, DashboardHub, type Dashboard, type DashboardOptions, type ChartSpec } from './dashboard/index.js';
