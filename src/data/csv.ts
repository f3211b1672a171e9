/**
 * `csv:PATH[?label=NAME|INDEX&task=classification|regression&header=auto|yes|no&delimiter=,|;|tab]`.
 *
 * - Encoding: UTF-8 (a UTF-8 BOM ignored). Invalid UTF-8 is refused with its byte offset and line;
 *   a UTF-16 or UTF-32 BOM, or NUL bytes, are refused as "not UTF-8 text".
 * - Fields: separated by the delimiter (option `delimiter`, else detected from the first line: the
 *   one of `,` `;` tab that splits the first two lines into the same number of fields, the most
 *   fields winning, `,` on a tie or when none does), RFC 4180 quoting ("a,b", "say ""hi"""), LF or
 *   CRLF, blank lines skipped.
 * - Header: with header=auto (the default) the first row is a header when one of its fields is
 *   non-numeric while the second row holds a number in that column (or, for a one-row file, when
 *   any field is non-numeric). This is the brief's "first row has a non-numeric field" rule,
 *   refined so that a headerless file with string labels (iris) is not taken for a header.
 * - Label: option `label` by header name (exact, else case-insensitive) or 0-based index; without
 *   it the header column a model records as its label (`recordedLabel`: evaluate, train --test)
 *   when the header has it, else a header column named `label` or `target` (case-insensitive)
 *   wherever it is, else the last column. Every other column is a feature and must be a number
 *   within float32 range; an empty cell (or NA, N/A, NaN, null, None, ?) is refused as a missing
 *   value, naming line and column, in a label as in a feature.
 * - Task: classification when all labels are integers ≥ 0 (class = label, classes = max + 1) or
 *   any label is non-numeric (classes = the sorted unique label strings); else regression.
 *   task=classification with other numeric labels (e.g. -1/1) maps the sorted unique values to 0..k-1.
 *   Without task=, integer labels that make over 10 classes of which fewer than half occur, or
 *   fewer than 2 rows per class, are refused as ambiguous (`ambiguousTask`): they look like a
 *   numeric target. A model's recorded task stands for task= on the files it is evaluated on.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { constants } from 'node:buffer';
import { resolve } from 'node:path';
import { DataError } from '../errors.js';
import { createDataset, DATA_LIMITS, sampleArray, type Dataset, type Task } from './dataset.js';
import { isNumeric, SpecOptions, type DatasetSpec } from './spec.js';

interface CsvRow {
  /** 1-based line number where the row starts. */
  line: number;
  fields: string[];
}

/** The options of a csv: spec, parsed. */
export interface CsvOptions {
  /** Label column by name or 0-based index. */
  label?: string;
  task?: Task;
  header: 'auto' | 'yes' | 'no';
  /** A one-character delimiter; detected when absent. */
  delimiter?: string;
  /**
   * The label column's header name that a trained model records (`dptrain.about` labelColumn):
   * taken as the label when there is no `label` option and the header has a column of that exact
   * name, so that a test file with its columns in another order finds the label.
   */
  recordedLabel?: string;
}

/** `recorded`: what a trained model records of its data (evaluate, train --test), read as the training file was. */
export function loadCsv(spec: DatasetSpec, recorded: { label?: string; task?: Task } = {}): Dataset {
  const o = new SpecOptions(spec, 'csv:PATH', ['label', 'task', 'header', 'delimiter']);
  const options: CsvOptions = {
    label: o.string('label'),
    delimiter: delimiterFrom(o.string('delimiter'), spec.text),
    // A model's task decides how a test file's labels read (?task= still wins): a regression
    // model's whole-number targets are not class indices, whatever they look like.
    task: o.choice<Task>('task', undefined, ['classification', 'regression']) ?? recorded.task,
    header: o.choice('header', 'auto', ['auto', 'yes', 'no'])!,
    ...(recorded.label !== undefined && { recordedLabel: recorded.label }),
  };
  const path = spec.target;
  if (path === '') throw new DataError('unknownSpec', `dataset "${spec.text}" names no file — use csv:PATH, e.g. csv:data/iris.csv`);

  const bytes = readCsvFile(path);
  return csvDataset(bytes, path, options, spec.text);
}

