/**
 * Layers as data (docs/models.md): what each layer is, the shape it produces from its input
 * shape, and the parameter tensors it owns (PyTorch names and layouts). The numeric work lives
 * in layer-ops.ts; parsing the spec grammar and JSON files in spec.ts and json-spec.ts.
 *
 * Shapes are PyTorch's per-sample shapes: [C, H, W] for images, [D] for flat vectors.
 */
import { ModelError } from '../errors.js';

/** A fully-connected layer, PyTorch `nn.Linear`: weight [units, in], bias [units]. */
export interface DenseLayer {
  type: 'dense';
  units: number;
  bias: boolean;
}

/** A 2-D convolution, PyTorch `nn.Conv2d` (NCHW): weight [filters, C, kernel, kernel], bias [filters]. */
export interface Conv2dLayer {
  type: 'conv2d';
  filters: number;
  kernel: number;
  stride: number;
  padding: number;
  bias: boolean;
}

/** Max or average pooling, PyTorch `nn.MaxPool2d` / `nn.AvgPool2d` (count_include_pad = True). */
export interface Pool2dLayer {
  type: 'maxpool2d' | 'avgpool2d';
  kernel: number;
  stride: number;
  padding: number;
}

/** Mean over H and W per channel: [C, H, W] -> [C] (Keras GlobalAveragePooling2D). */
export interface GlobalAvgPoolLayer {
  type: 'globalavgpool';
}

/** [C, H, W] -> [C·H·W] in PyTorch's (C, H, W) order. */
export interface FlattenLayer {
  type: 'flatten';
}

/** Element-wise activations; GELU is the exact (erf) form, PyTorch's default. */
export interface ActivationLayer {
  type: 'relu' | 'tanh' | 'gelu';
}

/** Inverted dropout: zeroes each unit with probability `rate` in training, identity in evaluation. */
export interface DropoutLayer {
  type: 'dropout';
  rate: number;
}

/** PyTorch nn.LayerNorm(D) over a flat input: weight (γ, starts at 1) and bias (β, starts at 0), ε = 1e-5. */
export interface LayerNormLayer {
  type: 'layernorm';
}

/**
 * PyTorch nn.BatchNorm1d(C) on a flat input [n, C] or nn.BatchNorm2d(C) on an image [n, C, H, W]
 * (statistics per channel over n, H and W): weight (γ, starts at 1), bias (β, 0), ε = 1e-5,
 * momentum 0.1, and the buffers running_mean, running_var and num_batches_tracked (buffers.ts).
 */
export interface BatchNormLayer {
  type: 'batchnorm';
}

export type LayerSpec =
  | BatchNormLayer
  | LayerNormLayer
  | DenseLayer
  | Conv2dLayer
  | Pool2dLayer
  | GlobalAvgPoolLayer
  | FlattenLayer
  | ActivationLayer
  | DropoutLayer;

export type LayerType = LayerSpec['type'];

/** How a weight is initialised (init.ts); biases are always zero. */
export type WeightInit = 'he-normal' | 'glorot-uniform';

/** One parameter tensor of a layer: its name suffix (`weight`, `bias`), shape and init. */
export interface LayerParam {
  suffix: 'weight' | 'bias';
  shape: number[];
  /** For weights: fan-in and fan-out (elements feeding one output, outputs fed by one input). */
  fanIn: number;
  fanOut: number;
  /** Starts at 1 instead of a random draw (a normalization's scale). */
  ones?: boolean;
}

/** Largest accepted size of any dimension, unit count or channel count. */
export const MAX_DIM = 1_000_000;

/** The spec-grammar token of a layer (canonical form; spec.ts parses it back). */
export function layerToken(layer: LayerSpec): string {
  switch (layer.type) {
    case 'dense':
      return `dense${layer.units}${layer.bias ? '' : 'nobias'}`;
    case 'conv2d': {
      const s = layer.stride === 1 ? '' : `s${layer.stride}`;
      const p = layer.padding === 0 ? '' : `p${layer.padding}`;
      return `conv${layer.filters}k${layer.kernel}${s}${p}${layer.bias ? '' : 'nobias'}`;
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const name = layer.type === 'maxpool2d' ? 'maxpool' : 'avgpool';
      const s = layer.stride === layer.kernel ? '' : `s${layer.stride}`;
      const p = layer.padding === 0 ? '' : `p${layer.padding}`;
      return `${name}${layer.kernel}${s}${p}`;
    }
    case 'globalavgpool':
      return 'gap';
    case 'flatten':
    case 'relu':
    case 'tanh':
    case 'gelu':
    case 'layernorm':
      return layer.type;
    case 'batchnorm':
      return 'bn';
    case 'dropout':
      return `dropout${layer.rate}`;
  }
}

/** Text of a shape as the grammar writes it: `1x28x28`, `784`. */
export function shapeText(shape: readonly number[]): string {
  return shape.join('x');
}

