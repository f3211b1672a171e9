/**
 * `idx:PATH[?labels=LABELS_PATH]`: MNIST / Fashion-MNIST IDX files, gzip or not (detected by
 * the 1f 8b magic bytes, not the name). Images: magic 0x00000803 (uint8, 3 dims n×rows×cols),
 * pixels / 255 -> inputDim rows·cols. Labels: magic 0x00000801 (uint8, n); classes = max + 1.
 * Without ?labels the labels path is the image path with "images-idx3" -> "labels-idx1" in the
 * file name (train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz), else "-images" -> "-labels".
 * Format: http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST DATABASE").
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError } from '../errors.js';
import { createDataset, DATA_LIMITS, type Dataset } from './dataset.js';
import { SpecOptions, type DatasetSpec } from './spec.js';

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

export function loadIdx(spec: DatasetSpec): Dataset {
  const o = new SpecOptions(spec, 'idx:PATH', ['labels']);
  if (spec.target === '') {
    throw new DataError('unknownSpec', `dataset "${spec.text}" names no file — use idx:PATH, e.g. idx:data/train-images-idx3-ubyte.gz`);
  }
  const imagesPath = spec.target;
  const labelsPath = o.string('labels') ?? guessLabelsPath(imagesPath);

  const images = readIdx(imagesPath, IMAGES_MAGIC, 'images');
  const labels = readIdx(labelsPath, LABELS_MAGIC, 'labels');
  const [n, rows, cols] = images.dims;
  const inputDim = rows * cols;
  if (labels.dims[0] !== n) {
    throw new DataError(
      'labelCountMismatch',
      `${imagesPath} holds ${n} images but ${labelsPath} holds ${labels.dims[0]} labels — are they from the same set (train vs t10k)?`,
    );
  }
  if (n === 0) throw new DataError('emptyDataset', `${imagesPath} holds no images`);
  if (n * inputDim > DATA_LIMITS.maxElements) {
    throw new DataError('tooLarge', `${imagesPath} holds ${n}×${inputDim} pixels, more than the limit of ${DATA_LIMITS.maxElements}`);
  }

  const x = new Float32Array(n * inputDim);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i] / 255;
  const y = new Float32Array(n);
  let maxLabel = 0;
  for (let i = 0; i < n; i++) {
    y[i] = labels.data[i];
    if (labels.data[i] > maxLabel) maxLabel = labels.data[i];
  }
  return createDataset({ spec: spec.text, n, inputDim, x, targetDim: 1, y, task: 'classification', numClasses: maxLabel + 1, sampleShape: [1, rows, cols] });
}

/** The labels file next to an images file, by the MNIST naming convention. */
function guessLabelsPath(imagesPath: string): string {
  const name = basename(imagesPath);
  const candidates = [name.replace('images-idx3', 'labels-idx1'), name.replace('-images', '-labels')]
    .filter((candidate) => candidate !== name)
    .map((candidate) => join(dirname(imagesPath), candidate));
  if (candidates.length === 0) {
    throw new DataError(
      'fileNotFound',
      `cannot tell the labels file for ${imagesPath} (its name has no "images-idx3" or "-images") — add ?labels=PATH`,
    );
  }
  return candidates.find((candidate) => existsSync(candidate)) ?? candidates[0];
}

interface IdxArray {
  dims: number[];
  /** The uint8 values after the header. */
  data: Uint8Array;
}

/** Reads a uint8 IDX file with the given magic (gunzipping first when it starts with 1f 8b). */
function readIdx(path: string, magic: number, what: 'images' | 'labels'): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const hint = what === 'labels' ? ' — pass the labels file with ?labels=PATH' : ` — check the path (relative paths start at ${process.cwd()})`;
    if (code === 'ENOENT') throw new DataError('fileNotFound', `${what} file not found: ${resolve(path)}${hint}`, { cause });
    throw new DataError('fileNotFound', `cannot read ${what} file ${resolve(path)} (${code ?? String(cause)})${hint}`, { cause });
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      // Bounded: a gzip bomb stops at the dataset size limit instead of exhausting memory.
      bytes = gunzipSync(bytes, { maxOutputLength: DATA_LIMITS.maxElements });
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new DataError('tooLarge', `${path} inflates beyond ${DATA_LIMITS.maxElements} bytes, the dataset size limit — is it the right file?`, { cause });
      }
      throw new DataError('badGzip', `${path} starts like a gzip file but does not decompress (${(cause as Error).message}) — download it again`, { cause });
    }
  }
  if (bytes.length < 4) {
    throw new DataError('truncatedFile', `${path} has ${bytes.length} bytes, too few for an IDX header — download it again`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    throw new DataError(
      'badIdxMagic',
      `${path} starts with magic 0x${found.toString(16).padStart(8, '0')}, not 0x${magic.toString(16).padStart(8, '0')} of an IDX ${what} file (uint8, ${magic & 0xff} dims)` +
        (what === 'images' ? ' — is this a labels file?' : ' — is this an images file?'),
    );
  }
  const ndims = magic & 0xff;
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new DataError('truncatedFile', `${path} ends inside its IDX header (${bytes.length} of ${headerBytes} bytes) — download it again`);
  }
  const dims: number[] = [];
  for (let k = 0; k < ndims; k++) dims.push(view.getUint32(4 + 4 * k, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - headerBytes < count) {
    throw new DataError(
      'truncatedFile',
      `${path} is truncated: its header promises ${dims.join('×')} = ${count} values but only ${bytes.length - headerBytes} follow — download it again`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes, headerBytes + count) };
}
