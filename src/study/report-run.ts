/**
 * The run page of `dptrain report`: from a run directory's metrics.jsonl, summary.json and
 * config.json, the loss, learning-rate, accuracy, validation, throughput and noise-scale charts,
 * the charts of --batch-size auto (adaptiveCharts) and a ws run's all-reduce timeline
 * (timeline.ts), and the paragraphs above them: the setup, the outcome and why the run stopped.
 */
import path from 'node:path';
import type { AdaptRecord, RunSummary, TrainConfig } from '../train/index.js';
import { plural } from '../util/index.js';
import { readJson, readRunMetrics, type RunMetrics } from './metrics.js';
import { chart, fmt, layOut, type ChartDef, type PageItem, type ReportPage, type Trace } from './report-page.js';
import type { OutcomeFile } from './sweep-outcome.js';
import { timelineCharts, timelineSummary } from './timeline.js';

/** What a run directory holds, as the page reads it. Each file but metrics.jsonl may be missing (a killed run, an older dptrain). */
interface RunFiles {
  metrics: RunMetrics;
  summary: RunSummary | null;
  config: Partial<TrainConfig> | null;
  /** A sweep's run (outcome.json): whether the sweep stopped it at its target. */
  stoppedAtTarget: boolean;
}

/** Chart definitions and text for a run directory. */
export async function runPage(dir: string): Promise<ReportPage> {
  const run = await readRunFiles(dir);
  const { metrics, summary } = run;
  const { charts, absent } = layOut([...trainingCharts(run), gnsChart(run), ...adaptiveCharts(metrics.adapt, metrics.steps), ...timelineCharts(metrics.timeline)]);
  return {
    kind: 'run',
    title: `Training run: ${summary ? `${summary.model} on ${summary.dataset}` : path.basename(path.resolve(dir))}`,
    summary: runSummaryText(run),
    table: null,
    warnings: [],
    charts,
    absent,
  };
}

async function readRunFiles(dir: string): Promise<RunFiles> {
  const [metrics, summary] = await Promise.all([readRunMetrics(dir), readJson<RunSummary>(path.join(dir, 'summary.json'))]);
  // config.json and outcome.json only add detail: one that cannot be read leaves it out.
  const config = await readJson<Partial<TrainConfig>>(path.join(dir, 'config.json')).catch(() => null);
  const outcome = await readJson<Partial<OutcomeFile>>(path.join(dir, 'outcome.json')).catch(() => null);
  return { metrics, summary, config, stoppedAtTarget: outcome?.stoppedAtTarget === true };
}

/** The charts of any run: loss per step and per sample, learning rate, per-epoch loss and accuracy, validation, throughput. */
function trainingCharts({ metrics }: RunFiles): PageItem[] {
  const charts: PageItem[] = [];
  const positive = metrics.curve.every((p) => p.loss > 0);
  const curve = (x: 'step' | 'samples'): Trace[] => [
    { label: 'training loss (batch mean)', style: 'line', color: 0, points: metrics.curve.map((p) => ({ x: p[x], y: p.loss })) },
  ];
  charts.push(chart({ id: 'loss-vs-steps', title: 'Training loss vs steps', note: 'Batch losses averaged over log-spaced bins of steps.', xLabel: 'step', yLabel: 'loss', xLog: true, yLog: positive }, curve('step')));
  charts.push(chart({ id: 'loss-vs-samples', title: 'Training loss vs samples processed', note: 'The same curve against samples processed.', xLabel: 'samples processed', yLabel: 'loss', xLog: true, yLog: positive }, curve('samples')));
  charts.push(lrChart(metrics.lr));
  const epochs = metrics.epochs;
  charts.push(
    chart(
      { id: 'epoch-loss', title: 'Loss per epoch', note: 'Training loss (sample-weighted mean of the epoch\'s batches) and validation loss at each epoch end.', xLabel: 'epoch', yLabel: 'loss', xLog: false, yLog: epochs.every((e) => e.trainLoss > 0 && (e.valLoss === null || e.valLoss > 0)) },
      [
        { label: 'train', style: 'line', color: 0, points: epochs.map((e) => ({ x: e.epoch + 1, y: e.trainLoss })) },
        { label: 'validation', style: 'line', color: 1, points: epochs.map((e) => ({ x: e.epoch + 1, y: e.valLoss })) },
      ],
    ),
  );
  if (epochs.some((e) => e.trainAccuracy !== null)) {
    charts.push(
      chart(
        { id: 'epoch-accuracy', title: 'Accuracy per epoch', note: 'Training accuracy over the epoch\'s batches and validation accuracy at each epoch end.', xLabel: 'epoch', yLabel: 'accuracy', xLog: false, yLog: false },
        [
          { label: 'train', style: 'line', color: 0, points: epochs.map((e) => ({ x: e.epoch + 1, y: e.trainAccuracy })) },
          { label: 'validation', style: 'line', color: 1, points: epochs.map((e) => ({ x: e.epoch + 1, y: e.valAccuracy })) },
        ],
      ),
    );
  }
  if (metrics.checkpoints.some((c) => c.kind === 'eval')) {
    const accuracy = metrics.checkpoints.some((c) => c.valAccuracy !== null);
    charts.push(
      chart(
        {
          id: 'validation-vs-steps',
          title: `Validation ${accuracy ? 'accuracy' : 'loss'} vs steps`,
          note: 'At every validation: within epochs (--eval-every) and at epoch ends.',
          xLabel: 'step',
          yLabel: `validation ${accuracy ? 'accuracy' : 'loss'}`,
          xLog: false,
          yLog: false,
        },
        [{ label: `validation ${accuracy ? 'accuracy' : 'loss'}`, style: 'line', color: 1, points: metrics.checkpoints.map((c) => ({ x: c.steps, y: accuracy ? c.valAccuracy : c.valLoss })) }],
      ),
    );
  }
  charts.push(
    chart(
      { id: 'throughput', title: 'Throughput per epoch', note: 'Training samples per second in each epoch (validation excluded).', xLabel: 'epoch', yLabel: 'samples / s', xLog: false, yLog: false },
      [{ label: 'samples/s', style: 'line', color: 0, points: epochs.map((e) => ({ x: e.epoch + 1, y: e.samplesPerSec })) }],
    ),
  );
  return charts;
}

