/**
 * The safetensors format (huggingface/safetensors), the file format of parameters and checkpoints:
 *   8 bytes   N, little-endian u64
 *   N bytes   UTF-8 JSON header {"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}, ...},
 *             padded with spaces so that 8 + N is a multiple of 8
 *   the rest  the data buffer: little-endian tensors that tile it without holes or overlaps; offsets are relative to it
 * The decoder trusts nothing in the file and checks what the reference (Rust) implementation checks.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { FormatError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { JsonSyntaxError, parseStrictJson, type JsonObject, type JsonValue } from './strict-json.js';

export type TensorDtype = 'F32' | 'F64' | 'I32' | 'U32' | 'I64' | 'U8';
export type TensorData = Float32Array | Float64Array | Int32Array | Uint32Array | BigInt64Array | Uint8Array;

export interface Tensor {
  name: string;
  dtype: TensorDtype;
  /** Row-major dimensions; [] is a scalar (one element). */
  shape: number[];
  /** product(shape) elements of the dtype's typed array. */
  data: TensorData;
}

export interface DecodeOptions {
  /** Largest header accepted, checked before reading it (default 100 MiB, the reference reader's limit). */
  maxHeaderBytes?: number;
  /** What error messages call the bytes, e.g. the file path (default "safetensors data"). */
  source?: string;
}

export interface DecodedSafetensors {
  /** In header order. */
  tensors: Map<string, Tensor>;
  /** A null-prototype object: keys such as "__proto__" are plain data. */
  metadata: Record<string, string>;
}

export const safetensorsDefaults = Object.freeze({ maxHeaderBytes: 100 * 1024 * 1024 });

type TypedArrayConstructor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | Uint8ArrayConstructor;

// A Map, not an object literal: a dtype read from a file ("constructor", "__proto__") must not find inherited properties.
const dtypes = new Map<string, { bytes: number; array: TypedArrayConstructor }>([
  ['F32', { bytes: 4, array: Float32Array }],
  ['F64', { bytes: 8, array: Float64Array }],
  ['I32', { bytes: 4, array: Int32Array }],
  ['U32', { bytes: 4, array: Uint32Array }],
  ['I64', { bytes: 8, array: BigInt64Array }],
  ['U8', { bytes: 1, array: Uint8Array }],
]);
const dtypeList = [...dtypes.keys()].join(', ');

const METADATA_KEY = '__metadata__';
/** The first bytes read to tell what a file that is not safetensors looks like (two CSV lines, say). */
const SNIFF_BYTES = 512;
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const showShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

// ---- encode ----

/**
 * Encodes `tensors` (laid out in the given order, header keys in the same order) and `metadata`
 * (keys sorted; omitted when empty). Deterministic: the same input gives the same bytes.
 */
