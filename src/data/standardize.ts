/** Per-feature standardization of x, fitted on the training set only. */
import { DataError } from '../errors.js';
import { sampleArray, type Dataset } from './dataset.js';

export interface Standardization {
  /** Per-feature mean, [inputDim]. */
  mean: Float32Array;
  /** Per-feature population standard deviation, [inputDim]; 1 where a feature is constant. */
  std: Float32Array;
}

/** Mean and std of every feature (float64 sums, two passes). A constant feature gets std 1. */
export function fitStandardization(ds: Dataset): Standardization {
  const { n, inputDim: d, x } = ds;
  if (n === 0) throw new DataError('emptyDataset', `cannot fit a standardization on an empty dataset ("${ds.spec}")`);
  const sum = new Float64Array(d);
  const min = new Float64Array(d).fill(Infinity);
  const max = new Float64Array(d).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) {
      const v = x[row + j];
      sum[j] += v;
      if (v < min[j]) min[j] = v;
      if (v > max[j]) max[j] = v;
    }
  }
  const mean = new Float64Array(d);
  for (let j = 0; j < d; j++) mean[j] = sum[j] / n;
  const sq = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) {
      const dev = x[row + j] - mean[j];
      sq[j] += dev * dev;
    }
  }
  const out: Standardization = { mean: new Float32Array(d), std: new Float32Array(d) };
  for (let j = 0; j < d; j++) {
    // A constant feature: centre it exactly (mean = its value) and leave its scale alone,
    // rather than divide rounding noise by a tiny std.
    const constant = min[j] === max[j];
    const std = Math.sqrt(sq[j] / n);
    out.mean[j] = constant ? min[j] : mean[j];
    out.std[j] = constant || !(std > 0) ? 1 : std;
  }
  return out;
}

/** A new Dataset with x' = (x - mean) / std per feature; y is shared with the input. */
export function applyStandardization(ds: Dataset, s: Standardization): Dataset {
  const d = ds.inputDim;
  if (s.mean.length !== d || s.std.length !== d) {
    throw new DataError('standardizationMismatch', `standardization has ${s.mean.length} features but dataset "${ds.spec}" has ${d}`);
  }
  const x = sampleArray(ds.x.length);
  const inv = new Float64Array(d);
  for (let j = 0; j < d; j++) inv[j] = 1 / s.std[j];
  for (let i = 0; i < ds.n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) x[row + j] = (ds.x[row + j] - s.mean[j]) * inv[j];
  }
  return Object.freeze({ ...ds, x });
}
