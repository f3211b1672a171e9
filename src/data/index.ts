/** src/data: datasets, specs and the sampler. This file is the folder's whole surface. */
import { DataError } from '../errors.js';
import type { Dataset, Task } from './dataset.js';
import { loadCsv } from './csv.js';
import { loadIdx } from './idx.js';
import { loadDownloaded, type DownloadOptions } from './downloaded.js';
import { loadMnist } from './mnist.js';
import { parseDatasetSpec, UNKNOWN_SPEC_HINT } from './spec.js';
import { loadSynthetic } from './synthetic.js';
import { enableHugePages } from '../util/huge-pages.js';

export { checkInMemoryDataset, checkFiniteSamples, createDataset, datasetHash, subset, sampleArray, DATA_LIMITS, type Dataset, type Task, type PixelScale } from './dataset.js';
export { detectDelimiter } from './csv.js';
export { isNumeric } from './spec.js';
export { REGISTRY } from './registry.js';
export type { DownloadOptions } from './downloaded.js';
export { datasetSpecWithPaths, parseDatasetSpec, takesTaskOption, type DatasetSpec } from './spec.js';
export { splitDataset } from './split.js';
export { IDX_PIXEL_SCALE, pixelValues, rescalePixels, type RecordedPixelScale } from './pixel-scale.js';
export { fitStandardization, applyStandardization, type Standardization } from './standardize.js';
export { resolveBatchSize, stepsPerEpoch, epochPermutation, batchRange, shardRanges, type Range } from './sampler.js';

/** How to load a dataset: where downloads go, and what a trained model records of its data. */
export interface LoadOptions extends DownloadOptions {
  /**
   * The label column's name a model file records (`dptrain.about` labelColumn.name): a CSV spec
   * without `?label=` takes the header column of that name as the label when it has one (evaluate
   * and train --test read a test file as the training file was read).
   */
  labelColumn?: string;
  /**
   * The task a model records, or the training data's (evaluate, train --test): a CSV spec without
   * `?task=` reads its labels for that task rather than inferring it from this file's labels.
   */
  task?: Task;
}

/**
 * Loads a dataset from its spec (docs/formats.md, "Dataset specs"): `mnist`, `synthetic:blobs|spirals|teacher?...`,
 * `idx:PATH[?labels=PATH]`, `csv:PATH[?label=NAME|INDEX&task=...]`, and the downloaded `mnist-full`,
 * `fashion-mnist`, `cifar10` (`?split=train|test`; `options` says where their cache and mirror
 * are, and a recorded label column). Throws DataError (`dptrain.data.*`) for an unknown kind or
 * option, a missing or malformed file.
 */
export async function loadDataset(spec: string, options: LoadOptions = {}): Promise<Dataset> {
  const { labelColumn, task, ...downloads } = options;
  const parsed = parseDatasetSpec(spec);
  await enableHugePages();
  switch (parsed.kind) {
    case 'mnist':
      return loadMnist(parsed);
    case 'synthetic':
      return loadSynthetic(parsed);
    case 'idx':
      return loadIdx(parsed);
    case 'csv':
      return loadCsv(parsed, { label: labelColumn, task });
    case 'mnist-full':
    case 'fashion-mnist':
    case 'cifar10':
      return loadDownloaded(parsed, downloads);
    default:
      throw new DataError('unknownSpec', `unknown dataset "${parsed.kind}" — ${UNKNOWN_SPEC_HINT}`);
  }
}
