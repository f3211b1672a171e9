export { train, type TrainHooks, type TrainLogger, type TrainResult } from './loop.js';
export {
  resolveTrainConfig,
  defaultTrainConfig,
  choices as trainChoices,
  flagOf,
  availableCores,
  type TrainConfig,
  type ScheduleName,
  type MonitoredMetric,
} from './config.js';
export { EarlyStopping, type Callback, type RunInfo, type TrainControl } from './callbacks.js';
export type { StepRecord, EvalRecord, EpochRecord, RunSummary, StopReason } from './records.js';
export { saveParameters, loadParameters, parameterTensors, outWriteError } from './run-dir.js';
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
export { resolveRunConfig } from './resume.js';
