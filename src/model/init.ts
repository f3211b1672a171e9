/**
 * Parameter initialization, seeded: draws from `new Rng(seed, 'init')` in layout order.
 *
 * - Weights of a layer followed by ReLU, directly or through a BatchNorm: He/Kaiming normal,
 *   std = sqrt(2 / fan_in) (He et al. 2015; keeps activation variance constant through ReLU layers).
 * - Other weights (the output layer, layers followed by tanh, GELU or nothing, logreg/linreg):
 *   Glorot/Xavier uniform, U(±sqrt(6 / (fan_in + fan_out))) (Glorot & Bengio 2010).
 *   For a convolution fan_in = in·kh·kw and fan_out = out·kh·kw, as PyTorch computes them.
 * - LayerNorm and BatchNorm: weight (scale) 1, bias 0, no draws, as PyTorch.
 * - Biases: zero (no draws).
 */
import { Rng } from '../util/rng.js';
import { floatArrayOf, type Dtype, type FloatArray } from '../util/float.js';
import { layoutOfStack } from './layout.js';
import type { ModelSpec } from './spec.js';
import { buildStack } from './stack.js';

/** A fresh flat parameter array for `spec` (see paramLayout), in `dtype` (default float32). */
export function initParams(spec: ModelSpec, seed: number, dtype: Dtype = 'float32'): FloatArray {
  const stack = buildStack(spec);
  const layout = layoutOfStack(stack);
  const params = new (floatArrayOf(dtype))(layout.size);
  const rng = new Rng(seed, 'init');
  let t = 0;
  stack.layers.forEach((layer, i) => {
    // conv/dense → bn → relu counts as followed by ReLU (the usual Keras choice for that block).
    const next = stack.layers[i + 1]?.layer.type === 'batchnorm' ? stack.layers[i + 2] : stack.layers[i + 1];
    const reluNext = next?.layer.type === 'relu';
    for (const p of layer.params) {
      const tensor = layout.tensors[t++];
      if (p.suffix !== 'weight') continue; // biases stay zero
      const end = tensor.offset + tensor.size;
      if (p.ones) {
        params.fill(1, tensor.offset, end); // a normalization's scale starts at 1 (no draws)
      } else if (reluNext) {
        const std = Math.sqrt(2 / p.fanIn);
        for (let k = tensor.offset; k < end; k++) params[k] = std * rng.normal();
      } else {
        const limit = Math.sqrt(6 / (p.fanIn + p.fanOut));
        for (let k = tensor.offset; k < end; k++) params[k] = limit * (2 * rng.next() - 1);
      }
    }
  });
  return params;
}
