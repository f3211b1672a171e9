/**
 * The files a sweep writes into --out (docs/batch-size.md): claiming the directory (refusing or
 * deleting an earlier sweep), sweep.json, results.json and results.csv, each written atomically, a
 * failed write reported as one `outWrite` line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { writeFileAtomic } from '../io/index.js';
import { outWriteError, runFilesIn, type TrainLogger } from '../train/index.js';
import type { ResolvedSweepOptions } from './sweep-options.js';
import type { PlannedRun } from './sweep-plan.js';
import type { BatchSizeResult, SweepResults } from './sweep-types.js';

/** What a sweep writes into --out: what makes a directory "hold a sweep", and what --overwrite deletes. */
export const SWEEP_FILES = ['sweep.json', 'results.json', 'results.csv', 'report.html', 'runs'] as const;

/**
 * Refuses an --out that holds a sweep (unless resume), or deletes that sweep's files (overwrite);
 * refuses a `dptrain train --out` run directory whatever the flags (--overwrite deletes a sweep,
 * not a run); an empty or missing directory, or one with other files, is fine.
 */
export async function claimSweepDir(opts: ResolvedSweepOptions, log: TrainLogger): Promise<void> {
  const runFiles = await runFilesIn(opts.out);
  if (runFiles.length > 0) {
    throw new ConfigError('outDirInUse', `--out ${opts.out} is the run directory of \`dptrain train\` (it holds ${runFiles.join(', ')}), not a sweep — give the sweep another --out (--overwrite replaces only an earlier sweep)`);
  }
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

/** sweep.json: the sweep's options, the hash of its data and the ids of its planned runs. */
export async function writeSweepJson(opts: ResolvedSweepOptions, runs: PlannedRun[], hash: string): Promise<void> {
  const base = opts.train;
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
}

/** results.json, then results.csv. */
export async function writeResults(opts: ResolvedSweepOptions, results: SweepResults): Promise<void> {
  await writeJsonFile(path.join(opts.out, 'results.json'), results, ['sweep.json', 'the run directories']);
  await writeSweepFile(path.join(opts.out, 'results.csv'), new TextEncoder().encode(resultsCsv(results)), ['sweep.json', 'the run directories', 'results.json']);
}

export async function writeJsonFile(file: string, value: unknown, written: string[] = []): Promise<void> {
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

const CSV_COLUMNS = [
  'batch_size', 'resolved_batch_size', 'steps_per_epoch', 'lr', 'seeds', 'reached_seeds',
  'steps_to_target', 'epochs_to_target', 'samples_to_target', 'seconds_to_target',
  'final_train_loss', 'final_val_loss', 'final_val_accuracy', 'samples_per_sec', 'mean_step_ms',
  'b_simple_start', 'b_simple_end', 'b_simple_logged', 'efficiency', 'regime', 'fitted_steps', 'gns_slots',
] as const;

/**
 * results.csv: one row per batch size; the row's outcome ("not reached", "diverged") in the
 * to-target columns when missed, "not measurable" in b_simple_logged when a step has fewer than 2
 * gradient slots holding samples.
 */
export function resultsCsv(results: SweepResults): string {
  const num = (v: number | null, digits = 6) => (v === null || !Number.isFinite(v) ? '' : String(Number(v.toPrecision(digits))));
  const miss = (r: BatchSizeResult, v: number | null) => (r.reached ? num(v) : r.outcome);
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
