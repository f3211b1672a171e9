/**
 * Gradient statistics at FIXED parameters, computed directly with Model.accumulateGradient
 * (no engine): shard gradient sums for the noise-scale estimator, the exact per-sample mean
 * gradient and covariance trace of a dataset, and the error of the mini-batch gradient against
 * the full-batch gradient (docs/batch-size.md). Used by the sweep (B_simple at
 * the start and the end of a run), the tests and scripts/claims.ts.
 */
import { Model, type ModelSpec, type SampleSource } from '../model/index.js';
import { Rng, permutation } from '../util/index.js';
import { gnsEstimate, type GnsEstimate, type ShardGradient } from '../train/gns.js';

/** Rows of a dataset for these functions: a SampleSource with its row count. */
export interface Rows extends SampleSource {
  n: number;
}

/** The gradient sums of consecutive shards of `indices`, and their global sum. */
export interface ShardSums {
  shards: ShardGradient[];
  /** |Σ over all rows of the per-sample gradient|². */
  globalSumSq: number;
  globalCount: number;
  /** The global gradient sum (float64). */
  globalSum: Float64Array;
}

function asModel(model: Model | ModelSpec): Model {
  return model instanceof Model ? model : new Model(model);
}

function sumSq(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return s;
}

/**
 * Splits `indices` into shards of the given sizes (in order) and computes each shard's gradient
 * sum, as data-parallel workers would. `params` is a Float32Array for a float32 Model.
 */
export function shardGradientSums(
  model: Model | ModelSpec,
  params: Float32Array,
  data: SampleSource,
  indices: ArrayLike<number>,
  shardSizes: readonly number[],
): ShardSums {
  const m = asModel(model);
  const grad = new Float32Array(m.numParams);
  const globalSum = new Float64Array(m.numParams);
  const shards: ShardGradient[] = [];
  const rows = Uint32Array.from(indices as ArrayLike<number>);
  let at = 0;
  for (const size of shardSizes) {
    grad.fill(0);
    const result = m.accumulateGradient(params, data, rows.subarray(at, at + size), grad);
    at += size;
    shards.push({ count: result.count, gradSumSq: sumSq(grad) });
    for (let i = 0; i < grad.length; i++) globalSum[i] += grad[i];
  }
  if (at !== rows.length) throw new RangeError(`shard sizes add up to ${at}, not the ${rows.length} indices`);
  return { shards, globalSumSq: sumSq(globalSum), globalCount: rows.length, globalSum };
}

/** Sizes of `shards` contiguous shards of `total` rows, differing by at most 1 (larger first). */
export function evenShardSizes(total: number, shards: number): number[] {
  const base = Math.floor(total / shards);
  const extra = total % shards;
  return Array.from({ length: shards }, (_, k) => base + (k < extra ? 1 : 0));
}

export interface NoiseScaleOptions {
  /** Rows drawn (without replacement) for the measurement; default 2048 (all rows when fewer). */
  samples?: number;
  /** Rows per shard; default 8. Smaller shards give a lower-variance tr Σ estimate but cost more. */
  shardSize?: number;
  /** Seed of the row choice. */
  seed?: number;
}

export interface NoiseScaleMeasurement extends GnsEstimate {
  /** trSigma / gradSq; null when the |G|² estimate is not positive. */
  bSimple: number | null;
  samples: number;
  shards: number;
}

/**
 * B_simple at fixed parameters from one large batch of `samples` rows split into shards of
 * `shardSize` rows: the A.1 estimator with B_small = shardSize, B_big = samples (unbiased for
 * tr Σ and |G|² up to the finite-population terms of docs/batch-size.md).
 */
