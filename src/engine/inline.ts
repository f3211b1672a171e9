/** The reference engine: one worker, in the calling thread. Every other engine is tested against it. */
import { epochPermutation, type Dataset } from '../data/index.js';
import { Model } from '../model/index.js';
import { createOptimizer, sumOfSquares, type Optimizer } from '../optim/index.js';
import type { Engine, EngineSetup, GradientResult, StepPlan, UpdatePlan, UpdateTiming } from './engine.js';
import type { BatchResult } from '../model/index.js';

export class InlineEngine implements Engine {
  readonly kind = 'inline' as const;
  readonly workers = 1;
  readonly params: Float32Array;
  readonly gradient: Float32Array;
  #model: Model;
  #optimizer: Optimizer;
  #setup: EngineSetup;
  #permutation: { epoch: number; order: Uint32Array } | null = null;
  #allRows: Uint32Array | null = null;

  constructor(setup: EngineSetup) {
    this.#setup = setup;
    this.#model = new Model(setup.model);
    this.params = Float32Array.from(setup.params);
    this.gradient = new Float32Array(this.params.length);
    this.#optimizer = createOptimizer(setup.optimizer, this.params.length);
  }

  get optimizerState(): Readonly<Record<string, Float32Array>> {
    return this.#optimizer.state;
  }

  async computeGradients(plan: StepPlan): Promise<GradientResult> {
    const started = performance.now();
    const order = this.#epochOrder(plan.epoch);
    this.gradient.fill(0);
    const result = this.#model.accumulateGradient(
      this.params,
      this.#setup.train,
      order.subarray(plan.start, plan.end),
      this.gradient,
      this.#setup.microBatch,
    );
    const gradSumSq = sumOfSquares(this.gradient);
    const computeMs = performance.now() - started;
    return {
      ...result,
      gradSumSq,
      shards: [{ worker: 0, count: result.count, gradSumSq, computeMs }],
      reduceMs: 0,
    };
  }

  async applyUpdate(update: UpdatePlan): Promise<UpdateTiming> {
    const started = performance.now();
    this.#optimizer.update(this.params, this.gradient, update);
    return { updateMs: performance.now() - started };
  }

  async evaluate(data: Dataset): Promise<BatchResult> {
    if (this.#allRows === null || this.#allRows.length < data.n) {
      this.#allRows = Uint32Array.from({ length: data.n }, (_, i) => i);
    }
    return this.#model.evaluate(this.params, data, this.#allRows.subarray(0, data.n), this.#setup.microBatch);
  }

  async close(): Promise<void> {}

  /** The permutation is computed once per epoch and reused by that epoch's steps. */
  #epochOrder(epoch: number): Uint32Array {
    if (this.#permutation?.epoch !== epoch) {
      this.#permutation = { epoch, order: epochPermutation(this.#setup.train.n, this.#setup.seed, epoch) };
    }
    return this.#permutation.order;
  }
}
