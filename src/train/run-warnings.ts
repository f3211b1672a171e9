/**
 * Warnings about settings that are valid but do not do what they were given for, once the run's
 * shape (cores, steps per epoch, total steps) is known; the options' own no-effect rules that need
 * only the config are in defaults.ts (trainNoEffectRules).
 */
import type { TrainConfig } from './config.js';

interface Logger {
  warn(fields: object, message: string): void;
}

export interface RunShape {
  cores: number;
  /** Fixed steps per epoch, or null with --batch-size auto (the batch size, and so the steps, change). */
  stepsPerEpoch: number | null;
  totalSteps: number;
  hasValidation: boolean;
}

/** `given`: the options typed for this run (a resumed run's others were warned about when given). */
export function warnAboutRunSettings(config: TrainConfig, given: ReadonlySet<string>, shape: RunShape, log: Logger): void {
  // More worker threads than cores share them, and every step waits for the slowest: slower, not faster.
  if (config.engine === 'threads' && typeof config.workers === 'number' && config.workers > shape.cores) {
    log.warn({ workers: config.workers, cores: shape.cores }, `--workers ${config.workers} is more than this machine's ${shape.cores} cores: the threads share them and each step waits for the slowest, so this run is slower than with --workers ${shape.cores} or auto (the model is the same up to float rounding)`);
  }
  const why = given.has('evalEvery') ? inertEvalEvery(config.evalEvery, shape) : null;
  if (why !== null) log.warn({ evalEvery: config.evalEvery, totalSteps: shape.totalSteps }, `--eval-every ${config.evalEvery} has no effect: ${why}`);
}

/** Why --eval-every validates at no step within an epoch, or null when it does (or is off). */
function inertEvalEvery(every: number, shape: RunShape): string | null {
  // Without validation data, defaults.ts already warned; with --batch-size auto the steps are not known.
  const perEpoch = shape.stepsPerEpoch;
  if (every <= 0 || !shape.hasValidation || perEpoch === null) return null;
  const below = Math.min(shape.totalSteps, perEpoch);
  if (every >= shape.totalSteps) return `the run has ${shape.totalSteps} steps, so it validates at epoch ends only; give a number below ${below}`;
  if (every % perEpoch === 0) return `${every} steps are a whole number of epochs (${perEpoch} steps each), whose ends validate anyway; give a number below ${below}`;
  return null;
}
