/**
 * Model specs (docs/models.md): the dense forms `mlp:784-256-128-10`, `mlp:784-256-10:tanh`,
 * `logreg:784-10`, `linreg:13-1`; layer stacks `cnn:1x28x28 conv32k3p1 relu maxpool2 flatten dense10`;
 * the presets `lenet5` and `cnn-mnist`; and `./net.json` files (json-spec.ts). Parsing is the
 * boundary: everything after it may trust a ModelSpec.
 */
import { ModelError, shown } from '../errors.js';
import { readModelFile, isModelFilePath } from './json-spec.js';
import { layerToken, MAX_DIM, shapeText, type LayerSpec } from './layers.js';
import { buildStack } from './stack.js';

export type ModelKind = 'mlp' | 'logreg' | 'linreg' | 'cnn';
export type Activation = 'relu' | 'tanh' | 'identity';
export type LossKind = 'softmax-cross-entropy' | 'mse';

/** A dense model of the original forms: widths and one hidden activation. */
export interface DenseModelSpec {
  /** Canonical text: `mlp:784-256-10`, `mlp:784-256-10:tanh`, `logreg:784-10`, `linreg:13-1`. */
  text: string;
  kind: 'mlp' | 'logreg' | 'linreg';
  /** Layer widths, input first, output last (at least 2). */
  sizes: number[];
  /** Hidden-layer activation; 'identity' for logreg and linreg (no hidden layers). */
  activation: Activation;
  loss: LossKind;
}

/** A sequence of layers (the `cnn:` grammar, presets, JSON files, `sequential()`). */
export interface LayerModelSpec {
  /** Canonical text in the `cnn:` grammar; parsing it gives this spec back. */
  text: string;
  kind: 'cnn';
  /** Per-sample input shape: [C, H, W] or [D]. */
  inputShape: number[];
  layers: LayerSpec[];
  loss: LossKind;
  /** The JSON file it was read from (--model net.json), as given: its messages name the file and speak its terms. */
  file?: string;
}

export type ModelSpec = DenseModelSpec | LayerModelSpec;

/** Largest accepted layer width. */
export const MAX_LAYER_SIZE = 1_000_000;

const EXAMPLES = 'use mlp:784-256-128-10, mlp:IN-H-OUT:tanh, logreg:IN-CLASSES, linreg:IN-OUT, cnn:1x28x28 conv32k3p1 relu maxpool2 flatten dense10, lenet5, cnn-mnist or ./net.json';

/** Named models (docs/models.md#presets). cnn-mnist is workload W4 (421,642 parameters). */
export const MODEL_PRESETS: Readonly<Record<string, string>> = Object.freeze({
  lenet5: 'cnn:1x28x28 conv6k5p2 tanh avgpool2 conv16k5 tanh avgpool2 flatten dense120 tanh dense84 tanh dense10',
  'cnn-mnist': 'cnn:1x28x28 conv32k3p1 relu maxpool2 conv64k3p1 relu maxpool2 flatten dense128 relu dense10',
});

/**
 * Parses a model spec. Throws ModelError `dptrain.model.unknownSpec` for an unknown kind,
 * `dptrain.model.badSpec` for bad sizes, tokens or extra parts, `dptrain.model.badShape` for a
 * layer that cannot take its input, and `dptrain.model.badModelFile` for a bad JSON file.
 */
export function parseModelSpec(text: `${string}${'mlp' | 'logreg' | 'linreg'}:${string}`): DenseModelSpec;
export function parseModelSpec(text: string): ModelSpec;
export function parseModelSpec(text: string): ModelSpec {
  const given = String(text).trim();
  const preset = MODEL_PRESETS[given];
  if (preset !== undefined) return parseLayerSpec(preset);
  if (isModelFilePath(given)) {
    const file = readModelFile(given);
    return layerModelSpec(file.input, file.layers, file.loss, given);
  }
  if (given.startsWith('cnn:')) return parseLayerSpec(given);
  return parseDenseSpec(given);
}

/** A layer model from its parts (checks shapes); the text is its canonical `cnn:` form; `file`: the JSON file it was read from. */
export function layerModelSpec(inputShape: number[], layers: LayerSpec[], loss: LossKind = 'softmax-cross-entropy', file?: string): LayerModelSpec {
  const tokens = [shapeText(inputShape), ...layers.map(layerToken)];
  if (loss === 'mse') tokens.push('mse');
  const spec: LayerModelSpec = { text: `cnn:${tokens.join(' ')}`, kind: 'cnn', inputShape: inputShape.slice(), layers: layers.map((l) => ({ ...l })), loss, ...(file !== undefined && { file }) };
  buildStack(spec); // throws on shapes that do not fit
  return spec;
}

const LAYER_EXAMPLE = 'e.g. cnn:1x28x28 conv32k3p1 relu maxpool2 flatten dense128 relu dense10';
const TOKENS = 'denseN, convNkK[sS][pP], maxpoolK[sS][pP], avgpoolK[sS][pP], gap, flatten, relu, tanh, gelu, layernorm, bn, dropout[R] (R 0.5 if left out), and mse last for regression';