/** Output size of a window sweep: ⌊(size + 2·padding − kernel) / stride⌋ + 1 (PyTorch). */
export function windowOutput(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/**
 * The terms a layer model's messages speak: the `cnn:` grammar's (`layer 2 (dense10)`, `the first
 * token`), or those of the JSON file it was read from (`in net.json, layers[1] (dense)`).
 */
interface LayerTerms {
  /** The JSON file, or null for the grammar. */
  file: string | null;
  layer(layer: LayerSpec, position: number): string;
  flatten: string;
  gap: string;
}

/** The terms of a model read from JSON `file`, or of the grammar (file undefined). */
function termsOf(file: string | undefined): LayerTerms {
  if (file === undefined) return { file: null, layer: (layer, position) => `layer ${position + 1} (${layerToken(layer)})`, flatten: 'flatten', gap: 'gap' };
  return { file, layer: (layer, position) => `in ${file}, layers[${position}] (${layer.type})`, flatten: '{"type": "flatten"}', gap: '{"type": "globalavgpool"}' };
}

/**
 * The per-sample output shape of `layer` for input `shape`. Throws ModelError
 * `dptrain.model.badShape` naming the layer when the layer cannot take that input; `file`: the
 * JSON file the model was read from, whose terms the message speaks.
 */
export function layerOutputShape(layer: LayerSpec, shape: readonly number[], position: number, modelInput: readonly number[] = shape, file?: string): number[] {
  const terms = termsOf(file);
  const fail = (what: string): never => {
    throw new ModelError('badShape', `${terms.layer(layer, position)} ${what}`);
  };
  const needsImage = (): void => {
    if (shape.length === 3) return;
    const flat = file === undefined
      ? `the image became flat at a gap or flatten before it: remove this ${layerToken(layer)}, or move it before that gap/flatten`
      : `the image became flat at a globalavgpool or flatten layer before it: remove this ${layer.type}, or move it before that layer`;
    fail(`needs an image input CxHxW but gets ${shapeText(shape)} — ${modelInput.length === 3 ? flat : imageInputFix(shape[0], terms)}`);
  };
  switch (layer.type) {
    case 'dense':
      if (shape.length !== 1) fail(`needs a flat input but gets ${shapeText(shape)} — put ${terms.flatten} (or ${terms.gap}) before it`);
      return [layer.units];
    case 'conv2d':
    case 'maxpool2d':
    case 'avgpool2d': {
      needsImage();
      const [c, h, w] = shape;
      // PyTorch's rule for pools (a window of only padding has no maximum); convolutions take any padding.
      const most = Math.floor(layer.kernel / 2);
      if (layer.type !== 'conv2d' && 2 * layer.padding > layer.kernel) fail(`has padding ${layer.padding} larger than half its kernel ${layer.kernel} — use ${file === undefined ? `p${most}` : `"padding": ${most}`} or less`);
      const ho = windowOutput(h, layer.kernel, layer.stride, layer.padding);
      const wo = windowOutput(w, layer.kernel, layer.stride, layer.padding);
      if (ho < 1 || wo < 1) {
        fail(`shrinks its input ${shapeText(shape)} to nothing (kernel ${layer.kernel}, stride ${layer.stride}, padding ${layer.padding}) — use a smaller kernel or more padding, or remove a pooling layer`);
      }
      return [layer.type === 'conv2d' ? layer.filters : c, ho, wo];
    }
    case 'globalavgpool':
      needsImage();
      return [shape[0]];
    case 'flatten':
      return [shape.reduce((a, b) => a * b, 1)];
    case 'layernorm':
      if (shape.length !== 1) fail(`normalizes a flat input but gets ${shapeText(shape)} — put ${terms.flatten} before it`);
      return shape.slice();
    case 'batchnorm':
    case 'relu':
    case 'tanh':
    case 'gelu':
    case 'dropout':
      return shape.slice();
  }
}

/** How to give a flat input of `size` values as images: `1x28x28 (784 = 28×28)` for a square (or 3 squares), else CxHxW. */
function imageInputFix(size: number, terms: LayerTerms): string {
  const c = [1, 3].find((c) => size % c === 0 && Number.isInteger(Math.sqrt(size / c)));
  if (c === undefined) {
    return terms.file === null ? `give the input's image shape CxHxW (C·H·W = ${size}) as the first token, or in a .json file "input": [C, H, W]` : `set "input": [C, H, W], the image shape (C·H·W = ${size})`;
  }
  const side = Math.sqrt(size / c);
  const sum = `(${size} = ${c === 1 ? '' : `${c}×`}${side}×${side})`;
  return terms.file === null ? `give the input's image shape as the first token: ${c}x${side}x${side} ${sum}, or in a .json file "input": [${c}, ${side}, ${side}]` : `set "input": [${c}, ${side}, ${side}], the image shape ${sum}`;
}

/** The parameter tensors of `layer` for input `shape`, in the order they are stored. */
export function layerParams(layer: LayerSpec, shape: readonly number[]): LayerParam[] {
  switch (layer.type) {
    case 'dense': {
      const inDim = shape[0];
      const weight: LayerParam = { suffix: 'weight', shape: [layer.units, inDim], fanIn: inDim, fanOut: layer.units };
      return layer.bias ? [weight, { suffix: 'bias', shape: [layer.units], fanIn: 0, fanOut: 0 }] : [weight];
    }
    case 'conv2d': {
      const k2 = layer.kernel * layer.kernel;
      const inC = shape[0];
      const weight: LayerParam = { suffix: 'weight', shape: [layer.filters, inC, layer.kernel, layer.kernel], fanIn: inC * k2, fanOut: layer.filters * k2 };
      return layer.bias ? [weight, { suffix: 'bias', shape: [layer.filters], fanIn: 0, fanOut: 0 }] : [weight];
    }
    case 'layernorm':
    case 'batchnorm':
      return [
        { suffix: 'weight', shape: [shape[0]], fanIn: 0, fanOut: 0, ones: true },
        { suffix: 'bias', shape: [shape[0]], fanIn: 0, fanOut: 0 },
      ];
    default:
      return [];
  }
}

/** Elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
