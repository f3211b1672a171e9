/**
 * Which columns of a CSV given to `predict` are the model's features, decided from its first
 * record: a header naming every feature (any order; other columns such as ids or the label are
 * ignored), else columns by position: as many as the model's features, or one more where the
 * training file had its label column (docs/cli.md, "predict").
 */
import { isNumeric } from '../data/index.js';
import { DataError } from '../errors.js';
import type { CsvRecord } from './csv-records.js';
import { listNames } from './matching.js';
import type { TrainedModel } from './trained-model.js';

export interface ColumnPlan {
  /** The first record is a header (not predicted). */
  header: boolean;
  /** Fields every row must have. */
  width: number;
  /** features[j]: the column of the model's input j. */
  features: number[];
  /** Header names of the columns that are not features. */
  ignored: string[];
  /** A column for messages: `"age" (3)` with a header, `3` without (1-based). */
  describe(column: number): string;
}

export function planColumns(model: TrainedModel, first: CsvRecord, source: string): ColumnPlan {
  const fields = first.fields.map((f) => f.trim());
  const d = model.inputDim;
  const names = model.metadata?.featureNames ?? null;
  const label = model.metadata?.labelColumn ?? null;
  const width = fields.length;
  const plan = (header: boolean, features: number[]): ColumnPlan => ({
    header,
    width,
    features,
    ignored: header ? fields.filter((_, j) => !features.includes(j)) : [],
    describe: (column) => (header ? `${JSON.stringify(fields[column])} (${column + 1})` : String(column + 1)),
  });
  if (names && names.every((name) => fields.includes(name))) return plan(true, names.map((name) => fields.indexOf(name)));

  const labelAt = width === d + 1 ? labelIndex(fields, label) : -1;
  const header = fields.some((f, j) => j !== labelAt && !isNumeric(f));
  if (header && names) {
    const missing = names.filter((name) => !fields.includes(name));
    throw new DataError('featuresMismatch', `${source} has the columns ${listNames(fields)} but ${model.name} takes the features ${listNames(names)} (missing: ${listNames(missing)}) — name the columns as in the training file`);
  }
  if (width === d) return plan(header, fields.map((_, j) => j));
  if (width === d + 1 && labelAt >= 0) return plan(header, fields.map((_, j) => j).filter((j) => j !== labelAt));
  const expected = names ? ` (${listNames(names)})` : '';
  const extra = width === d + 1 ? ', and which column is the label is unknown' : '';
  throw new DataError('featuresMismatch', `${source} line ${first.line} has ${width} columns but ${model.name} takes ${d} features${expected}${extra} — give one column per feature${label ? `, optionally with the label column ${JSON.stringify(label.name)}` : ''}`);
}

/** The column holding the training file's label: by its header name, a column named label/target, or its index. */
function labelIndex(fields: readonly string[], label: { name: string; index: number } | null): number {
  if (label && fields.includes(label.name) && !/^\d+$/.test(label.name)) return fields.indexOf(label.name);
  const named = fields.findIndex((f) => f.toLowerCase() === 'label' || f.toLowerCase() === 'target');
  if (named >= 0) return named;
  return label && label.index < fields.length ? label.index : -1;
}
