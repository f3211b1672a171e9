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
 * Z the output count, and is then checked as given; otherwise its sizes are the hidden layers
 * (hiddenWidthsWarning says so when they could be a full spec for other data).
 */
export function sizeModelToData(text: string, data: Pick<DataShape, 'inputDim' | 'task' | 'numClasses' | 'targetDim'>): string {
  const spec = text.trim();
  const { inputs, outputs } = widthsOf(data);
  if (spec === 'logreg' || spec === 'linreg') return `${spec}:${inputs}-${outputs}`;
  const m = MLP.exec(spec);
  if (m === null) return text;
  const activation = m[2] === undefined ? '' : `:${m[2]}`;
  if (m[1] === undefined) return `mlp:${inputs}-${DEFAULT_HIDDEN}-${outputs}${activation}`;
  const sizes = m[1].split('-').map(Number);
  return isFullForm(sizes, inputs, outputs) ? text : `mlp:${[inputs, ...sizes, outputs].join('-')}${activation}`;
}

/**
 * The warning for an `mlp:` spec whose sizes sizeModelToData read as hidden widths although they
 * have the form of a full spec (input, hidden, output: three sizes or more), e.g. mlp:784-128-10
 * copied onto data of 2 features and 3 classes; null otherwise. One or two sizes are hidden widths
 * only: a two-size full spec has no hidden layer (logreg's model), so nobody means it for other data.
 */
export function hiddenWidthsWarning(text: string, data: Pick<DataShape, 'inputDim' | 'task' | 'numClasses' | 'targetDim'>): string | null {
  const m = MLP.exec(text.trim());
  if (m === null || m[1] === undefined) return null;
  const sizes = m[1].split('-').map(Number);
  const { inputs, outputs } = widthsOf(data);
  if (sizes.length < 3 || isFullForm(sizes, inputs, outputs)) return null;
  const what = data.task === 'classification' ? 'classes' : 'targets';
  return `--model ${text.trim()} is read as hidden widths: the model is ${sizeModelToData(text, data)} for this data's ${inputs} inputs and ${outputs} ${what}; a full spec must start with ${inputs} or end with ${outputs}`;
}

const MLP = /^mlp(?::([0-9]+(?:-[0-9]+)*))?(?::(relu|tanh))?$/;

function widthsOf(data: Pick<DataShape, 'inputDim' | 'task' | 'numClasses' | 'targetDim'>): { inputs: number; outputs: number } {
  return { inputs: data.inputDim, outputs: data.task === 'classification' ? data.numClasses : data.targetDim };
}

/** A full spec names the input width first or the output count last (and has both: two sizes or more). */
function isFullForm(sizes: readonly number[], inputs: number, outputs: number): boolean {
  return sizes.length >= 2 && (sizes[0] === inputs || sizes[sizes.length - 1] === outputs);
}