export function measureNoiseScale(
  model: Model | ModelSpec,
  params: Float32Array,
  data: Rows,
  options: NoiseScaleOptions = {},
): NoiseScaleMeasurement {
  const samples = Math.min(options.samples ?? 2048, data.n);
  const shardSize = Math.max(1, Math.min(options.shardSize ?? 8, Math.floor(samples / 2)));
  const order = permutation(data.n, new Rng(options.seed ?? 0, 'study', 'noise-scale')).subarray(0, samples);
  const sizes: number[] = [];
  for (let left = samples; left > 0; left -= shardSize) sizes.push(Math.min(shardSize, left));
  const sums = shardGradientSums(model, params, data, order, sizes);
  const estimate = gnsEstimate(sums.shards, sums.globalSumSq, sums.globalCount);
  if (estimate === null) return { gradSq: Number.NaN, trSigma: Number.NaN, bSimple: null, samples, shards: sizes.length };
  return { ...estimate, bSimple: estimate.gradSq > 0 ? estimate.trSigma / estimate.gradSq : null, samples, shards: sizes.length };
}

export interface ExactGradientStats {
  /** The full-batch mean gradient G over all n rows (float64). */
  mean: Float64Array;
  /** |G|². */
  gradSq: number;
  /** tr Σ_N = (1/N) Σ_i |g_i − G|², the population covariance trace of the per-sample gradients. */
  trSigma: number;
  n: number;
}

/** Exact statistics by looping over per-sample gradients (docs/batch-size.md). */
export function exactGradientStats(model: Model | ModelSpec, params: Float32Array, data: Rows): ExactGradientStats {
  const m = asModel(model);
  const grad = new Float32Array(m.numParams);
  const sum = new Float64Array(m.numParams);
  const one = new Uint32Array(1);
  let sumOfNorms = 0;
  for (let i = 0; i < data.n; i++) {
    grad.fill(0);
    one[0] = i;
    m.accumulateGradient(params, data, one, grad);
    sumOfNorms += sumSq(grad);
    for (let j = 0; j < grad.length; j++) sum[j] += grad[j];
  }
  const mean = sum.map((v) => v / data.n);
  const gradSq = sumSq(mean);
  return { mean, gradSq, trSigma: sumOfNorms / data.n - gradSq, n: data.n };
}

export interface BatchGradientError {
  batchSize: number;
  trials: number;
  /** Mean over trials of |G_B − G|², G_B the mean gradient of a batch drawn without replacement. */
  meanSqError: number;
  /** Its standard error over the trials. */
  standardError: number;
  /** (tr Σ_N / B)(N − B)/(N − 1): the exact expectation for sampling without replacement. */
  predicted: number;
}

/**
 * The error of the mini-batch gradient against the full-batch gradient at fixed parameters, for
 * each batch size: `trials` batches of B distinct rows each (as one step of an epoch permutation).
 */
export function batchGradientError(
  model: Model | ModelSpec,
  params: Float32Array,
  data: Rows,
  batchSizes: readonly number[],
  options: { trials?: number; seed?: number; exact?: ExactGradientStats } = {},
): BatchGradientError[] {
  const m = asModel(model);
  const exact = options.exact ?? exactGradientStats(m, params, data);
  const trials = options.trials ?? 100;
  const grad = new Float32Array(m.numParams);
  const out: BatchGradientError[] = [];
  for (const B of batchSizes) {
    if (!(Number.isInteger(B) && B >= 1 && B <= data.n)) throw new RangeError(`batch size ${B} must be an integer in [1, ${data.n}]`);
    const rng = new Rng(options.seed ?? 0, 'study', 'gradient-error', B);
    const errors: number[] = [];
    for (let t = 0; t < trials; t++) {
      const rows = permutation(data.n, rng).subarray(0, B);
      grad.fill(0);
      m.accumulateGradient(params, data, rows, grad);
      let e = 0;
      for (let j = 0; j < grad.length; j++) {
        const d = grad[j] / B - exact.mean[j];
        e += d * d;
      }
      errors.push(e);
    }
    const mean = errors.reduce((a, b) => a + b, 0) / trials;
    const variance = trials > 1 ? errors.reduce((a, e) => a + (e - mean) ** 2, 0) / (trials - 1) : 0;
    const predicted = data.n > 1 ? ((exact.trSigma / B) * (data.n - B)) / (data.n - 1) : 0;
    out.push({ batchSize: B, trials, meanSqError: mean, standardError: Math.sqrt(variance / trials), predicted });
  }
  return out;
}
