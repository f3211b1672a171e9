/**
 * Reading a run directory back (docs/formats.md): summary.json, config.json and metrics.jsonl,
 * streamed line by line because a B = 1 run writes a line per sample. Step records are reduced
 * on the fly to at most `maxPoints` log-spaced bins (mean loss per bin), which is what plots need;
 * eval and epoch records become checkpoints, the points where a target can be checked. A run
 * logged with --log-every N > 1 has every N-th step record: step counts then come from the epoch
 * records and step indices, and training time is scaled up from the logged steps. The same pass
 * collects the learning rate and batch sizes (step-series.ts) and a ws run's timeline (timeline.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { DptrainError } from '../errors.js';
import type { AdaptRecord, EpochRecord, EvalRecord, RunSummary, StepTiming } from '../train/index.js';
import { StepSeriesCollector, type StepSeries } from './step-series.js';
import { TimelineCollector, type RunTimeline } from './timeline.js';

/** A step record as read back; `gns` is present once the training loop logs it. */
interface LoggedStep {
  type: 'step';
  step: number;
  epoch: number;
  samples: number;
  loss: number;
  batchSize: number;
  lr: number;
  ms: number;
  gns?: { bSimple: number | null; trSigma: number; gradSq: number } | null;
  timing?: StepTiming;
}

/** One bin of consecutive steps: the last step and sample count in it, and its mean loss. */
export interface CurvePoint {
  step: number;
  samples: number;
  loss: number;
}

export interface GnsPoint {
  step: number;
  samples: number;
  bSimple: number | null;
  trSigma: number;
  gradSq: number;
}

/**
 * A validation point along the run: an eval record (within an epoch, validation metrics only) or
 * an epoch record (its end, training metrics too), with the run's totals up to it.
 */
export interface Checkpoint {
  kind: 'eval' | 'epoch';
  /** Epoch index from 0. */
  epoch: number;
  /** Steps and samples taken so far. */
  steps: number;
  samples: number;
  /** Training wall time so far: the step records' `ms` summed (validation excluded; estimated from the logged steps with --log-every). */
  trainMs: number;
  valLoss: number | null;
  valAccuracy: number | null;
  /** Epoch records only (the epoch's sample-weighted means); null at eval records. */
  trainLoss: number | null;
  trainAccuracy: number | null;
}

/** What metrics.jsonl says, read in one pass; StepSeries adds the learning rate and batch sizes. */
export interface RunMetrics extends StepSeries {
  epochs: EpochRecord[];
  /** Eval and epoch records in the order of the run. */
  checkpoints: Checkpoint[];
  /** Mean loss over log-spaced bins of steps (about maxPoints bins). */
  curve: CurvePoint[];
  /** The logged gradient noise scale, thinned to about maxPoints points; empty when not logged. */
  gns: GnsPoint[];
  steps: number;
  /** Mean wall time per step over the run (ms). */
  meanStepMs: number | null;
  /** --batch-size auto: every choice of the batch size (empty for a fixed batch size). */
  adapt: AdaptRecord[];
  /** ws engine: the buckets' all-reduce per step and the median step's timeline (no points for other engines). */
  timeline: RunTimeline;
}