/**
 * The file's bytes. A file too large to become one JS string is refused from its size, and one that
 * is not UTF-8 text (a UTF-16 byte-order mark, NUL bytes: binary, or a sparse file of zeros) from
 * its first 64 KiB, before the rest is read.
 */
function readCsvFile(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new DataError(
      'fileNotFound',
      code === 'ENOENT'
        ? `CSV file not found: ${resolve(path)} — check the path (relative paths start at ${process.cwd()})`
        : `cannot read CSV file ${resolve(path)} (${code ?? String(cause)})`,
      { cause },
    );
  }
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw new DataError('fileNotFound', `CSV file ${resolve(path)} is a directory — pass the path of a .csv file`);
    if (stats.size > CSV_MAX_BYTES) {
      throw new DataError('tooLarge', `${path} holds ${stats.size} bytes; a CSV file is read as one string of at most ${CSV_MAX_BYTES} bytes (about 512 MiB) — split it, or convert it to IDX files`);
    }
    // A pipe or device (csv:<(zcat f.gz), /dev/stdin) has no size: read it in chunks, as far as the limit.
    if (!stats.isFile()) return readStream(fd, path);
    const head = Buffer.alloc(Math.min(stats.size, 65536));
    readSync(fd, head, 0, head.length, 0);
    refuseNonText(head, path);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A CSV from a file without a size, its first 64 KiB checked as a file's are, at most CSV_MAX_BYTES read. */
function readStream(fd: number, path: string): Uint8Array {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.alloc(65536);
    const got = readSync(fd, chunk, 0, chunk.length, null);
    if (got === 0) break;
    if (total === 0) refuseNonText(chunk.subarray(0, got), path);
    total += got;
    if (total > CSV_MAX_BYTES) {
      throw new DataError('tooLarge', `${path} gives more than ${CSV_MAX_BYTES} bytes; a CSV file is read as one string of at most ${CSV_MAX_BYTES} bytes (about 512 MiB) — split it, or convert it to IDX files`);
    }
    chunks.push(chunk.subarray(0, got));
  }
  return Buffer.concat(chunks, total);
}

/**
 * A dataset from the bytes of a CSV file (named `path` in messages): everything loadCsv does after
 * reading the file. Throws DataError for every problem; the fuzz tests feed it mutated files.
 */
export function csvDataset(bytes: Uint8Array, path: string, options: CsvOptions, specText = `csv:${path}`): Dataset {
  const { label: labelOption, task: taskOption, header: headerOption } = options;
  const text = decodeCsvText(bytes, path);
  const delimiter = options.delimiter ?? detectDelimiter(text);
  const rows = parseCsv(text, path, delimiter);
  if (rows.length === 0) throw new DataError('emptyCsv', `${path} holds no rows`);

  // Header row?
  const first = rows[0].fields;
  const second = rows[1]?.fields;
  const hasHeader =
    headerOption === 'yes' ||
    (headerOption === 'auto' &&
      first.some((field, j) => !isNumeric(field) && (second === undefined || (second[j] !== undefined && isNumeric(second[j])))));
  const names = hasHeader ? first.map((field) => field.trim()) : first.map((_, j) => String(j));
  const data = hasHeader ? rows.slice(1) : rows;
  if (data.length === 0) throw new DataError('emptyCsv', `${path} holds a header row but no samples`);
  const width = first.length;
  if (width < 2) throw new DataError('emptyCsv', `${path} has ${width} column; it needs at least one feature and a label`);
  for (const row of data) {
    if (row.fields.length !== width) {
      const missing = row.fields.length < width ? ` (${columnList(names.slice(row.fields.length), hasHeader)} missing)` : '';
      const shownDelimiter = delimiter === '\t' ? 'tab' : `"${delimiter}"`;
      throw new DataError(
        'raggedCsv',
        `${path} line ${row.line} has ${row.fields.length} fields, but ${hasHeader ? 'the header has' : 'line ' + rows[0].line + ' has'} ${width}${missing} — fields are separated by ${shownDelimiter}; set another with ?delimiter=`,
      );
    }
  }

  const labelColumn = findLabelColumn(labelOption, names, hasHeader, path, options.recordedLabel);

  // Features: x: [n, width - 1], every non-label field numeric.
  const n = data.length;
  const inputDim = width - 1;
  if (n * inputDim > DATA_LIMITS.maxElements) {
    throw new DataError('tooLarge', `${path} holds ${n}×${inputDim} values, more than the limit of ${DATA_LIMITS.maxElements}`);
  }
  const x = sampleArray(n * inputDim);
  for (let i = 0; i < n; i++) {
    const { line, fields } = data[i];
    let k = i * inputDim;
    for (let j = 0; j < width; j++) {
      if (j === labelColumn) continue;
      x[k++] = numberAt(fields[j], { path, line, column: j, names, headerForcedOff: headerOption === 'no' });
    }
  }

  const { y, task, numClasses, classNames } = labelsOf(data, labelColumn, names, taskOption, path);
  // What a model file records of the columns, so that evaluate and predict can match them (docs/formats.md).
  const featureNames = hasHeader ? names.filter((_, j) => j !== labelColumn) : undefined;
  const labelColumnOf = { name: names[labelColumn], index: labelColumn };
  return createDataset({ spec: specText, n, inputDim, x, targetDim: 1, y, task, numClasses, ...(classNames && { classNames }), ...(featureNames && { featureNames }), labelColumn: labelColumnOf });
}

