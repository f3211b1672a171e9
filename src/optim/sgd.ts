import type { Optimizer, OptimizerConfig, UpdateArgs } from './optimizer.js';
import { updateRange } from './range.js';

/**
 * torch.optim.SGD with dampening 0:
 *   g = s·grad + wd·p
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
    // One loop per variant keeps the hot loops branch-free.
    if (buf === null) {
      for (let i = start; i < end; i++) {
        const p = params[i];
        params[i] = p - lr * (s * grad[i] + wd * p);
      }
    } else if (nesterov) {
      for (let i = start; i < end; i++) {
        const p = params[i];
        const g = s * grad[i] + wd * p;
        const b = Math.fround(mu * buf[i] + g); // the buffer is float32 state, as in PyTorch
        buf[i] = b;
        params[i] = p - lr * (g + mu * b);
      }
    } else {
      for (let i = start; i < end; i++) {
        const p = params[i];
        const b = Math.fround(mu * buf[i] + s * grad[i] + wd * p);
        buf[i] = b;
        params[i] = p - lr * b;
      }
    }
  }
}
