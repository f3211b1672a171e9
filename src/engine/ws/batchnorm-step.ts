/**
 * A ws worker's step for a model with BatchNorm (docs/models.md#batchnorm): its slots (its shard,
 * or its fixed chunks) run in lockstep in this thread, and each exchange of BatchNorm sums goes
 * through the coordinator: `bnPartial` out (this worker's slots' partial sums), `bnTotal` back
 * (the sums over every slot of the step, added in slot order by the coordinator, so every worker
 * resumes with the same bits). Between exchanges the compute blocks this thread; a step of a
 * BatchNorm model is cut into as many pieces as it has exchanges.
 */
import { epochPermutation, type Dataset } from '../../data/index.js';
import type { Kernels } from '../../kernels/index.js';
import { Model, type BatchNormMode, type BatchResult, type ModelSpec } from '../../model/index.js';
import { runLockstepAsync } from '../lockstep.js';
import { Superseded } from './peer-links.js';
import type { MessageOf, StepMessage } from './messages.js';

export class WorkerBatchNorm {
  readonly #spec: ModelSpec;
  readonly #kernels: Kernels;
  readonly #mode: BatchNormMode;
  readonly #train: Dataset;
  readonly #seed: number;
  readonly #microBatch: number | undefined;
  readonly #models: Model[] = [];
  #order: { epoch: number; rows: Uint32Array } | null = null;
  /** Waiting for the totals of (step, attempt, index). */
  readonly #waiters = new Map<string, (values: number[]) => void>();

  constructor(spec: ModelSpec, kernels: Kernels, mode: BatchNormMode, train: Dataset, seed: number, microBatch: number | undefined) {
    this.#spec = spec;
    this.#kernels = kernels;
    this.#mode = mode;
    this.#train = train;
    this.#seed = seed;
    this.#microBatch = microBatch;
  }

  /**
   * The gradient sums of the step's slots into `grads` (one per slot, zeroed here), with
   * `send(index, values)` sending exchange `index`'s partials (slots concatenated in order).
   */
  async compute(m: StepMessage, params: Float32Array, grads: Float32Array[], send: (index: number, values: number[]) => Promise<void>, signal: AbortSignal): Promise<BatchResult[]> {
    const slots = m.chunks ? m.chunks.rows : [{ start: m.start, end: m.end }];
    if (slots.length === 0) return [];
    const order = this.#epochOrder(m.epoch);
    while (this.#models.length < slots.length) this.#models.push(new Model(this.#spec, { kernels: this.#kernels, batchNorm: this.#mode }));
    const training = { seed: this.#seed, step: m.step };
    // Every allocation first: one slot's call must not grow the kernel memory under another's views.
    slots.forEach((rows, i) => this.#models[i].reserveCall(rows.end - rows.start, params, grads[i]));
    const gens = slots.map((rows, i) => {
      grads[i].fill(0);
      return this.#models[i].gradientSteps(params, this.#train, order.subarray(rows.start, rows.end), grads[i], this.#microBatch, training);
    });
    let index = 0;
    return runLockstepAsync(gens, async (partials) => {
      const key = `${m.step}/${m.attempt}/${index}`;
      const totals = new Promise<number[]>((resolve, reject) => {
        this.#waiters.set(key, resolve);
        if (signal.aborted) reject(new Superseded('this step'));
        else signal.addEventListener('abort', () => reject(new Superseded('this step')), { once: true });
      });
      totals.catch(() => {}); // an abort while sending must not be an unhandled rejection; awaited below
      await send(index++, partials.flatMap((p) => Array.from(p)));
      const values = await totals;
      this.#waiters.delete(key);
      return Float64Array.from(values);
    });
  }

  /** The coordinator's totals of one exchange; ignored when no step waits for them (a superseded attempt). */
  onTotal(m: MessageOf<'bnTotal'>): void {
    this.#waiters.get(`${m.step}/${m.attempt}/${m.index}`)?.(m.values);
  }

  close(): void {
    for (const model of this.#models) model.dispose();
  }

  #epochOrder(epoch: number): Uint32Array {
    if (this.#order?.epoch !== epoch) this.#order = { epoch, rows: epochPermutation(this.#train.n, this.#seed, epoch) };
    return this.#order.rows;
  }
}