/** Reads metrics.jsonl of a run directory (missing file: a DptrainError `dptrain.study.noMetrics`). */
export async function readRunMetrics(dir: string, maxPoints = 300): Promise<RunMetrics> {
  const file = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(file)) {
    throw new DptrainError('dptrain.study.noMetrics', `${dir} has no metrics.jsonl — is it a run directory written by \`dptrain train --out\`?`);
  }
  const epochs: EpochRecord[] = [];
  const checkpoints: Checkpoint[] = [];
  const curve: CurvePoint[] = [];
  const gnsAll: GnsPoint[] = [];
  const adapt: AdaptRecord[] = [];
  const timeline = new TimelineCollector(maxPoints);
  const series = new StepSeriesCollector();
  // Bins end at steps ⌈r^k⌉ with r chosen so that 1e7 steps give maxPoints bins.
  const ratio = Math.pow(1e7, 1 / maxPoints);
  let binEnd = 1;
  let binLoss = 0;
  let binCount = 0;
  let last: LoggedStep | null = null;
  let stepMs = 0;
  /** Step records read; the last step index seen (step or skip record); whether some steps were not logged (--log-every). */
  let logged = 0;
  let skipped = 0;
  let lastIndex = -1;
  let thinned = false;
  /** Steps and samples the epoch records account for so far. */
  let applied = 0;
  let appliedSamples = 0;
  let steps = 0;
  let samples = 0;
  /** Training time so far: the logged steps' time, scaled up to `count` steps when only some were logged. */
  const trainMsAt = (count: number) => (thinned && logged > 0 ? (stepMs * count) / logged : stepMs);
  const flush = () => {
    if (binCount > 0 && last) curve.push({ step: last.step + 1, samples: last.samples, loss: binLoss / binCount });
    binLoss = 0;
    binCount = 0;
  };
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.length === 0) continue;
    let record: { type?: string };
    try {
      record = JSON.parse(line);
    } catch {
      // A run killed mid-write leaves a partial last line; a partial epoch record still ends its epoch's steps.
      if (line.includes('"type":"epoch"')) series.epochEnd();
      continue;
    }
    if (record.type === 'epoch') {
      const e = record as EpochRecord;
      epochs.push(e);
      series.epochEnd();
      applied += e.steps;
      appliedSamples += e.samples;
      steps = Math.max(steps, applied);
      samples = Math.max(samples, appliedSamples);
      checkpoints.push({ kind: 'epoch', epoch: e.epoch, steps, samples, trainMs: trainMsAt(steps), valLoss: e.valLoss, valAccuracy: e.valAccuracy, trainLoss: e.trainLoss, trainAccuracy: e.trainAccuracy });
    } else if (record.type === 'eval') {
      const e = record as EvalRecord;
      checkpoints.push({ kind: 'eval', epoch: e.epoch, steps: e.step, samples: e.samples, trainMs: trainMsAt(e.step), valLoss: e.valLoss, valAccuracy: e.valAccuracy, trainLoss: null, trainAccuracy: null });
    } else if (record.type === 'adapt') {
      adapt.push(record as AdaptRecord);
    } else if (record.type === 'skip') {
      skipped += 1;
      lastIndex = (record as { step: number }).step;
    } else if (record.type === 'step') {
      const s = record as LoggedStep;
      logged += 1;
      thinned ||= s.step > lastIndex + 1;
      lastIndex = s.step;
      // Applied steps: the step index counts skipped steps too, and every skip is logged.
      steps = thinned ? Math.max(steps + 1, s.step + 1 - skipped) : steps + 1;
      samples = s.samples;
      stepMs += s.ms;
      last = s;
      binLoss += s.loss;
      binCount += 1;
      if (s.step + 1 >= binEnd) {
        flush();
        while (binEnd <= s.step + 1) binEnd = Math.max(binEnd + 1, Math.ceil(binEnd * ratio));
      }
      if (s.gns) gnsAll.push({ step: s.step + 1, samples: s.samples, ...s.gns });
      timeline.add(s.step, s.ms, s.timing);
      series.step(s.step, s.lr, s.batchSize);
    }
  }
  flush();
  const every = Math.max(1, Math.ceil(gnsAll.length / maxPoints));
  const gns = gnsAll.filter((_, i) => i % every === 0 || i === gnsAll.length - 1);
  return { epochs, checkpoints, curve, gns, steps, meanStepMs: logged > 0 ? stepMs / logged : null, adapt, timeline: timeline.result(), ...series.result() };
}

export async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.promises.readFile(file, 'utf8')) as T;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (!(error instanceof SyntaxError)) throw new DptrainError('dptrain.study.badJson', `cannot read ${file} (${code ?? String(error)})`, { cause: error });
    const again = path.basename(file) === 'results.json' ? 'the same dptrain sweep command with --resume writes it again from its runs' : 'restore it, or run the command that wrote it again';
    throw new DptrainError('dptrain.study.badJson', `${file} is not valid JSON: it was damaged or edited — ${again}`, { cause: error });
  }
}

export function readSummary(dir: string): Promise<RunSummary | null> {
  return readJson<RunSummary>(path.join(dir, 'summary.json'));
}
