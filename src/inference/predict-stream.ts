/**
 * `dptrain predict`'s engine: rows from a CSV or IDX byte stream (gzip or not, a file or stdin)
 * to prediction lines, batch by batch, so that memory stays bounded whatever the input's size:
 * one input chunk, one batch of rows, one batch of output text (docs/cli.md, "predict").
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { pipeline, Readable as ReadableStream } from 'node:stream';
import { detectDelimiter, IDX_PIXEL_SCALE, pixelValues } from '../data/index.js';
import { DataError, DptrainError } from '../errors.js';
import { CsvRecordSplitter, type CsvRecord } from './csv-records.js';
import { planColumns, type ColumnPlan } from './columns.js';
import { float32Text, csvField } from './csv-output.js';
import { pixelScaleOf } from './matching.js';
import type { TrainedModel } from './trained-model.js';

export type OnBadRow = 'stop' | 'skip';

export interface PredictStreamOptions {
  onBadRow: OnBadRow;
  /** A skipped row (--on-bad-row skip), as it is found. */
  onSkip?: (line: number, reason: string) => void;
  /** A note for the user (ignored columns, unscaled pixels), once each. */
  onWarning?: (message: string) => void;
  /** Rows per forward pass (default 1024). */
  batchRows?: number;
}

export interface PredictSummary {
  format: 'csv' | 'idx';
  /** Rows predicted. */
  rows: number;
  /** Rows skipped as bad (--on-bad-row skip). */
  skipped: number;
}

const IDX_IMAGES = 0x00000803;
const IDX_LABELS = 0x00000801;

/** Reads `input` to its end, writing a header line and one line per row to `output`. */
export async function predictStream(model: TrainedModel, input: Readable, source: string, output: Writable, options: PredictStreamOptions): Promise<PredictSummary> {
  try {
    return await predictBytes(model, input, source, output, options);
  } catch (error) {
    throw readError(error, source);
  }
}

/** A failure of the input stream itself (damaged gzip, an unreadable file) as one DataError line. */
function readError(error: unknown, source: string): unknown {
  if (error instanceof DptrainError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) return new DataError('badPredictInput', `${source}: its gzip data is damaged (${(error as Error).message})`, { cause: error });
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new DataError('fileNotFound', `${source} cannot be read (${code})`, { cause: error });
  return error;
}

async function predictBytes(model: TrainedModel, input: Readable, source: string, output: Writable, options: PredictStreamOptions): Promise<PredictSummary> {
  let bytes = await peekable(input);
  const head = await bytes.peek(2);
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    // pipeline() hands a failure of either side to the gunzip stream, whose reader then throws it.
    pipeline(ReadableStream.from(bytes.rest()), gunzip, () => {});
    bytes = await peekable(gunzip);
  }
  const magicBytes = await bytes.peek(4);
  const magic = magicBytes.length === 4 ? new DataView(magicBytes.buffer, magicBytes.byteOffset, 4).getUint32(0) : -1;
  await model.ready();
  const writer = new BatchWriter(model, output, options.batchRows ?? 1024);
  if (magic === IDX_LABELS) throw new DataError('badPredictInput', `${source} is an IDX labels file — predict takes the images file (…-images-idx3-ubyte)`);
  const summary = magic === IDX_IMAGES ? await predictIdx(model, bytes.rest(), source, writer) : await predictCsv(model, bytes.rest(), source, writer, options);
  await writer.flush();
  return summary;
}

/** A byte stream whose first bytes can be looked at before it is read. */
interface Peekable {
  peek(n: number): Promise<Uint8Array>;
  rest(): AsyncGenerator<Uint8Array>;
}

