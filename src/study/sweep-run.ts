/**
 * Running one planned run: read back from an earlier sweep when its directory holds a finished run
 * of the same configuration and data (resumeRun), else trained with train(), stopped as soon as it
 * meets the target, and its outcome.json written beside train()'s files (executeRun).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Dataset } from '../data/index.js';
import { DptrainError } from '../errors.js';
import {
  flagOf,
  isOptionWarning,
  resolveTrainConfig,
  runFilesIn,
  train,
  type Callback,
  type RunInfo,
  type StopReason,
  type TrainConfig,
  type TrainLogger,
} from '../train/index.js';
import { readJson, readSummary } from './metrics.js';
import { writeJsonFile } from './sweep-files.js';
import type { ResolvedSweepOptions } from './sweep-options.js';
import { analyseRun, type OutcomeFile } from './sweep-outcome.js';
import type { PlannedRun } from './sweep-plan.js';
import { meetsTarget } from './sweep-target.js';
import type { RunOutcome, SweepHooks } from './sweep-types.js';

/** Fields config.json adds beside the training options: what train() resolved, and where the run started. */
const RECORD_ONLY = new Set(['resolved', 'cwd']);

/** A run's training options as resolved, without those that do not change the run (out, overwrite), for comparing runs. */
export function comparableConfig(config: Partial<TrainConfig> | Record<string, unknown>): Record<string, unknown> {
  const { out: _out, overwrite: _overwrite, resolved: _resolved, ...rest } = resolveTrainConfig(
    Object.fromEntries(Object.entries(config).filter(([k]) => !RECORD_ONLY.has(k))) as Partial<TrainConfig>,
  ) as TrainConfig & { resolved?: unknown };
  return JSON.parse(JSON.stringify(rest));
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The sweep's flag for a training option a run records (its epochs come from --max-epochs, its validation cadence maybe from --evals-per-epoch). */
function runFlagOf(key: string): string {
  if (key === 'epochs') return '--max-epochs';
  if (key === 'evalEvery') return '--evals-per-epoch or --eval-every';
  return flagOf(key);
}

/** The flags of the options in which two run configurations differ. */
function changedFlags(before: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(now)])];
  return keys.filter((k) => !sameJson(before[k], now[k])).map(runFlagOf);
}

/** An earlier result of a run read back, or why the run is trained (again). */
export type Resumed = { outcome: RunOutcome } | { outcome: null; why: string };

/** The earlier result of this run, when its directory holds a finished run of the same configuration; else why not. */
export async function resumeRun(run: PlannedRun, planned: Record<string, unknown>, hash: string, opts: ResolvedSweepOptions): Promise<Resumed> {
  const retrain = (why: string): Resumed => ({ outcome: null, why });
  const saved = await readJson<OutcomeFile>(path.join(run.dir, 'outcome.json')).catch(() => null);
  if (!saved) return retrain('it had not finished');
  if (saved.datasetHash !== hash) return retrain('its data changed');
  if (!sameJson(saved.config, planned)) return retrain(`its training options changed (${changedFlags(saved.config, planned).join(', ')})`);
  if (saved.gnsSamples !== opts.gnsSamples) return retrain(`--gns-samples changed (${saved.gnsSamples} then, ${opts.gnsSamples} now)`);
  const summary = saved.status === 'finished' ? await readSummary(run.dir).catch(() => null) : null;
  if (saved.status === 'finished' && !summary) return retrain('its summary.json is missing or unreadable');
  // config.json is what train() resolved for the run; it must still say the same.
  const written = await readJson<Record<string, unknown>>(path.join(run.dir, 'config.json')).catch(() => null);
  if (!written || !sameJson(comparableConfig(written), planned)) return retrain('its config.json does not match its outcome.json');
  const outcome = await analyseRun(run, opts, saved, true, summary?.stopReason ?? null);
  if (outcome === 'noRecords') return retrain('its metrics.jsonl or config.json cannot be read');
  // A run stopped at an easier target than today's says nothing about the harder one.
  if (outcome === 'stoppedAtEarlierTarget') return retrain(`it stopped at the earlier target ${saved.target ?? 'of an earlier sweep'}, before meeting ${opts.target.text}`);
  return { outcome };
}

