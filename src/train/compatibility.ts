/** Checks that a model spec can train on a dataset, and fits a --test set to it, before any work is done. */
import { takesTaskOption, type Dataset } from '../data/index.js';
import { DataError, ModelError } from '../errors.js';
import { fitDataToModel, type ModelShape } from '../inference/index.js';
import type { ModelAbout } from '../io/index.js';
import { inputShapeOf, outputSize, shapeText, type ModelSpec } from '../model/index.js';

/**
 * What no model spec can fix, or a classifier kind for regression data, said about the data before
 * the spec is sized from it (model-sizing.ts): otherwise the message would blame a derived spec the
 * user never typed (`mlp:2-128-1`). `givenModel`: --model as typed, or null when not given.
 */
export function checkDataSuitsModel(data: Dataset, datasetSpec: string, givenModel: string | null): void {
  const column = data.labelColumn ? `column ${JSON.stringify(data.labelColumn.name)}` : null;
  const only = data.task === 'classification' ? onlyLabel(data) : null;
  if (only !== null) {
    const name = data.classNames?.[only] ?? String(only);
    const of = data.numClasses > 1 ? ` (of the ${data.numClasses} classes it declares)` : '';
    const fix = column || data.numClasses < 2 ? 'check the label column (?label=NAME)' : 'check the labels (y)';
    throw new DataError('oneClass', `dataset ${datasetSpec} has one class: every label${column ? ` in ${column}` : ''} is ${JSON.stringify(name)}${of}, and a classifier needs at least 2 classes — ${fix} or add samples of another class`);
  }
  const kind = givenModel === null ? null : /^(mlp|logreg)(?::|$)/.exec(givenModel.trim())?.[1];
  if (data.task === 'regression' && kind) {
    const hidden = `cnn:${data.inputDim} dense128 relu dense${data.targetDim} mse`;
    const classes = takesTaskOption(datasetSpec) ? '; if the labels are classes, add ?task=classification to the dataset' : '';
    throw new ModelError('taskMismatch', `dataset ${datasetSpec} is a regression task${column ? ` (its label ${column} holds numbers, not class indices)` : ''} but ${kind} is a classifier — use --model linreg, or '${hidden}' for hidden layers${classes}`);
  }
}

/**
 * The class every label is, or null when there are two or more: a loader's numClasses of 1, or
 * in-memory data that declares more classes than its labels hold (one pass over the labels).
 */
function onlyLabel(data: Dataset): number | null {
  if (data.numClasses < 2) return 0;
  const first = data.y[0];
  for (let i = 1; i < data.n; i++) if (data.y[i] !== first) return null;
  return data.n > 0 ? first : null;
}

export function checkModelFitsData(spec: ModelSpec, data: Dataset, datasetSpec: string): void {
  const inputShape = inputShapeOf(spec);
  const inputs = inputShape.reduce((a, b) => a * b, 1);
  const outputs = outputSize(spec);
  const dataShape = data.sampleShape ?? [data.inputDim];
  // A model read from a JSON file is named by the file, and its fixes are said in the file's terms.
  const file = spec.kind === 'cnn' ? spec.file : undefined;
  const name = file === undefined ? spec.text : `model file ${file}`;
  if (spec.kind === 'cnn') {
    // Images must match exactly; flat rows (CSV) of the right size are read as (C, H, W) in order.
    if (inputs !== data.inputDim || (dataShape.length > 1 && shapeText(dataShape) !== shapeText(inputShape))) {
      throw new ModelError('inputMismatch', `${file === undefined ? `model ${spec.text}` : name} takes samples of shape ${shapeText(inputShape)} but dataset ${datasetSpec} has samples of shape ${shapeText(dataShape)} — ${inputShapeFix(spec, data)}`);
    }
  } else if (inputs !== data.inputDim) {
    throw new ModelError(
      'inputMismatch',
      `model ${spec.text} takes ${inputs} inputs but dataset ${datasetSpec} has ${data.inputDim} features per sample — make the first size of --model ${data.inputDim}${spec.kind === 'mlp' ? ', or give hidden sizes only (e.g. mlp:256-128)' : ''}`,
    );
  }
  const regression = spec.kind === 'cnn' ? `cnn:${shapeText(inputShape)} ... dense${data.targetDim} mse` : `linreg:${inputs}-${data.targetDim}`;
  const lastDense = (units: number) => (file !== undefined ? `in ${file}, make the last layer {"type": "dense", "units": ${units}}` : `make the last ${spec.kind === 'cnn' ? 'layer dense' : 'size of --model '}${units}`);
  if (data.task === 'classification') {
    if (spec.loss !== 'softmax-cross-entropy') {
      throw new ModelError('taskMismatch', `dataset ${datasetSpec} is a classification task (${data.numClasses} classes) but ${name} is a regression model — ${classifierFix(spec, inputs, data.numClasses)}`);
    }
    if (outputs !== data.numClasses) {
      throw new ModelError('outputMismatch', `${file === undefined ? `model ${spec.text}` : name} has ${outputs} outputs but dataset ${datasetSpec} has ${data.numClasses} classes — ${lastDense(data.numClasses)}`);
    }
  } else {
    if (spec.loss !== 'mse') {
      const fix = file === undefined ? `use ${regression} (mean squared error)` : `in ${file}, set "loss": "mse" (mean squared error) and end "layers" with {"type": "dense", "units": ${data.targetDim}}`;
      throw new ModelError('taskMismatch', `dataset ${datasetSpec} is a regression task but ${name} is a classifier — ${fix}`);
    }
    if (outputs !== data.targetDim) {
      throw new ModelError('outputMismatch', `${file === undefined ? `model ${spec.text}` : name} has ${outputs} outputs but dataset ${datasetSpec} has ${data.targetDim} targets per sample — ${lastDense(data.targetDim)}`);
    }
  }
}

