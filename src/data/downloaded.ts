/**
 * `mnist-full[?split=train|test]`, `fashion-mnist[?split=...]`: the official IDX files, fetched
 * into the cache on first use (src/data/fetch.ts), then read like `idx:PATH`. The dataset carries
 * its sample shape and class names as metadata for image layers and reports.
 */
import { ensureDataset } from './fetch.js';
import { loadIdx } from './idx.js';
import { registryEntry } from './registry.js';
import { parseDatasetSpec, SpecOptions, type DatasetSpec } from './spec.js';
import type { Dataset } from './dataset.js';
import { DataError } from '../errors.js';

/** A downloaded dataset: a Dataset plus what the registry knows about its samples. */
export interface DownloadedDataset extends Dataset {
  readonly sampleShape: readonly number[];
  readonly classNames: readonly string[];
}

export async function loadDownloaded(spec: DatasetSpec): Promise<DownloadedDataset> {
  const o = new SpecOptions(spec, spec.kind, ['split']);
  const entry = registryEntry(spec.kind);
  if (entry === undefined) throw new DataError('unknownSpec', `no registry entry for "${spec.kind}"`);
  const split = o.choice('split', 'train', ['train', 'test'] as const) ?? 'train';
  const files = entry[split];
  let progressShown = false;
  let paths: Map<string, string>;
  try {
    paths = await ensureDataset(entry, [files.images, files.labels], {
      onProgress: process.stderr.isTTY ? (line) => (progressShown = process.stderr.write(`\r${line}\x1b[K`) || true) : undefined,
    });
  } finally {
    if (progressShown) process.stderr.write('\n');
  }
  const imagesPath = paths.get(files.images.name) as string;
  const labelsPath = paths.get(files.labels.name) as string;
  const query = new URLSearchParams({ labels: labelsPath }).toString();
  const dataset = await loadIdx(parseDatasetSpec(`idx:${imagesPath}?${query}`));
  return { ...dataset, spec: spec.text, sampleShape: entry.shape, classNames: entry.classNames };
}
