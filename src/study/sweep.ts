/**
 * Batch-size sweeps (docs/batch-size.md; the protocol of Shallue et al. 2018, "Measuring the
 * Effects of Data Parallelism on Neural Network Training"): train once per (batch size, seed[,
 * learning rate]) until a target metric is met or a budget of epochs runs out, then report steps,
 * epochs, samples and seconds to the target, fit S(B) = S_min + E_min/B and classify each B's
 * scaling regime.
 *
 * The target is checked wherever train() validates: at every epoch end, and within epochs every
 * --eval-every steps (or --evals-per-epoch times per epoch, the sweep's per-B cadence). So
 * steps-to-target are the step count at the first validation that meets it: an upper bound,
 * resolved to the validation interval (at epoch ends only: ceil(N/B) steps, coarse at B = 1).
 * Training targets (train_loss, train_acc) are epoch means and are checked at epoch ends only.
 * A run stops as soon as it meets the target, so its "final" metrics are those at the target.
 *
 * Layout of the sweep directory:
 *   sweep.json            the sweep's options
 *   runs/<id>/            one train() run directory each (config.json, metrics.jsonl, summary.json,
 *                         final.safetensors) plus outcome.json (the sweep's notes on that run)
 *   results.json, results.csv
 * A sweep is resumable (`resume`): a run whose outcome.json and config.json match the planned
 * configuration is read back instead of trained again. Without `resume` (or `overwrite`, which
 * deletes it first), an `out` that holds a sweep is refused, so old and new runs never mix.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  applyStandardization,
  datasetHash,
  fitStandardization,
  loadDataset,
  splitDataset,
  stepsPerEpoch as countStepsPerEpoch,
  type Dataset,
} from '../data/index.js';
import { ConfigError, DptrainError, shown } from '../errors.js';
import { median, plural } from '../util/index.js';
import { makeOutputDir, writeFileAtomic } from '../io/index.js';
import { initParams, Model, paramLayout, parseModelSpec, type ModelSpec } from '../model/index.js';
import {
  availableCores,
  DEFAULT_GNS_BETA,
  defaultModelFor,
  sizeModelToData,
  flagOf,
  inertOptions,
  isOptionWarning,
  loadParameters,
  outWriteError,
  runFilesIn,
  resolveTrainConfig,
  resolveTrainOptions,
  train,
  warningFields,
  type NoEffectRule,
  type OptionWarning,
  type Callback,
  type RunInfo,
  type StepRecord,
  type TrainConfig,
  type TrainLogger,
} from '../train/index.js';
import { classifyRegime, fitScaling, scalingEfficiency, type Regime, type ScalingFit } from './fit.js';
import { readJson, readRunMetrics, readSummary, type Checkpoint, type GnsPoint } from './metrics.js';
import { measureNoiseScale } from './noise.js';

// ---------------------------------------------------------------------------------------------
// Options

export type TargetMetric = 'valAccuracy' | 'valLoss' | 'trainAccuracy' | 'trainLoss';

export interface Target {
  metric: TargetMetric;
  value: number;
  /** As the user wrote it, e.g. "val_acc=0.95". */
  text: string;
}

const TARGET_NAMES: Record<string, TargetMetric> = {
  val_acc: 'valAccuracy',
  val_accuracy: 'valAccuracy',
  val_loss: 'valLoss',
  train_acc: 'trainAccuracy',
  train_accuracy: 'trainAccuracy',
  train_loss: 'trainLoss',
};

/** `val_acc=0.95`, `train_loss=0.1`, `val_loss=..`, `train_acc=..` (ConfigError naming --target). */
export function parseTarget(text: string): Target {
  const match = /^\s*([a-z_]+)\s*=\s*(\S+)\s*$/.exec(String(text));
  const metric = match ? TARGET_NAMES[match[1]] : undefined;
  if (!match || !metric) {
    throw new ConfigError('badOption', `--target must be METRIC=VALUE with METRIC one of val_acc, val_loss, train_loss, train_acc, e.g. val_acc=0.95 (got ${shown(text)})`);
  }
  const value = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(match[2]) ? Number(match[2]) : Number.NaN;
  const isAccuracy = metric.endsWith('Accuracy');
  if (!Number.isFinite(value) || (isAccuracy ? !(value > 0 && value <= 1) : !(value > 0))) {
    throw new ConfigError('badOption', `--target ${match[1]} must be ${isAccuracy ? 'an accuracy in (0, 1]' : 'a loss > 0'} (got ${shown(match[2])})`);
  }
  return { metric, value, text: `${match[1]}=${match[2]}` };
}

/**
 * Whether a record meets the target (accuracies from above, losses from below): an epoch record,
 * an eval record (validation metrics only) or a Checkpoint.
 */
export function meetsTarget(record: Partial<Record<TargetMetric, number | null>>, target: Target): boolean {
  const value = record[target.metric];
  if (value === null || value === undefined || !Number.isFinite(value)) return false;
  return target.metric.endsWith('Accuracy') ? value >= target.value : value <= target.value;
}

export type SweepLrRule = 'none' | 'linear' | 'sqrt' | 'tuned';
export const sweepLrRules: readonly SweepLrRule[] = ['none', 'linear', 'sqrt', 'tuned'];

/** Defaults of the sweep's own options, in one place. */
export const SWEEP_DEFAULTS = Object.freeze({
  seeds: 1,
  lrRule: 'none' as SweepLrRule,
  /** Learning rates tried per batch size under `tuned` (the same budget for every B). */
  lrTrials: 5,
  /** Ratio of neighbouring rates on the tuned grid. */
  lrFactor: 2,
  /** Rows drawn to measure B_simple at the start and end of each run. */
  gnsSamples: 1024,
  /** Validations per epoch at every B (0 = the training option evalEvery as given). */
  evalsPerEpoch: 0,
});

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

/** The sweep's flag for an option (its own names differ from train's in a few places). */
function sweepFlagOf(key: string): string {
  return key === 'maxEpochs' ? '--max-epochs' : flagOf(key);
}

