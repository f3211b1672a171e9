/**
 * The sweep page of `dptrain report`: from a sweep's results.json and its runs' metrics.jsonl, the
 * seven charts (steps and epochs to target, loss against steps and against samples, B_simple over
 * training, learning rate and throughput against batch size), the summary paragraphs and the table
 * of batch sizes. Each chart has its own function; a batch size keeps its colour across them.
 */
import path from 'node:path';
import { plural } from '../util/index.js';
import { predictSteps } from './fit.js';
import { readRunMetrics, type RunMetrics } from './metrics.js';
import { chart, fmt, logSpace, type ChartDef, type ReportPage, type Trace } from './report-page.js';
import type { BatchSizeResult, SweepResults } from './sweep-types.js';

/** The palette index of each batch size, so that a batch size keeps its colour across charts. */
type BatchColors = Map<BatchSizeResult['batchSize'], number>;

/** A batch size's loss curve: its first run (the first seed at the chosen rate) and that run's metrics. */
interface Curve {
  row: BatchSizeResult;
  metrics: RunMetrics;
}

/** Chart definitions and text for a sweep directory. */
export async function sweepPage(dir: string, results: SweepResults): Promise<ReportPage> {
  const rows = results.batchSizes;
  const color: BatchColors = new Map(rows.map((r, i) => [r.batchSize, i]));
  const bs = rows.map((r) => r.resolvedBatchSize);
  const dense = logSpace(Math.min(...bs), Math.max(...bs), 60);
  const charts: (ChartDef | null)[] = [stepsChart(results, dense), epochsChart(results, dense)];
  const curves = await readCurves(dir, results);
  charts.push(...lossCharts(curves, color), gnsChart(results, curves, color), lrChart(results, dense), throughputChart(results));
  return {
    kind: 'sweep',
    title: `Batch-size sweep: ${results.model} on ${results.dataset}`,
    summary: [...interruptedText(dir, results), ...sweepSummary(results)],
    table: [...sweepTable(rows), ...unfinishedRows(results)],
    warnings: results.warnings,
    charts: charts.filter((c): c is ChartDef => c !== null),
  };
}

/** A batch size in legends: B=64, or B=full (N). */
const batchLabel = (r: { batchSize: number | 'full'; resolvedBatchSize: number }) => (r.batchSize === 'full' ? `B=full (${r.resolvedBatchSize})` : `B=${r.batchSize}`);

/** The batch sizes that reached the target. */
const reachedRows = (results: SweepResults) => results.batchSizes.filter((r) => r.stepsToTarget !== null);

/** 1. Steps to target vs B, log-log. */
function stepsChart(results: SweepResults, dense: number[]): ChartDef | null {
  const reached = reachedRows(results);
  const fit = results.fit;
  const ref = reached[0];
  return chart(
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
  );
}

/** 2. Epochs to target vs B. */
function epochsChart(results: SweepResults, dense: number[]): ChartDef | null {
  const reached = reachedRows(results);
  const fit = results.fit;
  const N = results.trainSamples;
  return chart(
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
  );
}

/** The first run of each batch size with its metrics (a run whose metrics cannot be read has no curve). */
async function readCurves(dir: string, results: SweepResults): Promise<Curve[]> {
  const curves: Curve[] = [];
  for (const row of results.batchSizes) {
    const id = row.runs[0];
    const outcome = results.runs.find((o) => o.id === id);
    if (!outcome) continue;
    const metrics = await readRunMetrics(path.join(dir, 'runs', id)).catch(() => null);
    if (metrics) curves.push({ row, metrics });
  }
  return curves;
}

/** 3-4. Loss curves per B (the first seed at the chosen rate). */
function lossCharts(curves: Curve[], color: BatchColors): (ChartDef | null)[] {
  const lossTraces = (x: 'step' | 'samples'): Trace[] =>
    curves.map(({ row, metrics }) => ({ label: batchLabel(row), style: 'line' as const, color: color.get(row.batchSize)!, points: metrics.curve.map((p) => ({ x: p[x], y: p.loss })) }));
  const positiveLoss = curves.every(({ metrics }) => metrics.curve.every((p) => p.loss > 0));
  return [
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
  ];
}

