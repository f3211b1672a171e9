/**
 * The Dataset type every loader returns, its content hash, and row subsets.
 * A Dataset is immutable by convention: functions that change data return a new one.
 */
import { createHash } from 'node:crypto';
import { DataError } from '../errors.js';
import { adviseHugePages } from '../util/huge-pages.js';
import { firstNonFinite } from '../util/defined.js';

export type Task = 'classification' | 'regression';

export interface Dataset {
  /** The spec it was loaded from, e.g. "synthetic:blobs?n=1000&d=20&classes=3&seed=0". */
  readonly spec: string;
  /** Number of samples. */
  readonly n: number;
  readonly inputDim: number;
  /** x: [n, inputDim] row-major. */
  readonly x: Float32Array;
  /** 1 for classification. */
  readonly targetDim: number;
  /** y: [n, targetDim]; classification stores the class index as a float. */
  readonly y: Float32Array;
  readonly task: Task;
  /** 0 for regression. */
  readonly numClasses: number;
  /**
   * Per-sample shape in PyTorch's order, [C, H, W] for images (mnist, IDX); undefined = flat
   * [inputDim] (CSV, synthetic). Layer models check it (docs/models.md#shapes).
   */
  readonly sampleShape?: readonly number[];
  /** Classification: the name of each class index (a CSV's text labels, a dataset's known names); undefined = the indices. */
  readonly classNames?: readonly string[];
  /** The feature columns' names in x's order (a CSV header); undefined when the data has none. */
  readonly featureNames?: readonly string[];
  /** A CSV's label column: its header name (or its index as text) and 0-based index among all columns. */
  readonly labelColumn?: { readonly name: string; readonly index: number };
  /** Images: how x came from the file's uint8 pixels, x = byte / divideBy (rounded to roundTo decimals when set). */
  readonly pixelScale?: PixelScale;
}

/** x = byte / divideBy, rounded to `roundTo` decimals when given (the bundled mnist digits). */
export interface PixelScale {
  readonly divideBy: number;
  readonly roundTo?: number;
}

/**
 * A zeroed Float32Array over a SharedArrayBuffer. Loaders and subsets allocate sample values
 * here so that the threads engine maps this very memory in every thread instead of copying it:
 * one copy of CIFAR-10's 614 MB, not two (docs/datasets.md, "Memory"). Large arrays are advised
 * into huge pages before anything is written (src/util/huge-pages.ts).
 */
export function sampleArray(length: number): Float32Array {
  const array = new Float32Array(new SharedArrayBuffer(Math.max(1, length) * 4), 0, length);
  adviseHugePages(array);
  return array;
}

/** Limits on what a loader may build; one place for the defaults. */
export const DATA_LIMITS = {
  /** Most float32 values in x (2^28 = 1 GiB). */
  maxElements: 2 ** 28,
} as const;

/** Builds a Dataset after checking that shapes and labels agree; loaders and workers use it. */
export function createDataset(fields: Dataset): Dataset {
  const { spec, n, inputDim, x, targetDim, y, task, numClasses, sampleShape, classNames, featureNames, labelColumn, pixelScale } = fields;
  const fail = (message: string): never => {
    throw new DataError('badShape', `dataset "${spec}": ${message}`);
  };
  if (!Number.isInteger(n) || n < 0) fail(`n must be a non-negative integer (got ${n})`);
  if (!Number.isInteger(inputDim) || inputDim < 1) fail(`inputDim must be a positive integer (got ${inputDim})`);
  if (!Number.isInteger(targetDim) || targetDim < 1) fail(`targetDim must be a positive integer (got ${targetDim})`);
  if (x.length !== n * inputDim) fail(`x has ${x.length} values, expected n·inputDim = ${n * inputDim}`);
  if (y.length !== n * targetDim) fail(`y has ${y.length} values, expected n·targetDim = ${n * targetDim}`);
  if (task === 'classification') {
    if (targetDim !== 1) fail(`classification needs targetDim 1 (got ${targetDim})`);
    if (!Number.isInteger(numClasses) || numClasses < 1) fail(`numClasses must be a positive integer (got ${numClasses})`);
    for (let i = 0; i < n; i++) {
      const label = y[i];
      if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
        fail(`label ${label} of sample ${i} is not a class index in [0, ${numClasses})`);
      }
    }
  } else if (task === 'regression') {
    if (numClasses !== 0) fail(`regression needs numClasses 0 (got ${numClasses})`);
  } else {
    fail(`task must be "classification" or "regression" (got ${String(task)})`);
  }
  if (sampleShape !== undefined && sampleShape.reduce((a, b) => a * b, 1) !== inputDim) fail(`sample shape ${sampleShape.join('x')} does not hold inputDim = ${inputDim} values`);
  if (classNames !== undefined && (task !== 'classification' || classNames.length !== numClasses)) fail(`${classNames.length} class names for ${numClasses} classes`);
  const shape = sampleShape === undefined ? {} : { sampleShape: Object.freeze(sampleShape.slice()) };
  if (featureNames !== undefined && featureNames.length !== inputDim) fail(`${featureNames.length} feature names for ${inputDim} features`);
  const described = {
    ...(classNames && { classNames: Object.freeze(classNames.slice()) }),
    ...(featureNames && { featureNames: Object.freeze(featureNames.slice()) }),
    ...(labelColumn && { labelColumn: Object.freeze({ ...labelColumn }) }),
    ...(pixelScale && { pixelScale: Object.freeze({ ...pixelScale }) }),
  };
  return Object.freeze({ spec, n, inputDim, x, targetDim, y, task, numClasses, ...shape, ...described });
}

