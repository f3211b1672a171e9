/**
 * One run's outcome: what the sweep stores beside train()'s files (outcome.json, OutcomeFile),
 * analyseRun, which reads a run directory back into a RunOutcome (steps, epochs, samples and
 * seconds to the target, final metrics, B_simple), and describeOutcome, its line for the terminal.
 */
import path from 'node:path';
import type { StopReason } from '../train/index.js';
import { plural } from '../util/index.js';
import { readJson, readRunMetrics, type Checkpoint } from './metrics.js';
import type { ResolvedSweepOptions } from './sweep-options.js';
import { fmtLr, type PlannedRun } from './sweep-plan.js';
import { meetsTarget } from './sweep-target.js';
import type { RunOutcome, StoppedBy } from './sweep-types.js';

/** What the sweep stores beside train()'s files, to resume without measuring again. */
export interface OutcomeFile {
  config: Record<string, unknown>;
  datasetHash: string;
  status: 'finished' | 'diverged';
  /** True when the sweep stopped the run because it met the target (then later epochs are unknown). */
  stoppedAtTarget: boolean;
  /** The target the run was trained to, as written (absent in the files of older sweeps). */
  target?: string;
  /** Steps taken, as train() reported them (absent in older files: metrics.jsonl's step records count them). */
  steps?: number;
  lr: number;
  error: string | null;
  bSimpleStart: number | null;
  bSimpleEnd: number | null;
  gnsSamples: number;
}

/** Why analyseRun has no outcome: the run's records cannot be read, or it stopped at an earlier target short of today's. */
export type NoOutcome = 'noRecords' | 'stoppedAtEarlierTarget';

/** What ended the run, from outcome.json and summary.json's stopReason (null when unknown). */
function stoppedByOf(saved: OutcomeFile, stopReason: StopReason | null, stepsRun: number, maxSteps: number): StoppedBy {
  if (saved.status === 'diverged') return 'nonFinite';
  if (saved.stoppedAtTarget) return 'target';
  // The sweep's target stop is its callback's ("callback"; "earlyStopping" in older summaries, told apart by stoppedAtTarget above).
  if (stopReason === 'earlyStopping') return 'patience';
  if (stopReason === 'maxSteps' || (stopReason === null && maxSteps > 0 && stepsRun >= maxSteps)) return 'maxSteps';
  return 'maxEpochs';
}

/**
 * Steps, epochs, samples and seconds to the target from metrics.jsonl's eval and epoch records,
 * or why there are none for today's target (NoOutcome). `stopReason` is summary.json's (null for a
 * diverged run, which has none).
 */
export async function analyseRun(run: PlannedRun, opts: ResolvedSweepOptions, saved: OutcomeFile, resumed: boolean, stopReason: StopReason | null): Promise<RunOutcome | NoOutcome> {
  const metrics = await readRunMetrics(run.dir).catch(() => null);
  const written = await readJson<{ reduceChunks?: number; resolved?: { trainSamples?: number; engine?: string; workers?: number } }>(path.join(run.dir, 'config.json')).catch(() => null);
  if (metrics === null || !written?.resolved?.trainSamples) return 'noRecords';
  const checkpoints = metrics.checkpoints;
  const hit = checkpoints.findIndex((c) => meetsTarget(c, opts.target));
  // Runs the sweep stopped at a target know nothing of what followed; the others ran to their end.
  const complete = saved.status === 'diverged' || !saved.stoppedAtTarget;
  if (hit < 0 && !complete) return 'stoppedAtEarlierTarget';
  const at: Checkpoint | null = hit >= 0 ? checkpoints[hit] : null;
  const reached = at !== null;
  // Final metrics: the validation at the target (or the last one), and the training means of its epoch.
  const lastCheck = at ?? checkpoints.at(-1) ?? null;
  const epochOf = lastCheck ? metrics.epochs.find((e) => e.epoch === lastCheck.epoch) ?? null : null;
  // Every step taken, not the epoch records' sum: a run that diverged within its first epoch has none.
  const runSteps = saved.steps ?? metrics.steps;
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
    stoppedBy: stoppedByOf(saved, stopReason, runSteps, opts.train.maxSteps),
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

/** The limit that ended a run short of the target, in words with its flag: "100 steps (--max-steps 100)". */
export function limitText(o: Pick<RunOutcome, 'stoppedBy' | 'stepsRun' | 'epochsRun'>, opts: Pick<ResolvedSweepOptions, 'maxEpochs' | 'train'>): string {
  if (o.stoppedBy === 'maxSteps') return `${plural(o.stepsRun, 'step')} (--max-steps ${opts.train.maxSteps})`;
  if (o.stoppedBy === 'patience') return `${plural(o.epochsRun, 'epoch')}, stopped early by --patience ${opts.train.patience}`;
  return `${plural(opts.maxEpochs, 'epoch')} (--max-epochs ${opts.maxEpochs})`;
}

/** One line for a finished run, e.g. for the terminal. */
export function describeOutcome(o: RunOutcome, opts: Pick<ResolvedSweepOptions, 'target' | 'maxEpochs' | 'train'>, index: number, total: number): string {
  const head = `run ${index + 1}/${total} ${o.id} (B=${o.resolvedBatchSize}, lr ${fmtLr(o.lr)})`;
  const resumed = o.resumed ? ' [done earlier]' : '';
  const metric = o.final[opts.target.metric];
  const shownMetric = metric === null ? '' : ` (${opts.target.text.split('=')[0]} ${metric.toFixed(4)})`;
  if (o.status === 'reached') {
    const epochs = Number(o.epochsToTarget!.toFixed(2));
    return `${head}: reached ${opts.target.text} after ${o.stepsToTarget!.toLocaleString('en-US')} steps, ${epochs} epoch${epochs === 1 ? '' : 's'}, ${o.samplesToTarget!.toLocaleString('en-US')} samples, ${o.secondsToTarget!.toFixed(1)} s of training${shownMetric}${resumed}`;
  }
  // stepsRun steps were applied, so the one numbered stepsRun (from 0) is the step that failed, as train()'s error says.
  if (o.status === 'diverged') return `${head}: diverged at step ${o.stepsRun.toLocaleString('en-US')} (the loss or gradient became NaN or infinite)${resumed}`;
  return `${head}: not reached in ${limitText(o, opts)}${shownMetric}${resumed}`;
}