/** 5. B_simple over training: the logged series when the loop logs it, else start and end. */
function gnsChart(results: SweepResults, curves: Curve[], color: BatchColors): ChartDef | null {
  const rows = results.batchSizes;
  const fit = results.fit;
  const logged = curves.filter(({ row, metrics }) => row.gnsSlots >= 2 && metrics.gns.length > 0);
  const unmeasurable = rows.filter((r) => r.gnsSlots < 2).map(batchLabel);
  const setup = results.gns;
  const gnsTraces: Trace[] = logged.length
    ? logged.map(({ row, metrics }) => ({ label: batchLabel(row), style: 'line' as const, color: color.get(row.batchSize)!, points: metrics.gns.map((p) => ({ x: p.step, y: p.bSimple })) }))
    : rows.map((row) => {
        const outcome = results.runs.find((o) => o.id === row.runs[0]);
        return {
          label: batchLabel(row),
          style: 'points' as const,
          color: color.get(row.batchSize)!,
          points: outcome ? [{ x: 1, y: outcome.bSimpleStart }, { x: Math.max(2, outcome.stepsRun), y: outcome.bSimpleEnd }] : [],
        };
      });
  const gnsSteps = gnsTraces.flatMap((t) => t.points.map((p) => p.x));
  if (fit?.bCrit && gnsSteps.length) {
    gnsTraces.push({ label: 'fitted B_crit', style: 'dashed', color: 9, points: logSpace(Math.min(...gnsSteps), Math.max(...gnsSteps), 20).map((x) => ({ x, y: fit.bCrit })) });
  }
  return chart(
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
  );
}

/** 6. Best LR vs B with linear and square-root reference lines through the smallest B. */
function lrChart(results: SweepResults, dense: number[]): ChartDef | null {
  const rows = results.batchSizes;
  const withLr = rows.filter((r) => r.lr !== null && r.lr > 0);
  const lrRef = withLr[0];
  return chart(
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
  );
}

/** 7. Throughput vs B. */
function throughputChart(results: SweepResults): ChartDef | null {
  const rows = results.batchSizes;
  return chart(
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
  );
}

/** The paragraphs above the charts: the setup, the target, the fit and where B_simple comes from. */
function sweepSummary(results: SweepResults): string[] {
  const N = results.trainSamples;
  const fit = results.fit;
  return [
    `${results.model} on ${results.dataset} (${N.toLocaleString('en-US')} training samples), ${results.optimizer}${results.optimizer === 'sgd' ? ` momentum ${results.momentum}` : ''}, learning rate rule ${results.lrRule}${results.lrRule === 'tuned' ? ` (${results.lrTrials} rates a factor ${results.lrFactor} apart per batch size)` : ` (${results.baseLr} at B=${results.baseBatchSize})`}, ${plural(results.seeds.length, 'seed')}, at most ${plural(results.maxEpochs, 'epoch')} per run.`,
    `Target: ${results.target.text}, checked ${results.targetCheck}.`,
    fit
      ? `Fit (${fit.method}): S_min = ${fmt(fit.sMin)} steps, E_min = ${fmt(fit.eMin)} samples, B_crit = E_min/S_min = ${fit.bCrit === null ? 'beyond the largest batch size' : fmt(fit.bCrit)}; rms relative residual ${fmt(fit.rmsRelativeError * 100, 2)}%.${results.fitNote ? ` ${results.fitNote[0].toUpperCase()}${results.fitNote.slice(1)}.` : ''}`
      : `No fit: ${results.fitNote}.`,
    `B_simple: ${results.bSimpleSource}.`,
  ];
}

/** An interrupted sweep (results.json's `interrupted`): what has no result yet and how to finish it (docs/cli.md, "Interrupts"). */
function interruptedText(dir: string, results: SweepResults): string[] {
  const stop = results.interrupted;
  if (!stop) return [];
  const list = (bs: (number | 'full')[]) => bs.map((b) => `B=${b}`).join(', ');
  const during = stop.run ? `during run ${stop.run}` : 'between runs';
  const shown = stop.finished.length > 0 ? `the page shows ${list(stop.finished)}, whose runs all finished` : 'no batch size finished, so there is nothing to chart yet';
  return [
    `Interrupted (Ctrl-C) ${during}: no result for ${list(stop.unfinished)}; ${shown}. The same dptrain sweep command with --resume (and --out ${dir}) trains what is missing; finished runs are read back, not trained again.`,
  ];
}

/** Table rows for the batch sizes an interrupted sweep did not finish. */
function unfinishedRows(results: SweepResults): string[][] {
  return (results.interrupted?.unfinished ?? []).map((b) => [String(b), '—', 'no result (interrupted)', ...new Array<string>(9).fill('—')]);
}

/** The table of batch sizes (header row first). */
function sweepTable(rows: BatchSizeResult[]): string[][] {
  return [
    ['B', 'lr', 'steps to target', 'epochs', 'samples', 'seconds (training)', 'final val loss', 'final val acc', 'samples/s', 'B_simple at target', 'efficiency', 'regime'],
    ...rows.map((r) => [
      r.batchSize === 'full' ? `full (${r.resolvedBatchSize})` : String(r.batchSize),
      fmt(r.lr),
      r.reached ? `${fmt(r.stepsToTarget)}${r.stepsRange && r.seeds > 1 ? ` [${r.stepsRange[0]}–${r.stepsRange[1]}]` : ''}` : (r.outcome ?? 'not reached'),
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
}
