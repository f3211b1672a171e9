export { train, type TrainHooks, type TrainLogger, type TrainResult } from './loop.js';
export {
  defaultTrainConfig,
  choices as trainChoices,
  flagOf,
  availableCores,
  validateTrainConfig,
  type TrainConfig,
  type ScheduleName,
  type MonitoredMetric,
} from './config.js';
export {
  resolveTrainConfig,
  resolveTrainOptions,
  trainNoEffectRules,
  defaultOf as defaultTrainOption,
  defaultLearningRate,
  defaultModelFor,
  fitDefaultsToData,
  describeLearningRate,
  type DataShape,
  type LrOrigin,
  type ResolvedTrainOptions,
} from './defaults.js';
export { sizeModelToData } from './model-sizing.js';
export { EarlyStopping, type Callback, type RunInfo, type TrainControl } from './callbacks.js';
export type { StepRecord, EvalRecord, EpochRecord, RunSummary, BatchSizesUsed, SessionFigures, StopReason } from './records.js';
export { saveParameters, loadParameters, parameterTensors, outWriteError, runFilesIn, refuseRunIn } from './run-dir.js';
export { GnsTracker, gnsEstimate, DEFAULT_GNS_BETA, type GnsRecord, type GnsEstimate, type ShardGradient } from './gns.js';
export type { StepTiming, TimingSummary } from './timing.js';
export {
  CHECKPOINT_FORMAT_VERSION,
  encodeCheckpoint,
  decodeCheckpoint,
  loadCheckpointFile,
  readSafetensorsFile,
  inspectSafetensors,
  type Checkpoint,
  type CheckpointMeta,
  type SafetensorsContents,
  type TensorInfo,
} from './checkpoint.js';
export { countNonFinite } from './non-finite.js';
export {
  CheckpointStore,
  findLatestCheckpoint,
  listCheckpoints,
  checkpointFileName,
  type CheckpointWriteHooks,
  type CheckpointStoreLog,
  type CheckpointStoreOptions,
  type LatestCheckpoint,
} from './checkpoint-store.js';
export { resolveRunConfig, runPathResolver } from './resume.js';
export { loadModel } from './model-file.js';
export { modelAboutOf } from './about.js';
export { givenKeys, inertOptions, isOptionWarning, warningFields, type NoEffectRule, type OptionWarning } from './option-effects.js';
export {
  statisticalEfficiency,
  adaScaleGain,
  goodput,
  analyticOptimum,
  chooseBatchSize,
  fitStepTimes,
  StepTimes,
  type AdaptRecord,
  type StepTimeLine,
} from './adaptive/index.js';
