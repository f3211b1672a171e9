/**
 * The `dptrain.about` metadata of a run's model files (docs/formats.md): built once per run from the
 * data as loaded (before the split) and the standardization fitted on the training split.
 */
import { datasetHash, type Dataset, type Standardization } from '../data/index.js';
import { ABOUT_VERSION, type ModelAbout } from '../io/index.js';
import { inputShapeOf, outputSize, type ModelSpec } from '../model/index.js';

export function modelAboutOf(loaded: Dataset, model: ModelSpec, stats: Standardization | null, split: { valSplit: number; seed: number }, hash = datasetHash(loaded)): ModelAbout {
  return {
    version: ABOUT_VERSION,
    task: loaded.task,
    inputShape: loaded.sampleShape ? [...loaded.sampleShape] : inputShapeOf(model).length > 1 ? inputShapeOf(model) : [loaded.inputDim],
    outputs: outputSize(model),
    featureNames: loaded.featureNames ? [...loaded.featureNames] : null,
    labelColumn: loaded.labelColumn ? { ...loaded.labelColumn } : null,
    classNames: loaded.task === 'classification' && loaded.classNames ? [...loaded.classNames] : null,
    preprocessing: {
      standardize: stats && { mean: Array.from(stats.mean), std: Array.from(stats.std) },
      pixelScale: loaded.pixelScale ? { divideBy: loaded.pixelScale.divideBy, roundTo: loaded.pixelScale.roundTo ?? null } : null,
    },
    dataset: { spec: loaded.spec, hash, samples: loaded.n, valSplit: split.valSplit, seed: split.seed },
  };
}