/** RFC 4180 fields; quoted fields may hold delimiters, quotes ("") and newlines. Blank lines are skipped. */
export function parseCsv(text: string, path = 'CSV', delimiter = ','): CsvRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false; // the current row has a quoted field, so it is not blank
  let line = 1;
  let rowLine = 1;
  let i = 0;
  const endRow = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0].trim() === '' && !quoted)) rows.push({ line: rowLine, fields });
    fields = [];
    field = '';
    quoted = false;
  };
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"' && field.trim() === '') {
      // A quoted field: read to the closing quote.
      quoted = true;
      field = '';
      const startLine = line;
      i++;
      for (;;) {
        if (i >= text.length) throw new DataError('badCsvRow', `${path} line ${startLine}: a quoted field is never closed`);
        const c = text[i];
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (c === '\n') line++;
        field += c;
        i++;
      }
      // Only spaces may follow the closing quote before the separator.
      while (i < text.length && text[i] !== delimiter && (text[i] === ' ' || text[i] === '\t')) i++;
      if (i < text.length && text[i] !== delimiter && text[i] !== '\n' && text[i] !== '\r') {
        throw new DataError('badCsvRow', `${path} line ${line}: unexpected ${JSON.stringify(text[i])} after a closing quote`);
      }
      continue;
    }
    if (ch === delimiter) {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else {
      field += ch;
    }
    i++;
  }
  if (field !== '' || fields.length > 0 || quoted) endRow();
  return rows;
}

/** The `delimiter` option: "," ";" "|" or "tab" (a raw tab also works); undefined when absent. */
function delimiterFrom(raw: string | undefined, specText: string): string | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'tab' || raw === '\t') return '\t';
  if (raw === ',' || raw === ';' || raw === '|') return raw;
  throw new DataError('badOption', `option delimiter=${JSON.stringify(raw)} in dataset spec "${specText}" must be "," ";" "|" or "tab" (write ";" as %3B if your shell needs it)`);
}

/**
 * The label column: the `label` option by header name (exact, then any case) or 0-based index;
 * without it the header column named as a model records its label (`recordedLabel`, exact), a
 * header column named label or target (any case), else the last column.
 */
