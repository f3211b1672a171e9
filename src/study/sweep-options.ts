/**
 * A sweep's options: SweepOptions as given (API or CLI), their defaults, and resolveSweepOptions,
 * which checks them (every message names the CLI flag), resolves the training options every run
 * shares and collects the options that have no effect; and targetCheck, how the resolved sweep
 * checks its target, in words for results.json and the report.
 */
import { ConfigError, shown } from '../errors.js';
import {
  availableCores,
  flagOf,
  inertOptions,
  resolveTrainConfig,
  resolveTrainOptions,
  type NoEffectRule,
  type OptionWarning,
  type TrainConfig,
} from '../train/index.js';
import { parseTarget, TARGET_NAMES, type Target } from './sweep-target.js';
import { SWEEP_DEFAULTS, sweepLrRules, type SweepLrRule } from './sweep-defaults.js';


export interface SweepOptions {
  /** Global batch sizes; 'full' = the whole training split. */
  batchSizes: (number | 'full')[];
  /** e.g. "val_acc=0.95" or a parsed Target. */
  target: string | Target;
  /** Epoch budget of each run. */
  maxEpochs: number;
  /** none | linear | sqrt (train()'s rules, from `train.lr` at `train.baseBatchSize`) | tuned. */
  lrRule?: SweepLrRule;
  /** Runs per configuration, with seeds train.seed, train.seed + 1, ... (default 1). */
  seeds?: number;
  /** The sweep directory. One that already holds a sweep is refused, unless `resume` or `overwrite`. */
  out: string;
  /** Continue the sweep in `out`: runs finished with the same configuration are read back, the others trained. */
  resume?: boolean;
  /** Delete the sweep already in `out` (sweep.json, results.json, results.csv, report.html, runs/) first. */
  overwrite?: boolean;
  /** tuned: rates per batch size (default 5, at least 2). */
  lrTrials?: number;
  /** tuned: ratio of neighbouring rates (default 2, > 1). */
  lrFactor?: number;
  /** Every other training option (dataset, model, lr, optimizer, ...); not batchSize, epochs, out, lrRule. */
  train?: Partial<TrainConfig>;
  /** Rows used to measure B_simple at fixed parameters (default 1024; 0 = do not measure). */
  gnsSamples?: number;
  /**
   * Validations per epoch for every batch size: each run gets evalEvery = ceil(steps per epoch / K),
   * so steps-to-target is resolved to about 1/K epoch at every B (default 0: the training option
   * evalEvery as given, 0 = epoch ends only). Validation targets only.
   */
  evalsPerEpoch?: number;
}

export interface ResolvedSweepOptions {
  batchSizes: (number | 'full')[];
  target: Target;
  maxEpochs: number;
  lrRule: SweepLrRule;
  seeds: number;
  out: string;
  lrTrials: number;
  lrFactor: number;
  gnsSamples: number;
  evalsPerEpoch: number;
  resume: boolean;
  overwrite: boolean;
  train: TrainConfig;
  /** Given options (the sweep's and the training options) that have no effect, to warn about once. */
  warnings: OptionWarning[];
}

/** The sweep's own "option X has no effect when Y" rules (train's are trainNoEffectRules). */
export const sweepNoEffectRules: readonly NoEffectRule<ResolvedSweepOptions>[] = [
  { option: 'lrTrials', inert: (o) => (o.lrRule === 'tuned' ? null : `it applies to --lr-rule tuned (this sweep: ${o.lrRule})`) },
  { option: 'lrFactor', inert: (o) => (o.lrRule === 'tuned' ? null : `it applies to --lr-rule tuned (this sweep: ${o.lrRule})`) },
  { option: 'evalsPerEpoch', inert: (o) => (o.target.metric.startsWith('val') ? null : `--target ${o.target.text} is a training metric (an epoch mean), checked at epoch ends only`) },
];

function bad(flag: string, value: unknown, expected: string): ConfigError {
  return new ConfigError('badOption', `${flag} must be ${expected} (got ${shown(value)})`);
}

