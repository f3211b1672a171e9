import type { Optimizer, OptimizerConfig, UpdateArgs } from './optimizer.js';
import { updateRange } from './range.js';

/**
 * torch.optim.SGD with dampening 0:
 *   g = s·grad + wd·p       (the wd·p term only with weight decay, as PyTorch)
 *   momentum:  buf = μ·buf + g   (buf starts at 0, which equals PyTorch's first-step buf = g)
 *              g = nesterov ? g + μ·buf : buf
 *   p -= lr·g
 */
export class SgdOptimizer implements Optimizer {
  readonly config: Readonly<OptimizerConfig>;
  readonly state: Readonly<Record<string, Float32Array>>;
  readonly #numParams: number;
  readonly #buf: Float32Array | null;

  constructor(config: Readonly<OptimizerConfig>, numParams: number, allocate: (name: string) => Float32Array) {
    this.config = config;
    this.#numParams = numParams;
    this.#buf = config.momentum > 0 ? allocate('momentum_buffer') : null;
    const state: Record<string, Float32Array> = this.#buf === null ? {} : { momentum_buffer: this.#buf };
    this.state = Object.freeze(state);
  }

  update(params: Float32Array, grad: Float32Array, args: UpdateArgs): void {
    const [start, end] = updateRange(this.#numParams, params, grad, args);
    const { lr, gradScale: s } = args;
    const { weightDecay: wd, momentum: mu, nesterov } = this.config;
    const buf = this.#buf;
    // One loop per variant keeps the hot loops branch-free (the decay test is loop-invariant).
    // Without weight decay wd·p is not added: x + 0·p differs from x for x = -0 or p infinite,
    // and the wasm kernels (asm/collective.ts) skip it too.
    const decay = wd !== 0;
    if (buf === null) {
      for (let i = start; i < end; i++) {
        const p = params[i];
        params[i] = p - lr * (decay ? s * grad[i] + wd * p : s * grad[i]);
      }
    } else if (nesterov) {
      for (let i = start; i < end; i++) {
        const p = params[i];
        const g = decay ? s * grad[i] + wd * p : s * grad[i];
        const b = Math.fround(mu * buf[i] + g); // the buffer is float32 state, as in PyTorch
        buf[i] = b;
        params[i] = p - lr * (g + mu * b);
      }
    } else {
      for (let i = start; i < end; i++) {
        const p = params[i];
        const b = Math.fround(decay ? mu * buf[i] + s * grad[i] + wd * p : mu * buf[i] + s * grad[i]);
        buf[i] = b;
        params[i] = p - lr * b;
      }
    }
  }
}