function findLabelColumn(labelOption: string | undefined, names: readonly string[], hasHeader: boolean, path: string, recordedLabel?: string): number {
  const width = names.length;
  const lowerNames = names.map((name) => name.toLowerCase());
  if (labelOption === undefined) {
    const recorded = hasHeader && recordedLabel !== undefined ? names.indexOf(recordedLabel) : -1;
    if (recorded >= 0) return recorded;
    const named = hasHeader ? lowerNames.flatMap((name, j) => (name === 'label' || name === 'target' ? [j] : [])) : [];
    if (named.length > 1) {
      // Either guess would train on the other: a target column derived from a label leaks it into the features.
      throw new DataError('ambiguousLabelColumn', `${path} has the columns ${named.map((j) => JSON.stringify(names[j])).join(' and ')}, and either could be the label — name it with ?label=NAME (the other is then a feature: drop it if it is derived from the label)`);
    }
    return named.length === 1 ? named[0] : width - 1;
  }
  const exact = hasHeader ? names.indexOf(labelOption.trim()) : -1;
  const byName = exact >= 0 || !hasHeader ? exact : lowerNames.indexOf(labelOption.trim().toLowerCase());
  const byIndex = /^\d+$/.test(labelOption.trim()) ? Number(labelOption) : -1;
  const column = byName >= 0 ? byName : byIndex >= 0 && byIndex < width ? byIndex : -1;
  if (column < 0) {
    const columns = hasHeader ? `columns: ${names.map((name) => JSON.stringify(name)).join(', ')}, or an index 0..${width - 1}` : `no header row, so use an index 0..${width - 1}`;
    throw new DataError('unknownLabelColumn', `label column ${JSON.stringify(labelOption)} is not in ${path} — ${columns}`);
  }
  return column;
}

