import type { Optimizer, OptimizerConfig, UpdateArgs } from './optimizer.js';
import { updateRange } from './range.js';

/**
 * torch.optim.SGD with dampening 0:
 *   g = s·grad + wd·p       (the wd·p term only with weight decay, as PyTorch)
 *   momentum:  buf = μ·buf + g   (buf starts at 0, which equals PyTorch's first-step buf = g)
 *              g = nesterov ? g + μ·buf : buf
 *   p -= lr·g
 * in float32, as PyTorch updates float32 parameters (each operation rounded, none fused).
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
    // float32 arithmetic, every operation rounded (fround of a float64 product or sum of float32
    // values is the float32 result), in the order of the wasm kernels (asm/collective.ts).
    const f = Math.fround;
    const lr = f(args.lr);
    const s = f(args.gradScale);
    const wd = f(this.config.weightDecay);
    const mu = f(this.config.momentum);
    const { nesterov } = this.config;
    const buf = this.#buf;
    // Without weight decay wd·p is not added (x + 0·p differs from x for x = -0 or p infinite).
    const decay = wd !== 0;
    // One loop per variant keeps the hot loops branch-free (the decay test is loop-invariant).
    if (buf === null) {
      for (let i = start; i < end; i++) {
        const p = params[i];
        const g = decay ? f(f(s * grad[i]) + f(wd * p)) : f(s * grad[i]);
        params[i] = p - f(lr * g);
      }
    } else if (nesterov) {
      for (let i = start; i < end; i++) {
        const p = params[i];
        const g = decay ? f(f(s * grad[i]) + f(wd * p)) : f(s * grad[i]);
        const b = f(f(mu * buf[i]) + g);
        buf[i] = b;
        params[i] = p - f(lr * f(g + f(mu * b)));
      }
    } else {
      for (let i = start; i < end; i++) {
        const p = params[i];
        const g = decay ? f(f(s * grad[i]) + f(wd * p)) : f(s * grad[i]);
        const b = f(f(mu * buf[i]) + g);
        buf[i] = b;
        params[i] = p - f(lr * b);
      }
    }
  }
}