export function encodeSafetensors(tensors: readonly Tensor[], metadata: Record<string, string> = {}): Uint8Array {
  const entries: string[] = [];
  const metadataKeys = Object.keys(metadata).sort();
  if (metadataKeys.length > 0) {
    const fields = metadataKeys.map((key) => {
      const value = metadata[key];
      if (typeof value !== 'string') {
        throw new FormatError('badSafetensorsHeader', `cannot encode metadata ${JSON.stringify(key)}: its value must be a string (got ${typeof value})`);
      }
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    entries.push(`${JSON.stringify(METADATA_KEY)}:{${fields.join(',')}}`);
  }

  const names = new Set<string>();
  let dataBytes = 0;
  for (const t of tensors) {
    const where = `cannot encode tensor ${JSON.stringify(t.name)}`;
    if (typeof t.name !== 'string' || t.name === METADATA_KEY || names.has(t.name)) {
      throw new FormatError('badSafetensorsTensor', `${where}: the name must be a unique string other than "${METADATA_KEY}"`);
    }
    names.add(t.name);
    const info = dtypes.get(t.dtype);
    if (info === undefined) throw new FormatError('badSafetensorsTensor', `${where}: unknown dtype ${JSON.stringify(t.dtype)} (supported: ${dtypeList})`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new FormatError('badSafetensorsTensor', `${where}: shape must be an array of integers >= 0`);
    }
    if (!(t.data instanceof info.array)) {
      throw new FormatError('badSafetensorsTensor', `${where}: dtype ${t.dtype} needs a ${info.array.name} (got ${t.data?.constructor?.name})`);
    }
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) {
      throw new FormatError('badSafetensorsTensor', `${where}: shape ${showShape(t.shape)} holds ${count} elements but data has ${t.data.length}`);
    }
    const begin = dataBytes;
    dataBytes += t.data.byteLength;
    entries.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${begin},${dataBytes}]}`,
    );
  }

  const header = new TextEncoder().encode(`{${entries.join(',')}}`);
  const headerLength = header.length + ((8 - (header.length % 8)) % 8); // data starts 8-byte aligned
  const out = new Uint8Array(8 + headerLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(header, 8);
  out.fill(0x20, 8 + header.length, 8 + headerLength);
  let offset = 8 + headerLength;
  for (const t of tensors) {
    writeLittleEndian(t.data, out, offset, HOST_LITTLE_ENDIAN);
    offset += t.data.byteLength;
  }
  return out;
}

/** @internal Copies `data` into `out` at `offset` as little-endian bytes (exported for tests of the big-endian path). */
export function writeLittleEndian(data: TensorData, out: Uint8Array, offset: number, hostLittleEndian: boolean): void {
  if (hostLittleEndian || data.BYTES_PER_ELEMENT === 1) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + offset, data.byteLength);
  const n = data.length;
  if (data instanceof Float32Array) for (let i = 0; i < n; i++) view.setFloat32(4 * i, data[i], true);
  else if (data instanceof Float64Array) for (let i = 0; i < n; i++) view.setFloat64(8 * i, data[i], true);
  else if (data instanceof Int32Array) for (let i = 0; i < n; i++) view.setInt32(4 * i, data[i], true);
  else if (data instanceof Uint32Array) for (let i = 0; i < n; i++) view.setUint32(4 * i, data[i], true);
  else if (data instanceof BigInt64Array) for (let i = 0; i < n; i++) view.setBigInt64(8 * i, data[i], true);
}

/** @internal Reads `count` little-endian elements from `bytes` into a fresh, aligned typed array. */
export function readLittleEndian(dtype: TensorDtype, bytes: Uint8Array, count: number, hostLittleEndian: boolean): TensorData {
  const info = dtypes.get(dtype)!;
  const out = new info.array(count);
  if (hostLittleEndian || info.bytes === 1) {
    new Uint8Array(out.buffer).set(bytes.subarray(0, count * info.bytes));
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * info.bytes);
  if (out instanceof Float32Array) for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  else if (out instanceof Float64Array) for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  else if (out instanceof Int32Array) for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
  else if (out instanceof Uint32Array) for (let i = 0; i < count; i++) out[i] = view.getUint32(4 * i, true);
  else if (out instanceof BigInt64Array) for (let i = 0; i < count; i++) out[i] = view.getBigInt64(8 * i, true);
  return out;
}

// ---- decode ----

const isArray = (v: JsonValue | undefined): v is JsonValue[] => Array.isArray(v);
const isCount = (v: JsonValue): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

type Fail = (code: string, message: string, cause?: unknown) => never;

/** The header as read from a file or buffer, validated against the size of the data that follows. */
export interface SafetensorsHeader {
  /** A null-prototype object: keys such as "__proto__" are plain data. */
  metadata: Record<string, string>;
  /** In header order; offsets relative to the data buffer. */
  entries: TensorEntry[];
  /** Where the data buffer starts in the file: 8 + the header length. */
  dataStart: number;
}

/** A tensor as the header declares it, checked against the data buffer. */
export interface TensorEntry {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** Elements: product(shape). */
  count: number;
  /** Byte offsets in the data buffer. */
  begin: number;
  end: number;
}

function failWith(source: string): Fail {
  return (code, message, cause) => {
    throw new FormatError(code, `${source}: ${message}`, cause === undefined ? {} : { cause });
  };
}

function checkMaxHeaderBytes(maxHeaderBytes: number): void {
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 2) {
    throw new RangeError(`maxHeaderBytes must be an integer >= 2 (got ${maxHeaderBytes})`);
  }
}

/**
 * The header length from the first bytes of a file of `fileBytes` bytes, checked against the limit
 * and the file before the header is read. A length that cannot be a safetensors header (under 2
 * bytes, or too large while no "{" follows) means the file is something else: `notSafetensors`,
 * saying what `head` (the file's first bytes) looks like.
 */
function headerLengthOf(head: Uint8Array, fileBytes: number, maxHeaderBytes: number, fail: Fail): number {
  if (fileBytes < 8) {
    fail('truncatedSafetensors', `${fileBytes} bytes is too short for safetensors (the header length alone takes 8)`);
  }
  const declared = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  const opensObject = head.length > 8 && head[8] === 0x7b; // "{"
  const implausible = declared < 2n || declared > BigInt(maxHeaderBytes) || 8n + declared > BigInt(fileBytes);
  if (implausible && !opensObject) fail('notSafetensors', `not a safetensors file: ${describeContent(head)}`);
  if (declared > BigInt(maxHeaderBytes)) {
    fail('safetensorsHeaderTooLarge', `header of ${declared} bytes is larger than the limit of ${maxHeaderBytes} bytes (maxHeaderBytes)`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > fileBytes) {
    fail('truncatedSafetensors', `header of ${headerLength} bytes goes beyond the end of the file (${fileBytes - 8} bytes follow the length)`);
  }
  return headerLength;
}

/** What a file that is not safetensors looks like, from its first bytes (for error messages). */
export function describeContent(head: Uint8Array): string {
  if (head.length === 0) return 'it is empty';
  if (head.every((b) => b === 0)) return 'it starts with zero bytes (an empty or sparse file?)';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'it is gzip-compressed data';
  if (head[0] === 0x50 && head[1] === 0x4b) return 'it looks like a zip archive (a PyTorch .pt/.pth file? convert it with safetensors.torch.save_file)';
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'it looks like a Python pickle (a PyTorch .pt/.pth file? convert it with safetensors.torch.save_file)';
  if (head[0] === 0x89 && head[1] === 0x48 && head[2] === 0x44 && head[3] === 0x46) return 'it looks like an HDF5 file (Keras .h5?)';
  if (head[0] === 0 && head[1] === 0 && head[2] === 0x08 && (head[3] === 1 || head[3] === 3)) return 'it looks like an IDX data file (use it as a dataset: idx:PATH)';
  let text: string;
  try {
    // stream: the first bytes may end inside a multi-byte character, which is not an error.
    text = new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
  } catch {
    text = '';
  }
  const printable = text !== '' && !/[\u0000-\u0008\u000e-\u001f]/.test(text);
  if (!printable) return `it holds binary data starting ${[...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
  const [firstLine, secondLine] = text.replace(/^\ufeff/, '').split(/\r?\n/);
  const shownLine = JSON.stringify(firstLine.length > 60 ? firstLine.slice(0, 60) + '…' : firstLine);
  if (/^\s*[{[]/.test(firstLine)) return `it is text that looks like JSON (first line ${shownLine})`;
  if (looksLikeCsv(firstLine, secondLine)) return `it is text that looks like CSV (first line ${shownLine}; use it as a dataset: csv:PATH)`;
  return `it is text (first line ${shownLine})`;
}

/** Two lines with the same number (> 0) of one delimiter: a CSV header and row. */
function looksLikeCsv(first: string, second: string | undefined): boolean {
  if (second === undefined) return false;
  return [',', ';', '\t'].some((d) => first.split(d).length > 1 && first.split(d).length === second.split(d).length);
}

/**
 * Parses and validates the header bytes (UTF-8, strict JSON, entries) against a data buffer of
 * `dataLength` bytes: every tensor inside it, the tensors tiling it exactly.
 */
function parseHeader(headerBytes: Uint8Array, dataLength: number, dataStart: number, fail: Fail): SafetensorsHeader {
  // The header: UTF-8, then strict JSON (no duplicate keys; objects as Maps).
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch (error) {
    fail('badSafetensorsHeader', 'header is not valid UTF-8', error);
  }
  let header: JsonValue = null;
  try {
    header = parseStrictJson(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    fail('badSafetensorsHeader', `header is not valid JSON: ${error.message}`, error);
  }
  if (!(header instanceof Map)) return fail('badSafetensorsHeader', 'header must be a JSON object');

  // Metadata and tensor entries.
  const metadata: Record<string, string> = Object.create(null);
  const entries: TensorEntry[] = [];
  for (const [name, value] of header) {
    if (name === METADATA_KEY) {
      if (!(value instanceof Map)) fail('badSafetensorsHeader', `"${METADATA_KEY}" must be an object of strings`);
      for (const [key, v] of value as JsonObject) {
        if (typeof v !== 'string') fail('badSafetensorsHeader', `metadata ${JSON.stringify(key)} must be a string (got ${JSON.stringify(v)})`);
        metadata[key] = v as string;
      }
      continue;
    }
    entries.push(tensorEntry(name, value, dataLength, fail));
  }

  // Layout: sorted by offsets, the tensors tile the data buffer exactly.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: TensorEntry | undefined;
  for (const e of byOffset) {
    if (e.begin < covered) {
      fail('badSafetensorsLayout', `tensor ${JSON.stringify(e.name)} (bytes ${e.begin}-${e.end}) overlaps tensor ${JSON.stringify(previous!.name)} (bytes ${previous!.begin}-${previous!.end})`);
    }
    if (e.begin > covered) {
      const before = previous === undefined ? 'the start of the data' : `tensor ${JSON.stringify(previous.name)}`;
      fail('badSafetensorsLayout', `hole of ${e.begin - covered} bytes between ${before} and tensor ${JSON.stringify(e.name)} (data bytes ${covered}-${e.begin})`);
    }
    covered = e.end;
    previous = e;
  }
  if (covered < dataLength) {
    fail('badSafetensorsLayout', `${dataLength - covered} bytes after the last tensor belong to no tensor (data bytes ${covered}-${dataLength})`);
  }
  return { metadata, entries, dataStart };
}

/**
 * Decodes and validates safetensors bytes. Every problem is a FormatError naming it and the tensor:
 * `notSafetensors` (the bytes are something else; the message says what they look like),
 * `truncatedSafetensors` (the file ends before what it declares), `safetensorsHeaderTooLarge`,
 * `badSafetensorsHeader` (UTF-8, JSON, structure, duplicate keys, metadata), `badSafetensorsTensor`
 * (dtype, shape, offsets, size), `badSafetensorsLayout` (holes, overlaps, bytes left over).
 * Tensor data is copied into fresh typed arrays.
 */
export function decodeSafetensors(bytes: Uint8Array, options: DecodeOptions = {}): DecodedSafetensors {
  const maxHeaderBytes = options.maxHeaderBytes ?? safetensorsDefaults.maxHeaderBytes;
  checkMaxHeaderBytes(maxHeaderBytes);
  const fail = failWith(options.source ?? 'safetensors data');
  const headerLength = headerLengthOf(bytes.subarray(0, SNIFF_BYTES), bytes.length, maxHeaderBytes, fail);
  const data = bytes.subarray(8 + headerLength);
  const { metadata, entries } = parseHeader(bytes.subarray(8, 8 + headerLength), data.length, 8 + headerLength, fail);
  // Copy the data out, in header order.
  const tensors = new Map<string, Tensor>();
  for (const e of entries) tensors.set(e.name, tensorOf(e, data.subarray(e.begin, e.end)));
  return { tensors, metadata };
}

function tensorOf(e: TensorEntry, bytes: Uint8Array): Tensor {
  return { name: e.name, dtype: e.dtype, shape: e.shape, data: readLittleEndian(e.dtype, bytes, e.count, HOST_LITTLE_ENDIAN) };
}

function tensorEntry(name: string, value: JsonValue, dataLength: number, fail: Fail): TensorEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!(value instanceof Map)) return fail('badSafetensorsTensor', `${where} must be an object with dtype, shape and data_offsets`);
  const dtype = value.get('dtype');
  if (typeof dtype !== 'string' || !dtypes.has(dtype)) {
    return fail('badSafetensorsTensor', `${where} has unsupported dtype ${JSON.stringify(dtype ?? null)} (supported: ${dtypeList})`);
  }
  const shape = value.get('shape');
  if (!isArray(shape) || !shape.every(isCount)) {
    return fail('badSafetensorsTensor', `${where} has shape ${JSON.stringify(shape ?? null)}; it must be an array of integers >= 0`);
  }
  const offsets = value.get('data_offsets');
  if (!isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    return fail('badSafetensorsTensor', `${where} has data_offsets ${JSON.stringify(offsets ?? null)}; they must be [begin, end] with integers 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  const bytesPer = dtypes.get(dtype)!.bytes;
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (count * bytesPer > Number.MAX_SAFE_INTEGER) return fail('badSafetensorsTensor', `${where} has shape ${showShape(shape)}, too large to address`);
  }
  if (end - begin !== count * bytesPer) {
    return fail(
      'badSafetensorsTensor',
      `${where} (${dtype}, shape ${showShape(shape)}) needs ${count * bytesPer} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  if (end > dataLength) {
    return fail('truncatedSafetensors', `${where} (data bytes ${begin}-${end}) goes beyond the end of the file (the data buffer has ${dataLength} bytes)`);
  }
  return { name, dtype: dtype as TensorDtype, shape, count, begin, end };
}

// ---- files ----

/** Encodes and writes atomically (temp file, fsync, rename, fsync of the directory). */
export async function saveSafetensors(path: string, tensors: readonly Tensor[], metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * A safetensors file opened for reading: its header is read and checked against the file's size
 * first (a sparse or bogus multi-gigabyte file is refused after reading a few bytes), then only the
 * tensors asked for are read. Close it when done.
 */
export class SafetensorsFile {
  readonly path: string;
  readonly header: SafetensorsHeader;
  /** The file's size in bytes. */
  readonly fileBytes: number;
  readonly #handle: FileHandle;

  private constructor(path: string, handle: FileHandle, header: SafetensorsHeader, fileBytes: number) {
    this.path = path;
    this.#handle = handle;
    this.header = header;
    this.fileBytes = fileBytes;
  }

  /**
   * Opens `path` and reads and validates its header. FormatErrors: `fileNotFound`, `notAFile` (a
   * directory), `fileUnreadable`, and decodeSafetensors's codes for the header (naming the path).
   */
  static async open(path: string, options: DecodeOptions = {}): Promise<SafetensorsFile> {
    const maxHeaderBytes = options.maxHeaderBytes ?? safetensorsDefaults.maxHeaderBytes;
    checkMaxHeaderBytes(maxHeaderBytes);
    const source = options.source ?? path;
    const fail = failWith(source);
    const handle = await openForReading(path, source);
    try {
      const fileBytes = (await handle.stat()).size;
      const head = await readAt(handle, 0, Math.min(SNIFF_BYTES, fileBytes), source);
      const headerLength = headerLengthOf(head, fileBytes, maxHeaderBytes, fail);
      const headerBytes = await readAt(handle, 8, headerLength, source);
      const header = parseHeader(headerBytes, fileBytes - 8 - headerLength, 8 + headerLength, fail);
      return new SafetensorsFile(path, handle, header, fileBytes);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** The named tensors (all when `names` is omitted), read from their offsets into fresh arrays. */
  async read(names?: readonly string[]): Promise<Map<string, Tensor>> {
    const wanted = names === undefined ? null : new Set(names);
    const tensors = new Map<string, Tensor>();
    for (const e of this.header.entries) {
      if (wanted !== null && !wanted.has(e.name)) continue;
      const bytes = await readAt(this.#handle, this.header.dataStart + e.begin, e.end - e.begin, this.path);
      // The bytes are a fresh buffer at offset 0 (aligned): on a little-endian host they are the tensor, no copy.
      const data = HOST_LITTLE_ENDIAN ? new (dtypes.get(e.dtype)!.array)(bytes.buffer as ArrayBuffer, 0, e.count) : readLittleEndian(e.dtype, bytes, e.count, false);
      tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, data });
    }
    return tensors;
  }

  /** The whole file's bytes (for a checksum over all of them), after the header has been checked. */
  async readAll(): Promise<Uint8Array> {
    return readAt(this.#handle, 0, this.fileBytes, this.path);
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}

async function openForReading(path: string, source: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw fileError(error, source);
  }
  try {
    if ((await handle.stat()).isDirectory()) {
      throw new FormatError('notAFile', `${source} is a directory, not a safetensors file — pass a file such as ${source.replace(/\/+$/, '')}/final.safetensors or a ckpt-<step>.safetensors`);
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

function fileError(error: unknown, source: string): FormatError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new FormatError('fileNotFound', `${source}: no such file`, { cause: error });
  if (code === 'EISDIR') return new FormatError('notAFile', `${source} is a directory, not a safetensors file`, { cause: error });
  return new FormatError('fileUnreadable', `${source}: cannot be read (${code ?? String(error)})`, { cause: error });
}

/** Exactly `length` bytes at `position`; a file that shrank meanwhile is `truncatedSafetensors`. */
async function readAt(handle: FileHandle, position: number, length: number, source: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(out, done, length - done, position + done));
    } catch (error) {
      throw fileError(error, source);
    }
    if (bytesRead === 0) throw new FormatError('truncatedSafetensors', `${source}: the file ended at byte ${position + done} while reading it (was it changed meanwhile?)`);
    done += bytesRead;
  }
  return out;
}

/**
 * Reads and decodes a file, header first: declared sizes are checked against the file's size before
 * any tensor is read. Errors name the path; a missing file is FormatError `fileNotFound`.
 */
export async function loadSafetensors(path: string, options: DecodeOptions = {}): Promise<DecodedSafetensors> {
  const file = await SafetensorsFile.open(path, options);
  try {
    return { tensors: await file.read(), metadata: file.header.metadata };
  } finally {
    await file.close();
  }
}
