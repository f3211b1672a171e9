/**
 * Fitting a dataset to a trained model before evaluation (evaluate, and train's --test set): the same features (by name when both
 * have names: reordered to the model's order), the same task and outputs, the labels mapped to the
 * model's class indices by name, and the training preprocessing applied (image pixels at the
 * model's recorded pixelScale, as predict reads an IDX file; standardization). A
 * dataset that does not fit is refused naming both sides (DataError `featuresMismatch`,
 * `labelColumnMissing`, `classesMismatch`, `taskMismatch`).
 */
import { applyStandardization, createDataset, rescalePixels, takesTaskOption, type Dataset, type RecordedPixelScale, type Standardization } from '../data/index.js';
import { DataError } from '../errors.js';
import type { ModelAbout } from '../io/index.js';

/** What matching needs to know of the model: its file's description (or null for an old file) and its sizes. */
export interface ModelShape {
  /** How messages name the model, e.g. its file. */
  name: string;
  about: ModelAbout | null;
  inputShape: readonly number[];
  inputDim: number;
  outputs: number;
  task: 'classification' | 'regression';
}

/** The standardization of a model file, as float32 arrays (the values training used), or null. */
export function standardizationOf(about: ModelAbout | null): Standardization | null {
  const s = about?.preprocessing.standardize;
  return s ? { mean: Float32Array.from(s.mean), std: Float32Array.from(s.std) } : null;
}

/**
 * How the model's training data made pixel bytes into values (`{divideBy: 255, roundTo: 3}` for the
 * bundled mnist), or null when it records none (data that was not images, an older file).
 */
export function pixelScaleOf(about: ModelAbout | null): RecordedPixelScale | null {
  return about?.preprocessing.pixelScale ?? null;
}

/**
 * `data` as the model takes it: columns in the model's order, image pixels at the model's
 * recorded scale (an `idx:` file's bytes become the values predict gives the same file, the
 * values of training data of that kind), labels as its class indices, standardized. Named
 * columns the model does not take (an id) are left out, each named through `onWarning`, as
 * predict does.
 */
export function fitDataToModel(model: ModelShape, data: Dataset, onWarning?: (message: string) => void): Dataset {
  checkNotFeaturesOnly(model, data);
  checkLabelColumn(model, data);
  checkTask(model, data);
  const reordered = reorderFeatures(model, data, onWarning);
  const scale = pixelScaleOf(model.about);
  const ordered = scale ? rescalePixels(reordered, scale, onWarning) : reordered;
  const labelled = model.task === 'classification' ? mapClasses(model, ordered) : ordered;
  const stats = standardizationOf(model.about);
  return stats ? applyStandardization(labelled, stats) : labelled;
}

/**
 * A CSV of the model's features only, the rows predict takes: the loader read its last column as
 * the label, so the features would look one short ("783 features"). Matched by count, and by name
 * where both sides have names (in any order, as features are matched).
 */
function checkNotFeaturesOnly(model: ModelShape, data: Dataset): void {
  const taken = data.labelColumn;
  if (taken === undefined || data.inputDim + 1 !== model.inputDim) return;
  const wanted = model.about?.featureNames ?? null;
  const columns = data.featureNames ? [...data.featureNames, taken.name] : null;
  if (wanted !== null && columns !== null && (columns.length !== wanted.length || !wanted.every((name) => columns.includes(name)))) return;
  const file = data.spec.replace(/^csv:/, '').replace(/\?.*$/, '');
  const label = model.about?.labelColumn?.name;
  const are = wanted !== null && columns !== null ? `its columns are the features of ${model.name} (${listNames(wanted)})` : `it has ${model.inputDim} columns, as many as the features ${model.name} takes`;
  // A library model's name may be its spec text, not a file the command could take.
  const predict = `dptrain predict ${/\.safetensors$/i.test(model.name) ? model.name : 'MODEL'} --input ${file}`;
  throw new DataError(
    'labelColumnMissing',
    `dataset ${data.spec} has no label column: ${are}, so it cannot be evaluated — use ${predict} for its predictions, or add the label column${label === undefined ? '' : ` ${JSON.stringify(label)}`} with the true values to evaluate`,
  );
}

/**
 * A CSV without the label column the model was trained with: the loader fell back to another
 * column (one of the model's features) as the label, and the features would then look short.
 */
function checkLabelColumn(model: ModelShape, data: Dataset): void {
  const label = model.about?.labelColumn?.name;
  const taken = data.labelColumn?.name;
  if (label === undefined || taken === undefined || taken === label || !data.featureNames) return;
  if (!(model.about?.featureNames ?? []).includes(taken)) return;
  throw new DataError(
    'labelColumnMissing',
    `dataset ${data.spec} has no column ${JSON.stringify(label)}, the label ${model.name} was trained to predict (columns: ${listNames([...data.featureNames, taken])}) — add the true values as a column ${JSON.stringify(label)} to evaluate, or use dptrain predict for rows without labels`,
  );
}

function checkTask(model: ModelShape, data: Dataset): void {
  if (data.task !== model.task) {
    // Only a CSV's labels can be read as either task (?task=); other data is of one task.
    const trained = model.about ? `, such as the data it was trained on (${model.about.dataset.spec})` : '';
    const fix = !takesTaskOption(data.spec)
      ? `the tasks differ, so evaluate it on ${model.task} data${trained}`
      : model.task === 'classification'
        ? 'its numeric labels read as regression: if they are class indices, add ?task=classification to the dataset spec'
        : 'if the labels are numbers to predict, add ?task=regression to the dataset spec';
    throw new DataError('taskMismatch', `${model.name} is a ${model.task} model but dataset ${data.spec} is a ${data.task} task — ${fix}`);
  }
  if (model.task === 'regression' && data.targetDim !== model.outputs) {
    throw new DataError('taskMismatch', `${model.name} predicts ${model.outputs} targets per sample but dataset ${data.spec} has ${data.targetDim}`);
  }
}