/** Validates the options; every message names the CLI flag. */
export function resolveSweepOptions(options: SweepOptions): ResolvedSweepOptions {
  const o = options ?? ({} as SweepOptions);
  const { target, lrRule, seeds, lrTrials, lrFactor, gnsSamples, evalsPerEpoch, resume, overwrite } = checkSweepFlags(o);
  const given = o.train ?? {};
  for (const [key, flag] of [['batchSize', '--batch-sizes'], ['epochs', '--max-epochs'], ['out', '--out'], ['lrRule', '--lr-rule'], ['resume', '--resume'], ['overwrite', '--overwrite']] as const) {
    if (given[key] !== undefined) {
      throw new ConfigError('badOption', `a sweep sets the training option "${key}" itself from ${flag}; leave it out of the training options`);
    }
  }
  const trainConfig = resolveTrainConfig({ ...given, epochs: o.maxEpochs });
  // The sweep logs B_simple along its runs, which needs two or more gradient slots: --workers auto
  // (which may choose the inline engine for small steps) stays one worker thread per core here.
  if (trainConfig.workers === 'auto') trainConfig.workers = availableCores();
  // Train's inert options, judged with the sweep's learning-rate rule (tuned scales from the base batch too).
  const trainWarnings = resolveTrainOptions({ ...given, epochs: o.maxEpochs, lrRule: lrRule === 'tuned' ? 'linear' : lrRule }).warnings;
  if (target.metric.startsWith('val') && trainConfig.valSplit === 0) {
    throw new ConfigError('badOption', `--target ${target.text} needs a validation set, but --val-split is 0 — use a train_ target or --val-split > 0`);
  }
  if (evalsPerEpoch > 0) {
    if (trainConfig.evalEvery > 0) {
      throw new ConfigError('badOption', `--evals-per-epoch ${evalsPerEpoch} and --eval-every ${trainConfig.evalEvery} both set the validation cadence — give one of them`);
    }
  }
  const resolved: ResolvedSweepOptions = { batchSizes: [...o.batchSizes], target, maxEpochs: o.maxEpochs, lrRule, seeds, out: o.out, lrTrials, lrFactor, gnsSamples, evalsPerEpoch, resume, overwrite, train: trainConfig, warnings: [] };
  const sweepGiven = new Set(Object.entries(o).flatMap(([key, value]) => (value === undefined ? [] : [key])));
  const sweepWarnings = inertOptions(sweepNoEffectRules, resolved, sweepGiven, (key) => (SWEEP_DEFAULTS as Record<string, unknown>)[key], sweepFlagOf);
  return { ...resolved, evalsPerEpoch: target.metric.startsWith('val') ? evalsPerEpoch : 0, warnings: [...sweepWarnings, ...trainWarnings] };
}

