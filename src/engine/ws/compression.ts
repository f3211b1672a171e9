/**
 * Error feedback for `--compress fp16|bf16 --compress-feedback` (docs/architecture.md,
 * "Compression"): before a worker's gradient enters the all-reduce it is rounded to 16 bits after
 * adding the residual its rounding left at the previous step, and the new residual is kept (as in
 * 1-bit SGD and PowerSGD's error feedback), so that what rounding takes from this worker's
 * contribution is delayed, not lost. The partial sums that the ring rounds again on their way are
 * not fed back. The residual lives only on this worker: a worker that joins (or comes back) starts
 * from zero, and a checkpoint does not hold it.
 */
import type { Range } from '../../collective/index.js';
import { roundHalf, type HalfKind } from '../../transport/index.js';

export class ErrorFeedback {
  readonly kind: HalfKind;
  readonly #residual: Float32Array;

  constructor(kind: HalfKind, numParams: number) {
    this.kind = kind;
    this.#residual = new Float32Array(numParams);
  }

  /** gradient += residual over `range`; then the gradient is rounded to 16 bits and the residual is what that took. */
  apply(gradient: Float32Array, range: Range): void {
    const values = gradient.subarray(range.start, range.end);
    const residual = this.#residual.subarray(range.start, range.end);
    for (let i = 0; i < values.length; i++) values[i] += residual[i];
    residual.set(values);
    roundHalf(this.kind, values);
    for (let i = 0; i < values.length; i++) residual[i] -= values[i];
  }
}