/**
 * Trains the run with train(), stopped as soon as it meets the target; writes its outcome.json
 * and returns its outcome ('interrupted' when the sweep's signal stopped it: no outcome.json).
 * `why`: why resumeRun did not read it back, said when an earlier run's files are removed.
 */
export async function executeRun(
  run: PlannedRun,
  planned: Record<string, unknown>,
  hash: string,
  opts: ResolvedSweepOptions,
  data: Dataset,
  hooks: SweepHooks,
  log: TrainLogger,
  why: string,
  bSimpleStart: number | null,
  measureEnd: (params: Float32Array) => number | null,
): Promise<RunOutcome | 'interrupted'> {
  await fs.promises.rm(path.join(run.dir, 'outcome.json'), { force: true });
  // A resumed sweep re-trains a run it cannot read back: its leftovers are the sweep's own, so they
  // are cleared here (train's --overwrite warning would name a flag the user never typed).
  const stale = await runFilesIn(run.dir);
  await Promise.all(stale.map((name) => fs.promises.rm(path.join(run.dir, name), { force: true })));
  if (stale.length > 0) log.info({ run: run.id, removed: stale, why }, `${run.id}: re-training: ${why} (its ${stale.join(', ')} removed)`);
  let info: RunInfo | null = null;
  let stoppedAtTarget = false;
  // Steps taken, counted here: metrics.jsonl holds only every --log-every-th step.
  let steps = 0;
  const watcher: Callback = {
    onTrainBegin: (i) => void (info = i),
    onStep: (record) => {
      steps = record.step + 1;
      if (info) hooks.onStep?.(record, run, info);
    },
    onEval: (record, control) => {
      hooks.onEval?.(record, run);
      if (meetsTarget(record, opts.target)) {
        stoppedAtTarget = true;
        control.stop(`target ${opts.target.text} reached at step ${record.step}`);
      }
    },
    onEpochEnd: (record, control) => {
      hooks.onEpochEnd?.(record, run);
      if (meetsTarget(record, opts.target)) {
        stoppedAtTarget = true;
        control.stop(`target ${opts.target.text} reached`);
      }
    },
  };
  let saved: OutcomeFile;
  let stopReason: StopReason | null = null;
  try {
    // The run's directory may hold an earlier, different run of this id (resume re-trains it);
    // inert options were warned about once for the whole sweep.
    const runLog: TrainLogger = { info() {}, warn: (f, m) => void (isOptionWarning(f) ? undefined : log.warn(f, `${run.id}: ${m}`)) };
    const result = await train({ ...run.config, overwrite: true }, { data, signal: hooks.signal, callbacks: [watcher], logger: runLog });
    const summary = result.summary;
    if (summary.stopReason === 'interrupted') return 'interrupted';
    stopReason = summary.stopReason;
    saved = { config: planned, datasetHash: hash, status: 'finished', stoppedAtTarget, target: opts.target.text, steps: summary.steps, lr: summary.lr, error: null, bSimpleStart, bSimpleEnd: measureEnd(result.params), gnsSamples: opts.gnsSamples };
  } catch (error) {
    if (!(error instanceof DptrainError && error.code === 'dptrain.train.nonFinite')) throw error;
    const lr = (info as RunInfo | null)?.lr ?? run.config.lr ?? 0;
    saved = { config: planned, datasetHash: hash, status: 'diverged', stoppedAtTarget: false, target: opts.target.text, steps, lr, error: error.message, bSimpleStart, bSimpleEnd: null, gnsSamples: opts.gnsSamples };
  }
  await writeJsonFile(path.join(run.dir, 'outcome.json'), saved);
  const outcome = await analyseRun(run, opts, saved, false, stopReason);
  if (typeof outcome === 'string') throw new DptrainError('dptrain.study.internal', `run ${run.id} finished but its metrics cannot be read back`);
  return outcome;
}