/** The sweep's own options, checked in the order of the flags, with their defaults filled in. */
function checkSweepFlags(o: SweepOptions) {
  if (!Array.isArray(o.batchSizes) || o.batchSizes.length === 0) {
    throw bad('--batch-sizes', o.batchSizes, 'a comma-separated list of positive integers or "full", e.g. 1,4,16,64,full');
  }
  for (const b of o.batchSizes) {
    if (b !== 'full' && !(Number.isSafeInteger(b) && b >= 1)) {
      throw bad('--batch-sizes', b, 'positive integers or "full"');
    }
  }
  if (new Set(o.batchSizes).size !== o.batchSizes.length) {
    throw new ConfigError('badOption', `--batch-sizes lists a batch size twice (${o.batchSizes.join(',')})`);
  }
  const target = typeof o.target === 'string' ? parseTarget(o.target) : o.target;
  if (!target || !Object.values(TARGET_NAMES).includes(target.metric) || !Number.isFinite(target.value)) {
    throw bad('--target', o.target, 'METRIC=VALUE, e.g. val_acc=0.95');
  }
  if (!(Number.isSafeInteger(o.maxEpochs) && o.maxEpochs >= 1)) throw bad('--max-epochs', o.maxEpochs, 'a positive integer');
  const lrRule = o.lrRule ?? SWEEP_DEFAULTS.lrRule;
  if (!sweepLrRules.includes(lrRule)) throw bad('--lr-rule', lrRule, `one of ${sweepLrRules.join(', ')}`);
  const seeds = o.seeds ?? SWEEP_DEFAULTS.seeds;
  if (!(Number.isSafeInteger(seeds) && seeds >= 1 && seeds <= 1000)) throw bad('--seeds', seeds, 'an integer from 1 to 1000 (the number of seeds)');
  if (typeof o.out !== 'string' || o.out.length === 0) throw bad('--out', o.out, 'a directory for the sweep');
  const lrTrials = o.lrTrials ?? SWEEP_DEFAULTS.lrTrials;
  if (!(Number.isSafeInteger(lrTrials) && lrTrials >= 2 && lrTrials <= 50)) throw bad('--lr-trials', lrTrials, 'an integer from 2 to 50');
  const lrFactor = o.lrFactor ?? SWEEP_DEFAULTS.lrFactor;
  if (!(typeof lrFactor === 'number' && Number.isFinite(lrFactor) && lrFactor > 1 && lrFactor <= 100)) throw bad('--lr-factor', lrFactor, 'a number in (1, 100]');
  const gnsSamples = o.gnsSamples ?? SWEEP_DEFAULTS.gnsSamples;
  if (!(Number.isSafeInteger(gnsSamples) && gnsSamples >= 0)) throw bad('--gns-samples', gnsSamples, 'an integer ≥ 0');
  const evalsPerEpoch = o.evalsPerEpoch ?? SWEEP_DEFAULTS.evalsPerEpoch;
  if (!(Number.isSafeInteger(evalsPerEpoch) && evalsPerEpoch >= 0 && evalsPerEpoch <= 10_000)) throw bad('--evals-per-epoch', evalsPerEpoch, 'an integer from 0 to 10000');
  const resume = o.resume ?? false;
  const overwrite = o.overwrite ?? false;
  if (typeof resume !== 'boolean') throw bad('--resume', resume, 'true or false');
  if (typeof overwrite !== 'boolean') throw bad('--overwrite', overwrite, 'true or false');
  if (resume && overwrite) {
    throw new ConfigError('badOption', '--resume continues the sweep in --out, --overwrite deletes it — give one of them');
  }
  return { target, lrRule, seeds, lrTrials, lrFactor, gnsSamples, evalsPerEpoch, resume, overwrite };
}

/** The sweep's flag for an option (its own names differ from train's in a few places). */
function sweepFlagOf(key: string): string {
  return key === 'maxEpochs' ? '--max-epochs' : flagOf(key);
}

/**
 * How a sweep checks its target, in words: where it is checked, then (after ';') how steps-to-target
 * follow from that. The first clause is plain enough for the results table's header.
 */
export const TARGET_CHECK =
  'at every epoch end; steps-to-target is the step count at the first epoch end that meets the target: an upper bound resolved to one epoch of ceil(N/B) steps';

/** How this sweep checks its target, for results.json, the report and the results table. */
export function targetCheck(opts: Pick<ResolvedSweepOptions, 'target' | 'evalsPerEpoch' | 'train'>): string {
  if (!opts.target.metric.startsWith('val')) return TARGET_CHECK.replace(';', '; a training metric is a mean over the epoch, so it is known there only;');
  if (opts.evalsPerEpoch > 0) {
    const K = opts.evalsPerEpoch;
    return `about ${K} times per epoch and at every epoch end; --evals-per-epoch ${K} validates every ceil(ceil(N/B)/${K}) steps; steps-to-target is the step count at the first validation that meets the target: an upper bound resolved to about 1/${K} epoch (exactly, for batch sizes of fewer than ${K} steps per epoch, where every step is validated)`;
  }
  if (opts.train.evalEvery > 0) {
    const N = opts.train.evalEvery;
    return `every ${N} steps and at every epoch end; --eval-every ${N} sets the validation cadence; steps-to-target is the step count at the first validation that meets the target: an upper bound resolved to ${N} steps, or one epoch where an epoch is shorter`;
  }
  return TARGET_CHECK;
}
