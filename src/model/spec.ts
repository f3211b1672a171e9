/**
 * Model specs (design.md §4): `mlp:784-256-128-10`, `mlp:784-256-10:tanh`, `logreg:784-10`,
 * `linreg:13-1`. Parsing is the boundary: everything after it may trust a ModelSpec.
 */
import { ModelError, shown } from '../errors.js';

export type ModelKind = 'mlp' | 'logreg' | 'linreg';
export type Activation = 'relu' | 'tanh' | 'identity';
export type LossKind = 'softmax-cross-entropy' | 'mse';

export interface ModelSpec {
  /** Canonical text: `mlp:784-256-10`, `mlp:784-256-10:tanh`, `logreg:784-10`, `linreg:13-1`. */
  text: string;
  kind: ModelKind;
  /** Layer widths, input first, output last (at least 2). */
  sizes: number[];
  /** Hidden-layer activation; 'identity' for logreg and linreg (no hidden layers). */
  activation: Activation;
  loss: LossKind;
}

/** Largest accepted layer width. */
export const MAX_LAYER_SIZE = 1_000_000;

const EXAMPLES = 'use mlp:784-256-128-10, mlp:IN-H-OUT:tanh, logreg:IN-CLASSES or linreg:IN-OUT';

/**
 * Parses a model spec. Throws ModelError `dptrain.model.unknownSpec` for an unknown kind and
 * `dptrain.model.badSpec` for bad sizes or extra parts, with a message naming the problem.
 */
export function parseModelSpec(text: string): ModelSpec {
  const given = String(text).trim();
  const parts = given.split(':');
  const kind = parts[0];
  if (kind !== 'mlp' && kind !== 'logreg' && kind !== 'linreg') {
    throw new ModelError('unknownSpec', `unknown model spec ${shown(given)} — ${EXAMPLES}`);
  }
  const bad = (what: string): ModelError =>
    new ModelError('badSpec', `bad model spec ${shown(given)}: ${what} — ${EXAMPLES}`);

  if (parts.length < 2 || parts[1] === '') throw bad(`${kind} needs layer sizes, e.g. ${kind}:${kind === 'linreg' ? '13-1' : '784-10'}`);
  const maxParts = kind === 'mlp' ? 3 : 2;
  if (parts.length > maxParts) {
    throw bad(
      kind === 'mlp'
        ? `unexpected part ${shown(parts.slice(3).join(':'))} after the activation`
        : `${kind} takes no activation or other part after its sizes (got ${shown(parts.slice(2).join(':'))})`,
    );
  }

  const sizes = parts[1].split('-').map((field, index) => {
    if (!/^[0-9]+$/.test(field)) {
      throw bad(`layer size ${index + 1} (${shown(field)}) is not a positive integer`);
    }
    const size = Number(field);
    if (size < 1 || size > MAX_LAYER_SIZE) {
      throw bad(`layer size ${index + 1} (${field}) must be between 1 and ${MAX_LAYER_SIZE}`);
    }
    return size;
  });

  let activation: Activation = 'identity';
  if (kind === 'mlp') {
    if (sizes.length < 2) throw bad(`mlp needs at least 2 sizes (inputs and classes), got ${sizes.length}`);
    const name = parts.length === 3 ? parts[2] : 'relu';
    if (name !== 'relu' && name !== 'tanh') throw bad(`unknown activation ${shown(name)} (use relu or tanh)`);
    activation = name;
  } else if (sizes.length !== 2) {
    throw bad(`${kind} needs exactly 2 sizes (${kind === 'logreg' ? 'inputs and classes' : 'inputs and outputs'}), got ${sizes.length}`);
  }

  const loss: LossKind = kind === 'linreg' ? 'mse' : 'softmax-cross-entropy';
  const outputs = sizes[sizes.length - 1];
  // A softmax over one class has loss 0 and gradient 0 whatever the parameters.
  if (loss === 'softmax-cross-entropy' && outputs < 2) {
    throw bad(`${kind} needs at least 2 classes, got ${outputs}`);
  }

  const canonical = `${kind}:${sizes.join('-')}${activation === 'tanh' ? ':tanh' : ''}`;
  return { text: canonical, kind, sizes, activation, loss };
}
