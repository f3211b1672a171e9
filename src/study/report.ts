/**
 * `dptrain report DIR`: one self-contained HTML page for a sweep directory (results.json) or a
 * run directory (metrics.jsonl). Charts are uPlot (MIT, ~50 kB, inlined with its CSS from
 * node_modules), the data are embedded as JSON, and nothing is fetched: the page opens offline.
 *
 * The charts are built here as plain definitions (x values and aligned series), so the page's
 * script only hands them to uPlot, and tests can check the definitions without a browser.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, DptrainError } from '../errors.js';
import { writeFileAtomic } from '../io/index.js';
import type { AdaptRecord, RunSummary } from '../train/index.js';
import { CHART_CSS, CHART_SCRIPT, uplotAssets } from './charts.js';
import { predictSteps } from './fit.js';
import { readJson, readRunMetrics, type RunMetrics } from './metrics.js';
import type { SweepResults } from './sweep.js';
import { timelineCharts, timelineSummary } from './timeline.js';
import { plural } from '../util/index.js';

export type SeriesStyle = 'line' | 'points' | 'dashed';

export interface ChartSeries {
  label: string;
  style: SeriesStyle;
  /** Index into the page's palette, so that a batch size keeps its colour across charts. */
  color: number;
  /** y values: aligned with the chart's `x`, or (xy charts) with this series' own `x`. */
  values: (number | null)[];
  /** xy charts only: this series' x values, in drawing order (a path, closed contours); a null y breaks the line. */
  x?: number[];
  /** Stroke width in CSS pixels (default 2). */
  width?: number;
  /** Drawn see-through (the raw series under a smoothed one). */
  faint?: boolean;
}

export interface ChartDef {
  id: string;
  title: string;
  /** How to read it, one or two sentences under the title. */
  note: string;
  xLabel: string;
  yLabel: string;
  xLog: boolean;
  yLog: boolean;
  /** The shared x values (aligned charts); empty for xy charts. */
  x: number[];
  series: ChartSeries[];
  /**
   * 'xy': every series has its own x values and is drawn in order (uPlot mode 2), for paths in a
   * parameter plane; with `square`, one unit has the same length on both axes. Default: aligned.
   */
  layout?: 'aligned' | 'xy';
  square?: boolean;
  /** Axis ranges [min, max] (default: from the data). */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Plot height in pixels (default 360). */
  height?: number;
  /** A chart of rows (a timeline): y = 1, 2, … is row k, labelled rows[k - 1] on the y axis. */
  rows?: string[];
}

export interface ReportPage {
  kind: 'sweep' | 'run';
  title: string;
  /** Paragraphs of plain text above the charts. */
  summary: string[];
  /** A table (header row first), or null. */
  table: string[][] | null;
  warnings: string[];
  charts: ChartDef[];
}

interface Trace {
  label: string;
  style: SeriesStyle;
  color: number;
  points: { x: number; y: number | null }[];
}