// ---------------------------------------------------------------------------------------------
// The plan

export interface PlannedRun {
  /** Directory name under runs/, e.g. "b64-seed0" or "b64-seed0-lr0.1". */
  id: string;
  dir: string;
  /** As listed in --batch-sizes. */
  batchSize: number | 'full';
  resolvedBatchSize: number;
  seed: number;
  /** The rate on the tuned grid; null for the other rules (train() scales --lr). */
  gridLr: number | null;
  /** The options passed to train(). */
  config: Partial<TrainConfig>;
}

function fmtLr(lr: number): string {
  return String(Number(lr.toPrecision(4)));
}

/**
 * The tuned grid for batch size B: `trials` rates a factor `factor` apart, centred (in log scale)
 * on ε₀(B/B₀)^¾, the geometric mean of the linear-rule prediction ε₀B/B₀ and the square-root one
 * ε₀√(B/B₀). Shallue et al.'s protocol centres the grid on the linear prediction and extends it to
 * the square-root one; with a fixed budget per B, centring between the two spans both whenever
 * they are less than factor^(trials−1) apart. Rates are rounded to 4 significant digits.
 */
export function lrGrid(baseLr: number, batchSize: number, baseBatchSize: number, trials: number, factor: number): number[] {
  const centre = baseLr * Math.pow(batchSize / baseBatchSize, 0.75);
  return Array.from({ length: trials }, (_, k) => Number((centre * Math.pow(factor, k - (trials - 1) / 2)).toPrecision(4)));
}

/** --evals-per-epoch K: validate every ceil(stepsPerEpoch / K) steps (0 when that is the whole epoch: its end validates). */
export function evalInterval(stepsPerEpoch: number, evalsPerEpoch: number): number {
  const every = Math.max(1, Math.ceil(stepsPerEpoch / evalsPerEpoch));
  return every >= stepsPerEpoch ? 0 : every;
}

