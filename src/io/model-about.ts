/**
 * `dptrain.about`: what a model file says about the data it takes and gives (docs/formats.md,
 * "What a model file says about its data"), so that evaluate, predict and loadModel need nothing
 * but the file: the task, input shape, feature and class names, the preprocessing (standardization,
 * pixel scaling) and the dataset and split it was trained on. One JSON string in the safetensors
 * `__metadata__` (whose values must be strings), written deterministically; read strictly: every
 * field is type-checked, and unknown fields (a later version's) are ignored.
 */
import { FormatError, JsonSyntaxError } from '../errors.js';
import { parseStrictJson, type JsonValue } from './strict-json.js';

export const ABOUT_KEY = 'dptrain.about';
/** The version this dptrain writes; later versions add fields and never rename them. */
export const ABOUT_VERSION = 1;

export interface ModelAbout {
  version: number;
  task: 'classification' | 'regression';
  /** One sample's shape: [features] for rows, [C, H, W] for images. */
  inputShape: number[];
  /** Classes (classification) or regression targets per sample. */
  outputs: number;
  /** The features' names in input order (a CSV header), or null. */
  featureNames: string[] | null;
  /** A CSV's label column: its header name (or index as text) and 0-based index among all columns; null otherwise. */
  labelColumn: { name: string; index: number } | null;
  /** Classification: class index -> name, or null when the classes are the indices themselves. */
  classNames: string[] | null;
  preprocessing: {
    /** --standardize: x' = (x - mean) / std per feature, float32 values, training-split statistics. */
    standardize: { mean: number[]; std: number[] } | null;
    /** Image files: x = byte / divideBy, rounded to roundTo decimals when not null. */
    pixelScale: { divideBy: number; roundTo: number | null } | null;
  };
  /** What the model was trained on: the spec, the hash of its samples, and the split (seed, --val-split). */
  dataset: { spec: string; hash: string; samples: number; valSplit: number; seed: number };
}

/** Deterministic JSON: fields in declaration order, numbers as JavaScript writes them (they read back to the same doubles). */
export function encodeModelAbout(about: ModelAbout): string {
  const { version, task, inputShape, outputs, featureNames, labelColumn, classNames, preprocessing, dataset } = about;
  return JSON.stringify({
    version,
    task,
    inputShape,
    outputs,
    featureNames,
    labelColumn: labelColumn && { name: labelColumn.name, index: labelColumn.index },
    classNames,
    preprocessing: {
      standardize: preprocessing.standardize && { mean: preprocessing.standardize.mean, std: preprocessing.standardize.std },
      pixelScale: preprocessing.pixelScale && { divideBy: preprocessing.pixelScale.divideBy, roundTo: preprocessing.pixelScale.roundTo },
    },
    dataset: { spec: dataset.spec, hash: dataset.hash, samples: dataset.samples, valSplit: dataset.valSplit, seed: dataset.seed },
  });
}

type Fail = (message: string) => never;