/** Features in the model's order: by name when both have names, else by position with equal counts and shapes. */
function reorderFeatures(model: ModelShape, data: Dataset, onWarning?: (message: string) => void): Dataset {
  const wanted = model.about?.featureNames ?? null;
  const have = data.featureNames ?? null;
  if (wanted && have) {
    const index = new Map(have.map((name, j) => [name, j]));
    const missing = wanted.filter((name) => !index.has(name));
    const extra = have.filter((name) => !wanted.includes(name));
    if (missing.length > 0) {
      throw new DataError(
        'featuresMismatch',
        `dataset ${data.spec} has the features ${listNames(have)} but ${model.name} takes ${listNames(wanted)}; missing: ${listNames(missing)}${extra.length > 0 ? `; not in the model: ${listNames(extra)}` : ''} — use data with the model's columns`,
      );
    }
    if (extra.length > 0) onWarning?.(`dataset ${data.spec}: ignoring the columns ${listNames(extra)} (not features of the model)`);
    if (extra.length === 0 && wanted.every((name, j) => have[j] === name)) return data;
    const order = wanted.map((name) => index.get(name)!);
    const from = data.inputDim;
    const d = wanted.length;
    const x = new Float32Array(data.n * d);
    for (let i = 0; i < data.n; i++) for (let j = 0; j < d; j++) x[i * d + j] = data.x[i * from + order[j]];
    const { sampleShape: _flat, ...rest } = data;
    return Object.freeze({ ...rest, inputDim: d, x, featureNames: Object.freeze(wanted.slice()) });
  }
  const dataShape = data.sampleShape ?? [data.inputDim];
  const sameShape = dataShape.length === 1 || model.inputShape.length === 1 || dataShape.join('x') === model.inputShape.join('x');
  if (data.inputDim !== model.inputDim || !sameShape) {
    const names = wanted ? ` (${listNames(wanted)})` : '';
    throw new DataError(
      'featuresMismatch',
      `dataset ${data.spec} has samples of shape ${dataShape.join('x')} (${data.inputDim} features) but ${model.name} takes ${model.inputShape.join('x')} (${model.inputDim} features${names}) — use data of the kind the model was trained on${model.about ? ` (${model.about.dataset.spec})` : ''}`,
    );
  }
  return data;
}

/**
 * Labels as the model's class indices. With names on both sides the data's classes are mapped by
 * name (a test file may hold fewer classes, so its own indices differ); otherwise indices must be
 * below the model's class count.
 */
function mapClasses(model: ModelShape, data: Dataset): Dataset {
  const modelNames = model.about?.classNames ?? null;
  const dataNames = data.classNames ?? null;
  if (modelNames && dataNames) {
    const index = new Map(modelNames.map((name, k) => [name, k]));
    const unknown = dataNames.filter((name) => !index.has(name));
    if (unknown.length > 0) {
      throw new DataError('classesMismatch', `dataset ${data.spec} has the classes ${listNames(unknown)} that ${model.name} does not know (its classes: ${listNames(modelNames)}) — evaluate on rows of those classes, or train a model that knows all of them`);
    }
    const map = dataNames.map((name) => index.get(name)!);
    if (map.every((k, j) => k === j) && data.numClasses === model.outputs) return data;
    const y = Float32Array.from(data.y, (label) => map[label]);
    return createDataset({ ...data, y, numClasses: model.outputs, classNames: modelNames });
  }
  // A CSV's labels came as written: integers with a model that names its classes (or names with a
  // model trained on integers) would be matched by position, pairing classes that only share an index.
  if (data.labelColumn !== undefined && (modelNames === null) !== (dataNames === null)) {
    const named = modelNames ?? dataNames!;
    if (!named.every((name, k) => name === String(k))) {
      throw new DataError(
        'classesMismatch',
        modelNames
          ? `dataset ${data.spec} gives its labels as class indices, but ${model.name} names its classes (${listNames(modelNames)}) — write the labels as those names`
          : `dataset ${data.spec} names its classes (${listNames(dataNames!)}), but ${model.name} was trained on class indices 0…${model.outputs - 1} — write the labels as those indices`,
      );
    }
  }
  if (modelNames && !dataNames && data.numClasses > model.outputs) {
    throw new DataError('classesMismatch', `dataset ${data.spec} has class indices up to ${data.numClasses - 1} but ${model.name} has ${model.outputs} classes (${listNames(modelNames)}) — give the labels as the class names`);
  }
  if (data.numClasses > model.outputs) {
    throw new DataError('classesMismatch', `dataset ${data.spec} has ${data.numClasses} classes but ${model.name} has ${model.outputs}`);
  }
  if (data.numClasses === model.outputs) return data;
  return createDataset({ ...data, numClasses: model.outputs, classNames: modelNames ?? undefined });
}

/** `"a", "b", "c" and 4 more`. */
export function listNames(names: readonly string[], shown = 8): string {
  const quoted = names.slice(0, shown).map((name) => JSON.stringify(name));
  return names.length > shown ? `${quoted.join(', ')} and ${names.length - shown} more` : quoted.join(', ');
}