export function planRuns(options: ResolvedSweepOptions, trainSamples: number): PlannedRun[] {
  const runs: PlannedRun[] = [];
  const base = options.train;
  const resolved = options.batchSizes.map((b) => (b === 'full' ? trainSamples : b));
  for (const [i, b] of resolved.entries()) {
    if (b > trainSamples) {
      throw new ConfigError('badOption', `--batch-sizes lists ${b}, more than the ${trainSamples} training samples — use at most ${trainSamples}, or "full"`);
    }
    const twin = resolved.indexOf(b);
    if (twin !== i) {
      throw new ConfigError('badOption', `--batch-sizes lists ${options.batchSizes[twin]} and ${options.batchSizes[i]}, which are the same batch size (${b}) here`);
    }
  }
  for (const [i, batchSize] of options.batchSizes.entries()) {
    const B = resolved[i];
    const evalEvery = options.evalsPerEpoch > 0 ? evalInterval(countStepsPerEpoch(trainSamples, B, base.dropLast), options.evalsPerEpoch) : base.evalEvery;
    const grid = options.lrRule === 'tuned' ? lrGrid(base.lr, B, base.baseBatchSize, options.lrTrials, options.lrFactor) : [null];
    for (const gridLr of grid) {
      for (let s = 0; s < options.seeds; s++) {
        const seed = base.seed + s;
        const id = `b${batchSize}-seed${seed}${gridLr === null ? '' : `-lr${fmtLr(gridLr)}`}`;
        const dir = path.join(options.out, 'runs', id);
        const { out: _out, ...rest } = base;
        const config: Partial<TrainConfig> = {
          ...rest,
          batchSize,
          epochs: options.maxEpochs,
          seed,
          lr: gridLr ?? base.lr,
          lrRule: options.lrRule === 'tuned' ? 'none' : options.lrRule,
          evalEvery,
          // The report reads every step's loss and noise scale (study/metrics.ts), unless --log-every says otherwise.
          logEvery: base.logEvery > 0 ? base.logEvery : 1,
          out: dir,
        };
        runs.push({ id, dir, batchSize, resolvedBatchSize: B, seed, gridLr, config });
      }
    }
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------
// One run's outcome

export type RunStatus = 'reached' | 'not reached' | 'diverged';

export interface RunOutcome {
  id: string;
  dir: string;
  batchSize: number | 'full';
  resolvedBatchSize: number;
  seed: number;
  /** The peak learning rate the run used (after the rule's scaling). */
  lr: number;
  gridLr: number | null;
  status: RunStatus;
  /** At the first validation (eval record or epoch end) meeting the target; null unless reached. */
  stepsToTarget: number | null;
  /** samplesToTarget / N: fractional when the target was met within an epoch. */
  epochsToTarget: number | null;
  samplesToTarget: number | null;
  /** Training wall time up to the target: the steps' `ms` summed (validation excluded). */
  secondsToTarget: number | null;
  /** What the target was met at: an eval record within an epoch, or an epoch end. */
  targetAt: 'eval' | 'epoch' | null;
  stepsRun: number;
  epochsRun: number;
  final: { trainLoss: number | null; trainAccuracy: number | null; valLoss: number | null; valAccuracy: number | null };
  samplesPerSec: number | null;
  meanStepMs: number | null;
  /** B_simple measured at fixed parameters (measureNoiseScale) at the start and the end. */
  bSimpleStart: number | null;
  bSimpleEnd: number | null;
  /** B_simple logged in metrics.jsonl (`gns`) at the target (or the end when not reached). */
  bSimpleLogged: number | null;
  /** Thinned series of the logged `gns` (empty when no step had two slots holding samples). */
  gnsLogged: GnsPoint[];
  /** What measured the logged series: the engine, its workers, --reduce-chunks, and the gradient slots holding samples in a full step. */
  gnsSetup: GnsSetup;
  /** True when read back from an earlier sweep instead of trained now. */
  resumed: boolean;
  error: string | null;
}

/** The gradient slots a step's noise-scale estimate comes from (docs/batch-size.md; src/train/gns.ts). */
export interface GnsSetup {
  engine: string;
  workers: number;
  reduceChunks: number;
  /** Slots holding samples in a full step: min(reduceChunks or workers, B). B_simple needs ≥ 2. */
  slots: number;
}

/** What the sweep stores beside train()'s files, to resume without measuring again. */
interface OutcomeFile {
  config: Record<string, unknown>;
  datasetHash: string;
  status: 'finished' | 'diverged';
  /** True when the sweep stopped the run because it met the target (then later epochs are unknown). */
  stoppedAtTarget: boolean;
  lr: number;
  error: string | null;
  bSimpleStart: number | null;
  bSimpleEnd: number | null;
  gnsSamples: number;
}

function comparableConfig(config: Partial<TrainConfig> | Record<string, unknown>): Record<string, unknown> {
  const { out: _out, overwrite: _overwrite, resolved: _resolved, ...rest } = resolveTrainConfig(
    Object.fromEntries(Object.entries(config).filter(([k]) => k !== 'resolved')) as Partial<TrainConfig>,
  ) as TrainConfig & { resolved?: unknown };
  return JSON.parse(JSON.stringify(rest));
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---------------------------------------------------------------------------------------------
// Results

export interface BatchSizeResult {
  batchSize: number | 'full';
  resolvedBatchSize: number;
  stepsPerEpoch: number;
  /** The chosen peak learning rate (tuned: the grid rate with the fewest median steps). */
  lr: number | null;
  lrGrid: number[] | null;
  seeds: number;
  reachedSeeds: number;
  /** Medians over seeds at the chosen rate (a seed that missed counts as infinitely slow). */
  reached: boolean;
  stepsToTarget: number | null;
  epochsToTarget: number | null;
  samplesToTarget: number | null;
  secondsToTarget: number | null;
  /** [min, max] of steps-to-target over the seeds that reached it. */
  stepsRange: [number, number] | null;
  final: RunOutcome['final'];
  samplesPerSec: number | null;
  meanStepMs: number | null;
  bSimpleStart: number | null;
  bSimpleEnd: number | null;
  /** Logged B_simple at the target (median over seeds); null when not measurable. */
  bSimpleLogged: number | null;
  /** Gradient slots holding samples per step; below 2 B_simple is not measurable (B = 1, or one worker without --reduce-chunks). */
  gnsSlots: number;
  /** [S(B₀)/S(B)] / (B/B₀) against the smallest batch size that reached the target. */
  efficiency: number | null;
  regime: Regime | null;
  /** The fitted S(B) at this B. */
  fittedSteps: number | null;
  /** Run ids at the chosen rate. */
  runs: string[];
}

export interface SweepResults {
  format: 'dptrain-sweep-results-v1';
  target: Target;
  /** How steps-to-target are measured. */
  targetCheck: string;
  maxEpochs: number;
  lrRule: SweepLrRule;
  seeds: number[];
  lrTrials: number | null;
  lrFactor: number | null;
  baseLr: number;
  baseBatchSize: number;
  dataset: string;
  model: string;
  trainSamples: number;
  optimizer: string;
  momentum: number;
  fit: ScalingFit | null;
  fitNote: string | null;
  /** How B_simple was obtained. */
  bSimpleSource: string;
  /** The engine, workers and --reduce-chunks of the runs that logged B_simple (null when none did). */
  gns: (Omit<GnsSetup, 'slots'> & { beta: number }) | null;
  batchSizes: BatchSizeResult[];
  runs: RunOutcome[];
  warnings: string[];
  /** Present when the sweep was interrupted: the run stopped mid-way (null: between runs), and the batch sizes that did and did not finish. */
  interrupted?: { run: string | null; finished: (number | 'full')[]; unfinished: (number | 'full')[] };
}

export interface SweepHooks {
  logger?: TrainLogger;
  /** Before the first run: the whole plan. */
  onPlan?(runs: readonly PlannedRun[]): void;
  onRunStart?(run: PlannedRun, index: number, total: number): void;
  /** train()'s step callback, for progress. */
  onStep?(record: StepRecord, run: PlannedRun, info: RunInfo): void;
  onRunEnd?(outcome: RunOutcome, index: number, total: number): void;
  /**
   * Stops the sweep when aborted (Ctrl-C in the CLI): the run in progress stops at its next step
   * and is written as interrupted (no outcome.json, so a later sweep into the same directory
   * trains it again); results.json and results.csv hold the batch sizes whose runs all finished.
   */
  signal?: AbortSignal;
}

const silent: TrainLogger = { info() {}, warn() {} };

export const TARGET_CHECK =
  'at every epoch end (train() evaluates there); steps-to-target is the step count at the first epoch end that meets the target: an upper bound resolved to one epoch of ceil(N/B) steps';

/** How this sweep checks its target, for results.json and the report. */
export function targetCheck(opts: Pick<ResolvedSweepOptions, 'target' | 'evalsPerEpoch' | 'train'>): string {
  if (!opts.target.metric.startsWith('val')) return `${TARGET_CHECK} (a training metric is an epoch mean, so epoch ends are where it is checked)`;
  if (opts.evalsPerEpoch > 0) {
    return `about ${opts.evalsPerEpoch} times per epoch (--evals-per-epoch ${opts.evalsPerEpoch}: every ceil(ceil(N/B)/${opts.evalsPerEpoch}) steps) and at every epoch end; steps-to-target is the step count at the first validation that meets the target: an upper bound resolved to about 1/${opts.evalsPerEpoch} epoch (exactly, for batch sizes of fewer than ${opts.evalsPerEpoch} steps per epoch, where every step is validated)`;
  }
  if (opts.train.evalEvery > 0) {
    return `every ${opts.train.evalEvery} steps within an epoch (--eval-every ${opts.train.evalEvery}) and at every epoch end; steps-to-target is the step count at the first validation that meets the target: an upper bound resolved to ${opts.train.evalEvery} steps, or one epoch where an epoch is shorter`;
  }
  return TARGET_CHECK;
}

/** Runs a batch-size sweep; see the module comment. Writes results.json and results.csv under `out`. */
export async function sweep(options: SweepOptions, hooks: SweepHooks = {}): Promise<SweepResults> {
  const opts = resolveSweepOptions(options);
  const log = hooks.logger ?? silent;
  const base = opts.train;

  // Data: loaded once and handed to every run; the training split of a seed is rebuilt here as
  // train() builds it, to measure B_simple on the same rows.
  const data = await loadDataset(base.dataset, { dataDir: base.dataDir ?? undefined, mirror: base.dataMirror ?? undefined });
  const hash = datasetHash(data);
  if (opts.target.metric.endsWith('Accuracy') && data.task !== 'classification') {
    throw new ConfigError('badOption', `--target ${opts.target.text} needs a classification dataset, but ${base.dataset} is ${data.task} — use a loss target such as train_loss=0.1`);
  }
  const trainSamples = splitDataset(data, base.valSplit, base.seed).train.n;
  // Without --model, a model that fits the data (as train() chooses it).
  if (options.train?.model === undefined) base.model = defaultModelFor(data);
  else base.model = sizeModelToData(base.model, data);
  const spec = parseModelSpec(base.model);
  const runs = planRuns(opts, trainSamples);

  await claimSweepDir(opts, log);
  for (const warning of opts.warnings) log.warn(warningFields(warning), warning.message);
  await makeOutputDir(opts.out, '--out');
  await makeOutputDir(path.join(opts.out, 'runs'), '--out');
  await writeJsonFile(path.join(opts.out, 'sweep.json'), {
    batchSizes: opts.batchSizes,
    target: opts.target.text,
    maxEpochs: opts.maxEpochs,
    lrRule: opts.lrRule,
    seeds: opts.seeds,
    lrTrials: opts.lrRule === 'tuned' ? opts.lrTrials : null,
    lrFactor: opts.lrRule === 'tuned' ? opts.lrFactor : null,
    gnsSamples: opts.gnsSamples,
    evalsPerEpoch: opts.evalsPerEpoch,
    train: { ...base, out: null },
    datasetHash: hash,
    runs: runs.map((r) => r.id),
  });
  log.info({ runs: runs.length }, `sweep of ${plural(runs.length, 'run')} over batch sizes ${opts.batchSizes.join(', ')} to ${opts.target.text}, at most ${plural(opts.maxEpochs, 'epoch')} each; writing ${opts.out}`);
  hooks.onPlan?.(runs);

  const splits = new Map<number, Dataset>();
  const trainSplit = (seed: number): Dataset => {
    let split = splits.get(seed);
    if (!split) {
      split = splitDataset(data, base.valSplit, seed).train;
      if (base.standardize) split = applyStandardization(split, fitStandardization(split));
      splits.set(seed, split);
    }
    return split;
  };
  const model = new Model(spec);
  const startNoise = new Map<number, number | null>();
  const measure = (params: Float32Array, seed: number): number | null => {
    if (opts.gnsSamples === 0) return null;
    const m = measureNoiseScale(model, params, trainSplit(seed), { samples: opts.gnsSamples, seed });
    return m.bSimple;
  };

  const outcomes: RunOutcome[] = [];
  let interrupted: { run: string | null } | null = null;
  for (const [index, run] of runs.entries()) {
    if (hooks.signal?.aborted) {
      interrupted = { run: null };
      break;
    }
    hooks.onRunStart?.(run, index, runs.length);
    const planned = comparableConfig(run.config);
    let outcome: RunOutcome | null | 'interrupted' = await resumeRun(run, planned, hash, opts);
    if (outcome === null) {
      let bSimpleStart = startNoise.get(run.seed);
      if (bSimpleStart === undefined) {
        const initial = base.init ? await loadParameters(base.init, paramLayout(spec), spec.text) : (initParams(spec, run.seed) as Float32Array);
        bSimpleStart = measure(initial, run.seed);
        startNoise.set(run.seed, bSimpleStart);
      }
      outcome = await executeRun(run, planned, hash, opts, data, hooks, log, bSimpleStart, (params) => measure(params, run.seed));
    }
    if (outcome === 'interrupted') {
      interrupted = { run: run.id };
      break;
    }
    outcomes.push(outcome);
    hooks.onRunEnd?.(outcome, index, runs.length);
    log.info({ outcome: { ...outcome, gnsLogged: undefined } }, describeOutcome(outcome, opts, index, runs.length));
  }

  // Interrupted: only batch sizes whose every planned run finished are summarised.
  const finished = opts.batchSizes.filter((b) => runs.every((r) => r.batchSize !== b || outcomes.some((o) => o.id === r.id)));
  const results = summarize(opts, interrupted ? outcomes.filter((o) => finished.includes(o.batchSize)) : outcomes, { trainSamples, spec });
  if (interrupted) {
    results.interrupted = { run: interrupted.run, finished, unfinished: opts.batchSizes.filter((b) => !finished.includes(b)) };
    const list = (bs: (number | 'full')[]) => (bs.length > 0 ? bs.join(', ') : 'none');
    log.warn({ interrupted: results.interrupted }, `sweep interrupted${interrupted.run ? ` during run ${interrupted.run}` : ' between runs'}: finished batch sizes ${list(finished)}; not finished: ${list(results.interrupted.unfinished)}; results.json holds the finished ones`);
  }
  for (const warning of results.warnings) log.warn({}, warning);
  await writeJsonFile(path.join(opts.out, 'results.json'), results, ['sweep.json', 'the run directories']);
  await writeSweepFile(path.join(opts.out, 'results.csv'), new TextEncoder().encode(resultsCsv(results)), ['sweep.json', 'the run directories', 'results.json']);
  return results;
}

/** What a sweep writes into --out: what makes a directory "hold a sweep", and what --overwrite deletes. */
export const SWEEP_FILES = ['sweep.json', 'results.json', 'results.csv', 'report.html', 'runs'] as const;

/**
 * Refuses an --out that holds a sweep (unless resume), or deletes that sweep's files (overwrite);
 * an empty or missing directory, or one with other files, is fine.
 */
async function claimSweepDir(opts: ResolvedSweepOptions, log: TrainLogger): Promise<void> {
  const found: string[] = [];
  for (const name of SWEEP_FILES) {
    const stat = await fs.promises.stat(path.join(opts.out, name)).catch(() => null);
    if (stat === null || (stat.isDirectory() && (await fs.promises.readdir(path.join(opts.out, name))).length === 0)) continue;
    found.push(name);
  }
  if (found.length === 0 && opts.resume) log.warn({ out: opts.out }, `--resume has no effect: ${opts.out} holds no sweep yet, so every run is trained`);
  if (found.length === 0 || opts.resume) return;
  if (!opts.overwrite) {
    throw new ConfigError('outDirInUse', `--out ${opts.out} already holds a sweep (${found.join(', ')}) — continue it with --resume (finished runs of the same settings are read back), replace it with --overwrite, or choose another directory`);
  }
  await Promise.all(found.map((name) => fs.promises.rm(path.join(opts.out, name), { recursive: true, force: true })));
  log.warn({ out: opts.out, removed: found }, `--overwrite: removed the earlier sweep's ${found.map((name) => (name === 'runs' ? 'runs/' : name)).join(', ')} from ${opts.out}`);
}

async function writeJsonFile(file: string, value: unknown, written: string[] = []): Promise<void> {
  await writeSweepFile(file, new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n'), written);
}

/** An atomic write under --out; a file-system failure (disk full) is one `outWrite` line, not a stack trace. */
async function writeSweepFile(file: string, bytes: Uint8Array, written: string[] = []): Promise<void> {
  try {
    await writeFileAtomic(file, bytes);
  } catch (cause) {
    throw outWriteError(path.dirname(file), path.basename(file), cause, written, 'no partial file is left');
  }
}

/** The earlier result of this run, when its directory holds a finished run of the same configuration. */
async function resumeRun(run: PlannedRun, planned: Record<string, unknown>, hash: string, opts: ResolvedSweepOptions): Promise<RunOutcome | null> {
  const saved = await readJson<OutcomeFile>(path.join(run.dir, 'outcome.json')).catch(() => null);
  if (!saved || saved.datasetHash !== hash || !sameJson(saved.config, planned) || saved.gnsSamples !== opts.gnsSamples) return null;
  const summary = saved.status === 'finished' ? await readSummary(run.dir).catch(() => null) : null;
  if (saved.status === 'finished' && !summary) return null;
  // config.json is what train() resolved for the run; it must still say the same.
  const written = await readJson<Record<string, unknown>>(path.join(run.dir, 'config.json')).catch(() => null);
  if (!written || !sameJson(comparableConfig(written), planned)) return null;
  // Null when the run stopped at an easier target than today's: it says nothing about the harder one.
  return analyseRun(run, opts, saved, true);
}

async function executeRun(
  run: PlannedRun,
  planned: Record<string, unknown>,
  hash: string,
  opts: ResolvedSweepOptions,
  data: Dataset,
  hooks: SweepHooks,
  log: TrainLogger,
  bSimpleStart: number | null,
  measureEnd: (params: Float32Array) => number | null,
): Promise<RunOutcome | 'interrupted'> {
  await fs.promises.rm(path.join(run.dir, 'outcome.json'), { force: true });
  // A resumed sweep re-trains a run that did not finish: its leftovers are the sweep's own, so they
  // are cleared here (train's --overwrite warning would name a flag the user never typed).
  const stale = await runFilesIn(run.dir);
  await Promise.all(stale.map((name) => fs.promises.rm(path.join(run.dir, name), { force: true })));
  if (stale.length > 0) log.info({ run: run.id, removed: stale }, `${run.id}: re-training (it had not finished; its partial ${stale.join(', ')} removed)`);
  let info: RunInfo | null = null;
  let stoppedAtTarget = false;
  const watcher: Callback = {
    onTrainBegin: (i) => void (info = i),
    onStep: (record) => {
      if (info) hooks.onStep?.(record, run, info);
    },
    onEval: (record, control) => {
      if (meetsTarget(record, opts.target)) {
        stoppedAtTarget = true;
        control.stop(`target ${opts.target.text} reached at step ${record.step}`);
      }
    },
    onEpochEnd: (record, control) => {
      if (meetsTarget(record, opts.target)) {
        stoppedAtTarget = true;
        control.stop(`target ${opts.target.text} reached`);
      }
    },
  };
  let saved: OutcomeFile;
  try {
    // The run's directory may hold an earlier, different run of this id (resume re-trains it);
    // inert options were warned about once for the whole sweep.
    const runLog: TrainLogger = { info() {}, warn: (f, m) => void (isOptionWarning(f) ? undefined : log.warn(f, `${run.id}: ${m}`)) };
    const result = await train({ ...run.config, overwrite: true }, { data, signal: hooks.signal, callbacks: [watcher], logger: runLog });
    const summary = result.summary;
    if (summary.stopReason === 'interrupted') return 'interrupted';
    saved = { config: planned, datasetHash: hash, status: 'finished', stoppedAtTarget, lr: summary.lr, error: null, bSimpleStart, bSimpleEnd: measureEnd(result.params), gnsSamples: opts.gnsSamples };
  } catch (error) {
    if (!(error instanceof DptrainError && error.code === 'dptrain.train.nonFinite')) throw error;
    const lr = (info as RunInfo | null)?.lr ?? run.config.lr ?? 0;
    saved = { config: planned, datasetHash: hash, status: 'diverged', stoppedAtTarget: false, lr, error: error.message, bSimpleStart, bSimpleEnd: null, gnsSamples: opts.gnsSamples };
  }
  await writeJsonFile(path.join(run.dir, 'outcome.json'), saved);
  const outcome = await analyseRun(run, opts, saved, false);
  if (outcome === null) throw new DptrainError('dptrain.study.internal', `run ${run.id} finished but its metrics cannot be read back`);
  return outcome;
}

/**
 * Steps, epochs, samples and seconds to the target from metrics.jsonl's eval and epoch records.
 * Null when the records cannot answer for today's target (the run stopped early at another target).
 */
async function analyseRun(run: PlannedRun, opts: ResolvedSweepOptions, saved: OutcomeFile, resumed: boolean): Promise<RunOutcome | null> {
  const metrics = await readRunMetrics(run.dir).catch(() => null);
  const written = await readJson<{ reduceChunks?: number; resolved?: { trainSamples?: number; engine?: string; workers?: number } }>(path.join(run.dir, 'config.json')).catch(() => null);
  if (metrics === null || !written?.resolved?.trainSamples) return null;
  const checkpoints = metrics.checkpoints;
  const hit = checkpoints.findIndex((c) => meetsTarget(c, opts.target));
  // Runs the sweep stopped at a target know nothing of what followed; the others ran to their end.
  const complete = saved.status === 'diverged' || !saved.stoppedAtTarget;
  if (hit < 0 && !complete) return null;
  const at: Checkpoint | null = hit >= 0 ? checkpoints[hit] : null;
  const reached = at !== null;
  // Final metrics: the validation at the target (or the last one), and the training means of its epoch.
  const lastCheck = at ?? checkpoints.at(-1) ?? null;
  const epochOf = lastCheck ? metrics.epochs.find((e) => e.epoch === lastCheck.epoch) ?? null : null;
  const runSteps = metrics.epochs.reduce((a, e) => a + e.steps, 0);
  // Training time without validation: each epoch's samples over its training throughput.
  const trainSeconds = metrics.epochs.reduce((a, e) => a + e.samples / e.samplesPerSec, 0);
  const runSamples = metrics.epochs.reduce((a, e) => a + e.samples, 0);
  // B_simple logged at the target: the last logged point at or before it.
  const upTo = at?.steps ?? Infinity;
  const logged = metrics.gns.filter((p) => p.step <= upTo).at(-1) ?? null;
  const reduceChunks = written.reduceChunks ?? 0;
  const workers = written.resolved.workers ?? 1;
  return {
    id: run.id,
    dir: run.dir,
    batchSize: run.batchSize,
    resolvedBatchSize: run.resolvedBatchSize,
    seed: run.seed,
    lr: saved.lr,
    gridLr: run.gridLr,
    status: reached ? 'reached' : saved.status === 'diverged' ? 'diverged' : 'not reached',
    stepsToTarget: at?.steps ?? null,
    epochsToTarget: at ? at.samples / written.resolved.trainSamples : null,
    samplesToTarget: at?.samples ?? null,
    secondsToTarget: at ? at.trainMs / 1000 : null,
    targetAt: at?.kind ?? null,
    stepsRun: runSteps,
    epochsRun: metrics.epochs.length,
    final: {
      trainLoss: epochOf?.trainLoss ?? null,
      trainAccuracy: epochOf?.trainAccuracy ?? null,
      valLoss: lastCheck?.valLoss ?? null,
      valAccuracy: lastCheck?.valAccuracy ?? null,
    },
    samplesPerSec: trainSeconds > 0 ? runSamples / trainSeconds : null,
    meanStepMs: metrics.meanStepMs,
    bSimpleStart: saved.bSimpleStart,
    bSimpleEnd: saved.bSimpleEnd,
    bSimpleLogged: logged?.bSimple ?? null,
    gnsLogged: metrics.gns,
    gnsSetup: {
      engine: written.resolved.engine ?? 'unknown',
      workers,
      reduceChunks,
      slots: Math.min(reduceChunks > 0 ? reduceChunks : workers, run.resolvedBatchSize),
    },
    resumed,
    error: saved.error,
  };
}

/** The median, or null when there is none or it is not finite (more than half the seeds missed). */
function finiteMedian(values: number[]): number | null {
  const m = median(values);
  return Number.isFinite(m) ? m : null;
}

function medianOf(outcomes: RunOutcome[], pick: (o: RunOutcome) => number | null): number | null {
  return finiteMedian(outcomes.map(pick).filter((v): v is number => v !== null && Number.isFinite(v)));
}

/** Per batch size: choose the rate, take medians over seeds, fit, classify. Pure; exported for tests. */
export function summarize(opts: ResolvedSweepOptions, outcomes: RunOutcome[], context: { trainSamples: number; spec: ModelSpec }): SweepResults {
  const warnings: string[] = [];
  const rows: BatchSizeResult[] = [];
  const targetIsAccuracy = opts.target.metric.endsWith('Accuracy');
  for (const batchSize of opts.batchSizes) {
    const mine = outcomes.filter((o) => o.batchSize === batchSize);
    if (mine.length === 0) continue;
    const B = mine[0].resolvedBatchSize;
    const rates = [...new Set(mine.map((o) => o.gridLr))];
    // Fewest median steps wins; a seed that missed counts as infinitely many steps. Among rates
    // that all missed, the best median final value of the target metric.
    const score = (lr: number | null) => {
      const group = mine.filter((o) => o.gridLr === lr);
      const medianSteps = median(group.map((o) => o.stepsToTarget ?? Infinity));
      const finals = group.map((o) => o.final[opts.target.metric]).filter((v): v is number => v !== null && Number.isFinite(v));
      const finalMedian = finiteMedian(finals) ?? (targetIsAccuracy ? -Infinity : Infinity);
      return { medianSteps, final: targetIsAccuracy ? -finalMedian : finalMedian };
    };
    // Equal steps: the rate nearer the middle of the grid (log scale), so that a tie with an inner
    // rate does not look like an optimum beyond the grid's edge.
    const numeric = rates.filter((r): r is number => r !== null);
    const middle = numeric.length ? Math.exp(numeric.reduce((a, r) => a + Math.log(r), 0) / numeric.length) : 1;
    const offCentre = (lr: number | null) => (lr === null ? 0 : Math.abs(Math.log(lr / middle)));
    let best = rates[0];
    for (const lr of rates.slice(1)) {
      const a = score(lr), b = score(best);
      const tie = a.medianSteps === b.medianSteps;
      if (a.medianSteps < b.medianSteps || (tie && !Number.isFinite(a.medianSteps) && a.final < b.final) || (tie && Number.isFinite(a.medianSteps) && offCentre(lr) < offCentre(best))) best = lr;
    }
    const chosen = mine.filter((o) => o.gridLr === best);
    const grid = opts.lrRule === 'tuned' ? (rates.filter((r): r is number => r !== null).sort((a, b) => a - b)) : null;
    const reachedRuns = chosen.filter((o) => o.status === 'reached');
    const medianSteps = score(best).medianSteps;
    const reached = Number.isFinite(medianSteps);
    if (grid && reached && best !== null && (best === grid[0] || best === grid.at(-1))) {
      warnings.push(`B=${batchSize}: the best learning rate ${best} is the ${best === grid[0] ? 'smallest' : 'largest'} on the grid (${grid[0]} … ${grid.at(-1)}); the optimum may lie beyond it — widen the grid with --lr-trials or --lr-factor, or move it with --lr`);
    }
    const steps = reachedRuns.map((o) => o.stepsToTarget!);
    rows.push({
      batchSize,
      resolvedBatchSize: B,
      stepsPerEpoch: countStepsPerEpoch(context.trainSamples, B, opts.train.dropLast),
      lr: chosen[0]?.lr ?? null,
      lrGrid: grid,
      seeds: chosen.length,
      reachedSeeds: reachedRuns.length,
      reached,
      // Medians over all seeds with misses as +∞: finite only when more than half reached.
      stepsToTarget: reached ? medianSteps : null,
      epochsToTarget: reached ? medianWithMisses(chosen, (o) => (o.samplesToTarget === null ? null : o.samplesToTarget / context.trainSamples)) : null,
      samplesToTarget: reached ? medianWithMisses(chosen, (o) => o.samplesToTarget) : null,
      secondsToTarget: reached ? medianWithMisses(chosen, (o) => o.secondsToTarget) : null,
      stepsRange: steps.length ? [Math.min(...steps), Math.max(...steps)] : null,
      final: {
        trainLoss: medianOf(chosen, (o) => o.final.trainLoss),
        trainAccuracy: medianOf(chosen, (o) => o.final.trainAccuracy),
        valLoss: medianOf(chosen, (o) => o.final.valLoss),
        valAccuracy: medianOf(chosen, (o) => o.final.valAccuracy),
      },
      samplesPerSec: medianOf(chosen, (o) => o.samplesPerSec),
      meanStepMs: medianOf(chosen, (o) => o.meanStepMs),
      bSimpleStart: medianOf(chosen, (o) => o.bSimpleStart),
      bSimpleEnd: medianOf(chosen, (o) => o.bSimpleEnd),
      bSimpleLogged: medianOf(chosen, (o) => (o.gnsSetup.slots >= 2 ? o.bSimpleLogged : null)),
      gnsSlots: Math.min(...chosen.map((o) => o.gnsSetup.slots)),
      efficiency: null,
      regime: null,
      fittedSteps: null,
      runs: chosen.map((o) => o.id),
    });
  }

  // Fit S(B) over the batch sizes that reached the target, then classify every B.
  const points = rows.filter((r) => r.stepsToTarget !== null).map((r) => ({ batchSize: r.resolvedBatchSize, steps: r.stepsToTarget! }));
  let fit: ScalingFit | null = null;
  let fitNote: string | null = null;
  if (points.length >= 2) {
    fit = fitScaling(points);
    if (points.length === 2) fitNote = 'only 2 batch sizes reached the target: the fit passes through them and cannot be checked';
    if (fit.bCrit === null) fitNote = 'steps-to-target fell as fast as 1/B over the whole range: no S_min measurable, B_crit is beyond the largest batch size that reached the target';
  } else {
    fitNote = `the fit needs at least 2 batch sizes that reach the target (${points.length} did)`;
    warnings.push(`no fit: ${fitNote}`);
  }
  const reference = points.length ? points.reduce((a, p) => (p.batchSize < a.batchSize ? p : a)) : null;
  for (const row of rows) {
    if (row.stepsToTarget === null) continue;
    const point = { batchSize: row.resolvedBatchSize, steps: row.stepsToTarget };
    row.efficiency = reference ? scalingEfficiency(reference, point) : null;
    if (fit) {
      row.regime = classifyRegime(row.resolvedBatchSize, fit.bCrit);
      row.fittedSteps = fit.sMin + fit.eMin / row.resolvedBatchSize;
    }
  }
  const notReached = rows.filter((r) => !r.reached).map((r) => r.batchSize);
  if (notReached.length) warnings.push(`not reached within ${plural(opts.maxEpochs, 'epoch')} at batch size(s) ${notReached.join(', ')} — raise --max-epochs or ease --target`);

  const { source: bSimpleSource, setup: gnsSetup } = describeGnsSource(opts, outcomes, rows);
  return {
    format: 'dptrain-sweep-results-v1',
    target: opts.target,
    targetCheck: targetCheck(opts),
    maxEpochs: opts.maxEpochs,
    lrRule: opts.lrRule,
    seeds: Array.from({ length: opts.seeds }, (_, i) => opts.train.seed + i),
    lrTrials: opts.lrRule === 'tuned' ? opts.lrTrials : null,
    lrFactor: opts.lrRule === 'tuned' ? opts.lrFactor : null,
    baseLr: opts.train.lr,
    baseBatchSize: opts.train.baseBatchSize,
    dataset: opts.train.dataset,
    model: context.spec.text,
    trainSamples: context.trainSamples,
    optimizer: opts.train.optimizer,
    momentum: opts.train.momentum,
    fit,
    fitNote,
    bSimpleSource,
    gns: gnsSetup,
    batchSizes: rows,
    runs: outcomes,
    warnings,
  };
}

const slotsOf = (setup: Omit<GnsSetup, 'slots'>) =>
  `${setup.engine} engine, ${setup.workers} worker${setup.workers === 1 ? '' : 's'}, --reduce-chunks ${setup.reduceChunks}: ${setup.reduceChunks > 0 ? `${setup.reduceChunks} chunk slots` : `one slot per worker`} per step`;

/** Where B_simple comes from, in words, and the setup that logged it. */
function describeGnsSource(opts: ResolvedSweepOptions, outcomes: RunOutcome[], rows: BatchSizeResult[]): { source: string; setup: SweepResults['gns'] } {
  const fixed = opts.gnsSamples > 0
    ? `bSimpleStart/End are separate measurements at fixed parameters (the initial ones, and those at the target or the end): ${opts.gnsSamples} training rows in shards of 8, the same estimator`
    : 'no fixed-parameter measurement (--gns-samples 0)';
  const loggedBy = outcomes.filter((o) => o.gnsLogged.length > 0);
  const setups = [...new Set(outcomes.map((o) => JSON.stringify({ engine: o.gnsSetup.engine, workers: o.gnsSetup.workers, reduceChunks: o.gnsSetup.reduceChunks })))].map((j) => JSON.parse(j) as Omit<GnsSetup, 'slots'>);
  const unmeasurable = rows.filter((r) => r.gnsSlots < 2).map((r) => (r.batchSize === 'full' ? `full (${r.resolvedBatchSize})` : String(r.batchSize)));
  const notMeasurable = unmeasurable.length
    ? `; not measurable at B = ${unmeasurable.join(', ')}: a step there has one gradient slot holding samples, and one shard says nothing about the spread between shards${setups.every((s) => s.workers < 2 && s.reduceChunks < 2) ? ' (use --engine threads with --workers ≥ 2, or --reduce-chunks ≥ 2)' : ''}`
    : '';
  if (loggedBy.length === 0) {
    return {
      source: `not logged along the runs (${setups.map(slotsOf).join('; ')})${notMeasurable}; ${fixed}`,
      setup: null,
    };
  }
  const setup = loggedBy[0].gnsSetup;
  return {
    source: `logged by the training loop at every step (metrics.jsonl "gns": moving averages, β = ${DEFAULT_GNS_BETA}, of the A.1 estimates from the gradient slots' sums), measured with the ${setups.map(slotsOf).join('; ')}; the value per batch size is the one logged at the target (at the end when not reached)${notMeasurable}; ${fixed}`,
    setup: { engine: setup.engine, workers: setup.workers, reduceChunks: setup.reduceChunks, beta: DEFAULT_GNS_BETA },
  };
}

/** Median over runs with misses as +∞ (null when the median is a miss). */
function medianWithMisses(runs: RunOutcome[], pick: (o: RunOutcome) => number | null): number | null {
  return finiteMedian(runs.map((o) => pick(o) ?? Infinity));
}

const CSV_COLUMNS = [
  'batch_size', 'resolved_batch_size', 'steps_per_epoch', 'lr', 'seeds', 'reached_seeds',
  'steps_to_target', 'epochs_to_target', 'samples_to_target', 'seconds_to_target',
  'final_train_loss', 'final_val_loss', 'final_val_accuracy', 'samples_per_sec', 'mean_step_ms',
  'b_simple_start', 'b_simple_end', 'b_simple_logged', 'efficiency', 'regime', 'fitted_steps', 'gns_slots',
] as const;

/**
 * results.csv: one row per batch size; "not reached" in the to-target columns when missed, "not
 * measurable" in b_simple_logged when a step has fewer than 2 gradient slots holding samples.
 */
export function resultsCsv(results: SweepResults): string {
  const num = (v: number | null, digits = 6) => (v === null || !Number.isFinite(v) ? '' : String(Number(v.toPrecision(digits))));
  const miss = (r: BatchSizeResult, v: number | null) => (r.reached ? num(v) : 'not reached');
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of results.batchSizes) {
    lines.push([
      String(r.batchSize), String(r.resolvedBatchSize), String(r.stepsPerEpoch), num(r.lr), String(r.seeds), String(r.reachedSeeds),
      miss(r, r.stepsToTarget), miss(r, r.epochsToTarget), miss(r, r.samplesToTarget), miss(r, r.secondsToTarget),
      num(r.final.trainLoss), num(r.final.valLoss), num(r.final.valAccuracy), num(r.samplesPerSec), num(r.meanStepMs),
      num(r.bSimpleStart), num(r.bSimpleEnd), r.gnsSlots < 2 ? 'not measurable' : num(r.bSimpleLogged), num(r.efficiency), r.regime ?? '', num(r.fittedSteps),
      String(r.gnsSlots),
    ].join(','));
  }
  return lines.join('\n') + '\n';
}

/** One line for a finished run, e.g. for the terminal. */
export function describeOutcome(o: RunOutcome, opts: Pick<ResolvedSweepOptions, 'target' | 'maxEpochs'>, index: number, total: number): string {
  const head = `run ${index + 1}/${total} ${o.id} (B=${o.resolvedBatchSize}, lr ${fmtLr(o.lr)})`;
  const resumed = o.resumed ? ' [done earlier]' : '';
  const metric = o.final[opts.target.metric];
  const shownMetric = metric === null ? '' : ` (${opts.target.text.split('=')[0]} ${metric.toFixed(4)})`;
  if (o.status === 'reached') {
    const epochs = Number(o.epochsToTarget!.toFixed(2));
    return `${head}: reached ${opts.target.text} after ${o.stepsToTarget!.toLocaleString('en-US')} steps, ${epochs} epoch${epochs === 1 ? '' : 's'}, ${o.samplesToTarget!.toLocaleString('en-US')} samples, ${o.secondsToTarget!.toFixed(1)} s of training${shownMetric}${resumed}`;
  }
  if (o.status === 'diverged') return `${head}: diverged after ${o.stepsRun.toLocaleString('en-US')} steps${resumed}`;
  return `${head}: not reached in ${plural(opts.maxEpochs, 'epoch')}${shownMetric}${resumed}`;
}
