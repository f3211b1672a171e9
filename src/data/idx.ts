/**
 * `idx:PATH[?labels=LABELS_PATH]`: MNIST / Fashion-MNIST IDX files, gzip or not (detected by
 * the 1f 8b magic bytes, not the name). Images: magic 0x00000803 (uint8, 3 dims n×rows×cols),
 * pixels / 255 -> inputDim rows·cols. Labels: magic 0x00000801 (uint8, n); classes = max + 1.
 * Without ?labels the labels path is the image path with "images-idx3" -> "labels-idx1" in the
 * file name (train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz), else "-images" -> "-labels".
 * Format: http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST DATABASE").
 * Reading is bounded: the header is checked before the values are read or inflated (see readIdx).
 */
import { existsSync, type ReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createGunzip } from 'node:zlib';
import { DataError } from '../errors.js';
import { createDataset, DATA_LIMITS, sampleArray, type Dataset } from './dataset.js';
import { SpecOptions, type DatasetSpec } from './spec.js';
import { ByteReader } from './byte-reader.js';
import { IDX_PIXEL_SCALE, pixelValues } from './pixel-scale.js';

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

export async function loadIdx(spec: DatasetSpec): Promise<Dataset> {
  const o = new SpecOptions(spec, 'idx:PATH', ['labels']);
  if (spec.target === '') {
    throw new DataError('unknownSpec', `dataset "${spec.text}" names no file — use idx:PATH, e.g. idx:data/train-images-idx3-ubyte.gz`);
  }
  const imagesPath = spec.target;
  const labelsPath = o.string('labels') ?? guessLabelsPath(imagesPath);

  const images = await readIdx(imagesPath, IMAGES_MAGIC, 'images');
  const labels = await readIdx(labelsPath, LABELS_MAGIC, 'labels');
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

  const pixel = pixelValues(IDX_PIXEL_SCALE);
  const x = sampleArray(n * inputDim);
  for (let i = 0; i < x.length; i++) x[i] = pixel[images.data[i]];
  const y = sampleArray(n);
  let maxLabel = 0;
  for (let i = 0; i < n; i++) {
    y[i] = labels.data[i];
    if (labels.data[i] > maxLabel) maxLabel = labels.data[i];
  }
  return createDataset({ spec: spec.text, n, inputDim, x, targetDim: 1, y, task: 'classification', numClasses: maxLabel + 1, pixelScale: IDX_PIXEL_SCALE });
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

export interface IdxArray {
  dims: number[];
  /** The uint8 values after the header. */
  data: Uint8Array;
}

/**
 * Reads a uint8 IDX file with the given magic, gunzipping as a stream when it starts with 1f 8b.
 * The header is read and checked first (magic, dimensions, DATA_LIMITS), then exactly the values it
 * declares and one byte more: inflation stops there, so a gzip bomb costs what its header declares
 * (at most DATA_LIMITS.maxElements values), never more. Data after the declared values is refused.
 */
async function readIdx(path: string, magic: number, what: 'images' | 'labels'): Promise<IdxArray> {
  const file = await openIdx(path, what);
  // pipeline forwards a read error of the file into the gunzip stream; closing early is not an error.
  const reader = new ByteReader(file.gzipped ? pipeline(file.stream, createGunzip(), () => undefined) : file.stream);
  try {
    return await readIdxFrom(reader, path, magic, what);
  } catch (cause) {
    if (cause instanceof DataError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    if (file.gzipped && typeof code === 'string' && code.startsWith('Z_')) {
      throw new DataError('badGzip', `${path} starts like a gzip file but does not decompress (${(cause as Error).message}) — download it again`, { cause });
    }
    throw new DataError('fileNotFound', `cannot read ${what} file ${resolve(path)} (${code ?? String(cause)})`, { cause });
  } finally {
    await reader.close();
    file.stream.destroy();
  }
}

async function openIdx(path: string, what: 'images' | 'labels'): Promise<{ stream: ReadStream; gzipped: boolean }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
    if ((await handle.stat()).isDirectory()) {
      await handle.close();
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const hint = what === 'labels' ? ' — pass the labels file with ?labels=PATH' : ` — check the path (relative paths start at ${process.cwd()})`;
    if (code === 'ENOENT') throw new DataError('fileNotFound', `${what} file not found: ${resolve(path)}${hint}`, { cause });
    if (code === 'EISDIR') throw new DataError('fileNotFound', `${what} file ${resolve(path)} is a directory, not an IDX file${hint}`, { cause });
    throw new DataError('fileNotFound', `cannot read ${what} file ${resolve(path)} (${code ?? String(cause)})${hint}`, { cause });
  }
  const magicBytes = new Uint8Array(2);
  const { bytesRead } = await handle.read(magicBytes, 0, 2, 0);
  const gzipped = bytesRead === 2 && magicBytes[0] === 0x1f && magicBytes[1] === 0x8b;
  return { stream: handle.createReadStream({ start: 0, autoClose: true }), gzipped };
}

/**
 * The IDX array in `bytes` (already decompressed), checked as readIdx checks a file: for tests and
 * the fuzzer. Throws DataError (badIdxMagic, truncatedFile, tooLarge, idxTrailingData).
 */
export async function parseIdx(bytes: Uint8Array, path: string, magic: number, what: 'images' | 'labels'): Promise<IdxArray> {
  return readIdxFrom(new ByteReader([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]), path, magic, what);
}

/** The header, checked, then the values it declares (the format is in the module comment). */
async function readIdxFrom(reader: ByteReader, path: string, magic: number, what: 'images' | 'labels'): Promise<IdxArray> {
  const head = await reader.read(4);
  if (head.length < 4) {
    throw new DataError('truncatedFile', `${path} has ${head.length} bytes, too few for an IDX header — download it again`);
  }
  const found = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, false);
  if (found !== magic) {
    throw new DataError(
      'badIdxMagic',
      `${path} starts with magic 0x${found.toString(16).padStart(8, '0')}, not 0x${magic.toString(16).padStart(8, '0')} of an IDX ${what} file (uint8, ${magic & 0xff} dims)` +
        (what === 'images' ? ' — is this a labels file?' : ' — is this an images file?'),
    );
  }
  const ndims = magic & 0xff;
  const dimBytes = await reader.read(4 * ndims);
  if (dimBytes.length < 4 * ndims) {
    throw new DataError('truncatedFile', `${path} ends inside its IDX header (${4 + dimBytes.length} of ${4 + 4 * ndims} bytes) — download it again`);
  }
  const view = new DataView(dimBytes.buffer, dimBytes.byteOffset, dimBytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, k) => view.getUint32(4 * k, false));
  const count = dims.reduce((a, b) => a * b, 1);
  // Refused before a single value is inflated: the data limit bounds what a header may declare.
  if (count > DATA_LIMITS.maxElements) {
    throw new DataError('tooLarge', `${path}: its IDX header declares ${dims.join('×')} = ${count} values, more than the limit of ${DATA_LIMITS.maxElements}`);
  }
  const data = await reader.read(count);
  if (data.length < count) {
    throw new DataError(
      'truncatedFile',
      `${path} is truncated: its header promises ${dims.join('×')} = ${count} values but only ${data.length} follow — download it again`,
    );
  }
  // Anything after the declared values means the header is wrong (or the file is a decompression
  // bomb behind a small header): one byte more is read to tell, never the rest.
  if ((await reader.read(1)).length > 0) {
    throw new DataError(
      'idxTrailingData',
      `${path} holds more data than its IDX header declares (${dims.join('×')} = ${count} values) — the file is damaged or not an IDX file; download it again`,
    );
  }
  return { dims, data };
}