/** The labels as y, and the task they imply (or `taskOption`), as the module comment describes. */
function labelsOf(
  data: readonly CsvRow[],
  labelColumn: number,
  names: string[],
  taskOption: Task | undefined,
  path: string,
): { y: Float32Array; task: Task; numClasses: number; classNames?: string[] } {
  const n = data.length;
  const rawLabels = data.map((row) => row.fields[labelColumn].trim());
  // An empty label or a missing-value marker (NaN, NA, ...) is a missing label, not a class named "NaN".
  const missing = rawLabels.findIndex((label) => MISSING.has(label.toLowerCase()));
  if (missing >= 0) {
    const shownValue = rawLabels[missing] === '' ? 'an empty cell' : JSON.stringify(rawLabels[missing]);
    throw new DataError('missingCsvValue', `${path} line ${data[missing].line}: the label (column ${columnName(names, labelColumn)}) is missing (${shownValue}) — every row needs a label; fill it or drop the row`);
  }
  const numeric = rawLabels.every(isNumeric);
  const values = numeric ? rawLabels.map(Number) : [];
  const classIndices = numeric && values.every((v) => Number.isInteger(v) && v >= 0);
  const task: Task = taskOption ?? (numeric && !classIndices ? 'regression' : 'classification');
  const y = sampleArray(n);
  let numClasses = 0;
  if (task === 'regression') {
    const bad = rawLabels.findIndex((label) => !isNumeric(label));
    if (bad >= 0) {
      throw new DataError('badCsvRow', `${path} line ${data[bad].line}: label ${JSON.stringify(rawLabels[bad])} in column ${JSON.stringify(names[labelColumn])} is not a number, as task=regression needs`);
    }
    for (let i = 0; i < n; i++) y[i] = numberAt(rawLabels[i], { path, line: data[i].line, column: labelColumn, names });
  } else if (classIndices) {
    const largest = values.reduce((max, v) => (v > max ? v : max), 0);
    if (taskOption === undefined) checkLooksLikeClasses(values, largest + 1, names, labelColumn, path);
    if (largest >= MAX_CLASSES) {
      const at = values.indexOf(largest);
      throw new DataError(
        'badCsvRow',
        `${path} line ${data[at].line}: label ${rawLabels[at]} in column ${columnName(names, labelColumn)}, read as a class index, would need ${largest + 1} classes, more than a model outputs (${MAX_CLASSES}) — for a numeric target pass ?task=regression, or check the label column (?label=NAME)`,
      );
    }
    y.set(values);
    numClasses = largest + 1;
  } else {
    // Sorted unique labels -> 0..k-1 (numeric order when all are numbers).
    const unique = numeric
      ? [...new Set(values)].sort((a, b) => a - b).map(String)
      : [...new Set(rawLabels)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const index = new Map(unique.map((label, k) => [label, k]));
    for (let i = 0; i < n; i++) y[i] = index.get(numeric ? String(values[i]) : rawLabels[i])!;
    numClasses = unique.length;
    // The labels as written name the classes (text labels; numeric values mapped to 0..k-1).
    return { y, task, numClasses, classNames: unique };
  }
  return { y, task, numClasses };
}

/**
 * Integer labels read as class indices that look like a numeric target (a price, a count, an age)
 * are refused, as an ambiguous label column is. Past FEW_CLASSES (a toy file may hold each of a
 * few classes once), class indices cover most of 0..k-1 and each class has samples to learn from;
 * a target leaves most of 0..max unused (prices) or gives most values a row or two (counts).
 * ?task= decides; a model's recorded task decides for the files it is evaluated on.
 */
function checkLooksLikeClasses(values: readonly number[], classes: number, names: readonly string[], labelColumn: number, path: string): void {
  if (classes <= FEW_CLASSES) return;
  const distinct = new Set(values).size;
  if (2 * distinct >= classes && 2 * classes <= values.length) return;
  throw new DataError(
    'ambiguousTask',
    `${path}: the labels in column ${columnName(names, labelColumn)} are whole numbers, which as class indices make ${classes} classes (${distinct} distinct values in ${values.length} rows) — to predict the number, add ?task=regression to the dataset; to train ${classes} classes, add ?task=classification`,
  );
}

/** Up to this many classes, whole-number labels are class indices however few rows each has. */
const FEW_CLASSES = 10;

/** What to do about a feature cell that is not a number, from what it looks like. */
/** Where a cell is, for messages; headerForcedOff: ?header=no was given (line 1 may be a header after all). */
interface CellAt {
  path: string;
  line: number;
  column: number;
  names: string[];
  headerForcedOff?: boolean;
}

function notNumberFix(field: string, at: CellAt): string {
  const trimmed = field.trim();
  if (/^[-+]?\d+,\d+$/.test(trimmed)) return `decimal commas are not read: write ${trimmed.replace(',', '.')} (export the file with "." as the decimal separator)`;
  const name = at.names[at.column];
  const headerless = name === String(at.column);
  if (!headerless && name === trimmed) return 'this line repeats the header: remove it';
  const named = headerless ? `column ${at.column + 1}` : `the column ${JSON.stringify(name)}`;
  const fix = `features must be numbers: drop ${named} (an id or text), encode it as numbers, or make it the label with ?label=${name}`;
  return at.headerForcedOff && at.line === 1 ? `if line 1 is a header, drop ?header=no; otherwise ${fix}` : fix;
}

/** Markers that spreadsheets and pandas write for a missing value (compared case-insensitively). */
const MISSING = new Set(['', 'na', 'n/a', 'nan', 'null', 'none', '?']);
const FLOAT32_MAX = 3.4028234663852886e38;
/** The longest string V8 makes (~512 MiB); UTF-8 text of at most this many bytes always fits. */
const CSV_MAX_BYTES = constants.MAX_STRING_LENGTH;
/** Model layer sizes are at most 10^6 (docs/errors.md, dptrain.model.badSpec), so are class counts. */
const MAX_CLASSES = 1_000_000;

/** A feature (or regression label) cell as a float32 value: a finite number within float32 range. */
function numberAt(field: string, at: CellAt): number {
  const where = `${at.path} line ${at.line}, column ${columnName(at.names, at.column)}`;
  const trimmed = field.trim();
  if (MISSING.has(trimmed.toLowerCase())) {
    const shownValue = trimmed === '' ? 'an empty cell' : JSON.stringify(trimmed);
    throw new DataError('missingCsvValue', `${where}: the value is missing (${shownValue}) — fill it (e.g. with the column mean) or drop the row`);
  }
  if (!isNumeric(field)) throw new DataError('badCsvRow', `${where}: field ${JSON.stringify(field)} is not a number — ${notNumberFix(field, at)}`);
  const value = Number(field);
  // Math.fround(1e39) is Infinity: such a value would overflow the first forward pass.
  if (!(Math.abs(value) <= FLOAT32_MAX) || !Number.isFinite(Math.fround(value))) {
    throw new DataError('csvValueOutOfRange', `${where}: ${trimmed} is beyond the float32 range (±3.4e38) that training uses — rescale the column`);
  }
  return value;
}

/** `"petal_width" (4th)` with a header, `4` (1-based) without. */
function columnName(names: readonly string[], column: number): string {
  return names[column] === String(column) ? `${column + 1}` : `${JSON.stringify(names[column])} (${column + 1})`;
}

function columnList(names: readonly string[], hasHeader: boolean): string {
  const shownNames = names.slice(0, 5).map((name) => (hasHeader ? JSON.stringify(name) : String(Number(name) + 1)));
  const more = names.length > 5 ? ` and ${names.length - 5} more` : '';
  return `${names.length === 1 ? 'column' : 'columns'} ${shownNames.join(', ')}${more}`;
}

/**
 * The file's text, refusing what is not UTF-8: a UTF-16/32 byte-order mark, NUL bytes (binary or
 * UTF-16 without a BOM) and invalid UTF-8 (with its byte offset and line). A UTF-8 BOM is dropped.
 */
export function decodeCsvText(bytes: Uint8Array, path: string): string {
  refuseNonText(bytes, path);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    const { line } = positionOf(bytes, offset);
    const shownBytes = [...bytes.subarray(offset, offset + 4)].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');
    throw new DataError('badCsvEncoding', `${path} is not valid UTF-8: byte offset ${offset} (line ${line}) starts ${shownBytes} — save it as UTF-8 (Latin-1 or Windows-1252 files convert with iconv -f WINDOWS-1252 -t UTF-8)`);
  }
}

