/**
 * Generated datasets, deterministic per seed (each part draws from its own Rng stream):
 *
 * - `synthetic:blobs?n=10000&d=2&classes=3&seed=0&spread=0.5` — Gaussian clusters. Centre
 *   coordinates ~ N(0, 1); a sample of class c is centre_c + spread·N(0, I_d). Sample i has
 *   class i mod classes (balanced; order does not matter as every epoch is shuffled).
 * - `synthetic:spirals?n=1000&classes=2&noise=0.05&seed=0` — 2-D interleaved spirals: arm c at
 *   angle 2πc/classes + 3πt (1.5 turns) and radius t, t ~ U[0, 1), plus noise·N(0, I_2).
 * - `synthetic:teacher?n=10000&d=10&hidden=0&outputs=1&noise=0&seed=0` — regression from a random
 *   teacher: x ~ N(0, I_d), y = teacher(x) + noise·N(0, 1). hidden=0 (the default) makes the
 *   teacher LINEAR, y = xAᵀ + b with A ~ N(0, 1/d), b ~ N(0, 1), so `linreg:d-outputs` can fit
 *   it exactly; noise=0 (the default) then gives noiseless linear regression. hidden=H > 0
 *   uses y = W2·tanh(W1·x + b1) + b2 with W1 ~ N(0, 1/d), W2 ~ N(0, 1/H), biases ~ N(0, 0.1²).
 *   y is computed in float64 from the float32-rounded x, so it is exact up to y's own rounding.
 */
import { DataError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { createDataset, DATA_LIMITS, sampleArray, type Dataset } from './dataset.js';
import { gaussian } from './gaussian.js';
import { SpecOptions, type DatasetSpec } from './spec.js';

export const SYNTHETIC_KINDS = ['blobs', 'spirals', 'teacher'] as const;

export function loadSynthetic(spec: DatasetSpec): Dataset {
  switch (spec.target) {
    case 'blobs':
      return blobs(spec);
    case 'spirals':
      return spirals(spec);
    case 'teacher':
      return teacher(spec);
    default:
      throw new DataError(
        'unknownSpec',
        `unknown synthetic dataset "${spec.target}" in "${spec.text}" — use synthetic:blobs, synthetic:spirals or synthetic:teacher`,
      );
  }
}

function checkSize(spec: DatasetSpec, n: number, d: number): void {
  if (n * d > DATA_LIMITS.maxElements) {
    throw new DataError('tooLarge', `dataset "${spec.text}" would hold ${n}×${d} values, more than the limit of ${DATA_LIMITS.maxElements}`);
  }
}

function blobs(spec: DatasetSpec): Dataset {
  const o = new SpecOptions(spec, 'synthetic:blobs', ['n', 'd', 'classes', 'seed', 'spread']);
  const n = o.int('n', 10000, 1);
  const d = o.int('d', 2, 1);
  const classes = o.int('classes', 3, 2);
  const seed = o.int('seed', 0, 0);
  const spread = o.number('spread', 0.5, 0);
  checkSize(spec, n, d);

  const centreRng = new Rng(seed, 'blobs', 'centres');
  const centres = new Float64Array(classes * d);
  for (let i = 0; i < centres.length; i++) centres[i] = centreRng.normal();

  // x: [n, d]; one stream for all samples, drawn row by row.
  const rng = new Rng(seed, 'blobs', 'samples');
  const x = sampleArray(n * d);
  const y = sampleArray(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    y[i] = c;
    const row = i * d;
    const centre = c * d;
    for (let j = 0; j < d; j++) x[row + j] = centres[centre + j] + spread * gaussian(rng);
  }
  return createDataset({ spec: spec.text, n, inputDim: d, x, targetDim: 1, y, task: 'classification', numClasses: classes });
}

function spirals(spec: DatasetSpec): Dataset {
  const o = new SpecOptions(spec, 'synthetic:spirals', ['n', 'classes', 'noise', 'seed']);
  const n = o.int('n', 1000, 1);
  const classes = o.int('classes', 2, 2);
  const noise = o.number('noise', 0.05, 0);
  const seed = o.int('seed', 0, 0);
  checkSize(spec, n, 2);

  const rng = new Rng(seed, 'spirals');
  const x = sampleArray(n * 2);
  const y = sampleArray(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    const t = rng.next();
    const angle = (2 * Math.PI * c) / classes + 3 * Math.PI * t;
    x[2 * i] = t * Math.cos(angle) + noise * rng.normal();
    x[2 * i + 1] = t * Math.sin(angle) + noise * rng.normal();
    y[i] = c;
  }
  return createDataset({ spec: spec.text, n, inputDim: 2, x, targetDim: 1, y, task: 'classification', numClasses: classes });
}

function teacher(spec: DatasetSpec): Dataset {
  const o = new SpecOptions(spec, 'synthetic:teacher', ['n', 'd', 'hidden', 'outputs', 'noise', 'seed']);
  const n = o.int('n', 10000, 1);
  const d = o.int('d', 10, 1);
  const hidden = o.int('hidden', 0, 0);
  const outputs = o.int('outputs', 1, 1);
  const noise = o.number('noise', 0, 0);
  const seed = o.int('seed', 0, 0);
  checkSize(spec, n, Math.max(d, outputs));

  // The teacher's parameters: a linear map [outputs, d] when hidden = 0, else a tanh MLP.
  const paramRng = new Rng(seed, 'teacher', 'parameters');
  const normals = (count: number, std: number): Float64Array => {
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) values[i] = std * paramRng.normal();
    return values;
  };
  const firstOut = hidden === 0 ? outputs : hidden;
  const w1 = normals(firstOut * d, 1 / Math.sqrt(d)); // [firstOut, d]
  const b1 = normals(firstOut, hidden === 0 ? 1 : 0.1);
  const w2 = hidden === 0 ? null : normals(outputs * hidden, 1 / Math.sqrt(hidden)); // [outputs, hidden]
  const b2 = hidden === 0 ? null : normals(outputs, 0.1);

  const xRng = new Rng(seed, 'teacher', 'x');
  const noiseRng = new Rng(seed, 'teacher', 'noise');
  const x = sampleArray(n * d);
  const y = sampleArray(n * outputs);
  const h = new Float64Array(firstOut);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) x[row + j] = gaussian(xRng);
    // h = w1 · x_i + b1, from the float32 x actually stored.
    for (let k = 0; k < firstOut; k++) {
      let sum = b1[k];
      const wk = k * d;
      for (let j = 0; j < d; j++) sum += w1[wk + j] * x[row + j];
      h[k] = hidden === 0 ? sum : Math.tanh(sum);
    }
    for (let k = 0; k < outputs; k++) {
      let value = h[k];
      if (w2 !== null && b2 !== null) {
        value = b2[k];
        const wk = k * hidden;
        for (let j = 0; j < hidden; j++) value += w2[wk + j] * h[j];
      }
      y[i * outputs + k] = noise === 0 ? value : value + noise * noiseRng.normal();
    }
  }
  return createDataset({ spec: spec.text, n, inputDim: d, x, targetDim: outputs, y, task: 'regression', numClasses: 0 });
}
