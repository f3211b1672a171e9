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
export { type ScheduleName, type ScheduleConfig, scheduleNames, learningRate, validateScheduleConfig } from './schedule.js';
export { type LrRule, lrRules, scaleLearningRate } from './lr-rule.js';
