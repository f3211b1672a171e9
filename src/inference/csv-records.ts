/**
 * CSV records from text arriving in chunks (a file or stdin of any size), with the line each
 * starts on: RFC 4180 quoting (a quoted field may hold the delimiter, "" and newlines, so a record
 * may span lines and chunks), LF or CRLF, blank lines skipped, as the csv: loader reads a file
 * (src/data/csv.ts). Memory is one chunk plus the record being read.
 */
import { DataError } from '../errors.js';

/** The longest record accepted: a stray quote must not make one record of the rest of a huge file. */
const MAX_RECORD_CHARS = 16 * 2 ** 20;

export interface CsvRecord {
  /** 1-based line where the record starts. */
  line: number;
  fields: string[];
}

export class CsvRecordSplitter {
  readonly #source: string;
  #delimiter: string | null;
  /** Text of the unfinished record at the end of the last chunk. */
  #carry = '';
  /** The line the carried text starts on. */
  #line = 1;

  constructor(source: string, delimiter: string | null = null) {
    this.#source = source;
    this.#delimiter = delimiter;
  }

  get delimiter(): string | null {
    return this.#delimiter;
  }

  /** Sets the delimiter before the first record is split (detected from the first lines). */
  set delimiter(d: string) {
    this.#delimiter = d;
  }

  /** The text not yet split (for delimiter detection before the first records). */
  get pending(): string {
    return this.#carry;
  }

  /** Adds text; returns the records it completes. */
  push(text: string): CsvRecord[] {
    this.#carry += text;
    return this.#split(false);
  }

  /** The last record, at the end of the input. */
  end(): CsvRecord[] {
    return this.#split(true);
  }

  #split(final: boolean): CsvRecord[] {
    const text = this.#carry;
    const records: CsvRecord[] = [];
    let at = 0;
    let line = this.#line;
    const hasQuotes = text.includes('"');
    while (at < text.length) {
      let end = text.indexOf('\n', at);
      let lines = 1;
      if (hasQuotes) {
        // A newline inside quotes does not end the record: extend while the quotes are unbalanced.
        while (end >= 0 && countQuotes(text, at, end) % 2 === 1) {
          end = text.indexOf('\n', end + 1);
          lines++;
        }
      }
      if (end < 0) {
        if (!final) break;
        end = text.length;
      }
      let record = text.slice(at, end);
      if (record.endsWith('\r')) record = record.slice(0, -1);
      if (record.trim() !== '') records.push({ line, fields: this.#fields(record, line) });
      line += lines;
      at = end + 1;
    }
    this.#carry = at >= text.length ? '' : text.slice(at);
    this.#line = line;
    if (this.#carry.length > MAX_RECORD_CHARS) {
      throw new DataError('badCsvRow', `${this.#source} line ${line}: a record runs over ${MAX_RECORD_CHARS / 2 ** 20} Mi characters without ending (a quoted field never closed?)`);
    }
    return records;
  }

  #fields(record: string, line: number): string[] {
    const d = this.#delimiter ?? ',';
    if (!record.includes('"')) return record.split(d);
    return quotedFields(record, d, this.#source, line);
  }
}

function countQuotes(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = text.indexOf('"', from); i >= 0 && i < to; i = text.indexOf('"', i + 1)) count++;
  return count;
}

/** Fields of one record with quotes, RFC 4180: "a,b", "say ""hi""", newlines inside quotes. */
function quotedFields(record: string, d: string, source: string, line: number): string[] {
  const fields: string[] = [];
  let field = '';
  let i = 0;
  while (i <= record.length) {
    if (record[i] === '"' && field.trim() === '') {
      field = '';
      i++;
      for (;;) {
        if (i >= record.length) throw new DataError('badCsvRow', `${source} line ${line}: a quoted field is never closed`);
        if (record[i] === '"') {
          if (record[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += record[i++];
      }
      while (i < record.length && record[i] !== d && (record[i] === ' ' || record[i] === '\t')) i++;
      if (i < record.length && record[i] !== d) throw new DataError('badCsvRow', `${source} line ${line}: unexpected ${JSON.stringify(record[i])} after a closing quote`);
    }
    if (i >= record.length || record[i] === d) {
      fields.push(field);
      field = '';
      i++;
      continue;
    }
    field += record[i++];
  }
  return fields;
}
