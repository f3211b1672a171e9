import type { Optimizer, OptimizerConfig, UpdateArgs } from './optimizer.js';
import { updateRange } from './range.js';

/**
 * torch.optim.Adam (L2 coupled into the gradient) and torch.optim.AdamW (decoupled decay,
 * Loshchilov & Hutter 2019), amsgrad off:
 *   adamw: p *= 1 - lr·wd, then Adam with wd = 0
 *   g = s·grad + wd·p
 *   m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
 *   p -= (lr / (1-β1^t)) · m / (sqrt(v) / sqrt(1-β2^t) + eps)     (PyTorch's evaluation order)
 */
export class AdamOptimizer implements Optimizer {
  readonly config: Readonly<OptimizerConfig>;
  readonly state: Readonly<Record<string, Float32Array>>;
  readonly #numParams: number;
  readonly #m: Float32Array;
  readonly #v: Float32Array;

  constructor(config: Readonly<OptimizerConfig>, numParams: number, allocate: (name: string) => Float32Array) {
    this.config = config;
    this.#numParams = numParams;
    this.#m = allocate('exp_avg');
    this.#v = allocate('exp_avg_sq');
    this.state = Object.freeze({ exp_avg: this.#m, exp_avg_sq: this.#v });
  }

  update(params: Float32Array, grad: Float32Array, args: UpdateArgs): void {
    const [start, end] = updateRange(this.#numParams, params, grad, args);
    const { lr, gradScale: s, t } = args;
    if (!Number.isSafeInteger(t) || t < 1) {
      throw new RangeError(`Adam's update number t must be an integer >= 1 (got ${t})`);
    }
    const { beta1, beta2, eps, weightDecay } = this.config;
    const decoupled = this.config.name === 'adamw';
    const decay = decoupled ? 1 - lr * weightDecay : 1;
    const l2 = decoupled ? 0 : weightDecay;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    const m = this.#m;
    const v = this.#v;
    for (let i = start; i < end; i++) {
      const p = params[i];
      const g = s * grad[i] + l2 * p;
      // The moments are float32 state, as in PyTorch; the update uses the stored values.
      const mi = Math.fround(beta1 * m[i] + (1 - beta1) * g);
      const vi = Math.fround(beta2 * v[i] + (1 - beta2) * g * g);
      m[i] = mi;
      v[i] = vi;
      params[i] = p * decay - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
    }
  }
}