function parseLayerSpec(given: string): LayerModelSpec {
  const tokens = given.slice('cnn:'.length).trim().split(/\s+/).filter((t) => t !== '');
  const bad = (what: string): ModelError => new ModelError('badSpec', `bad model spec ${shown(given)}: ${what} — ${LAYER_EXAMPLE}`);
  if (tokens.length === 0) throw bad('it needs an input shape and layers');
  const inputShape = parseShape(tokens[0], bad);
  let loss: LossKind = 'softmax-cross-entropy';
  let body = tokens.slice(1);
  if (body[body.length - 1] === 'mse') {
    loss = 'mse';
    body = body.slice(0, -1);
  }
  if (body.length === 0) throw bad('it has no layers after the input shape');
  const layers = body.map((token, i) => parseLayerToken(token, i, bad));
  return layerModelSpec(inputShape, layers, loss);
}

function parseShape(token: string, bad: (what: string) => ModelError): number[] {
  if (!/^[0-9]+(x[0-9]+){0,2}$/.test(token) || token.split('x').length === 2) {
    throw bad(`the first token ${shown(token)} must be the input shape, CxHxW (e.g. 1x28x28) or a width (e.g. 784)`);
  }
  const dims = token.split('x').map(Number);
  for (const d of dims) if (d < 1 || d > MAX_DIM) throw bad(`input shape ${token} has a dimension outside 1..${MAX_DIM}`);
  return dims;
}

/** One layer token of the `cnn:` grammar (docs/models.md has the table). */
function parseLayerToken(token: string, index: number, bad: (what: string) => ModelError): LayerSpec {
  const where = `layer ${index + 1} (${shown(token)})`;
  const count = (field: string | undefined, what: string, min: number, fallback: number): number => {
    if (field === undefined) return fallback;
    const v = Number(field);
    if (!(v >= min && v <= MAX_DIM)) throw bad(`${where} has ${what} ${field}; it must be between ${min} and ${MAX_DIM}`);
    return v;
  };
  let m: RegExpExecArray | null;
  if ((m = /^dense([0-9]+)(nobias)?$/.exec(token))) {
    return { type: 'dense', units: count(m[1], 'units', 1, 1), bias: m[2] === undefined };
  }
  if ((m = /^conv([0-9]+)k([0-9]+)(?:s([0-9]+))?(?:p([0-9]+))?(nobias)?$/.exec(token))) {
    return {
      type: 'conv2d',
      filters: count(m[1], 'filters', 1, 1),
      kernel: count(m[2], 'kernel', 1, 1),
      stride: count(m[3], 'stride', 1, 1),
      padding: count(m[4], 'padding', 0, 0),
      bias: m[5] === undefined,
    };
  }
  if ((m = /^(maxpool|avgpool)([0-9]+)(?:s([0-9]+))?(?:p([0-9]+))?$/.exec(token))) {
    const kernel = count(m[2], 'kernel', 1, 1);
    return {
      type: m[1] === 'maxpool' ? 'maxpool2d' : 'avgpool2d',
      kernel,
      stride: count(m[3], 'stride', 1, kernel),
      padding: count(m[4], 'padding', 0, 0),
    };
  }
  // `dropout` alone is PyTorch's nn.Dropout() and the JSON format's default rate; canonical text prints it (dropout0.5).
  if ((m = /^dropout([0-9]*\.?[0-9]+)?$/.exec(token))) {
    const rate = m[1] === undefined ? 0.5 : Number(m[1]);
    if (!(rate >= 0 && rate < 1)) throw bad(`${where}: the dropout rate must be at least 0 and below 1, e.g. dropout0.25`);
    return { type: 'dropout', rate };
  }
  if (token === 'gap') return { type: 'globalavgpool' };
  if (token === 'bn' || token === 'batchnorm') return { type: 'batchnorm' };
  if (token === 'flatten' || token === 'relu' || token === 'tanh' || token === 'gelu' || token === 'layernorm') return { type: token };
  if (token === 'mse') throw bad(`${where}: mse (the regression loss) can only be the last token`);
  const missing = missingSize(token);
  if (missing !== null) throw bad(`${where} ${missing}`);
  throw bad(`unknown ${where}; the layer tokens are ${TOKENS}`);
}

/** What a known layer name typed without its size needs (`dense`, `conv8`, `maxpool`), or null. */
function missingSize(token: string): string | null {
  let m: RegExpExecArray | null;
  if (/^dense(nobias)?$/.test(token)) return 'needs its units, e.g. dense64';
  if ((m = /^conv([0-9]+)(?:s[0-9]+)?(?:p[0-9]+)?(nobias)?$/.exec(token))) return `needs its kernel size, e.g. conv${m[1]}k3`;
  if ((m = /^conv(k[0-9]+)?(?:s[0-9]+)?(?:p[0-9]+)?(nobias)?$/.exec(token))) return m[1] === undefined ? 'needs its filters and kernel size, e.g. conv8k3' : `needs its filters, e.g. conv8${m[1]}`;
  if ((m = /^(maxpool|avgpool)(?:s[0-9]+)?(?:p[0-9]+)?$/.exec(token))) return `needs its kernel size, e.g. ${m[1]}2`;
  return null;
}

function parseDenseSpec(given: string): DenseModelSpec {
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
