/**
 * `mnist-full[?split=train|test]`, `fashion-mnist[?split=...]`, `cifar10[?split=...]`: the official
 * files, fetched into the cache on first use (src/data/fetch.ts), then read: IDX pairs like
 * `idx:PATH`, CIFAR-10's archive by src/data/cifar.ts. The dataset carries its sample shape and
 * class names for image layers, summary.json and reports; its class count is the registry's, not
 * the largest label seen.
 */
import { ensureDataset, type FetchOptions } from './fetch.js';
import { loadIdx } from './idx.js';
import { readCifar10 } from './cifar.js';
import { registryEntry, type RegistryEntry } from './registry.js';
import { parseDatasetSpec, SpecOptions, type DatasetSpec } from './spec.js';
import { createDataset, type Dataset } from './dataset.js';
import { DataError } from '../errors.js';

/** Where downloads go and come from (the train/sweep flags --data-dir and --data-mirror). */
export type DownloadOptions = Pick<FetchOptions, 'dataDir' | 'mirror'>;

/** A downloaded dataset: a Dataset plus what the registry knows about its samples. */
export interface DownloadedDataset extends Dataset {
  readonly sampleShape: readonly number[];
  readonly classNames: readonly string[];
}

export async function loadDownloaded(spec: DatasetSpec, options: DownloadOptions = {}): Promise<DownloadedDataset> {
  const o = new SpecOptions(spec, spec.kind, ['split']);
  const entry = registryEntry(spec.kind);
  if (entry === undefined) throw new DataError('unknownSpec', `no registry entry for "${spec.kind}"`);
  const split = o.choice('split', 'train', ['train', 'test'] as const) ?? 'train';
  const paths = await fetchWithProgress(entry, split, options);
  const files = entry[split].map((file) => paths.get(file.name) as string);
  const samples = entry.format === 'cifar10-binary' ? await readCifar10(files[0], split) : await loadIdxPair(files[0], files[1]);
  const dataset = createDataset({
    spec: spec.text,
    n: samples.n,
    inputDim: samples.x.length / samples.n,
    x: samples.x,
    targetDim: 1,
    y: samples.y,
    task: 'classification',
    numClasses: entry.classNames.length,
    sampleShape: entry.shape,
    classNames: entry.classNames,
  });
  return dataset as DownloadedDataset;
}

async function loadIdxPair(imagesPath: string, labelsPath: string): Promise<Dataset> {
  const query = new URLSearchParams({ labels: labelsPath }).toString();
  return loadIdx(parseDatasetSpec(`idx:${imagesPath}?${query}`));
}

/** The split's files in the cache, fetched first if missing, with a progress line on a terminal. */
async function fetchWithProgress(entry: RegistryEntry, split: 'train' | 'test', options: DownloadOptions): Promise<Map<string, string>> {
  let progressShown = false;
  try {
    return await ensureDataset(entry, entry[split], {
      ...options,
      onProgress: process.stderr.isTTY ? (line) => (progressShown = process.stderr.write(`\r${line}\x1b[K`) || true) : undefined,
    });
  } finally {
    if (progressShown) process.stderr.write('\n');
  }
}
