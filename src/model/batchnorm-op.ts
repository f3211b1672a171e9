/**
 * nn.BatchNorm1d / nn.BatchNorm2d as a layer op (docs/models.md#batchnorm). Rows are channels-last,
 * so both are the same [rows, C] computation (rows = n·H·W for an image). In training, statistics
 * cross rows: with `sync` the op yields its partial sums (forward: Σx, Σx², count; backward: Σdy,
 * Σdy·x̂) and resumes with the totals over the whole global batch; `local` normalizes over the
 * call's rows, `ghost` over each group of G consecutive samples. Evaluation uses the running
 * statistics (ctx.buffers).
 */
import { ModelError } from '../errors.js';
import { batchNormApply, batchNormGradSums, batchNormInputGrad, batchNormMoments, batchNormSums } from '../kernels/index.js';
import type { FloatArray } from '../util/float.js';
import { BN_EPS, type NormSlot } from './buffers.js';
import { BaseOp, maskDx, Scratch, type Allocate, type RunContext } from './op-base.js';
import type { StackLayer } from './stack.js';

export class BatchNormOp extends BaseOp {
  readonly #c: number;
  /** Rows per sample: H·W for an image, 1 for a flat input. */
  readonly #hw: number;
  readonly #slot: NormSlot;
  readonly #token: string;
  #xhat: Scratch;
  /** Per normalized group (one unless ghost): mean and 1/σ per channel. */
  #mean = new Float64Array(0);
  #rstd = new Float64Array(0);
  #partial: Float64Array;
  #gradSums: Float64Array;
  /** A following ReLU runs in this op's output pass (layer-ops.ts's gradient protocol). */
  #relu = false;

  constructor(s: StackLayer, slot: NormSlot) {
    super(s);
    this.#c = s.inShape[0];
    this.#hw = this.inWidth / this.#c;
    this.#slot = slot;
    this.#token = `layer ${slot.layer + 1} (bn, ${s.inShape.length === 3 ? 'BatchNorm2d' : 'BatchNorm1d'})`;
    this.#xhat = new Scratch(this.outWidth);
    this.#partial = new Float64Array(2 * this.#c + 1);
    this.#gradSums = new Float64Array(2 * this.#c);
  }

  override fuseRelu(): boolean {
    this.#relu = true;
    this.outputIsRelu = true;
    return true;
  }

  override reserve(rows: number, alloc: Allocate): void {
    this.#xhat.reserve(rows, alloc);
  }

  /** Samples per normalized group of a call of n samples, and the group count. */
  #groups(ctx: RunContext, n: number): { size: number; count: number } {
    const size = ctx.norm?.kind === 'ghost' ? ctx.norm.group : n;
    return { size, count: Math.ceil(n / size) };
  }

  #checkCount(count: number, where: string): void {
    if (count < 2) {
      throw new ModelError('bnBatch', `${this.#token} has 1 value per channel to normalize over (${where}), and a batch statistic needs at least 2 — use a larger batch${where.includes('ghost') ? ' or ghost group' : ''}, fewer workers, or --batchnorm sync`);
    }
  }

  forward(): void {
    throw new Error('BatchNormOp runs through forwardSteps');
  }

  backward(): void {
    throw new Error('BatchNormOp runs through backwardSteps');
  }

  *forwardSteps(ctx: RunContext, x: FloatArray, y: FloatArray, n: number, p: FloatArray[]): Generator<Float64Array, void, Float64Array> {
    const c = this.#c;
    const hw = this.#hw;
    if (!ctx.training) {
      const b = ctx.buffers!;
      const mean = new Float64Array(c);
      const rstd = new Float64Array(c);
      for (let ch = 0; ch < c; ch++) {
        mean[ch] = b[this.#slot.offset + ch];
        rstd[ch] = 1 / Math.sqrt(b[this.#slot.offset + c + ch] + BN_EPS);
      }
      batchNormApply(x, y, null, 0, n * hw, c, mean, rstd, p[0], p[1], this.#relu);
      return;
    }
    const xhat = this.#xhat.array;
    const at = this.#slot.statsOffset;
    const stats = ctx.stats!;
    const kind = ctx.norm?.kind ?? 'local';
    const partial = this.#partial;
    partial.fill(0);
    batchNormSums(x, 0, n * hw, c, partial);
    const groups = this.#groups(ctx, n);
    if (this.#mean.length < groups.count * c) {
      this.#mean = new Float64Array(groups.count * c);
      this.#rstd = new Float64Array(groups.count * c);
    }
    if (kind === 'sync') {
      const totals = yield partial;
      stats.set(totals.subarray(0, 2 * c + 1), at);
      this.#checkCount(totals[2 * c], 'over the global batch');
      batchNormMoments(totals, 0, c, BN_EPS, this.#mean, this.#rstd);
      batchNormApply(x, y, xhat, 0, n * hw, c, this.#mean, this.#rstd, p[0], p[1], this.#relu);
      return;
    }
    stats.set(partial, at);
    const sums = new Float64Array(2 * c + 1);
    for (let g = 0; g < groups.count; g++) {
      const r0 = g * groups.size * hw;
      const r1 = Math.min(n, (g + 1) * groups.size) * hw;
      sums.fill(0);
      batchNormSums(x, r0, r1, c, sums);
      this.#checkCount(r1 - r0, kind === 'ghost' ? `a ghost batch of ${r1 / hw - r0 / hw} sample(s)` : `a shard of ${n} sample(s)`);
      const mean = this.#mean.subarray(g * c, (g + 1) * c);
      const rstd = this.#rstd.subarray(g * c, (g + 1) * c);
      batchNormMoments(sums, 0, c, BN_EPS, mean, rstd);
      batchNormApply(x, y, xhat, r0, r1, c, mean, rstd, p[0], p[1], this.#relu);
    }
  }

  *backwardSteps(ctx: RunContext, _x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number, p: FloatArray[], g: FloatArray[]): Generator<Float64Array, void, Float64Array> {
    const c = this.#c;
    const hw = this.#hw;
    const xhat = this.#xhat.array;
    const sums = this.#gradSums;
    sums.fill(0);
    batchNormGradSums(dy, xhat, 0, n * hw, c, sums);
    // The parameter gradients are this call's own sums (the all-reduce adds the workers').
    for (let ch = 0; ch < c; ch++) {
      g[0][ch] += sums[c + ch];
      g[1][ch] += sums[ch];
    }
    if (dx === null) return;
    if (ctx.norm?.kind === 'sync') {
      const totals = yield sums;
      batchNormInputGrad(dy, xhat, dx, 0, n * hw, c, totals, 0, ctx.stats![this.#slot.statsOffset + 2 * c], this.#rstd, p[0]);
    } else {
      const groups = this.#groups(ctx, n);
      const local = new Float64Array(2 * c);
      for (let k = 0; k < groups.count; k++) {
        const r0 = k * groups.size * hw;
        const r1 = Math.min(n, (k + 1) * groups.size) * hw;
        local.fill(0);
        batchNormGradSums(dy, xhat, r0, r1, c, local);
        batchNormInputGrad(dy, xhat, dx, r0, r1, c, local, 0, r1 - r0, this.#rstd.subarray(k * c, (k + 1) * c), p[0]);
      }
    }
    maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}