async function peekable(stream: Readable): Promise<Peekable> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  let buffered: Uint8Array = new Uint8Array(0);
  let done = false;
  return {
    async peek(n: number): Promise<Uint8Array> {
      while (buffered.length < n && !done) {
        const next = await iterator.next();
        if (next.done) done = true;
        else buffered = concat(buffered, next.value);
      }
      return buffered.subarray(0, n);
    },
    async *rest(): AsyncGenerator<Uint8Array> {
      if (buffered.length > 0) yield buffered;
      if (done) return;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    },
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// ---- CSV ----

async function predictCsv(model: TrainedModel, chunks: AsyncGenerator<Uint8Array>, source: string, writer: BatchWriter, options: PredictStreamOptions): Promise<PredictSummary> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const splitter = new CsvRecordSplitter(source);
  let plan: ColumnPlan | null = null;
  let skipped = 0;
  let offset = 0;
  const warnedLarge = { done: model.metadata?.preprocessing.pixelScale == null };
  const handle = (records: CsvRecord[]): void => {
    for (const record of records) {
      if (plan === null) {
        plan = planColumns(model, record, source);
        if (plan.ignored.length > 0) options.onWarning?.(`${source}: ignoring the columns ${plan.ignored.map((c) => JSON.stringify(c)).join(', ')} (not features of the model)`);
        if (plan.header) continue;
      }
      const reason = writer.addRow(record.fields, plan);
      if (reason !== null) {
        if (options.onBadRow === 'stop') throw new DataError('badPredictRow', `${source} line ${record.line}: ${reason} — fix the row, or pass --on-bad-row skip to leave such rows out`);
        skipped++;
        options.onSkip?.(record.line, reason);
      } else if (!warnedLarge.done && writer.lastRowMax > 1) {
        warnedLarge.done = true;
        const scale = model.metadata!.preprocessing.pixelScale!;
        options.onWarning?.(`${source} line ${record.line} has values above 1, but ${model.name} was trained on pixels scaled to [0, 1] (byte / ${scale.divideBy}): CSV values are used as given, so divide them by ${scale.divideBy} first (IDX files are scaled for you)`);
      }
    }
  };
  // Text held back until the first two lines have arrived, to detect the delimiter (src/data/csv.ts's rule).
  let held = '';
  for await (const chunk of chunks) {
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      throw new DataError('badCsvEncoding', `${source} is not valid UTF-8 text (within bytes ${offset}-${offset + chunk.length}) — predict reads UTF-8 CSV or IDX files`);
    }
    offset += chunk.length;
    if (splitter.delimiter === null) {
      held += text;
      if (countNewlines(held) < 2 && held.length < 1 << 20) continue;
      text = held.replace(/^\ufeff/, '');
      held = '';
      splitter.delimiter = detectDelimiter(text);
    }
    handle(splitter.push(text));
    await writer.drainIfFull();
  }
  if (splitter.delimiter === null) {
    const text = held.replace(/^\ufeff/, '');
    splitter.delimiter = detectDelimiter(text);
    handle(splitter.push(text));
  }
  handle(splitter.end());
  if (plan === null || writer.rows + skipped === 0) {
    throw new DataError('emptyInput', `${source} holds no rows to predict${plan !== null ? ' (only a header)' : ''} — give a CSV with one row of features per line, or an IDX images file`);
  }
  return { format: 'csv', rows: writer.rows, skipped };
}

