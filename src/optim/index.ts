export {
  type OptimizerName,
  type OptimizerConfig,
  type UpdateArgs,
  type Optimizer,
  optimizerNames,
  defaultOptimizerConfig,
  createOptimizer,
  validateOptimizerConfig,
  restoreOptimizerState,
} from './optimizer.js';
export { sumOfSquares, clipFactor } from './clip.js';
export { VersionedOptimizer, stateTensorCount, type VersionBuffers } from './versioned.js';
export { inPlaceOptimizer } from './in-place.js';
export { WasmUpdateKernels, wasmUpdateKind, type OutOfPlaceUpdate, type SharedWasmMemory } from './wasm-update.js';
export { type ScheduleName, type ScheduleConfig, scheduleNames, learningRate, validateScheduleConfig } from './schedule.js';
export { type LrRule, lrRules, scaleLearningRate } from './lr-rule.js';
