/** Checks that a model spec can train on a dataset, before any work is done. */
import type { Dataset } from '../data/index.js';
import { ModelError } from '../errors.js';
import type { ModelSpec } from '../model/index.js';

export function checkModelFitsData(spec: ModelSpec, data: Dataset, datasetSpec: string): void {
  const inputs = spec.sizes[0];
  const outputs = spec.sizes[spec.sizes.length - 1];
  if (inputs !== data.inputDim) {
    throw new ModelError(
      'inputMismatch',
      `model ${spec.text} takes ${inputs} inputs but dataset ${datasetSpec} has ${data.inputDim} features per sample — make the first size of --model ${data.inputDim}`,
    );
  }
  if (data.task === 'classification') {
    if (spec.loss !== 'softmax-cross-entropy') {
      throw new ModelError('taskMismatch', `dataset ${datasetSpec} is a classification task (${data.numClasses} classes) but ${spec.text} is a regression model — use mlp:... or logreg:${inputs}-${data.numClasses}`);
    }
    if (outputs !== data.numClasses) {
      throw new ModelError('outputMismatch', `model ${spec.text} has ${outputs} outputs but dataset ${datasetSpec} has ${data.numClasses} classes — make the last size of --model ${data.numClasses}`);
    }
  } else {
    if (spec.loss !== 'mse') {
      throw new ModelError('taskMismatch', `dataset ${datasetSpec} is a regression task but ${spec.text} is a classifier — use linreg:${inputs}-${data.targetDim} (mean squared error)`);
    }
    if (outputs !== data.targetDim) {
      throw new ModelError('outputMismatch', `model ${spec.text} has ${outputs} outputs but dataset ${datasetSpec} has ${data.targetDim} targets per sample — make the last size of --model ${data.targetDim}`);
    }
  }
}