function countNewlines(text: string): number {
  let count = 0;
  for (let i = text.indexOf('\n'); i >= 0 && count < 2; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

// ---- IDX ----

async function predictIdx(model: TrainedModel, chunks: AsyncGenerator<Uint8Array>, source: string, writer: BatchWriter): Promise<PredictSummary> {
  // The model's recorded scale, as evaluate and train --test rescale an idx: dataset (fitDataToModel).
  const pixel = pixelValues(pixelScaleOf(model.metadata) ?? IDX_PIXEL_SCALE);
  let header: { n: number; size: number } | null = null;
  let pending: Uint8Array = new Uint8Array(0);
  let images = 0;
  for await (const chunk of chunks) {
    pending = pending.length > 0 ? concat(pending, chunk) : chunk;
    if (header === null) {
      if (pending.length < 16) continue;
      const view = new DataView(pending.buffer, pending.byteOffset, 16);
      const [n, rows, cols] = [view.getUint32(4), view.getUint32(8), view.getUint32(12)];
      if (rows * cols !== model.inputDim) {
        throw new DataError('featuresMismatch', `${source} holds ${rows}x${cols} images (${rows * cols} pixels) but ${model.name} takes ${model.inputShape.join('x')} (${model.inputDim} inputs)`);
      }
      header = { n, size: rows * cols };
      pending = pending.subarray(16);
    }
    let at = 0;
    for (; at + header.size <= pending.length; at += header.size) {
      if (images >= header.n) throw new DataError('badPredictInput', `${source} holds more bytes than its header's ${header.n} images`);
      writer.addPixels(pending.subarray(at, at + header.size), pixel);
      images++;
    }
    pending = pending.subarray(at);
    await writer.drainIfFull();
  }
  if (header === null) throw new DataError('badPredictInput', `${source} ends inside its IDX header`);
  if (images < header.n || pending.length > 0) {
    throw new DataError('badPredictInput', `${source} is truncated: its header declares ${header.n} images, it holds ${images}${pending.length > 0 ? ` and ${pending.length} bytes of another` : ''}`);
  }
  if (images === 0) throw new DataError('emptyInput', `${source} holds no images to predict`);
  return { format: 'idx', rows: writer.rows, skipped: 0 };
}

// ---- batches and output ----

/** Rows gathered into a batch, predicted and written together; writes wait for the output to drain. */
class BatchWriter {
  rows = 0;
  /** The largest value of the last row added (the unscaled-pixels warning). */
  lastRowMax = 0;
  readonly #model: TrainedModel;
  readonly #output: Writable;
  readonly #batch: Float32Array;
  readonly #capacity: number;
  #count = 0;
  #text: string[] = [];
  /** The header line goes out with the first predicted rows, so an input without rows writes nothing. */
  #headerDone = false;

  constructor(model: TrainedModel, output: Writable, rows: number) {
    this.#model = model;
    this.#output = output;
    this.#capacity = rows;
    this.#batch = new Float32Array(rows * model.inputDim);
  }

  #headerLine(): string {
    const m = this.#model;
    const columns = m.task === 'classification' ? ['class', 'index', ...m.classNames.map((name) => `p_${name}`)] : m.outputNames;
    return columns.map(csvField).join(',') + '\n';
  }

  /** Adds a CSV row; returns why it is bad, or null. */
  addRow(fields: string[], plan: ColumnPlan): string | null {
    if (fields.length !== plan.width) return `${fields.length} fields, but ${plan.header ? 'the header has' : 'the first row has'} ${plan.width}`;
    const d = this.#model.inputDim;
    const base = this.#count * d;
    let max = -Infinity;
    for (let j = 0; j < d; j++) {
      const column = plan.features[j];
      const field = fields[column];
      const value = parseFeature(field);
      if (typeof value === 'string') return `column ${plan.describe(column)}: ${value}`;
      this.#batch[base + j] = value;
      if (value > max) max = value;
    }
    this.lastRowMax = max;
    this.#added();
    return null;
  }

  addPixels(bytes: Uint8Array, pixel: Float32Array): void {
    const base = this.#count * this.#model.inputDim;
    for (let j = 0; j < bytes.length; j++) this.#batch[base + j] = pixel[bytes[j]];
    this.#added();
  }

  #added(): void {
    this.#count++;
    this.rows++;
    if (this.#count === this.#capacity) this.#predictBatch();
  }

  /** Predicts the rows gathered so far into output text. */
  #predictBatch(): void {
    if (this.#count === 0) return;
    const m = this.#model;
    const rows = this.#batch.subarray(0, this.#count * m.inputDim);
    m.standardize(rows);
    const outputs = m.forwardSync(rows);
    if (!this.#headerDone) this.#text.push(this.#headerLine());
    this.#headerDone = true;
    this.#text.push(formatRows(m, outputs, this.#count));
    this.#count = 0;
  }

  async drainIfFull(): Promise<void> {
    if (this.#text.length === 0) return;
    const text = this.#text.join('');
    this.#text = [];
    await this.#write(text);
  }

  async flush(): Promise<void> {
    this.#predictBatch();
    await this.drainIfFull();
  }

  async #write(text: string): Promise<void> {
    if (!this.#output.write(text)) await once(this.#output, 'drain');
  }
}

/** A feature cell as a number, or why it is not one (the csv: loader's rules, src/data/csv.ts). */
function parseFeature(field: string | undefined): number | string {
  if (field === undefined) return 'missing';
  // The common case first: a plain decimal number (Number() alone would also take "0x1A" or "").
  const value = Number(field);
  if (Number.isFinite(value) && NUMBER.test(field)) return Math.abs(value) > FLOAT32_MAX ? `${field.trim()} is beyond the float32 range (±3.4e38)` : value;
  const trimmed = field.trim();
  if (trimmed === '' || MISSING.has(trimmed.toLowerCase())) return `the value is missing (${trimmed === '' ? 'an empty cell' : JSON.stringify(trimmed)})`;
  return `${JSON.stringify(field)} is not a number`;
}

const MISSING = new Set(['na', 'n/a', 'nan', 'null', 'none', '?']);
const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const FLOAT32_MAX = 3.4028234663852886e38;

/** One line per row: class name, index and probabilities, or the regression outputs. */
function formatRows(model: TrainedModel, outputs: Float32Array, n: number): string {
  const k = model.outputs;
  const lines: string[] = [];
  if (model.task === 'regression') {
    for (let r = 0; r < n; r++) lines.push(Array.from(outputs.subarray(r * k, (r + 1) * k), float32Text).join(','));
  } else {
    const predictions = model.predictionsOf(outputs, n);
    const names = predictions.className!.map(csvField);
    for (let r = 0; r < n; r++) {
      lines.push(`${names[r]},${predictions.classIndex![r]},${Array.from(predictions.outputs.subarray(r * k, (r + 1) * k), float32Text).join(',')}`);
    }
  }
  return lines.join('\n') + '\n';
}