/** The rate each step used, on linear axes from 0 so that a warmup, a schedule's shape and its steps show as they are. */
function lrChart(lr: RunMetrics['lr']): ChartDef | null {
  const top = Math.max(0, ...lr.map((p) => p.y));
  return chart(
    {
      id: 'lr-vs-steps',
      title: 'Learning rate vs steps',
      note: 'The rate each step used (lr in the step records): --lr shaped by the warmup and the schedule, times the gain of --batch-size auto or --lr-rule adascale. A long run is thinned to the first, last, lowest and highest rate of each of a few hundred stretches of steps.',
      xLabel: 'step',
      yLabel: 'learning rate',
      xLog: false,
      yLog: false,
      ...(top > 0 ? { yRange: [0, top * 1.08] as [number, number] } : {}),
    },
    [{ label: 'learning rate', style: 'line', color: 0, points: lr }],
  );
}

/** B_simple along the run, or one sentence in its place saying why the run could not measure it. */
function gnsChart({ metrics, summary, config }: RunFiles): PageItem {
  const title = 'Gradient noise scale B_simple over training';
  if (metrics.gns.length === 0) return { absent: { id: 'gns', title, note: noGnsReason(summary, config) } };
  return chart(
    { id: 'gns', title, note: 'EMAs of the A.1 estimates from the shard gradients, logged at every step.', xLabel: 'step', yLabel: 'B_simple (samples)', xLog: true, yLog: true },
    [{ label: 'B_simple', style: 'line', color: 0, points: metrics.gns.map((p) => ({ x: p.step, y: p.bSimple })) }],
  );
}

/** Why a run logged no B_simple: it compares the gradients of two or more slots (src/train/gns.ts), and each step had one. */
function noGnsReason(summary: RunSummary | null, config: Partial<TrainConfig> | null): string {
  if (summary === null) return 'Not measured: the step records hold no noise scale.';
  const chunks = config?.reduceChunks ?? 0;
  if (summary.batchSize === 1 && config?.batchSize !== 'auto') {
    return 'Not measured in this run: a batch of one sample fills one gradient slot per step, and B_simple compares the gradients of two or more — it needs a batch size of 2 or more, with --reduce-chunks 2 or more or 2 or more workers.';
  }
  if (Math.min(chunks > 0 ? chunks : summary.workers, summary.batchSize) < 2) {
    const setup = `${summary.engine} engine, ${plural(summary.workers, 'worker')}${chunks > 0 ? `, --reduce-chunks ${chunks}` : ', no --reduce-chunks'}`;
    return `Not measured in this run: one gradient slot per step (${setup}), and B_simple compares the gradients of two or more — train with --reduce-chunks 2 or more, or with 2 or more workers.`;
  }
  return 'Not measured: the step records hold no noise scale.';
}

