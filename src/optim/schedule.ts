/**
 * Learning-rate schedules over global steps, with Goyal et al. 2017's gradual (linear) warmup.
 * After warmup the schedules match PyTorch's StepLR and CosineAnnealingLR counted from the end of warmup.
 */
import { ConfigError, shown } from '../errors.js';

export type ScheduleName = 'constant' | 'step' | 'cosine';

export const scheduleNames: readonly ScheduleName[] = Object.freeze(['constant', 'step', 'cosine']);

export interface ScheduleConfig {
  name: ScheduleName;
  /** Steps of linear warmup: lr·(step+1)/warmupSteps while step < warmupSteps. 0 = none. */
  warmupSteps: number;
  /** Total steps of the run; cosine reaches minLr here (and stays there). */
  totalSteps: number;
  /** 'step': multiply by gamma every stepSize steps after warmup (--step-epochs in steps). */
  stepSize: number;
  /** 'step': decay factor, in (0, 1]. */
  gamma: number;
  /** 'cosine': final learning rate, >= 0. */
  minLr: number;
}

function isNonNegativeInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Checks every field; throws a ConfigError (`dptrain.config.bad<Field>`) that names the flag. */
export function validateScheduleConfig(s: ScheduleConfig): void {
  if (!scheduleNames.includes(s.name)) {
    throw new ConfigError('badLrSchedule', `--lr-schedule must be one of ${scheduleNames.join(', ')} (got ${shown(s.name)})`);
  }
  if (!isNonNegativeInteger(s.warmupSteps)) {
    throw new ConfigError('badWarmup', `--warmup-epochs must give a whole number of warmup steps >= 0 (got ${shown(s.warmupSteps)} steps)`);
  }
  if (!isNonNegativeInteger(s.totalSteps)) {
    throw new ConfigError('badTotalSteps', `the total number of steps must be an integer >= 0 (got ${shown(s.totalSteps)})`);
  }
  if (!(typeof s.stepSize === 'number' && Number.isSafeInteger(s.stepSize) && s.stepSize >= 1)) {
    throw new ConfigError('badStepSize', `--step-epochs must give a whole number of steps >= 1 (got ${shown(s.stepSize)} steps)`);
  }
  if (typeof s.gamma !== 'number' || !(s.gamma > 0 && s.gamma <= 1)) {
    throw new ConfigError('badGamma', `--gamma must be in (0, 1] (got ${shown(s.gamma)})`);
  }
  if (typeof s.minLr !== 'number' || !(s.minLr >= 0 && s.minLr < Infinity)) {
    throw new ConfigError('badMinLr', `--min-lr must be a finite number >= 0 (got ${shown(s.minLr)})`);
  }
}

/**
 * The learning rate at 0-based global `step` for peak learning rate `peakLr`.
 * Warmup: peakLr·(step+1)/warmupSteps. Then constant: peakLr; step: peakLr·gamma^floor((step-warmup)/stepSize);
 * cosine: minLr + (peakLr-minLr)·(1 + cos(π·min(1, (step-warmup)/(total-warmup))))/2 (minLr once total <= warmup).
 */
export function learningRate(peakLr: number, step: number, s: ScheduleConfig): number {
  validateScheduleConfig(s);
  if (!isNonNegativeInteger(step)) throw new RangeError(`step must be an integer >= 0 (got ${step})`);
  if (step < s.warmupSteps) return (peakLr * (step + 1)) / s.warmupSteps;
  const sinceWarmup = step - s.warmupSteps;
  switch (s.name) {
    case 'constant':
      return peakLr;
    case 'step':
      return peakLr * s.gamma ** Math.floor(sinceWarmup / s.stepSize);
    case 'cosine': {
      const span = s.totalSteps - s.warmupSteps;
      const progress = span > 0 ? Math.min(1, sinceWarmup / span) : 1;
      return s.minLr + ((peakLr - s.minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
    }
  }
}
