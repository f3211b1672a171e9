/**
 * Warnings about settings that are valid but do not do what they were given for, once the run's
 * shape (cores, steps per epoch, total steps, the schedule) is known; the options' own no-effect
 * rules that need only the config are in defaults.ts (trainNoEffectRules).
 */
import type { ScheduleConfig } from '../optim/index.js';
import { flagOf, type TrainConfig } from './config.js';
import { defaultOf } from './defaults.js';
import { inertOptions, type NoEffectRule } from './option-effects.js';

interface Logger {
  warn(fields: object, message: string): void;
}

export interface RunShape {
  cores: number;
  /** Fixed steps per epoch, or null with --batch-size auto (the batch size, and so the steps, change). */
  stepsPerEpoch: number | null;
  totalSteps: number;
  hasValidation: boolean;
  /** The learning-rate schedule in steps (with --batch-size auto, base-batch steps), and the rate it starts from. */
  schedule: ScheduleConfig;
  peakLr: number;
}

/** `given`: the options typed for this run (a resumed run's others were warned about when given). */
export function warnAboutRunSettings(config: TrainConfig, given: ReadonlySet<string>, shape: RunShape, log: Logger): void {
  // More worker threads than cores share them, and every step waits for the slowest: slower, not faster.
  if (config.engine === 'threads' && typeof config.workers === 'number' && config.workers > shape.cores) {
    log.warn({ workers: config.workers, cores: shape.cores }, `--workers ${config.workers} is more than this machine's ${shape.cores} cores: the threads share them and each step waits for the slowest, so this run is slower than with --workers ${shape.cores} or auto (the model is the same up to float rounding)`);
  }
  const why = given.has('evalEvery') ? inertEvalEvery(config.evalEvery, shape) : null;
  if (why !== null) log.warn({ evalEvery: config.evalEvery, totalSteps: shape.totalSteps }, `--eval-every ${config.evalEvery} has no effect: ${why}`);
  warnAboutSchedule(config, given, shape, log);
}

/**
 * Schedule options that the run is too short for: a step decay that never comes, a warmup that
 * outlasts the run, a cosine floor not below the rate it starts from. Not marked as option
 * warnings (warningFields): they depend on each run's steps, so a sweep's runs each say theirs.
 */
function warnAboutSchedule(config: TrainConfig, given: ReadonlySet<string>, shape: RunShape, log: Logger): void {
  const { warmupSteps, totalSteps } = shape.schedule;
  const decay = (c: TrainConfig) => (c.lrSchedule === 'step' ? stepNeverDecays(shape) : null);
  const inert = (rules: NoEffectRule<TrainConfig>[]) => inertOptions(rules, config, given, (key) => defaultOf(key, config), flagOf);
  // One warning for one cause: the decay options given, else the schedule itself (--step-epochs' default 10 is --epochs' default).
  const warnings = inert([{ option: 'stepEpochs', inert: decay }, { option: 'gamma', inert: decay }]);
  for (const w of warnings.length > 0 ? warnings : inert([{ option: 'lrSchedule', inert: decay }])) log.warn({ option: w.flag, value: w.value, totalSteps }, w.message);

  if (given.has('warmupEpochs') && warmupSteps > 0 && warmupSteps >= totalSteps) {
    const reached = Number(((shape.peakLr * totalSteps) / warmupSteps).toPrecision(3));
    const after = config.lrSchedule === 'constant' ? '' : `, and --lr-schedule ${config.lrSchedule} never starts`;
    log.warn(
      { warmupEpochs: config.warmupEpochs, warmupSteps, totalSteps },
      `--warmup-epochs ${config.warmupEpochs} lasts the whole run: the warmup takes ${warmupSteps} steps and the run has ${totalSteps}, so the rate only rises, to ${reached} of the peak ${shape.peakLr} at the last step${after} — ${fewerEpochs('--warmup-epochs', totalSteps, shape)}`,
    );
  }
  if (given.has('minLr') && config.lrSchedule === 'cosine' && config.minLr >= shape.peakLr) {
    const effect = config.minLr === shape.peakLr ? 'keeps the rate constant' : `raises the rate towards ${config.minLr} instead of lowering it`;
    log.warn({ minLr: config.minLr, peakLr: shape.peakLr }, `--min-lr ${config.minLr} is not below the peak learning rate ${shape.peakLr}: the cosine schedule ${effect} — give --min-lr below ${shape.peakLr}`);
  }
}

/** Why the step schedule never multiplies the rate by --gamma in this run, or null when it does. */
function stepNeverDecays(shape: RunShape): string | null {
  const { warmupSteps, stepSize, totalSteps } = shape.schedule;
  // The rate first drops after warmupSteps + stepSize steps (learningRate in optim/schedule.ts).
  if (warmupSteps + stepSize < totalSteps) return null;
  const room = totalSteps - warmupSteps;
  const fix = room <= 0 ? 'give fewer --warmup-epochs' : fewerEpochs('--step-epochs', room, shape);
  return `the rate would first drop after ${warmupSteps + stepSize} steps and the run has ${totalSteps}; ${fix}`;
}

/** "give FLAG below E" with E the epochs of `steps` steps, or "give fewer FLAG" when epochs have no fixed steps (--batch-size auto). */
function fewerEpochs(flag: string, steps: number, shape: RunShape): string {
  return shape.stepsPerEpoch === null ? `give fewer ${flag}` : `give ${flag} below ${Number((steps / shape.stepsPerEpoch).toPrecision(3))}`;
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
