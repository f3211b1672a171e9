/**
 * Summarising a sweep's run outcomes into SweepResults (results.json): per batch size, the
 * learning rate with the fewest median steps to the target and medians over its seeds; the fit of
 * S(B) = S_min + E_min/B over the batch sizes that reached the target, each one's efficiency and
 * regime; where the noise scale B_simple comes from, in words; and the warnings to show.
 */
import { stepsPerEpoch as countStepsPerEpoch } from '../data/index.js';
import type { ModelSpec } from '../model/index.js';
import { DEFAULT_GNS_BETA } from '../train/index.js';
import { median, plural } from '../util/index.js';
import { classifyRegime, fitScaling, scalingEfficiency, type ScalingFit } from './fit.js';
import { targetCheck, type ResolvedSweepOptions } from './sweep-options.js';
import type { BatchSizeResult, GnsSetup, RunOutcome, SweepResults } from './sweep-types.js';

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
  const notReached = rows.filter((r) => !r.reached).map((r) => r.batchSize);
  if (notReached.length) warnings.push(`not reached within ${plural(opts.maxEpochs, 'epoch')} at batch size(s) ${notReached.join(', ')} — raise --max-epochs or ease --target`);

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

/** One batch size's row: the chosen rate's runs, medians over their seeds; a warning when the best tuned rate is on the grid's edge. */
function batchSizeRow(opts: ResolvedSweepOptions, batchSize: number | 'full', mine: RunOutcome[], context: { trainSamples: number }, warnings: string[]): BatchSizeResult {
  const B = mine[0].resolvedBatchSize;
  const { best, rates, medianSteps } = chooseRate(opts, mine);
  const chosen = mine.filter((o) => o.gridLr === best);
  const grid = opts.lrRule === 'tuned' ? (rates.filter((r): r is number => r !== null).sort((a, b) => a - b)) : null;
  const reachedRuns = chosen.filter((o) => o.status === 'reached');
  const reached = Number.isFinite(medianSteps);
  if (grid && reached && best !== null && (best === grid[0] || best === grid.at(-1))) {
    warnings.push(`B=${batchSize}: the best learning rate ${best} is the ${best === grid[0] ? 'smallest' : 'largest'} on the grid (${grid[0]} … ${grid.at(-1)}); the optimum may lie beyond it — widen the grid with --lr-trials or --lr-factor, or move it with --lr`);
  }
  const steps = reachedRuns.map((o) => o.stepsToTarget!);
  return {
    batchSize,
    resolvedBatchSize: B,
    stepsPerEpoch: countStepsPerEpoch(context.trainSamples, B, opts.train.dropLast),
    lr: chosen[0]?.lr ?? null,
    lrGrid: grid,
    seeds: chosen.length,
    reachedSeeds: reachedRuns.length,
    reached,
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

/** The rate of a batch size's runs with the fewest median steps to the target, those median steps, and every rate tried. */
function chooseRate(opts: ResolvedSweepOptions, mine: RunOutcome[]): { best: number | null; rates: (number | null)[]; medianSteps: number } {
  const targetIsAccuracy = opts.target.metric.endsWith('Accuracy');
  const rates = [...new Set(mine.map((o) => o.gridLr))];
  // Fewest median steps wins; a seed that missed counts as infinitely many steps. Among rates
  // that all missed, the best median final value of the target metric.
  const score = (lr: number | null) => {
    const group = mine.filter((o) => o.gridLr === lr);
    const medianSteps = median(group.map((o) => o.stepsToTarget ?? Infinity));
    const finals = group.map((o) => o.final[opts.target.metric]).filter((v): v is number => v !== null && Number.isFinite(v));
    const finalMedian = finiteMedian(finals) ?? (targetIsAccuracy ? -Infinity : Infinity);
    return { medianSteps, final: targetIsAccuracy ? -finalMedian : finalMedian };
  };
  // Equal steps: the rate nearer the middle of the grid (log scale), so that a tie with an inner
  // rate does not look like an optimum beyond the grid's edge.
  const numeric = rates.filter((r): r is number => r !== null);
  const middle = numeric.length ? Math.exp(numeric.reduce((a, r) => a + Math.log(r), 0) / numeric.length) : 1;
  const offCentre = (lr: number | null) => (lr === null ? 0 : Math.abs(Math.log(lr / middle)));
  let best = rates[0];
  for (const lr of rates.slice(1)) {
    const a = score(lr), b = score(best);
    const tie = a.medianSteps === b.medianSteps;
    if (a.medianSteps < b.medianSteps || (tie && !Number.isFinite(a.medianSteps) && a.final < b.final) || (tie && Number.isFinite(a.medianSteps) && offCentre(lr) < offCentre(best))) best = lr;
  }
  return { best, rates, medianSteps: score(best).medianSteps };
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
