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
 *
 * This module runs the steps in order; the steps live beside it: sweep-target.ts and
 * sweep-options.ts (what the user asks for), sweep-plan.ts (the runs), sweep-run.ts and
 * sweep-outcome.ts (one run, trained or read back), sweep-summary.ts (results.json's numbers),
 * sweep-files.ts (what is written under `out`) and sweep-types.ts (the records they share).
 */
import path from 'node:path';
import {
  applyStandardization,
  datasetHash,
  fitStandardization,
  loadDataset,
  splitDataset,
  type Dataset,
} from '../data/index.js';
import { ConfigError } from '../errors.js';
import { plural } from '../util/index.js';
import { makeOutputDir } from '../io/index.js';
import { initParams, Model, paramLayout, parseModelSpec, type ModelSpec } from '../model/index.js';
import { defaultModelFor, sizeModelToData, loadParameters, warningFields, type TrainLogger } from '../train/index.js';
import { measureNoiseScale } from './noise.js';
import { claimSweepDir, writeResults, writeSweepJson } from './sweep-files.js';
import { resolveSweepOptions, type ResolvedSweepOptions, type SweepOptions } from './sweep-options.js';
import { describeOutcome } from './sweep-outcome.js';
import { planRuns, type PlannedRun } from './sweep-plan.js';
import { comparableConfig, executeRun, resumeRun } from './sweep-run.js';
import { summarize } from './sweep-summary.js';
import type { RunOutcome, SweepHooks, SweepResults } from './sweep-types.js';

const silent: TrainLogger = { info() {}, warn() {} };

/** What every run of a sweep shares. */
interface SweepContext {
  opts: ResolvedSweepOptions;
  hooks: SweepHooks;
  log: TrainLogger;
  data: Dataset;
  /** datasetHash of the data, recorded in sweep.json and every outcome.json. */
  hash: string;
  spec: ModelSpec;
  /** B_simple at fixed parameters on a seed's training split (null with --gns-samples 0). */
  measure: (params: Float32Array, seed: number) => number | null;
}

/** Where a sweep stopped early: during a run (its id), or between runs (null). */
type Interruption = { run: string | null };

/** Runs a batch-size sweep; see the module comment. Writes results.json and results.csv under `out`. */
export async function sweep(options: SweepOptions, hooks: SweepHooks = {}): Promise<SweepResults> {
  const opts = resolveSweepOptions(options);
  const log = hooks.logger ?? silent;
  const { data, hash, trainSamples, spec } = await loadSweepData(opts, options);
  const runs = planRuns(opts, trainSamples);
  await startSweepDir(opts, runs, hash, log);
  hooks.onPlan?.(runs);
  const measure = noiseMeter(opts, data, spec);
  const { outcomes, interrupted } = await runAll({ opts, hooks, log, data, hash, spec, measure }, runs);
  const results = summarizeFinished(opts, runs, outcomes, interrupted, { trainSamples, spec }, log);
  for (const warning of results.warnings) log.warn({}, warning);
  await writeResults(opts, results);
  return results;
}

/**
 * Data: loaded once and handed to every run; the training split of a seed is rebuilt (noiseMeter) as
 * train() builds it, to measure B_simple on the same rows. With it, the training split's size and
 * the model, sized to the data.
 */
async function loadSweepData(opts: ResolvedSweepOptions, options: SweepOptions): Promise<{ data: Dataset; hash: string; trainSamples: number; spec: ModelSpec }> {
  const base = opts.train;
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
  return { data, hash, trainSamples, spec };
}

/** Claims --out, warns once about options without effect, creates out/ and out/runs/, writes sweep.json and announces the plan. */
async function startSweepDir(opts: ResolvedSweepOptions, runs: PlannedRun[], hash: string, log: TrainLogger): Promise<void> {
  await claimSweepDir(opts, log);
  for (const warning of opts.warnings) log.warn(warningFields(warning), warning.message);
  await makeOutputDir(opts.out, '--out');
  await makeOutputDir(path.join(opts.out, 'runs'), '--out');
  await writeSweepJson(opts, runs, hash);
  const budget = `${plural(opts.maxEpochs, 'epoch')}${opts.train.maxSteps > 0 ? ` or ${plural(opts.train.maxSteps, 'step')}` : ''}`;
  log.info({ runs: runs.length }, `sweep of ${plural(runs.length, 'run')} over batch sizes ${opts.batchSizes.join(', ')} to ${opts.target.text}, at most ${budget} each; writing ${opts.out}`);
}

/** Measures B_simple at fixed parameters on the training split of a seed, rebuilt (once per seed) as train() builds it. */
function noiseMeter(opts: ResolvedSweepOptions, data: Dataset, spec: ModelSpec): (params: Float32Array, seed: number) => number | null {
  const base = opts.train;
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
  return (params: Float32Array, seed: number): number | null => {
    if (opts.gnsSamples === 0) return null;
    const m = measureNoiseScale(model, params, trainSplit(seed), { samples: opts.gnsSamples, seed });
    return m.bSimple;
  };
}

/** Runs the plan in order, until it ends or the hooks' signal aborts it. */
async function runAll(ctx: SweepContext, runs: PlannedRun[]): Promise<{ outcomes: RunOutcome[]; interrupted: Interruption | null }> {
  const { opts, hooks, log } = ctx;
  const startNoise = new Map<number, number | null>();
  const outcomes: RunOutcome[] = [];
  let interrupted: Interruption | null = null;
  for (const [index, run] of runs.entries()) {
    if (hooks.signal?.aborted) {
      interrupted = { run: null };
      break;
    }
    hooks.onRunStart?.(run, index, runs.length);
    const outcome = await resumeOrTrain(ctx, run, startNoise);
    if (outcome === 'interrupted') {
      interrupted = { run: run.id };
      break;
    }
    outcomes.push(outcome);
    hooks.onRunEnd?.(outcome, index, runs.length);
    log.info({ outcome: { ...outcome, gnsLogged: undefined } }, describeOutcome(outcome, opts, index, runs.length));
  }
  return { outcomes, interrupted };
}

/**
 * One planned run: read back from an earlier sweep when it can be, else trained; B_simple at the
 * initial parameters is measured once per seed (`startNoise`), as every run of a seed starts there.
 */
async function resumeOrTrain(ctx: SweepContext, run: PlannedRun, startNoise: Map<number, number | null>): Promise<RunOutcome | 'interrupted'> {
  const { opts, hooks, log, data, hash, spec, measure } = ctx;
  const base = opts.train;
  const planned = comparableConfig(run.config);
  const resumed = await resumeRun(run, planned, hash, opts);
  if (resumed.outcome) return resumed.outcome;
  let bSimpleStart = startNoise.get(run.seed);
  if (bSimpleStart === undefined) {
    const initial = base.init ? await loadParameters(base.init, paramLayout(spec), spec.text) : (initParams(spec, run.seed) as Float32Array);
    bSimpleStart = measure(initial, run.seed);
    startNoise.set(run.seed, bSimpleStart);
  }
  return executeRun(run, planned, hash, opts, data, hooks, log, resumed.why, bSimpleStart, (params) => measure(params, run.seed));
}

/** The results of the batch sizes whose runs all finished (all of them unless interrupted), with a warning when interrupted. */
function summarizeFinished(
  opts: ResolvedSweepOptions,
  runs: PlannedRun[],
  outcomes: RunOutcome[],
  interrupted: Interruption | null,
  context: { trainSamples: number; spec: ModelSpec },
  log: TrainLogger,
): SweepResults {
  // Interrupted: only batch sizes whose every planned run finished are summarised.
  const finished = opts.batchSizes.filter((b) => runs.every((r) => r.batchSize !== b || outcomes.some((o) => o.id === r.id)));
  const results = summarize(opts, interrupted ? outcomes.filter((o) => finished.includes(o.batchSize)) : outcomes, context);
  if (interrupted) {
    results.interrupted = { run: interrupted.run, finished, unfinished: opts.batchSizes.filter((b) => !finished.includes(b)) };
    const list = (bs: (number | 'full')[]) => (bs.length > 0 ? bs.join(', ') : 'none');
    log.warn({ interrupted: results.interrupted }, `sweep interrupted${interrupted.run ? ` during run ${interrupted.run}` : ' between runs'}: finished batch sizes ${list(finished)}; not finished: ${list(results.interrupted.unfinished)}; results.json holds the finished ones; the same command with --resume trains the others`);
  }
  return results;
}
