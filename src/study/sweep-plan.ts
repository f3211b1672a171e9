/**
 * A sweep's plan: one train() run per (batch size, seed[, grid learning rate]), each with its id,
 * its directory under runs/ and the training options it is given; the tuned learning-rate grid
 * (lrGrid) and the validation cadence of --evals-per-epoch (evalInterval).
 */
import path from 'node:path';
import { stepsPerEpoch as countStepsPerEpoch } from '../data/index.js';
import { ConfigError } from '../errors.js';
import type { TrainConfig } from '../train/index.js';
import type { ResolvedSweepOptions } from './sweep-options.js';

export interface PlannedRun {
  /** Directory name under runs/, e.g. "b64-seed0" or "b64-seed0-lr0.1". */
  id: string;
  dir: string;
  /** As listed in --batch-sizes. */
  batchSize: number | 'full';
  resolvedBatchSize: number;
  seed: number;
  /** The rate on the tuned grid; null for the other rules (train() scales --lr). */
  gridLr: number | null;
  /** The options passed to train(). */
  config: Partial<TrainConfig>;
}

/** A learning rate as run ids and the terminal show it: 4 significant digits. */
export function fmtLr(lr: number): string {
  return String(Number(lr.toPrecision(4)));
}

/**
 * The tuned grid for batch size B: `trials` rates a factor `factor` apart, centred (in log scale)
 * on ε₀(B/B₀)^¾, the geometric mean of the linear-rule prediction ε₀B/B₀ and the square-root one
 * ε₀√(B/B₀). Shallue et al.'s protocol centres the grid on the linear prediction and extends it to
 * the square-root one; with a fixed budget per B, centring between the two spans both whenever
 * they are less than factor^(trials−1) apart. Rates are rounded to 4 significant digits.
 */
export function lrGrid(baseLr: number, batchSize: number, baseBatchSize: number, trials: number, factor: number): number[] {
  const centre = baseLr * Math.pow(batchSize / baseBatchSize, 0.75);
  return Array.from({ length: trials }, (_, k) => Number((centre * Math.pow(factor, k - (trials - 1) / 2)).toPrecision(4)));
}

/** --evals-per-epoch K: validate every ceil(stepsPerEpoch / K) steps (0 when that is the whole epoch: its end validates). */
export function evalInterval(stepsPerEpoch: number, evalsPerEpoch: number): number {
  const every = Math.max(1, Math.ceil(stepsPerEpoch / evalsPerEpoch));
  return every >= stepsPerEpoch ? 0 : every;
}

export function planRuns(options: ResolvedSweepOptions, trainSamples: number): PlannedRun[] {
  const runs: PlannedRun[] = [];
  const base = options.train;
  const resolved = options.batchSizes.map((b) => (b === 'full' ? trainSamples : b));
  for (const [i, b] of resolved.entries()) {
    if (b > trainSamples) {
      throw new ConfigError('badOption', `--batch-sizes lists ${b}, more than the ${trainSamples} training samples — use at most ${trainSamples}, or "full"`);
    }
    const twin = resolved.indexOf(b);
    if (twin !== i) {
      throw new ConfigError('badOption', `--batch-sizes lists ${options.batchSizes[twin]} and ${options.batchSizes[i]}, which are the same batch size (${b}) here`);
    }
  }
  for (const [i, batchSize] of options.batchSizes.entries()) {
    const B = resolved[i];
    const evalEvery = options.evalsPerEpoch > 0 ? evalInterval(countStepsPerEpoch(trainSamples, B, base.dropLast), options.evalsPerEpoch) : base.evalEvery;
    const grid = options.lrRule === 'tuned' ? lrGrid(base.lr, B, base.baseBatchSize, options.lrTrials, options.lrFactor) : [null];
    for (const gridLr of grid) {
      for (let s = 0; s < options.seeds; s++) {
        const seed = base.seed + s;
        const id = `b${batchSize}-seed${seed}${gridLr === null ? '' : `-lr${fmtLr(gridLr)}`}`;
        const dir = path.join(options.out, 'runs', id);
        const { out: _out, ...rest } = base;
        const config: Partial<TrainConfig> = {
          ...rest,
          batchSize,
          epochs: options.maxEpochs,
          seed,
          lr: gridLr ?? base.lr,
          lrRule: options.lrRule === 'tuned' ? 'none' : options.lrRule,
          evalEvery,
          // The report reads every step's loss and noise scale (study/metrics.ts), unless --log-every says otherwise.
          logEvery: base.logEvery > 0 ? base.logEvery : 1,
          out: dir,
        };
        runs.push({ id, dir, batchSize, resolvedBatchSize: B, seed, gridLr, config });
      }
    }
  }
  return runs;
}
