/**
 * Parameter initialization, seeded: draws from `new Rng(seed, 'init')` in layout order.
 *
 * - Weights of a layer followed by ReLU: He/Kaiming normal, std = sqrt(2 / fan_in)
 *   (He et al. 2015; keeps activation variance constant through ReLU layers).
 * - Weights of the output layer and of tanh layers (and logreg/linreg): Glorot/Xavier uniform,
 *   U(±sqrt(6 / (fan_in + fan_out))) (Glorot & Bengio 2010).
 * - Biases: zero (no draws).
 */
import { Rng } from '../util/rng.js';
import { floatArrayOf, type Dtype, type FloatArray } from '../util/float.js';
import { paramLayout } from './layout.js';
import type { ModelSpec } from './spec.js';

/** A fresh flat parameter array for `spec` (see paramLayout), in `dtype` (default float32). */
export function initParams(spec: ModelSpec, seed: number, dtype: Dtype = 'float32'): FloatArray {
  const layout = paramLayout(spec);
  const params = new (floatArrayOf(dtype))(layout.size);
  const rng = new Rng(seed, 'init');
  const layers = spec.sizes.length - 1;
  for (let i = 0; i < layers; i++) {
    const fanIn = spec.sizes[i];
    const fanOut = spec.sizes[i + 1];
    const weight = layout.tensors[2 * i];
    const end = weight.offset + weight.size;
    const isHidden = i + 1 < layers;
    if (isHidden && spec.activation === 'relu') {
      const std = Math.sqrt(2 / fanIn);
      for (let k = weight.offset; k < end; k++) params[k] = std * rng.normal();
    } else {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let k = weight.offset; k < end; k++) params[k] = limit * (2 * rng.next() - 1);
    }
    // Bias stays zero.
  }
  return params;
}
