/** Checks that a model spec can train on a dataset, before any work is done. */
import type { Dataset } from '../data/index.js';
import { DataError, ModelError } from '../errors.js';
import { inputShapeOf, outputSize, shapeText, type ModelSpec } from '../model/index.js';

export function checkModelFitsData(spec: ModelSpec, data: Dataset, datasetSpec: string): void {
  const inputShape = inputShapeOf(spec);
  const inputs = inputShape.reduce((a, b) => a * b, 1);
  const outputs = outputSize(spec);
  const dataShape = data.sampleShape ?? [data.inputDim];
  if (spec.kind === 'cnn') {
    // Images must match exactly; flat rows (CSV) of the right size are read as (C, H, W) in order.
    if (inputs !== data.inputDim || (dataShape.length > 1 && shapeText(dataShape) !== shapeText(inputShape))) {
      throw new ModelError(
        'inputMismatch',
        `model ${spec.text} takes samples of shape ${shapeText(inputShape)} but dataset ${datasetSpec} has samples of shape ${shapeText(dataShape)} — make the first token of --model ${shapeText(dataShape)}`,
      );
    }
  } else if (inputs !== data.inputDim) {
    throw new ModelError(
      'inputMismatch',
      `model ${spec.text} takes ${inputs} inputs but dataset ${datasetSpec} has ${data.inputDim} features per sample — make the first size of --model ${data.inputDim}${spec.kind === 'mlp' ? ', or give hidden sizes only (e.g. mlp:256-128)' : ''}`,
    );
  }
  const regression = spec.kind === 'cnn' ? `cnn:${shapeText(inputShape)} ... dense${data.targetDim} mse` : `linreg:${inputs}-${data.targetDim}`;
  if (data.task === 'classification') {
    if (spec.loss !== 'softmax-cross-entropy') {
      throw new ModelError('taskMismatch', `dataset ${datasetSpec} is a classification task (${data.numClasses} classes) but ${spec.text} is a regression model — use mlp:... or logreg:${inputs}-${data.numClasses}`);
    }
    if (outputs !== data.numClasses) {
      throw new ModelError('outputMismatch', `model ${spec.text} has ${outputs} outputs but dataset ${datasetSpec} has ${data.numClasses} classes — make the last ${spec.kind === 'cnn' ? 'layer dense' : 'size of --model '}${data.numClasses}`);
    }
  } else {
    if (spec.loss !== 'mse') {
      throw new ModelError('taskMismatch', `dataset ${datasetSpec} is a regression task but ${spec.text} is a classifier — use ${regression} (mean squared error)`);
    }
    if (outputs !== data.targetDim) {
      throw new ModelError('outputMismatch', `model ${spec.text} has ${outputs} outputs but dataset ${datasetSpec} has ${data.targetDim} targets per sample — make the last ${spec.kind === 'cnn' ? 'layer dense' : 'size of --model '}${data.targetDim}`);
    }
  }
}

/** A test set must hold the training data's kind of samples: the same features, task and targets, no unknown class. */
export function checkTestSetFits(test: Dataset, train: Dataset, datasetSpec: string): void {
  const shapeOf = (d: Dataset) => shapeText(d.sampleShape ?? [d.inputDim]);
  const differs =
    test.inputDim !== train.inputDim ? `${test.inputDim} features per sample, not ${train.inputDim}` :
    test.task !== train.task ? `a ${test.task} task, not ${train.task}` :
    test.targetDim !== train.targetDim ? `${test.targetDim} targets per sample, not ${train.targetDim}` :
    test.task === 'classification' && test.numClasses > train.numClasses ? `${test.numClasses} classes, more than the ${train.numClasses} of the training data` :
    null;
  if (differs !== null) {
    throw new DataError('testSetMismatch', `test set ${test.spec} (samples of shape ${shapeOf(test)}) does not fit dataset ${datasetSpec} (samples of shape ${shapeOf(train)}): it has ${differs} — give a --test set from the same source`);
  }
}