/** Parses and checks `dptrain.about` text; FormatError `badModelAbout` naming `source` and the field. */
export function decodeModelAbout(text: string, source: string): ModelAbout {
  const fail: Fail = (message) => {
    throw new FormatError('badModelAbout', `${source}: metadata "${ABOUT_KEY}" ${message} — the file was damaged or not written by dptrain`);
  };
  let parsed: JsonValue;
  try {
    parsed = parseStrictJson(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    return fail(`is not valid JSON: ${error.message}`);
  }
  const root = object(parsed, 'the value', fail);
  const version = integer(root.get('version'), 'version', 1, fail);
  const task = root.get('task');
  if (task !== 'classification' && task !== 'regression') fail(`field task must be "classification" or "regression" (got ${JSON.stringify(task ?? null)})`);
  const inputShape = array(root.get('inputShape'), 'inputShape', fail).map((d, i) => integer(d, `inputShape[${i}]`, 1, fail));
  if (inputShape.length === 0) fail('field inputShape is empty');
  const inputs = inputShape.reduce((a, b) => a * b, 1);
  const outputs = integer(root.get('outputs'), 'outputs', 1, fail);
  const featureNames = nullable(root.get('featureNames'), (v) => strings(v, 'featureNames', fail));
  if (featureNames && featureNames.length !== inputs) fail(`has ${featureNames.length} feature names for ${inputs} inputs`);
  const labelColumn = nullable(root.get('labelColumn'), (v) => {
    const o = object(v, 'labelColumn', fail);
    const name = o.get('name');
    if (typeof name !== 'string') return fail('field labelColumn.name must be a string');
    return { name, index: integer(o.get('index'), 'labelColumn.index', 0, fail) };
  });
  const classNames = nullable(root.get('classNames'), (v) => strings(v, 'classNames', fail));
  if (classNames && (task !== 'classification' || classNames.length !== outputs)) fail(`has ${classNames.length} class names for ${outputs} ${task === 'classification' ? 'classes' : 'regression outputs'}`);
  const pre = object(root.get('preprocessing'), 'preprocessing', fail);
  const standardize = nullable(pre.get('standardize'), (v) => {
    const o = object(v, 'preprocessing.standardize', fail);
    const mean = numbers(o.get('mean'), 'preprocessing.standardize.mean', fail);
    const std = numbers(o.get('std'), 'preprocessing.standardize.std', fail);
    if (mean.length !== inputs || std.length !== inputs) fail(`preprocessing.standardize has ${mean.length} means and ${std.length} stds for ${inputs} inputs`);
    if (std.some((s) => !(s > 0))) fail('preprocessing.standardize.std holds a value that is not > 0');
    return { mean, std };
  });
  const pixelScale = nullable(pre.get('pixelScale'), (v) => {
    const o = object(v, 'preprocessing.pixelScale', fail);
    const divideBy = o.get('divideBy');
    if (typeof divideBy !== 'number' || !(divideBy > 0)) return fail('field preprocessing.pixelScale.divideBy must be a number > 0');
    return { divideBy, roundTo: nullable(o.get('roundTo'), (r) => integer(r, 'preprocessing.pixelScale.roundTo', 0, fail)) };
  });
  const d = object(root.get('dataset'), 'dataset', fail);
  const spec = d.get('spec');
  const hash = d.get('hash');
  if (typeof spec !== 'string' || typeof hash !== 'string') return fail('fields dataset.spec and dataset.hash must be strings');
  const valSplit = d.get('valSplit');
  if (typeof valSplit !== 'number' || !(valSplit >= 0 && valSplit < 1)) return fail('field dataset.valSplit must be a fraction in [0, 1)');
  const dataset = { spec, hash, samples: integer(d.get('samples'), 'dataset.samples', 0, fail), valSplit, seed: integer(d.get('seed'), 'dataset.seed', Number.MIN_SAFE_INTEGER, fail) };
  return { version, task, inputShape, outputs, featureNames, labelColumn, classNames, preprocessing: { standardize, pixelScale }, dataset };
}

function object(v: JsonValue | undefined, what: string, fail: Fail): Map<string, JsonValue> {
  if (!(v instanceof Map)) return fail(`field ${what} must be an object`);
  return v;
}

function array(v: JsonValue | undefined, what: string, fail: Fail): JsonValue[] {
  if (!Array.isArray(v)) return fail(`field ${what} must be an array`);
  return v;
}

function integer(v: JsonValue | undefined, what: string, min: number, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) return fail(`field ${what} must be an integer >= ${min} (got ${JSON.stringify(v ?? null)})`);
  return v;
}

function strings(v: JsonValue, what: string, fail: Fail): string[] {
  return array(v, what, fail).map((s, i) => (typeof s === 'string' ? s : fail(`field ${what}[${i}] must be a string`)));
}

function numbers(v: JsonValue | undefined, what: string, fail: Fail): number[] {
  return array(v, what, fail).map((x, i) => (typeof x === 'number' && Number.isFinite(x) ? x : fail(`field ${what}[${i}] must be a finite number`)));
}

function nullable<T>(v: JsonValue | undefined, read: (v: JsonValue) => T): T | null {
  return v === undefined || v === null ? null : read(v);
}
