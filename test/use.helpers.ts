/** Shared data for the tests of evaluate, predict and the model file (test/use.*, test/cli.evaluate, test/cli.predict). */
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Rng } from '../src/util/rng.js';
import { repoRoot } from './helpers.js';

export const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
export const SPECIES = ['setosa', 'versicolor', 'virginica'];

/**
 * An iris-like CSV: a header, four features on different scales (so --standardize matters), a text
 * label column `species` (the last, where the csv: loader looks by default), 3 classes that overlap a little.
 */
export function writeFlowersCsv(dir: string, n = 300, seed = 1, name = 'flowers.csv'): string {
  const rng = new Rng(seed, 'flowers');
  const lines = ['sepal_length,sepal_width,petal_length,petal_width,species'];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    const f = [5 + c * 0.9 + 0.5 * rng.normal(), 3 - c * 0.2 + 0.3 * rng.normal(), 1.5 + c * 2 + 0.6 * rng.normal(), 100 * (0.2 + c * 0.8 + 0.3 * rng.normal())];
    lines.push([f[0].toFixed(2), f[1].toFixed(2), f[2].toFixed(2), f[3].toFixed(1), SPECIES[c]].join(','));
  }
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/**
 * A smaller iris-like CSV whose classes do not overlap: 3 numeric features (sepal_length,
 * sepal_width, petal_length) and the text label `species`, with the columns in `order` (indices into
 * that list, the label last by default) and the rows cycling over `classes` (default: all three).
 */
export function writeSeparableCsv(dir: string, name: string, n: number, seed: number, options: { order?: number[]; classes?: string[] } = {}): string {
  const columns = ['sepal_length', 'sepal_width', 'petal_length', 'species'];
  const { order = [0, 1, 2, 3], classes = SPECIES } = options;
  const rng = new Rng(seed, 'separable-flowers');
  const lines = [order.map((j) => columns[j]).join(',')];
  for (let i = 0; i < n; i++) {
    const species = classes[i % classes.length];
    const c = SPECIES.indexOf(species);
    const features = [c + 0.2 * rng.normal(), 1 - 0.5 * c + 0.2 * rng.normal(), 2 * c - 2 + 0.2 * rng.normal()].map((v) => v.toFixed(2));
    lines.push(order.map((j) => (j === 3 ? species : features[j])).join(','));
  }
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** The rows of a CSV written by writeFlowersCsv: header fields and data rows as string arrays. */
export function readCsv(file: string): { header: string[]; rows: string[][] } {
  const [header, ...rows] = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => line.split(','));
  return { header, rows };
}

/** Predictions CSV (dptrain predict's output) as {class, index, probabilities} per row. */
export function parsePredictions(text: string): { header: string[]; rows: { name: string; index: number; p: number[] }[] } {
  const [header, ...lines] = text.trim().split('\n');
  return {
    header: header.split(','),
    rows: lines.map((line) => {
      const [name, index, ...p] = line.split(',');
      return { name, index: Number(index), p: p.map(Number) };
    }),
  };
}

/**
 * An uncompressed IDX pair (digits-images-idx3-ubyte, digits-labels-idx1-ubyte) of n of the bundled
 * digits, every (10000 / n)th from sample 7 (the digits are stored by class, so all classes come);
 * returns the images file and the indices of the digits it holds, in `mnist`'s order.
 */
export function writeDigitsIdx(dir: string, n = 50): { images: string; indices: number[] } {
  const read = (name: string) => gunzipSync(fs.readFileSync(path.join(repoRoot, 'data', name)));
  const [images, labels] = [read('mnist-10k-images-idx3-ubyte.gz'), read('mnist-10k-labels-idx1-ubyte.gz')];
  const indices = Array.from({ length: n }, (_, i) => i * Math.floor(10_000 / n) + 7);
  const header = (magic: number, dims: number[]) => {
    const bytes = Buffer.alloc(4 + 4 * dims.length);
    bytes.writeUInt32BE(magic, 0);
    dims.forEach((dim, k) => bytes.writeUInt32BE(dim, 4 + 4 * k));
    return bytes;
  };
  const file = path.join(dir, 'digits-images-idx3-ubyte');
  fs.writeFileSync(file, Buffer.concat([header(0x803, [n, 28, 28]), ...indices.map((i) => images.subarray(16 + i * 784, 16 + (i + 1) * 784))]));
  fs.writeFileSync(path.join(dir, 'digits-labels-idx1-ubyte'), Buffer.concat([header(0x801, [n]), Buffer.from(indices.map((i) => labels[8 + i]))]));
  return { images: file, indices };
}
