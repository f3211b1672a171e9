/**
 * `csv:PATH[?label=NAME|INDEX&task=classification|regression&header=auto|yes|no]`.
 *
 * - Fields: comma-separated, RFC 4180 quoting ("a,b", "say ""hi"""), LF or CRLF, blank lines
 *   skipped, a UTF-8 BOM ignored.
 * - Header: with header=auto (the default) the first row is a header when one of its fields is
 *   non-numeric while the second row holds a number in that column (or, for a one-row file, when
 *   any field is non-numeric). This is the brief's "first row has a non-numeric field" rule,
 *   refined so that a headerless file with string labels (iris) is not taken for a header.
 * - Label: column `label` by header name or 0-based index; default the last column. Every other
 *   column is a feature and must be numeric.
 * - Task: classification when all labels are integers ≥ 0 (class = label, classes = max + 1) or
 *   any label is non-numeric (classes = the sorted unique label strings); else regression.
 *   task=classification with other numeric labels (e.g. -1/1) maps the sorted unique values to 0..k-1.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DataError } from '../errors.js';
import { createDataset, DATA_LIMITS, type Dataset, type Task } from './dataset.js';
import { isNumeric, SpecOptions, type DatasetSpec } from './spec.js';

interface CsvRow {
  /** 1-based line number where the row starts. */
  line: number;
  fields: string[];
}

export function loadCsv(spec: DatasetSpec): Dataset {
  const o = new SpecOptions(spec, 'csv:PATH', ['label', 'task', 'header']);
  const labelOption = o.string('label');
  const taskOption = o.choice<Task>('task', undefined, ['classification', 'regression']);
  const headerOption = o.choice('header', 'auto', ['auto', 'yes', 'no']);
  const path = spec.target;
  if (path === '') throw new DataError('unknownSpec', `dataset "${spec.text}" names no file — use csv:PATH, e.g. csv:data/iris.csv`);

  let text: string;
  try {
    text = readFileSync(path, 'utf8');
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

  const rows = parseCsv(text, path);
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
      throw new DataError(
        'raggedCsv',
        `${path} line ${row.line} has ${row.fields.length} fields, but ${hasHeader ? 'the header has' : 'line ' + rows[0].line + ' has'} ${width}`,
      );
    }
  }

  // Label column: by name first, then by 0-based index.
  let labelColumn = width - 1;
  if (labelOption !== undefined) {
    const byName = hasHeader ? names.indexOf(labelOption.trim()) : -1;
    const byIndex = /^\d+$/.test(labelOption.trim()) ? Number(labelOption) : -1;
    labelColumn = byName >= 0 ? byName : byIndex >= 0 && byIndex < width ? byIndex : -1;
    if (labelColumn < 0) {
      const columns = hasHeader ? `columns: ${names.map((name) => JSON.stringify(name)).join(', ')}, or an index 0..${width - 1}` : `no header row, so use an index 0..${width - 1}`;
      throw new DataError('unknownLabelColumn', `label column ${JSON.stringify(labelOption)} is not in ${path} — ${columns}`);
    }
  }

  // Features: x: [n, width - 1], every non-label field numeric.
  const n = data.length;
  const inputDim = width - 1;
  if (n * inputDim > DATA_LIMITS.maxElements) {
    throw new DataError('tooLarge', `${path} holds ${n}×${inputDim} values, more than the limit of ${DATA_LIMITS.maxElements}`);
  }
  const x = new Float32Array(n * inputDim);
  for (let i = 0; i < n; i++) {
    const { line, fields } = data[i];
    let k = i * inputDim;
    for (let j = 0; j < width; j++) {
      if (j === labelColumn) continue;
      if (!isNumeric(fields[j])) {
        throw new DataError('badCsvRow', `${path} line ${line}: field ${JSON.stringify(fields[j])} in column ${JSON.stringify(names[j])} is not a number`);
      }
      x[k++] = Number(fields[j]);
    }
  }

  // Labels and task.
  const rawLabels = data.map((row) => row.fields[labelColumn].trim());
  const numeric = rawLabels.every(isNumeric);
  const values = numeric ? rawLabels.map(Number) : [];
  const classIndices = numeric && values.every((v) => Number.isInteger(v) && v >= 0);
  const task: Task = taskOption ?? (numeric && !classIndices ? 'regression' : 'classification');
  const y = new Float32Array(n);
  let numClasses = 0;
  if (task === 'regression') {
    const bad = rawLabels.findIndex((label) => !isNumeric(label));
    if (bad >= 0) {
      throw new DataError('badCsvRow', `${path} line ${data[bad].line}: label ${JSON.stringify(rawLabels[bad])} in column ${JSON.stringify(names[labelColumn])} is not a number, as task=regression needs`);
    }
    y.set(values);
  } else if (classIndices) {
    y.set(values);
    numClasses = values.reduce((max, v) => (v > max ? v : max), 0) + 1;
  } else {
    // Sorted unique labels -> 0..k-1 (numeric order when all are numbers).
    const unique = numeric
      ? [...new Set(values)].sort((a, b) => a - b).map(String)
      : [...new Set(rawLabels)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const index = new Map(unique.map((label, k) => [label, k]));
    for (let i = 0; i < n; i++) y[i] = index.get(numeric ? String(values[i]) : rawLabels[i])!;
    numClasses = unique.length;
  }
  return createDataset({ spec: spec.text, n, inputDim, x, targetDim: 1, y, task, numClasses });
}

/** RFC 4180 fields; quoted fields may hold commas, quotes ("") and newlines. Blank lines are skipped. */
export function parseCsv(text: string, path = 'CSV'): CsvRow[] {
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
      while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
      if (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
        throw new DataError('badCsvRow', `${path} line ${line}: unexpected ${JSON.stringify(text[i])} after a closing quote`);
      }
      continue;
    }
    if (ch === ',') {
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