/**
 * A Dataset handed over in memory (train's `hooks.data`, evaluate's data), checked as a loader's
 * would be: an object with a spec, Float32Array x and y and the fields createDataset checks, so that
 * a plain array or a spec string is one DataError naming what is wrong, not a TypeError deep inside
 * training; and, as loaders refuse it, no samples (`emptyDataset`). `name` is how messages call the
 * value, `alternative` what else the caller may pass.
 */
export function checkInMemoryDataset(value: unknown, name = 'hooks.data', alternative = 'or a spec as the dataset option'): Dataset {
  const fail = (message: string): never => {
    throw new DataError('badShape', `${name} ${message} — pass a Dataset (docs/library.md, "In-memory data"), ${alternative}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(`is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not a Dataset`);
  const fields = value as Partial<Record<keyof Dataset, unknown>>;
  if (typeof fields.spec !== 'string' || fields.spec === '') fail('has no spec (a string naming the data, e.g. "memory:iris")');
  for (const key of ['x', 'y'] as const) {
    if (!(fields[key] instanceof Float32Array)) fail(`.${key} is ${describeValue(fields[key])}, not a Float32Array`);
  }
  const data = createDataset(value as Dataset);
  if (data.n === 0) throw new DataError('emptyDataset', `${name} (dataset "${data.spec}") holds no samples (n = 0) — pass a Dataset with at least one sample`);
  return data;
}

/**
 * Every feature (and regression target) finite, as loaders give them: else a DataError
 * `nonFiniteValue` naming the first bad row and column. One pass. evaluate() checks its data so;
 * train() does not, since a NaN in training is what --on-nonfinite handles (and its tests inject).
 */
export function checkFiniteSamples(data: Dataset, name: string): void {
  checkFinite(data.x, data.inputDim, `${name} (dataset "${data.spec}")`, 'feature');
  if (data.task === 'regression') checkFinite(data.y, data.targetDim, `${name} (dataset "${data.spec}")`, 'target');
}

/** One pass over rows [n, width]: the first NaN or ±Infinity is a DataError naming its row and column. */
function checkFinite(values: Float32Array, width: number, where: string, what: string): void {
  const k = firstNonFinite(values);
  if (k < 0) return;
  throw new DataError('nonFiniteValue', `${where}: row ${Math.floor(k / width)} has ${what} ${k % width} = ${values[k]}, and every ${what} must be a finite number — fill the value (e.g. with the column mean) or drop the row`);
}

function describeValue(value: unknown): string {
  if (value === undefined || value === null) return 'missing';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? `a ${value.constructor?.name ?? 'object'}` : `a ${typeof value}`;
}

/**
 * "sha256:<hex>" over task, n, dims, numClasses, then the bytes of x and y (not the spec),
 * so that a remote worker can check it holds the same samples. Typed arrays are hashed in
 * platform byte order, which is little-endian on every platform Node.js supports here.
 */
export function datasetHash(ds: Dataset): string {
  const hash = createHash('sha256');
  hash.update(`dptrain-dataset-v1\n${ds.task}\n${ds.n}\n${ds.inputDim}\n${ds.targetDim}\n${ds.numClasses}\n`);
  hash.update(new Uint8Array(ds.x.buffer, ds.x.byteOffset, ds.x.byteLength));
  hash.update(new Uint8Array(ds.y.buffer, ds.y.byteOffset, ds.y.byteLength));
  return `sha256:${hash.digest('hex')}`;
}

/** The samples at `indices`, in that order (repeats allowed); spec defaults to ds.spec. */
export function subset(ds: Dataset, indices: ArrayLike<number>, spec: string = ds.spec): Dataset {
  const m = indices.length;
  const { inputDim: d, targetDim: t } = ds;
  const x = sampleArray(m * d);
  const y = sampleArray(m * t);
  for (let k = 0; k < m; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) {
      throw new DataError('badIndex', `subset index ${i} (position ${k}) is not a sample index in [0, ${ds.n})`);
    }
    x.set(ds.x.subarray(i * d, i * d + d), k * d);
    y.set(ds.y.subarray(i * t, i * t + t), k * t);
  }
  return Object.freeze({ ...ds, spec, n: m, x, y });
}
