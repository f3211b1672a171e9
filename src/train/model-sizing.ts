/**
 * Dense model specs sized from the data (docs/models.md, "Sizes from the data"): `mlp`, `logreg`
 * and `linreg` without sizes, and `mlp:H1-H2[:act]` giving hidden widths only, take the input
 * width and the output count (classes, or targets for regression) from the training data.
 */
import type { DataShape } from './defaults.js';

/** Hidden width of a bare `mlp`, as the default model's. */
export const DEFAULT_HIDDEN = 128;

/**
 * The full dense spec for `text` on this data; any other spec is returned as given (and checked
 * against the data by compatibility.ts). `mlp:A-…-Z` is the full form when A is the input width or
 * Z the output count, so a full spec for other data is refused rather than silently widened;
 * otherwise its sizes are the hidden layers.
 */
export function sizeModelToData(text: string, data: Pick<DataShape, 'inputDim' | 'task' | 'numClasses' | 'targetDim'>): string {
  const spec = text.trim();
  const inputs = data.inputDim;
  const outputs = data.task === 'classification' ? data.numClasses : data.targetDim;
  if (spec === 'logreg' || spec === 'linreg') return `${spec}:${inputs}-${outputs}`;
  const m = /^mlp(?::([0-9]+(?:-[0-9]+)*))?(?::(relu|tanh))?$/.exec(spec);
  if (m === null) return text;
  const activation = m[2] === undefined ? '' : `:${m[2]}`;
  if (m[1] === undefined) return `mlp:${inputs}-${DEFAULT_HIDDEN}-${outputs}${activation}`;
  const sizes = m[1].split('-').map(Number);
  const full = sizes.length >= 2 && (sizes[0] === inputs || sizes[sizes.length - 1] === outputs);
  return full ? text : `mlp:${[inputs, ...sizes, outputs].join('-')}${activation}`;
}