/** Refuses bytes that are not UTF-8 text at all: a UTF-16/UTF-32 byte-order mark, or NUL bytes. */
function refuseNonText(bytes: Uint8Array, path: string): void {
  const bom = bytes[0] === 0xff && bytes[1] === 0xfe ? 'UTF-16 LE' : bytes[0] === 0xfe && bytes[1] === 0xff ? 'UTF-16 BE' : bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0xfe && bytes[3] === 0xff ? 'UTF-32 BE' : null;
  if (bom !== null) {
    const kind = bom === 'UTF-16 LE' && bytes[2] === 0 && bytes[3] === 0 ? 'UTF-32 LE' : bom;
    throw new DataError('badCsvEncoding', `${path} is ${kind} text (it starts with a ${kind} byte-order mark), not UTF-8 — save it as UTF-8 (e.g. iconv -f ${kind.replace(' ', '')} -t UTF-8)`);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    const { line } = positionOf(bytes, nul);
    throw new DataError('badCsvEncoding', `${path} holds a NUL byte at byte offset ${nul} (line ${line}): it is binary or UTF-16 without a byte-order mark, not UTF-8 CSV text — save it as UTF-8 CSV`);
  }
}

/** The offset of the first byte that does not start a valid UTF-8 sequence (RFC 3629); bytes.length if none. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    let need: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    if (i + need >= bytes.length) return i; // the sequence is cut off by the end of the file
    let cp = b & (0xff >> (need + 2));
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return bytes.length;
}

function positionOf(bytes: Uint8Array, offset: number): { line: number } {
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return { line };
}

/**
 * The delimiter of the first line: among `,` `;` tab (outside quotes), the one that splits the first
 * two non-blank lines into the same number (> 1) of fields, the most fields winning; `,` otherwise.
 */
export function detectDelimiter(text: string): string {
  // The first two non-blank lines, found without splitting the whole file.
  const lines: string[] = [];
  for (let at = 0; at < text.length && lines.length < 2; ) {
    const end = text.indexOf('\n', at);
    const line = text.slice(at, end < 0 ? text.length : end).replace(/^\ufeff/, '').replace(/\r$/, '');
    if (line.trim() !== '') lines.push(line);
    at = end < 0 ? text.length : end + 1;
  }
  if (lines.length === 0) return ',';
  let best = ',';
  let bestCount = 0;
  for (const d of [',', ';', '\t']) {
    const counts = lines.map((line) => countOutsideQuotes(line, d));
    if (counts[0] > bestCount && counts.every((c) => c === counts[0])) [best, bestCount] = [d, counts[0]];
  }
  return best;
}

function countOutsideQuotes(line: string, delimiter: string): number {
  let count = 0;
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === delimiter && !quoted) count++;
  }
  return count;
}