/** The paragraphs above the charts: why the run stopped (unless it ran its epochs), its setup and outcome, and the all-reduce split. */
function runSummaryText(run: RunFiles): string[] {
  const { metrics, summary } = run;
  if (summary === null) return [`${plural(metrics.epochs.length, 'epoch')}, ${plural(metrics.steps, 'step')} (no summary.json: the run did not finish).`];
  const stopped = stopText(run, summary);
  const text = [
    ...(stopped ? [stopped] : []),
    `${summary.model} on ${summary.dataset} (${summary.trainSamples.toLocaleString('en-US')} training samples, ${summary.valSamples.toLocaleString('en-US')} held out); ${batchText(run, summary)}; ${summary.engine} engine, ${plural(summary.workers, 'worker')}.`,
    `${plural(summary.epochs, 'epoch')}, ${plural(summary.steps, 'step')}, ${plural(summary.samples, 'sample')} in ${summary.seconds.toFixed(1)} s (${Math.round(summary.samplesPerSec).toLocaleString('en-US')} samples/s); final train loss ${fmt(summary.final.trainLoss)}, val loss ${fmt(summary.final.valLoss)}, val accuracy ${fmt(summary.final.valAccuracy)}.`,
  ];
  const allReduce = timelineSummary(metrics.timeline);
  if (allReduce) text.push(allReduce);
  return text;
}

/** Whether the batch size was chosen while training (--batch-size auto). */
const isAuto = ({ config, metrics }: RunFiles): boolean =>
  config ? config.batchSize === 'auto' : metrics.adapt.length > 0 && metrics.batchSizes !== null && metrics.batchSizes.min !== metrics.batchSizes.max;

/** The batch size and learning rate: fixed, or (--batch-size auto) the range the run chose from B0. */
function batchText(run: RunFiles, summary: RunSummary): string {
  const range = run.metrics.batchSizes;
  if (!isAuto(run) || range === null) return `batch size ${summary.batchSize}, ${summary.stepsPerEpoch} steps per epoch, learning rate ${summary.lr}`;
  const sizes = range.min === range.max ? `${range.min}` : `${range.min}–${range.max}`;
  // summary.json's batchSize is the last one chosen; B0, where --lr holds, is the config's.
  const b0 = run.config?.baseBatchSize;
  return `batch size chosen while training (--batch-size auto): ${sizes} samples per step (an epoch's partial last batch aside)${b0 ? ` from B0 = ${b0}` : ''}, ${plural(summary.steps, 'step')} in all; learning rate ${summary.lr}${b0 ? ' at B0' : ''}, times the gain of --lr-rule ${run.config?.lrRule ?? 'adascale'}`;
}

/**
 * Where the run stopped, as the CLI's interrupt line says it: `epoch 2/10 step 57/141 (run step
 * 198)`, or an epoch's end. --max-steps closes a partial epoch with an epoch record: its steps say so.
 */
function stopPoint(run: RunFiles, summary: RunSummary): string {
  const total = run.config?.epochs;
  const of = total ? `/${total}` : '';
  const perEpoch = isAuto(run) ? '' : `/${summary.stepsPerEpoch}`;
  const epochs = run.metrics.epochs;
  const inEpoch = summary.steps - epochs.reduce((n, e) => n + e.steps, 0);
  const last = epochs.at(-1);
  if (summary.steps === 0) return 'the start, before its first step';
  if (inEpoch > 0) return `epoch ${summary.epochs + 1}${of} step ${inEpoch}${perEpoch} (run step ${summary.steps})`;
  if (last && perEpoch && last.steps < summary.stepsPerEpoch) return `epoch ${last.epoch + 1}${of} step ${last.steps}${perEpoch} (run step ${summary.steps})`;
  return `the end of epoch ${summary.epochs}${of} (run step ${summary.steps})`;
}

/** One sentence on why the run ended before its epochs did (summary.json's stopReason); null when it ran them all. */
function stopText(run: RunFiles, summary: RunSummary): string | null {
  const at = stopPoint(run, summary);
  switch (summary.stopReason) {
    case 'epochs':
      return null;
    case 'interrupted': {
      const resume = run.config?.checkpointDir ? `; continue it with --resume ${run.config.checkpointDir}` : '';
      return `Interrupted (Ctrl-C or SIGTERM) at ${at}: the records, summary.json and final.safetensors end at that step${resume}.`;
    }
    case 'noWorkers': {
      const resume = run.config?.checkpointDir ? `; continue it with --resume ${run.config.checkpointDir} once a worker can join` : '';
      return `Ended at ${at}: no worker was left and none joined within --rejoin-timeout; the records, summary.json and final.safetensors end at that step${resume}.`;
    }
    case 'maxSteps':
      return `Stopped by --max-steps ${run.config?.maxSteps || summary.steps} at ${at}.`;
    case 'earlyStopping':
    case 'callback':
      return earlyStopText(run, summary, at);
  }
}

