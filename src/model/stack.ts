/**
 * The layer stack of any model spec: each layer with its input and output shapes, its
 * parameter tensors' names, and the shapes checked. The dense forms (mlp, logreg, linreg) become
 * dense + activation stacks whose tensors keep their original names (`layers.{i}` counts dense
 * layers only); layer models name each tensor by the layer's position, like a PyTorch
 * `nn.Sequential` held in an attribute `layers` (`layers.0.weight`, `layers.3.weight`, ...).
 */
import { ModelError } from '../errors.js';
import { layerOutputShape, layerParams, layerToken, shapeSize, shapeText, type LayerParam, type LayerSpec } from './layers.js';
import type { LossKind, ModelSpec } from './spec.js';

export interface StackLayer {
  layer: LayerSpec;
  /** Prefix of this layer's tensor names, e.g. `layers.3`. */
  name: string;
  inShape: number[];
  outShape: number[];
  params: LayerParam[];
}

export interface LayerStack {
  inputShape: number[];
  layers: StackLayer[];
  /** Width of the model's output (logits or regression outputs). */
  outputDim: number;
  loss: LossKind;
}

/** The layer stack of `spec`; throws ModelError (`badShape`, `badSpec`) when the shapes do not fit. */
export function buildStack(spec: ModelSpec): LayerStack {
  let layers: LayerSpec[];
  let inputShape: number[];
  let names: string[];
  if (spec.kind === 'cnn') {
    layers = spec.layers;
    inputShape = spec.inputShape;
    names = layers.map((_, i) => `layers.${i}`);
  } else {
    layers = [];
    names = [];
    inputShape = [spec.sizes[0]];
    for (let i = 1; i < spec.sizes.length; i++) {
      layers.push({ type: 'dense', units: spec.sizes[i], bias: true });
      names.push(`layers.${i - 1}`);
      if (i + 1 < spec.sizes.length && spec.activation !== 'identity') {
        layers.push({ type: spec.activation });
        names.push(`layers.${i - 1}.act`);
      }
    }
  }
  const file = spec.kind === 'cnn' ? spec.file : undefined;
  const stack: StackLayer[] = [];
  let shape = inputShape;
  layers.forEach((layer, i) => {
    const outShape = layerOutputShape(layer, shape, i, inputShape, file);
    stack.push({ layer, name: names[i], inShape: shape, outShape, params: layerParams(layer, shape) });
    shape = outShape;
  });
  if (file !== undefined) checkFileStack(file, shape, spec.loss, stack);
  if (shape.length !== 1) {
    throw new ModelError('badShape', `model ${spec.text} ends with ${shapeText(shape)}, not a flat vector — end it with flatten (or gap) and a dense layer, e.g. ... flatten dense10`);
  }
  if (spec.loss === 'softmax-cross-entropy' && shape[0] < 2) {
    throw new ModelError('badSpec', `model ${spec.text} ends with ${shape[0]} output, a classifier needs at least 2 classes — end it with denseCLASSES, or add mse as the last token for regression`);
  }
  if (!stack.some((l) => l.params.length > 0)) {
    throw new ModelError('badSpec', `model ${spec.text} has no layer with parameters (${layers.map(layerToken).join(' ')}) — add a dense or conv layer`);
  }
  return { inputShape: inputShape.slice(), layers: stack, outputDim: shape[0], loss: spec.loss };
}

/** buildStack's checks of the whole stack, for a model read from JSON `file`: in its terms. */
function checkFileStack(file: string, shape: number[], loss: LossKind, stack: StackLayer[]): void {
  if (shape.length !== 1) {
    throw new ModelError('badShape', `in ${file}, the layers end with ${shapeText(shape)}, not a flat vector — end "layers" with {"type": "flatten"} (or globalavgpool) and {"type": "dense", "units": N}`);
  }
  if (loss === 'softmax-cross-entropy' && shape[0] < 2) {
    throw new ModelError('badSpec', `in ${file}, the layers end with ${shape[0]} output, and a classifier needs at least 2 classes — end them with {"type": "dense", "units": CLASSES}, or set "loss": "mse" for regression`);
  }
  if (!stack.some((l) => l.params.length > 0)) {
    throw new ModelError('badSpec', `in ${file}, no layer has parameters — add a dense or conv2d layer`);
  }
}

/** Elements per sample of the model's input. */
export function inputSize(spec: ModelSpec): number {
  return spec.kind === 'cnn' ? shapeSize(spec.inputShape) : spec.sizes[0];
}

/** Per-sample input shape of the model ([D] for the dense forms). */
export function inputShapeOf(spec: ModelSpec): number[] {
  return spec.kind === 'cnn' ? spec.inputShape.slice() : [spec.sizes[0]];
}

/** Width of the model's output. */
export function outputSize(spec: ModelSpec): number {
  return spec.kind === 'cnn' ? buildStack(spec).outputDim : spec.sizes[spec.sizes.length - 1];
}

/**
 * The warning for a layer model whose output layer (its last dense) is followed by a layer that
 * undoes the outputs: an activation after a classifier's logits (ReLU and GELU clamp them near 0,
 * tanh squeezes them into [−1, 1]), or dropout after any outputs (it zeroes random class scores or
 * targets in training); null when there is none. A regression model may mean an activation there
 * (a bound on its outputs); flatten, bn and layernorm are left alone: they keep the outputs' range.
 */
export function outputLayerWarning(spec: ModelSpec): string | null {
  if (spec.kind !== 'cnn') return null;
  const last = spec.layers.map((l) => l.type).lastIndexOf('dense');
  if (last < 0) return null;
  const output = spec.layers[last];
  const classes = output.type === 'dense' ? output.units : 0;
  const classifier = spec.loss === 'softmax-cross-entropy';
  const why = (layer: LayerSpec): string | null => {
    if (layer.type === 'dropout') return classifier ? 'dropout zeroes random class scores in training' : 'dropout zeroes random outputs in training';
    if (!classifier) return null;
    if (layer.type === 'relu') return 'a ReLU clamps the logits at 0, so no class can score below 0 (be less likely than a 0 logit)';
    if (layer.type === 'gelu') return 'a GELU all but clamps the logits at 0 (none below −0.17)';
    // The most confident softmax over logits in [−1, 1]: e² / (e² + classes − 1).
    if (layer.type === 'tanh') return `tanh squeezes the logits into [−1, 1], so of ${classes} classes none gets a probability above ${(Math.E ** 2 / (Math.E ** 2 + classes - 1)).toFixed(2)}`;
    return null;
  };
  const after = spec.layers.map((layer, i) => ({ layer, i, why: why(layer) })).filter((a) => a.i > last && a.why !== null);
  if (after.length === 0) return null;
  const reasons = [...new Set(after.map((a) => a.why))].join('; ');
  const file = spec.file;
  if (file === undefined) {
    const names = after.map((a) => layerToken(a.layer)).join(' and ');
    return `model ${spec.text} has ${names} after its output layer ${layerToken(output)}: ${reasons} — end the model with the dense layer of the outputs: remove the ${names} after ${layerToken(output)}`;
  }
  const places = after.map((a) => `layers[${a.i}] (${a.layer.type})`).join(' and ');
  return `in ${file}, ${places} ${after.length === 1 ? 'comes' : 'come'} after the output layer layers[${last}] (dense): ${reasons} — end "layers" with the {"type": "dense"} of the outputs: remove ${after.map((a) => `layers[${a.i}]`).join(' and ')}`;
}
