/**
 * The run page of `dptrain report`: from a run directory's metrics.jsonl and summary.json, the
 * loss, accuracy, validation, throughput and noise-scale charts, the charts of --batch-size auto
 * (adaptiveCharts) and a ws run's all-reduce timeline (timeline.ts), and the summary paragraphs.
 */
import path from 'node:path';
import type { AdaptRecord, RunSummary } from '../train/index.js';
import { plural } from '../util/index.js';
import { readJson, readRunMetrics, type RunMetrics } from './metrics.js';
import { chart, fmt, type ChartDef, type ReportPage, type Trace } from './report-page.js';
import { timelineCharts, timelineSummary } from './timeline.js';

/** Chart definitions and text for a run directory. */
export async function runPage(dir: string): Promise<ReportPage> {
  const metrics = await readRunMetrics(dir);
  const summary = await readJson<RunSummary>(path.join(dir, 'summary.json'));
  const charts: (ChartDef | null)[] = [...trainingCharts(metrics), ...adaptiveCharts(metrics.adapt), ...timelineCharts(metrics.timeline)];
  return {
    kind: 'run',
    title: `Training run: ${summary ? `${summary.model} on ${summary.dataset}` : path.basename(path.resolve(dir))}`,
    summary: runSummaryText(metrics, summary),
    table: null,
    warnings: [],
    charts: charts.filter((c): c is ChartDef => c !== null),
  };
}

/** The charts of any run: loss per step and per sample, per-epoch loss and accuracy, validation, throughput, B_simple. */
function trainingCharts(metrics: RunMetrics): (ChartDef | null)[] {
  const charts: (ChartDef | null)[] = [];
  const positive = metrics.curve.every((p) => p.loss > 0);
  const curve = (x: 'step' | 'samples'): Trace[] => [
    { label: 'training loss (batch mean)', style: 'line', color: 0, points: metrics.curve.map((p) => ({ x: p[x], y: p.loss })) },
  ];
  charts.push(chart({ id: 'loss-vs-steps', title: 'Training loss vs steps', note: 'Batch losses averaged over log-spaced bins of steps.', xLabel: 'step', yLabel: 'loss', xLog: true, yLog: positive }, curve('step')));
  charts.push(chart({ id: 'loss-vs-samples', title: 'Training loss vs samples processed', note: 'The same curve against samples processed.', xLabel: 'samples processed', yLabel: 'loss', xLog: true, yLog: positive }, curve('samples')));
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
  if (metrics.gns.length) {
    charts.push(
      chart(
        { id: 'gns', title: 'Gradient noise scale B_simple over training', note: 'EMAs of the A.1 estimates from the shard gradients, logged at every step.', xLabel: 'step', yLabel: 'B_simple (samples)', xLog: true, yLog: true },
        [{ label: 'B_simple', style: 'line', color: 0, points: metrics.gns.map((p) => ({ x: p.step, y: p.bSimple })) }],
      ),
    );
  }
  return charts;
}

/** The paragraphs above the charts: the run's setup and outcome (from summary.json), and the all-reduce split. */
function runSummaryText(metrics: RunMetrics, summary: RunSummary | null): string[] {
  const text = summary
    ? [
        `${summary.model} on ${summary.dataset} (${summary.trainSamples.toLocaleString('en-US')} training samples, ${summary.valSamples.toLocaleString('en-US')} held out); batch size ${summary.batchSize}, ${summary.stepsPerEpoch} steps per epoch, learning rate ${summary.lr}; ${summary.engine} engine, ${plural(summary.workers, 'worker')}.`,
        `${plural(summary.epochs, 'epoch')}, ${plural(summary.steps, 'step')}, ${plural(summary.samples, 'sample')} in ${summary.seconds.toFixed(1)} s (${Math.round(summary.samplesPerSec).toLocaleString('en-US')} samples/s); final train loss ${fmt(summary.final.trainLoss)}, val loss ${fmt(summary.final.valLoss)}, val accuracy ${fmt(summary.final.valAccuracy)}.`,
      ]
    : [`${plural(metrics.epochs.length, 'epoch')}, ${plural(metrics.steps, 'step')} (no summary.json: the run did not finish).`];
  const allReduce = timelineSummary(metrics.timeline);
  if (allReduce) text.push(allReduce);
  return text;
}

/**
 * --batch-size auto (docs/batch-size.md, "Choosing the batch size while training"): the batch
 * size and the noise scale φ at each choice, the goodput predicted at the chosen B, and the
 * learning-rate gain; from the run's `adapt` records. None for a fixed batch size.
 */
function adaptiveCharts(adapt: AdaptRecord[]): (ChartDef | null)[] {
  if (adapt.length === 0) return [];
  const at = (pick: (r: AdaptRecord) => number | null) => adapt.map((r) => ({ x: r.step + 1, y: pick(r) }));
  return [
    chart(
      { id: 'adaptive-batch', title: 'Batch size B(t) and noise scale φ(t) (--batch-size auto)', note: 'At each choice: the batch size from then on, the smoothed noise scale φ = B_simple it used, and the unconstrained best B = √(a·φ/b) of the step-time fit T(B) = a + b·B. B moves at most 2x per choice.', xLabel: 'step', yLabel: 'samples', xLog: false, yLog: true },
      [
        { label: 'batch size B', style: 'line', color: 0, points: at((r) => r.batchSize) },
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
      { id: 'adaptive-gain', title: 'Learning-rate gain', note: 'The factor on --lr (given at B0) at the chosen batch size: AdaScale\'s r = (B/B0)(φ + B0)/(φ + B), between 1 and B/B0.', xLabel: 'step', yLabel: 'gain', xLog: false, yLog: false },
      [{ label: 'lr gain', style: 'line', color: 0, points: at((r) => r.gain) }],
    ),
  ];
}