/**
 * Early stopping (--patience), a sweep's target, or another callback's stop request (summaries
 * written before stopReason "callback" existed name that "earlyStopping" too).
 */
function earlyStopText(run: RunFiles, summary: RunSummary, at: string): string {
  if (run.stoppedAtTarget) return `Stopped early at ${at}: \`dptrain sweep\` stops each run once it meets its target.`;
  const best = summary.best;
  if (summary.stopReason === 'earlyStopping' && best && (run.config?.patience ?? 0) > 0) {
    const restored = best.restored ? ', whose weights are the final parameters (--restore-best)' : '';
    const patience = run.config!.patience!;
    return `Stopped early at ${at}: ${best.monitor} did not improve for ${plural(patience, 'epoch')} (--patience ${patience}); best ${best.monitor} ${fmt(best.value)} at epoch ${best.epoch + 1}${restored}.`;
  }
  const message = summary.stopReason === 'callback' && summary.stopMessage ? ` (${summary.stopMessage})` : '';
  return `Stopped early at ${at}: a callback asked the run to stop${message}.`;
}

/**
 * --batch-size auto (docs/batch-size.md, "Choosing the batch size while training"): the batch
 * size and the noise scale φ at each choice, the goodput predicted at the chosen B, and the
 * learning-rate gain; from the run's `adapt` records. None for a fixed batch size. The batch size
 * and the gain are step functions up to the run's last step: a choice holds until the next.
 */
function adaptiveCharts(adapt: AdaptRecord[], runSteps: number): (ChartDef | null)[] {
  if (adapt.length === 0) return [];
  const at = (pick: (r: AdaptRecord) => number | null) => adapt.map((r) => ({ x: r.step + 1, y: pick(r) }));
  const first = adapt[0].step + 1;
  const last = Math.max(adapt.at(-1)!.step + 1, runSteps);
  const xRange: [number, number] | undefined = last > first ? [first, last] : undefined;
  return [
    chart(
      { id: 'adaptive-batch', title: 'Batch size B(t) and noise scale φ(t) (--batch-size auto)', note: 'At each choice: the batch size from then on (a step function up to the last step), the smoothed noise scale φ = B_simple it used, and the unconstrained best B = √(a·φ/b) of the step-time fit T(B) = a + b·B. B moves at most 2x per choice.', xLabel: 'step', yLabel: 'samples', xLog: false, yLog: true, xRange },
      [
        { label: 'batch size B', style: 'steps', color: 0, points: at((r) => r.batchSize) },
        { label: 'φ (B_simple)', style: 'line', color: 1, points: at((r) => r.phi) },
        { label: 'best B of the model', style: 'dashed', color: 2, points: at((r) => (r.optimum !== null && Number.isFinite(r.optimum) ? r.optimum : null)) },
      ],
    ),
    chart(
      { id: 'adaptive-goodput', title: 'Predicted goodput at the chosen batch size', note: 'goodput(B) = B/T(B) · E(B): samples per second times the progress per sample relative to B0, E(B) = (φ + B0)/(φ + B). Dashed: the goodput of B0 with the same φ and step-time fit; the ratio of the two lines is the speed-up the model expects over a fixed B0 (overBase in metrics.jsonl).', xLabel: 'step', yLabel: 'base-batch samples / s', xLog: false, yLog: false },
      [
        { label: 'predicted goodput', style: 'line', color: 0, points: at((r) => r.goodput) },
        // Runs written before `overBase` existed have none: no dashed line.
        { label: 'at B0', style: 'dashed', color: 1, points: at((r) => (r.goodput !== null && r.overBase ? r.goodput / r.overBase : null)) },
      ],
    ),
    chart(
      { id: 'adaptive-gain', title: 'Learning-rate gain', note: 'The factor on --lr (given at B0) at each choice of the batch size, held until the next: AdaScale\'s r = (B/B0)(φ + B0)/(φ + B), between 1 and B/B0. With --lr-rule adascale it also follows φ between choices; the learning-rate chart shows the rate of every step.', xLabel: 'step', yLabel: 'gain', xLog: false, yLog: false, xRange },
      [{ label: 'lr gain', style: 'steps', color: 0, points: at((r) => r.gain) }],
    ),
  ];
}
