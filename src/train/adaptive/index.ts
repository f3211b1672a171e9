export { statisticalEfficiency, adaScaleGain, goodput, stepTimeMs, analyticOptimum, chooseBatchSize, type StepTimeLine, type BatchChoice, type BatchChoiceInput } from './goodput.js';
export { StepTimes, fitStepTimes, median, TIMES_PER_BATCH_SIZE, BATCH_SIZES_KEPT, type FittedLine, type StepTimesState } from './step-times.js';
export {
  AdaptiveBatch,
  freshAdaptiveState,
  probeSizes,
  currentPhi,
  DEFAULT_ADAPT_EVERY,
  PROBE_STEPS,
  MAX_CHANGE,
  MIN_GOODPUT_GAIN,
  REFRESH_SHARE,
  type AdaptiveSettings,
  type AdaptiveState,
  type AdaptRecord,
  type AdaptiveLrRule,
} from './controller.js';
export { saveAdaptiveState, restoreAdaptiveState } from './saved-state.js';
export { resolveAdaptiveSettings, validateAdaptiveOptions, parseStepTimeModel, isAdaptive, AUTO_ONLY_OPTIONS } from './settings.js';
