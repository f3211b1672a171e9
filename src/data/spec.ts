/**
 * Dataset specs: `kind[:target][?key=value&...]`, e.g. `synthetic:blobs?n=1000&seed=0`,
 * `idx:data/train-images-idx3-ubyte.gz`, `csv:iris.csv?label=species`.
 * The target (a generator name or a file path) runs to the first "?"; query values are
 * percent-decoded (URLSearchParams), so a path holding "&" can be written as %26.
 */
import { DataError } from '../errors.js';

export interface DatasetSpec {
  /** The spec as given. */
  readonly text: string;
  /** "mnist", "synthetic", "idx" or "csv" (not checked here). */
  readonly kind: string;
  /** After "kind:" and before "?": the generator name or the path; "" when absent. */
  readonly target: string;
  readonly options: ReadonlyMap<string, string>;
}

export const UNKNOWN_SPEC_HINT = 'use mnist, mnist-full, fashion-mnist, cifar10, synthetic:blobs|spirals|teacher, idx:PATH or csv:PATH';

export function parseDatasetSpec(text: string): DatasetSpec {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new DataError('unknownSpec', `empty dataset spec — ${UNKNOWN_SPEC_HINT}`);
  }
  const q = text.indexOf('?');
  const head = q < 0 ? text : text.slice(0, q);
  const query = q < 0 ? '' : text.slice(q + 1);
  const colon = head.indexOf(':');
  const kind = colon < 0 ? head : head.slice(0, colon);
  const target = colon < 0 ? '' : head.slice(colon + 1);
  const options = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(query)) {
    if (options.has(key)) {
      throw new DataError('badOption', `option "${key}" is given twice in dataset spec "${text}"`);
    }
    options.set(key, value);
  }
  return { text, kind, target, options };
}

/** Kinds whose target is a file: csv:PATH, and idx:PATH with its ?labels=PATH. */
const FILE_KINDS = new Set(['csv', 'idx']);

/**
 * `text` with the files it names passed through `resolve` (a resumed run's relative paths start
 * where the run started); other specs, and a result that would not parse back, are unchanged.
 */
export function datasetSpecWithPaths(text: string, resolve: (file: string) => string): string {
  const q = text.indexOf('?');
  const head = q < 0 ? text : text.slice(0, q);
  const colon = head.indexOf(':');
  if (colon < 0 || !FILE_KINDS.has(head.slice(0, colon))) return text;
  const target = head.slice(colon + 1);
  const file = target === '' ? '' : resolve(target);
  // The target runs to the first "?": a path holding one cannot be written there.
  if (file.includes('?')) return text;
  const query = q < 0 ? [] : text.slice(q + 1).split('&').map((part) => labelsWithPath(part, resolve));
  return `${head.slice(0, colon + 1)}${file}${q < 0 ? '' : `?${query.join('&')}`}`;
}

/** A query part `labels=PATH` with its path resolved, percent-encoded where URLSearchParams would misread it. */
function labelsWithPath(part: string, resolve: (file: string) => string): string {
  if (!part.startsWith('labels=')) return part;
  const file = new URLSearchParams(part).get('labels') ?? '';
  return file === '' ? part : `labels=${resolve(file).replace(/[%&+]/g, (c) => encodeURIComponent(c))}`;
}

/** True when the spec's loader takes `?task=` (csv: only a CSV's labels can be read either way). */
export function takesTaskOption(spec: string): boolean {
  return /^\s*csv:/.test(spec);
}

/**
 * Typed reads of a spec's options. Construction rejects keys outside `valid`, naming the
 * key and listing the valid ones; each read names the option and the accepted range.
 */
export class SpecOptions {
  readonly #spec: DatasetSpec;

  constructor(spec: DatasetSpec, label: string, valid: readonly string[]) {
    this.#spec = spec;
    for (const key of spec.options.keys()) {
      if (!valid.includes(key)) {
        const takes = valid.length === 0 ? 'takes no options' : `takes ${valid.join(', ')}`;
        throw new DataError('unknownOption', `unknown option "${key}" in dataset spec "${spec.text}" — ${label} ${takes}`);
      }
    }
  }

  string(key: string): string | undefined {
    return this.#spec.options.get(key);
  }

  /** An integer in [min, max]; `fallback` when absent. */
  int(key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const raw = this.#spec.options.get(key);
    if (raw === undefined) return fallback;
    const value = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
      throw this.#bad(key, raw, range);
    }
    return value;
  }

  /** A finite number ≥ min; `fallback` when absent. */
  number(key: string, fallback: number, min: number): number {
    const raw = this.#spec.options.get(key);
    if (raw === undefined) return fallback;
    const value = isNumeric(raw) ? Number(raw) : NaN;
    if (!Number.isFinite(value) || value < min) throw this.#bad(key, raw, `a number ≥ ${min}`);
    return value;
  }

  /** One of `choices`; `fallback` when absent. */
  choice<T extends string>(key: string, fallback: T | undefined, choices: readonly T[]): T | undefined {
    const raw = this.#spec.options.get(key);
    if (raw === undefined) return fallback;
    if (!(choices as readonly string[]).includes(raw)) throw this.#bad(key, raw, `one of ${choices.join(', ')}`);
    return raw as T;
  }

  #bad(key: string, raw: string, expected: string): DataError {
    return new DataError('badOption', `option ${key}=${JSON.stringify(raw)} in dataset spec "${this.#spec.text}" must be ${expected}`);
  }
}

/** A plain decimal number ("1", "-2.5", ".5", "3e-4"), surrounding spaces allowed. */
export function isNumeric(text: string): boolean {
  return /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(text);
}
