import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataError } from '../src/errors.js';
import { loadDataset } from '../src/data/index.js';
import { tempDir } from './helpers.js';

/** IDX bytes: magic 0x000008<ndims>, big-endian dims, then uint8 values. */
function idx(magic: number, dims: number[], values: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((dim, k) => header.writeUInt32BE(dim, 4 + 4 * k));
  return Buffer.concat([header, Buffer.from(values)]);
}

// Three 2×2 images with labels 0, 2, 1.
const PIXELS = [0, 255, 51, 102, 255, 255, 0, 0, 1, 2, 3, 4];
const IMAGES = idx(0x803, [3, 2, 2], PIXELS);
const LABELS = idx(0x801, [3], [0, 2, 1]);

const dir = tempDir('dptrain-data-idx-');

function write(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('idx:PATH', () => {
  test('loads plain images and labels, finding the labels file by the MNIST naming', async () => {
    const images = write('train-images-idx3-ubyte', IMAGES);
    write('train-labels-idx1-ubyte', LABELS);
    const ds = await loadDataset(`idx:${images}`);
    assert.equal(ds.n, 3);
    assert.equal(ds.inputDim, 4);
    assert.equal(ds.task, 'classification');
    assert.equal(ds.numClasses, 3);
    assert.deepEqual(Array.from(ds.y), [0, 2, 1]);
    assert.deepEqual(ds.x, Float32Array.from(PIXELS, (v) => v / 255));
  });

  test('loads gzipped files, detected by their magic bytes, not their names', async () => {
    const images = write('fashion-images.bin', gzipSync(IMAGES));
    write('fashion-labels.bin', gzipSync(LABELS));
    const ds = await loadDataset(`idx:${images}`);
    assert.deepEqual(Array.from(ds.y), [0, 2, 1]);
    assert.deepEqual(ds.x, Float32Array.from(PIXELS, (v) => v / 255));
  });

  test('takes the labels file from ?labels=', async () => {
    const images = write('pics.idx', IMAGES);
    const labels = write('tags.idx.gz', gzipSync(LABELS));
    const ds = await loadDataset(`idx:${images}?labels=${encodeURIComponent(labels)}`);
    assert.deepEqual(Array.from(ds.y), [0, 2, 1]);
  });

  test('a missing images file is fileNotFound, naming the path', async () => {
    const path = join(dir, 'nope-images-idx3-ubyte');
    await assert.rejects(
      loadDataset(`idx:${path}`),
      (err: unknown) => err instanceof DataError && err.code === 'dptrain.data.fileNotFound' && err.message.includes(path) && /check the path/.test(err.message),
    );
  });

  test('a missing labels file is fileNotFound, suggesting ?labels=', async () => {
    const images = write('lonely-images-idx3-ubyte', IMAGES);
    await assert.rejects(loadDataset(`idx:${images}`), { code: 'dptrain.data.fileNotFound', message: /lonely-labels-idx1-ubyte.*\?labels=PATH/ });
    const unnamed = write('pics-without-convention', IMAGES);
    await assert.rejects(loadDataset(`idx:${unnamed}`), { code: 'dptrain.data.fileNotFound', message: /add \?labels=PATH/ });
  });

  test('a wrong magic number is badIdxMagic, for images and for labels', async () => {
    const labels = write('ok-labels.idx', LABELS);
    const swapped = write('swapped-images.idx', LABELS);
    await assert.rejects(loadDataset(`idx:${swapped}?labels=${labels}`), {
      name: 'DataError',
      code: 'dptrain.data.badIdxMagic',
      message: /0x00000801, not 0x00000803 .*is this a labels file\?/,
    });
    const images = write('ok-images.idx', IMAGES);
    const badLabels = write('bad-labels.idx', idx(0x802, [3], [0, 1, 2]));
    await assert.rejects(loadDataset(`idx:${images}?labels=${badLabels}`), { code: 'dptrain.data.badIdxMagic' });
  });

  test('a file shorter than its header promises is truncatedFile', async () => {
    const labels = write('t-labels.idx', LABELS);
    const short = write('short-images.idx', IMAGES.subarray(0, IMAGES.length - 1));
    await assert.rejects(loadDataset(`idx:${short}?labels=${labels}`), { code: 'dptrain.data.truncatedFile', message: /promises 3×2×2 = 12 values but only 11/ });
    const headerOnly = write('header-images.idx', IMAGES.subarray(0, 10));
    await assert.rejects(loadDataset(`idx:${headerOnly}?labels=${labels}`), { code: 'dptrain.data.truncatedFile', message: /inside its IDX header/ });
  });

  test('images and labels of different counts are labelCountMismatch', async () => {
    const images = write('m-images.idx', IMAGES);
    const labels = write('m-labels.idx', idx(0x801, [2], [0, 1]));
    await assert.rejects(loadDataset(`idx:${images}?labels=${labels}`), { code: 'dptrain.data.labelCountMismatch', message: /3 images but .* 2 labels/ });
  });

  test('a corrupt gzip file is badGzip', async () => {
    const labels = write('g-labels.idx', LABELS);
    const gz = gzipSync(IMAGES);
    gz[gz.length - 6] ^= 0xff; // break the CRC-checked payload tail
    const corrupt = write('corrupt-images.gz', Buffer.concat([gz.subarray(0, 10), Buffer.from('not deflate data at all')]));
    await assert.rejects(loadDataset(`idx:${corrupt}?labels=${labels}`), { code: 'dptrain.data.badGzip', message: /does not decompress/ });
  });
});