/** How a regression model becomes a classifier: a layer model only needs its loss changed; linreg is a regression model by kind. */
function classifierFix(spec: ModelSpec, inputs: number, classes: number): string {
  if (spec.kind !== 'cnn') return `use mlp:... or logreg:${inputs}-${classes}`;
  if (spec.file !== undefined) return `in ${spec.file}, remove "loss": "mse", as a classifier trains with cross-entropy, the default loss`;
  return `drop mse, as a classifier trains with cross-entropy, the default loss: --model '${spec.text.replace(/ mse$/, '')}' (in a .json file, remove "loss": "mse")`;
}

/** How to make a layer model take the data's samples: its first token, with `flatten` where dense layers would meet an image. */
function inputShapeFix(spec: Extract<ModelSpec, { kind: 'cnn' }>, data: Dataset): string {
  const dataShape = data.sampleShape ?? [data.inputDim];
  if (spec.file !== undefined) return fileInputFix(spec, spec.file, dataShape);
  const layers = spec.text.split(' ').slice(1).join(' ');
  if (dataShape.length > 1 && spec.inputShape.length === 1) {
    // Dense layers take flat vectors: the image is flattened first, in (C, H, W) order.
    return `its dense layers need a flat input, so flatten the images first: --model 'cnn:${shapeText(dataShape)} flatten ${layers}'`;
  }
  if (dataShape.length === 1 && spec.inputShape.length > 1) {
    // A width other than C·H·W cannot be read as the model's images; this data is flat features.
    // mlp and logreg are classifiers: regression data gets the default (linreg) or a dense stack ending in mse.
    const flatModel = data.task === 'classification'
      ? '--model mlp, sized from the data'
      : `leave --model out for the default, linreg:${data.inputDim}-${data.targetDim}, or for hidden layers --model 'cnn:${data.inputDim} dense64 relu dense${data.targetDim} mse'`;
    return `its first layers need images of ${spec.inputShape.reduce((a, b) => a * b, 1)} values and these samples are ${dataShape[0]} flat features: use a model for flat data (${flatModel})`;
  }
  return `make the first token of --model ${shapeText(dataShape)}`;
}

/** inputShapeFix for a model read from JSON `file`, in the file's terms. */
function fileInputFix(spec: Extract<ModelSpec, { kind: 'cnn' }>, file: string, dataShape: readonly number[]): string {
  const input = `"input": [${dataShape.join(', ')}]`;
  if (dataShape.length > 1 && spec.inputShape.length === 1) return `in ${file}, set ${input} and put {"type": "flatten"} first in "layers", as its dense layers need a flat input`;
  if (dataShape.length === 1 && spec.inputShape.length > 1) {
    return `its first layers need images of ${spec.inputShape.reduce((a, b) => a * b, 1)} values and these samples are ${dataShape[0]} flat features: in ${file}, set ${input} and use dense layers (no conv2d or pooling)`;
  }
  return `in ${file}, set ${input}`;
}

/**
 * The --test set as the model takes it, matched as `dptrain evaluate` matches a dataset
 * (fitDataToModel): columns by name when both have a header, labels mapped to the training
 * classes by name (a test file may hold fewer classes, or list them in another order), the
 * training standardization applied. Samples of another size, task or target count are
 * `testSetMismatch`; names that do not match are evaluate's `featuresMismatch` and `classesMismatch`.
 */
export function fitTestSet(test: Dataset, train: Dataset, about: ModelAbout, datasetSpec: string): Dataset {
  const shapeOf = (d: Dataset) => shapeText(d.sampleShape ?? [d.inputDim]);
  const differs =
    test.inputDim !== train.inputDim ? `${test.inputDim} features per sample, not ${train.inputDim}` :
    test.task !== train.task ? `a ${test.task} task, not ${train.task}` :
    test.targetDim !== train.targetDim ? `${test.targetDim} targets per sample, not ${train.targetDim}` :
    null;
  if (differs !== null) {
    throw new DataError('testSetMismatch', `test set ${test.spec} (samples of shape ${shapeOf(test)}) does not fit dataset ${datasetSpec} (samples of shape ${shapeOf(train)}): it has ${differs} — give a --test set from the same source`);
  }
  const model: ModelShape = {
    name: `the model (trained on ${datasetSpec})`,
    about,
    inputShape: about.inputShape,
    inputDim: train.inputDim,
    outputs: about.outputs,
    task: about.task,
  };
  return fitDataToModel(model, test);
}
