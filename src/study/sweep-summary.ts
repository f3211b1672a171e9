/**
 * Summarising a sweep's run outcomes into SweepResults (results.json): per batch size, the
 * learning rate with the fewest median steps to the target and medians over its seeds; the fit of
 * S(B) = S_min + E_min/B over the batch sizes that reached the target, each one's efficiency and
 * regime; where the noise scale B_simple comes from, in words; and the warnings to show.
 */
import { stepsPerEpoch as countStepsPerEpoch } from '../data/index.js';
import type { ModelSpec } from '../model/index.js';
import { DEFAULT_GNS_BETA } from '../train/index.js';
import { median } from '../util/index.js';
import { classifyRegime, fitScaling, scalingEfficiency, type ScalingFit } from './fit.js';
import { targetCheck, type ResolvedSweepOptions } from './sweep-options.js';
import type { BatchSizeResult, GnsSetup, RunOutcome, StoppedBy, SweepResults } from './sweep-types.js';

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
  for (const batchSize of opts.batchSizes) {
    const mine = outcomes.filter((o) => o.batchSize === batchSize);
    if (mine.length === 0) continue;
    rows.push(batchSizeRow(opts, batchSize, mine, context, warnings));
  }
  const { fit, fitNote } = fitAndClassify(rows, warnings);
  warnings.push(...missWarnings(opts, rows, outcomes));

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

/** One batch size's row: the chosen rate's runs, medians over their seeds; a warning when the tuned rate chosen is on the grid's edge. */
function batchSizeRow(opts: ResolvedSweepOptions, batchSize: number | 'full', mine: RunOutcome[], context: { trainSamples: number }, warnings: string[]): BatchSizeResult {
  const B = mine[0].resolvedBatchSize;
  const { best, grid, medianSteps, final } = chooseRate(opts, mine);
  const chosen = mine.filter((o) => o.gridLr === best);
  const tuned = opts.lrRule === 'tuned';
  const reachedRuns = chosen.filter((o) => o.status === 'reached');
  const reached = Number.isFinite(medianSteps);
  const edge = tuned ? edgeWarning(opts, batchSize, grid, best, reached, final) : null;
  if (edge) warnings.push(edge);
  const steps = reachedRuns.map((o) => o.stepsToTarget!);
  const diverged = chosen.filter((o) => o.status === 'diverged').length;
  return {
    batchSize,
    resolvedBatchSize: B,
    stepsPerEpoch: countStepsPerEpoch(context.trainSamples, B, opts.train.dropLast),
    // Tuned: a "best" rate only where one reached the target; the other rules name the rate they used.
    lr: tuned && !reached ? null : (chosen[0]?.lr ?? null),
    lrGrid: tuned ? grid : null,
    seeds: chosen.length,
    reachedSeeds: reachedRuns.length,
    reached,
    outcome: reached ? 'reached' : 2 * diverged > chosen.length ? 'diverged' : 'not reached',
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
  };
}

/**
 * The warning when the rate chosen is the smallest or largest of the grid: the best rate, or where
 * none reached the target the one that came closest (its final value of the target metric).
 */
function edgeWarning(opts: ResolvedSweepOptions, batchSize: number | 'full', grid: number[], best: number | null, reached: boolean, final: number | null): string | null {
  const edge = best === null || grid.length < 2 ? null : best === grid[0] ? 'smallest' : best === grid.at(-1) ? 'largest' : null;
  if (edge === null || (!reached && final === null)) return null;
  const range = `${grid[0]} … ${grid.at(-1)}`;
  const beyond = 'widen it with --lr-trials or --lr-factor, or move it with --lr';
  if (reached) return `B=${batchSize}: the best learning rate ${best} is the ${edge} on the grid (${range}); the optimum may lie beyond it — ${beyond}`;
  const metric = opts.target.text.split('=')[0];
  return `B=${batchSize}: no rate on the grid (${range}) reached ${opts.target.text}; the closest (${metric} ${Number(final!.toPrecision(4))}) was the ${edge}, ${best} — the optimum may lie beyond the grid: ${beyond}`;
}

/**
 * The rate of a batch size's runs with the fewest median steps to the target (a seed that missed
 * counts as infinitely many), those median steps, the median final value of the target metric at
 * that rate (null when none), and the grid, ascending. Ties are broken in a fixed order, so the
 * choice does not depend on the order of the runs:
 *  1. where every rate missed, the better median final value of the target metric (the closest);
 *  2. the rate nearer the middle of the grid, counted in grid positions, so that a tie with an
 *     inner rate does not look like an optimum beyond the grid's edge;
 *  3. the smaller rate (the two middle rates of an even grid).
 */
