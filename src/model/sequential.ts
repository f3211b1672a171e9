/**
 * The library's way to build a layer model (docs/models.md#library), Keras-like:
 *   sequential([conv2d({ filters: 32, kernel: 3, padding: 1 }), relu(), maxPool2d({ kernel: 2 }), flatten(), dense({ units: 10 })], { input: [1, 28, 28] })
 * returns a LayerModelSpec whose `text` is the `cnn:` spec (what `train({ model })` takes).
 */
import { parseModelFile } from './json-spec.js';
import type { BatchNormLayer, LayerNormLayer, ActivationLayer, Conv2dLayer, DenseLayer, DropoutLayer, FlattenLayer, GlobalAvgPoolLayer, LayerSpec, Pool2dLayer } from './layers.js';
import { layerModelSpec, type LayerModelSpec, type LossKind } from './spec.js';

/** A dense (nn.Linear) layer; bias defaults to true. */
export function dense(options: { units: number; bias?: boolean }): DenseLayer {
  return { type: 'dense', units: options.units, bias: options.bias ?? true };
}

/** A 2-D convolution; stride 1, padding 0 and bias true by default. */
export function conv2d(options: { filters: number; kernel: number; stride?: number; padding?: number; bias?: boolean }): Conv2dLayer {
  return { type: 'conv2d', filters: options.filters, kernel: options.kernel, stride: options.stride ?? 1, padding: options.padding ?? 0, bias: options.bias ?? true };
}

/** Max pooling; the stride defaults to the kernel (PyTorch). */
export function maxPool2d(options: { kernel: number; stride?: number; padding?: number }): Pool2dLayer {
  return { type: 'maxpool2d', kernel: options.kernel, stride: options.stride ?? options.kernel, padding: options.padding ?? 0 };
}

/** Average pooling (padding counted as zeros); the stride defaults to the kernel. */
export function avgPool2d(options: { kernel: number; stride?: number; padding?: number }): Pool2dLayer {
  return { type: 'avgpool2d', kernel: options.kernel, stride: options.stride ?? options.kernel, padding: options.padding ?? 0 };
}

export function globalAvgPool(): GlobalAvgPoolLayer {
  return { type: 'globalavgpool' };
}
export function flatten(): FlattenLayer {
  return { type: 'flatten' };
}
export function relu(): ActivationLayer {
  return { type: 'relu' };
}
export function tanh(): ActivationLayer {
  return { type: 'tanh' };
}
export function gelu(): ActivationLayer {
  return { type: 'gelu' };
}
/** Layer normalization over a flat input (nn.LayerNorm(D)). */
export function layerNorm(): LayerNormLayer {
  return { type: 'layernorm' };
}

/** Batch normalization (nn.BatchNorm1d on a flat input, nn.BatchNorm2d on an image; docs/models.md#batchnorm). */
export function batchNorm(): BatchNormLayer {
  return { type: 'batchnorm' };
}

/** Inverted dropout with drop probability `rate` (default 0.5). */
export function dropout(rate = 0.5): DropoutLayer {
  return { type: 'dropout', rate };
}

/**
 * A layer model from its layers and input shape ([C, H, W] or [D]); loss defaults to softmax
 * cross-entropy. Checked like a JSON model file: a bad option throws ModelError naming it.
 */
export function sequential(layers: LayerSpec[], options: { input: number[]; loss?: LossKind }): LayerModelSpec {
  const checked = parseModelFile({ input: options.input, layers, loss: options.loss ?? 'softmax-cross-entropy' }, 'sequential()');
  return layerModelSpec(checked.input, checked.layers, checked.loss);
}
