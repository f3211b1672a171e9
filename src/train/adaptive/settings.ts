/**
 * The options of `--batch-size auto` (and of `--lr-rule adascale` at a fixed batch size),
 * resolved against the training split: bounds, cadence, learning-rate rule and the optional
 * given step-time model. Conflicts are ConfigErrors naming the flags (exit 2 from the CLI).
 */
import { ConfigError, shown } from '../../errors.js';
import type { TrainConfig } from '../config.js';
import type { AdaptiveSettings } from './controller.js';
import type { StepTimeLine } from './goodput.js';

export type AdaptiveOptions = Pick<TrainConfig, 'batchSize' | 'baseBatchSize' | 'minBatchSize' | 'maxBatchSize' | 'adaptEvery' | 'stepTimeModel' | 'lrRule' | 'dropLast'>;

/** The options that only `--batch-size auto` uses. */
export const AUTO_ONLY_OPTIONS = ['minBatchSize', 'maxBatchSize', 'adaptEvery', 'stepTimeModel'] as const;

/** Whether the run needs the adaptive controller: auto, or a fixed batch with the AdaScale gain. */
export function isAdaptive(c: Pick<TrainConfig, 'batchSize' | 'lrRule'>): boolean {
  return c.batchSize === 'auto' || c.lrRule === 'adascale';
}

/**
 * Settings for `trainSamples` N, or null for a run without them. Bounds: --min-batch-size
 * (default B0, as Pollux: the learning rate was chosen there), --max-batch-size (default N,
 * `full` = N); B0 itself may lie outside them (B then starts at the nearest bound).
 */
export function resolveAdaptiveSettings(c: AdaptiveOptions, trainSamples: number): AdaptiveSettings | null {
  if (!isAdaptive(c)) return null;
  const fixed = c.batchSize !== 'auto';
  const batch = c.batchSize === 'full' ? trainSamples : typeof c.batchSize === 'number' ? c.batchSize : null;
  const max = batch ?? (c.maxBatchSize === null || c.maxBatchSize === 'full' ? trainSamples : c.maxBatchSize);
  const min = batch ?? c.minBatchSize ?? Math.min(c.baseBatchSize, max);
  if (max > trainSamples) {
    throw new ConfigError('badBatchRange', `--max-batch-size ${max} is larger than the ${trainSamples} training samples — use at most ${trainSamples}, or "full"`);
  }
  if (min > max) {
    throw new ConfigError('badBatchRange', `--min-batch-size ${min} is above --max-batch-size ${c.maxBatchSize === null ? `(default: the ${trainSamples} training samples)` : max} — give a range with min ≤ max`);
  }
  return {
    baseBatchSize: c.baseBatchSize,
    min,
    max,
    adaptEvery: c.adaptEvery,
    trainSamples,
    dropLast: c.dropLast,
    lrRule: c.lrRule,
    fixedModel: c.stepTimeModel === null ? null : parseStepTimeModel(c.stepTimeModel),
    choose: !fixed,
  };
}

/** `--step-time-model FIXED_MS,PER_SAMPLE_MS`, e.g. `2,0.015`: T(B) = 2 ms + 0.015 ms·B. */
export function parseStepTimeModel(text: string): StepTimeLine {
  const parts = text.split(',').map((p) => p.trim());
  const [fixedMs, perSampleMs] = parts.map(Number);
  if (parts.length !== 2 || parts.some((p) => p === '') || !(fixedMs >= 0 && Number.isFinite(fixedMs)) || !(perSampleMs > 0 && Number.isFinite(perSampleMs))) {
    throw new ConfigError('badOption', `--step-time-model must be FIXED_MS,PER_SAMPLE_MS with FIXED_MS ≥ 0 and PER_SAMPLE_MS > 0, e.g. 2,0.015 (got ${shown(text)})`);
  }
  return { fixedMs, perSampleMs };
}

/** Checks the types of the auto options, and that they are used with --batch-size auto only. */
export function validateAdaptiveOptions(c: AdaptiveOptions): void {
  if (c.minBatchSize !== null && !(Number.isSafeInteger(c.minBatchSize) && c.minBatchSize >= 1)) {
    throw new ConfigError('badOption', `--min-batch-size must be a positive integer (got ${shown(c.minBatchSize)})`);
  }
  if (c.maxBatchSize !== null && c.maxBatchSize !== 'full' && !(Number.isSafeInteger(c.maxBatchSize) && c.maxBatchSize >= 1)) {
    throw new ConfigError('badOption', `--max-batch-size must be a positive integer or "full" (got ${shown(c.maxBatchSize)})`);
  }
  if (c.adaptEvery !== null && !(Number.isSafeInteger(c.adaptEvery) && c.adaptEvery >= 1)) {
    throw new ConfigError('badOption', `--adapt-every must be a positive number of steps (got ${shown(c.adaptEvery)}); leave it out to choose each epoch, at most every 50 steps`);
  }
  if (c.stepTimeModel !== null) parseStepTimeModel(c.stepTimeModel);
  if (c.batchSize !== 'auto') {
    const given = AUTO_ONLY_OPTIONS.filter((key) => c[key] !== null);
    if (given.length > 0) {
      const flags = given.map((k) => '--' + k.replace(/[A-Z]/g, (ch) => '-' + ch.toLowerCase())).join(', ');
      throw new ConfigError('badBatchRange', `${flags} ${given.length > 1 ? 'apply' : 'applies'} to --batch-size auto, but this run has the fixed --batch-size ${c.batchSize} — give --batch-size auto, or leave ${given.length > 1 ? 'them' : 'it'} out`);
    }
  }
  if (c.minBatchSize !== null && c.maxBatchSize !== null && c.maxBatchSize !== 'full' && c.minBatchSize > c.maxBatchSize) {
    throw new ConfigError('badBatchRange', `--min-batch-size ${c.minBatchSize} is above --max-batch-size ${c.maxBatchSize} — give a range with min ≤ max`);
  }
}