function chooseRate(opts: ResolvedSweepOptions, mine: RunOutcome[]): { best: number | null; grid: number[]; medianSteps: number; final: number | null } {
  const sign = opts.target.metric.endsWith('Accuracy') ? -1 : 1;
  const grid = [...new Set(mine.map((o) => o.gridLr).filter((r): r is number => r !== null))].sort((a, b) => a - b);
  const candidates = grid.length > 0 ? grid : [null];
  const scored = candidates.map((lr, i) => {
    const group = mine.filter((o) => o.gridLr === lr);
    const final = finiteMedian(group.map((o) => o.final[opts.target.metric]).filter((v): v is number => v !== null && Number.isFinite(v)));
    return {
      lr,
      medianSteps: median(group.map((o) => o.stepsToTarget ?? Infinity)),
      final,
      // Lower is better: the final value signed so, a missing one worst.
      finalKey: final === null ? Infinity : sign * final,
      offCentre: Math.abs(i - (candidates.length - 1) / 2),
    };
  });
  const better = (a: (typeof scored)[number], b: (typeof scored)[number]): boolean => {
    if (a.medianSteps !== b.medianSteps) return a.medianSteps < b.medianSteps;
    if (!Number.isFinite(a.medianSteps) && a.finalKey !== b.finalKey) return a.finalKey < b.finalKey;
    if (a.offCentre !== b.offCentre) return a.offCentre < b.offCentre;
    return (a.lr ?? 0) < (b.lr ?? 0);
  };
  const best = scored.reduce((a, b) => (better(b, a) ? b : a));
  return { best: best.lr, grid, medianSteps: best.medianSteps, final: best.final };
}

/**
 * The batch sizes that missed the target, grouped by what stopped their runs (at the chosen
 * rate), each group with its remedy: a diverged run wants a smaller rate, not a larger budget.
 */
function missWarnings(opts: ResolvedSweepOptions, rows: BatchSizeResult[], outcomes: RunOutcome[]): string[] {
  const groups = new Map<StoppedBy, (number | 'full')[]>();
  for (const row of rows.filter((r) => !r.reached)) {
    const causes = new Set(outcomes.filter((o) => row.runs.includes(o.id) && o.status !== 'reached').map((o) => o.stoppedBy));
    for (const cause of causes) groups.set(cause, [...(groups.get(cause) ?? []), row.batchSize]);
  }
  const at = (cause: StoppedBy) => `at batch size(s) ${groups.get(cause)!.join(', ')}`;
  const warnings: string[] = [];
  if (groups.has('nonFinite')) warnings.push(`diverged (the loss or gradient became NaN or infinite) ${at('nonFinite')} — lower --lr, or bound the updates with --clip-norm`);
  if (groups.has('maxEpochs')) warnings.push(`not reached within --max-epochs ${opts.maxEpochs} ${at('maxEpochs')} — raise --max-epochs or ease --target`);
  if (groups.has('maxSteps')) warnings.push(`not reached within --max-steps ${opts.train.maxSteps} ${at('maxSteps')} — raise --max-steps or ease --target`);
  if (groups.has('patience')) warnings.push(`stopped early by --patience ${opts.train.patience} before the target ${at('patience')} — raise --patience or leave it out (the sweep stops each run at its target)`);
  return warnings;
}

/** Fit S(B) over the batch sizes that reached the target, then classify every B (filling in the rows' efficiency, regime and fitted steps). */
function fitAndClassify(rows: BatchSizeResult[], warnings: string[]): { fit: ScalingFit | null; fitNote: string | null } {
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
  return { fit, fitNote };
}

const slotsOf = (setup: Omit<GnsSetup, 'slots'>) =>
  `${setup.engine} engine, ${setup.workers} worker${setup.workers === 1 ? '' : 's'}, --reduce-chunks ${setup.reduceChunks}: ${setup.reduceChunks > 0 ? `${setup.reduceChunks} chunk slots` : `one slot per worker`} per step`;

/** Where B_simple comes from, in words, and the setup that logged it. */
function describeGnsSource(opts: ResolvedSweepOptions, outcomes: RunOutcome[], rows: BatchSizeResult[]): { source: string; setup: SweepResults['gns'] } {
  const fixed = opts.gnsSamples > 0
    ? `bSimpleStart/End are separate measurements at fixed parameters (the initial ones, and those at the target or the end): ${opts.gnsSamples} training rows in shards of 8, the same estimator`
    : 'no fixed-parameter measurement (--gns-samples 0)';
  if (outcomes.length === 0) return { source: 'not measured: no run finished', setup: null };
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