/** Puts traces with different x values on one sorted x axis (null where a trace has no value). */
export function alignTraces(traces: Trace[], xLog: boolean, yLog: boolean): { x: number[]; series: ChartSeries[] } {
  const ok = (v: number | null, log: boolean): v is number => v !== null && Number.isFinite(v) && (!log || v > 0);
  const xs = [...new Set(traces.flatMap((t) => t.points.filter((p) => ok(p.x, xLog)).map((p) => p.x)))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const series = traces.map((t) => {
    const values: (number | null)[] = new Array(xs.length).fill(null);
    for (const p of t.points) {
      const i = at.get(p.x);
      if (i !== undefined && ok(p.y, yLog)) values[i] = p.y;
    }
    return { label: t.label, style: t.style, color: t.color, values };
  });
  return { x: xs, series };
}

function chart(def: Omit<ChartDef, 'x' | 'series'>, traces: Trace[]): ChartDef | null {
  const { x, series } = alignTraces(traces, def.xLog, def.yLog);
  const kept = series.filter((s) => s.values.some((v) => v !== null));
  if (x.length === 0 || kept.length === 0) return null;
  return { ...def, x, series: kept };
}

/** n log-spaced values from lo to hi. */
function logSpace(lo: number, hi: number, n: number): number[] {
  if (!(lo > 0 && hi > lo)) return [lo];
  return Array.from({ length: n }, (_, i) => lo * Math.pow(hi / lo, i / (n - 1)));
}

const fmt = (v: number | null | undefined, digits = 4): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : Math.abs(v) >= 1e5 ? Math.round(v).toLocaleString('en-US') : String(Number(v.toPrecision(digits)));

// ---------------------------------------------------------------------------------------------
// Sweep page

/** Chart definitions and text for a sweep directory. */
export async function sweepPage(dir: string, results: SweepResults): Promise<ReportPage> {
  const rows = results.batchSizes;
  const color = new Map(rows.map((r, i) => [r.batchSize, i]));
  const label = (r: { batchSize: number | 'full'; resolvedBatchSize: number }) => (r.batchSize === 'full' ? `B=full (${r.resolvedBatchSize})` : `B=${r.batchSize}`);
  const reached = rows.filter((r) => r.stepsToTarget !== null);
  const fit = results.fit;
  const charts: (ChartDef | null)[] = [];
  const N = results.trainSamples;
  const bs = rows.map((r) => r.resolvedBatchSize);
  const dense = logSpace(Math.min(...bs), Math.max(...bs), 60);
  const ref = reached[0];

  // 1. Steps to target vs B, log-log.
  charts.push(
    chart(
      {
        id: 'steps-vs-batch',
        title: `Steps to ${results.target.text} vs batch size`,
        note: 'Each point is the median over seeds. The dashed line halves the steps for every doubling of B (perfect scaling, slope −1) from the smallest batch size; the fitted curve S_min + E_min/B flattens toward S_min beyond B_crit.',
        xLabel: 'batch size B',
        yLabel: 'steps to target',
        xLog: true,
        yLog: true,
      },
      [
        { label: 'measured', style: 'points', color: 0, points: reached.map((r) => ({ x: r.resolvedBatchSize, y: r.stepsToTarget })) },
        ...(ref ? [{ label: 'perfect scaling', style: 'dashed' as const, color: 8, points: dense.map((b) => ({ x: b, y: (ref.stepsToTarget! * ref.resolvedBatchSize) / b })) }] : []),
        ...(fit ? [{ label: `fit S_min + E_min/B${fit.bCrit !== null ? ` (B_crit ≈ ${fmt(fit.bCrit, 3)})` : ''}`, style: 'line' as const, color: 1, points: dense.map((b) => ({ x: b, y: predictSteps(fit, b) })) }] : []),
        ...(fit && fit.sMin > 0 ? [{ label: 'S_min', style: 'dashed' as const, color: 9, points: dense.map((b) => ({ x: b, y: fit.sMin })) }] : []),
      ],
    ),
  );

  // 2. Epochs to target vs B.
  charts.push(
    chart(
      {
        id: 'epochs-vs-batch',
        title: `Epochs to ${results.target.text} vs batch size`,
        note: 'Flat while scaling is perfect (every sample counts as much at any B), rising in proportion to B once the batch is larger than it needs to be: E(B) = E_min(1 + B/B_crit).',
        xLabel: 'batch size B',
        yLabel: 'epochs to target',
        xLog: true,
        yLog: true,
      },
      [
        { label: 'measured', style: 'points', color: 0, points: reached.map((r) => ({ x: r.resolvedBatchSize, y: r.epochsToTarget })) },
        ...(fit ? [{ label: 'fit (E_min + S_min·B)/N', style: 'line' as const, color: 1, points: dense.map((b) => ({ x: b, y: (fit.eMin + fit.sMin * b) / N })) }] : []),
      ],
    ),
  );

  // 3-4. Loss curves per B (the first seed at the chosen rate).
  const curves: { row: (typeof rows)[number]; metrics: RunMetrics }[] = [];
  for (const row of rows) {
    const id = row.runs[0];
    const outcome = results.runs.find((o) => o.id === id);
    if (!outcome) continue;
    const metrics = await readRunMetrics(path.join(dir, 'runs', id)).catch(() => null);
    if (metrics) curves.push({ row, metrics });
  }
  const lossTraces = (x: 'step' | 'samples'): Trace[] =>
    curves.map(({ row, metrics }) => ({ label: label(row), style: 'line' as const, color: color.get(row.batchSize)!, points: metrics.curve.map((p) => ({ x: p[x], y: p.loss })) }));
  const positiveLoss = curves.every(({ metrics }) => metrics.curve.every((p) => p.loss > 0));
  charts.push(
    chart(
      {
        id: 'loss-vs-steps',
        title: 'Training loss vs steps',
        note: 'Batch losses averaged over log-spaced bins of steps. Larger batches make more progress per step, up to the critical batch size.',
        xLabel: 'step',
        yLabel: 'training loss (batch mean)',
        xLog: true,
        yLog: positiveLoss,
      },
      lossTraces('step'),
    ),
  );
  charts.push(
    chart(
      {
        id: 'loss-vs-samples',
        title: 'Training loss vs samples processed',
        note: 'The same curves against samples (epochs × N). Curves that overlap here scale perfectly: a bigger batch gets the same progress per sample in fewer steps.',
        xLabel: 'samples processed',
        yLabel: 'training loss (batch mean)',
        xLog: true,
        yLog: positiveLoss,
      },
      lossTraces('samples'),
    ),
  );

  // 5. B_simple over training: the logged series when the loop logs it, else start and end.
  const logged = curves.filter(({ row, metrics }) => row.gnsSlots >= 2 && metrics.gns.length > 0);
  const unmeasurable = rows.filter((r) => r.gnsSlots < 2).map(label);
  const setup = results.gns;
  const gnsTraces: Trace[] = logged.length
    ? logged.map(({ row, metrics }) => ({ label: label(row), style: 'line' as const, color: color.get(row.batchSize)!, points: metrics.gns.map((p) => ({ x: p.step, y: p.bSimple })) }))
    : rows.map((row) => {
        const outcome = results.runs.find((o) => o.id === row.runs[0]);
        return {
          label: label(row),
          style: 'points' as const,
          color: color.get(row.batchSize)!,
          points: outcome ? [{ x: 1, y: outcome.bSimpleStart }, { x: Math.max(2, outcome.stepsRun), y: outcome.bSimpleEnd }] : [],
        };
      });
  const gnsSteps = gnsTraces.flatMap((t) => t.points.map((p) => p.x));
  if (fit?.bCrit && gnsSteps.length) {
    gnsTraces.push({ label: 'fitted B_crit', style: 'dashed', color: 9, points: logSpace(Math.min(...gnsSteps), Math.max(...gnsSteps), 20).map((x) => ({ x, y: fit.bCrit })) });
  }
  charts.push(
    chart(
      {
        id: 'gns',
        title: 'Gradient noise scale B_simple = tr(Σ)/|G|² over training',
        note: logged.length && setup
          ? `Logged at every step from the gradient slots' sums (moving averages of the A.1 estimates), measured with the ${setup.engine} engine, ${setup.workers} worker(s), --reduce-chunks ${setup.reduceChunks}.${unmeasurable.length ? ` Not measurable at ${unmeasurable.join(', ')}: a step there has one gradient slot holding samples.` : ''} McCandlish et al. 2018 find the critical batch size close to B_simple near the target; on noisy tasks it rises as the loss falls.`
          : `Not logged along the runs (every step had one gradient slot holding samples); shown instead: measurements at fixed parameters at the start (step 1) and the end of each run (the target, when reached). ${results.bSimpleSource}.`,
        xLabel: 'step',
        yLabel: 'B_simple (samples)',
        xLog: true,
        yLog: true,
      },
      gnsTraces,
    ),
  );

  // 6. Best LR vs B with linear and square-root reference lines through the smallest B.
  const withLr = rows.filter((r) => r.lr !== null && r.lr > 0);
  const lrRef = withLr[0];
  charts.push(
    chart(
      {
        id: 'lr-vs-batch',
        title: results.lrRule === 'tuned' ? 'Best learning rate vs batch size' : `Learning rate vs batch size (--lr-rule ${results.lrRule})`,
        note: results.lrRule === 'tuned'
          ? 'The grid rate with the fewest steps to target. Reference lines from the smallest batch size: linear scaling (Goyal et al. 2017, slope 1) and square-root scaling (Krizhevsky 2014, slope ½).'
          : 'The rate each batch size used (not tuned). Reference lines from the smallest batch size: linear (slope 1) and square root (slope ½).',
        xLabel: 'batch size B',
        yLabel: 'learning rate',
        xLog: true,
        yLog: true,
      },
      [
        { label: results.lrRule === 'tuned' ? 'best rate' : 'rate used', style: 'points', color: 0, points: withLr.map((r) => ({ x: r.resolvedBatchSize, y: r.lr })) },
        ...(lrRef ? [
          { label: 'linear', style: 'dashed' as const, color: 1, points: dense.map((b) => ({ x: b, y: (lrRef.lr! * b) / lrRef.resolvedBatchSize })) },
          { label: 'square root', style: 'dashed' as const, color: 2, points: dense.map((b) => ({ x: b, y: lrRef.lr! * Math.sqrt(b / lrRef.resolvedBatchSize) })) },
        ] : []),
      ],
    ),
  );

  // 7. Throughput vs B.
  charts.push(
    chart(
      {
        id: 'throughput-vs-batch',
        title: 'Throughput vs batch size',
        note: 'Training samples per second (median over seeds). It grows with B while per-step overheads dominate and flattens once the compute is saturated; wall time to target = steps × time per step.',
        xLabel: 'batch size B',
        yLabel: 'samples / s',
        xLog: true,
        yLog: true,
      },
      [{ label: 'samples/s', style: 'points', color: 0, points: rows.map((r) => ({ x: r.resolvedBatchSize, y: r.samplesPerSec })) }],
    ),
  );

  const summary = [
    `${results.model} on ${results.dataset} (${N.toLocaleString('en-US')} training samples), ${results.optimizer}${results.optimizer === 'sgd' ? ` momentum ${results.momentum}` : ''}, learning rate rule ${results.lrRule}${results.lrRule === 'tuned' ? ` (${results.lrTrials} rates a factor ${results.lrFactor} apart per batch size)` : ` (${results.baseLr} at B=${results.baseBatchSize})`}, ${plural(results.seeds.length, 'seed')}, at most ${plural(results.maxEpochs, 'epoch')} per run.`,
    `Target: ${results.target.text}, checked ${results.targetCheck}.`,
    fit
      ? `Fit (${fit.method}): S_min = ${fmt(fit.sMin)} steps, E_min = ${fmt(fit.eMin)} samples, B_crit = E_min/S_min = ${fit.bCrit === null ? 'beyond the largest batch size' : fmt(fit.bCrit)}; rms relative residual ${fmt(fit.rmsRelativeError * 100, 2)}%.${results.fitNote ? ' ' + results.fitNote + '.' : ''}`
      : `No fit: ${results.fitNote}.`,
    `B_simple: ${results.bSimpleSource}.`,
  ];
  const table = [
    ['B', 'lr', 'steps to target', 'epochs', 'samples', 'seconds (training)', 'final val loss', 'final val acc', 'samples/s', 'B_simple at target', 'efficiency', 'regime'],
    ...rows.map((r) => [
      r.batchSize === 'full' ? `full (${r.resolvedBatchSize})` : String(r.batchSize),
      fmt(r.lr),
      r.reached ? `${fmt(r.stepsToTarget)}${r.stepsRange && r.seeds > 1 ? ` [${r.stepsRange[0]}–${r.stepsRange[1]}]` : ''}` : 'not reached',
      r.reached ? fmt(r.epochsToTarget) : '—',
      r.reached ? fmt(r.samplesToTarget) : '—',
      r.reached ? fmt(r.secondsToTarget, 3) : '—',
      fmt(r.final.valLoss),
      fmt(r.final.valAccuracy),
      fmt(r.samplesPerSec, 3),
      r.gnsSlots < 2 ? 'not measurable' : fmt(r.bSimpleLogged, 3),
      fmt(r.efficiency, 2),
      r.regime ?? '—',
    ]),
  ];
  return {
    kind: 'sweep',
    title: `Batch-size sweep: ${results.model} on ${results.dataset}`,
    summary,
    table,
    warnings: results.warnings,
    charts: charts.filter((c): c is ChartDef => c !== null),
  };
}

// ---------------------------------------------------------------------------------------------
// Run page

export async function runPage(dir: string): Promise<ReportPage> {
  const metrics = await readRunMetrics(dir);
  const summary = await readJson<RunSummary>(path.join(dir, 'summary.json'));
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
  charts.push(...adaptiveCharts(metrics.adapt));
  charts.push(...timelineCharts(metrics.timeline));
  const text = summary
    ? [
        `${summary.model} on ${summary.dataset} (${summary.trainSamples.toLocaleString('en-US')} training samples, ${summary.valSamples.toLocaleString('en-US')} held out); batch size ${summary.batchSize}, ${summary.stepsPerEpoch} steps per epoch, learning rate ${summary.lr}; ${summary.engine} engine, ${plural(summary.workers, 'worker')}.`,
        `${plural(summary.epochs, 'epoch')}, ${plural(summary.steps, 'step')}, ${plural(summary.samples, 'sample')} in ${summary.seconds.toFixed(1)} s (${Math.round(summary.samplesPerSec).toLocaleString('en-US')} samples/s); final train loss ${fmt(summary.final.trainLoss)}, val loss ${fmt(summary.final.valLoss)}, val accuracy ${fmt(summary.final.valAccuracy)}.`,
      ]
    : [`${plural(metrics.epochs.length, 'epoch')}, ${plural(metrics.steps, 'step')} (no summary.json: the run did not finish).`];
  const allReduce = timelineSummary(metrics.timeline);
  if (allReduce) text.push(allReduce);
  return { kind: 'run', title: `Training run: ${summary ? `${summary.model} on ${summary.dataset}` : path.basename(path.resolve(dir))}`, summary: text, table: null, warnings: [], charts: charts.filter((c): c is ChartDef => c !== null) };
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

// ---------------------------------------------------------------------------------------------
// HTML

/** The page definition for DIR: a sweep (results.json) or a run (metrics.jsonl). */
export async function buildReportPage(dir: string): Promise<ReportPage> {
  const results = await readJson<SweepResults>(path.join(dir, 'results.json'));
  if (results) {
    if (results.format !== 'dptrain-sweep-results-v1') {
      throw new DptrainError('dptrain.study.badResults', `${path.join(dir, 'results.json')} is not a dptrain sweep result (format ${JSON.stringify(results.format)})`);
    }
    return sweepPage(dir, results);
  }
  if (fs.existsSync(path.join(dir, 'metrics.jsonl'))) return runPage(dir);
  throw new ConfigError('notAReportDir', `${dir} holds neither results.json (a sweep) nor metrics.jsonl (a run) — pass the --out directory of \`dptrain sweep\` or \`dptrain train\``);
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Draws every chart of the page's data with the shared chart script (charts.ts); runs in the page. */
const PAGE_SCRIPT = `
(function () {
  var page = JSON.parse(document.getElementById('report-data').textContent);
  var charts = window.dptrainCharts;
  var root = document.getElementById('charts');
  window.__charts = [];
  page.charts.forEach(function (def) {
    var box = charts.section(root, def);
    charts.draw(def, box, Math.max(480, Math.min(960, root.clientWidth || 900)));
    window.__charts.push({ id: def.id, points: def.series.map(function (s) { return s.values.filter(function (v) { return v !== null; }).length; }) });
  });
  document.body.setAttribute('data-charts-ready', String(page.charts.length));
})();
`;

/** The whole page as one HTML string. */
export function renderHtml(page: ReportPage): string {
  const { js, css } = uplotAssets();
  const table = page.table
    ? `<table><thead><tr>${page.table[0].map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${page.table
        .slice(1)
        .map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`
    : '';
  const warnings = page.warnings.length ? `<ul class="warnings">${page.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>${css}</style>
<style>${CHART_CSS}</style>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
${page.summary.map((s) => `<p>${escapeHtml(s)}</p>`).join('\n')}
${warnings}
${table}
<div id="charts"></div>
<footer>Written by dptrain report. Charts: uPlot (MIT). Terms and how to read each chart: docs/batch-size.md.</footer>
<script id="report-data" type="application/json">${scriptJson(page)}</script>
<script>${js}</script>
<script>${CHART_SCRIPT}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** Writes the report of DIR to `outFile` (default DIR/report.html) and returns its path. */
export async function writeReport(dir: string, outFile?: string): Promise<{ file: string; page: ReportPage }> {
  const page = await buildReportPage(dir);
  const file = outFile ?? path.join(dir, 'report.html');
  try {
    await writeFileAtomic(file, new TextEncoder().encode(renderHtml(page)));
  } catch (cause) {
    // A folder that takes no files (read-only, another user's, /proc): one line, as a missing folder is.
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === undefined || !['EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR'].includes(code)) throw cause;
    const what = outFile === undefined ? `${file} (the default of --out)` : `--out ${file}`;
    throw new ConfigError('badOption', `${what} cannot be written (${code}) — choose a writable path with --out FILE`, { cause });
  }
  return { file, page };
}
