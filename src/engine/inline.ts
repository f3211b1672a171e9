/** The reference engine: one worker, in the calling thread. Every other engine is tested against it. */
import { epochPermutation, type Dataset } from '../data/index.js';
import { Model } from '../model/index.js';
import { loadKernels, type Kernels, type KernelsReport } from '../kernels/index.js';
import { reduceSlotsRange } from '../collective/index.js';
import { planSlots } from './plan.js';
import { sumResults } from './sum-results.js';
import { createOptimizer, restoreOptimizerState, sumOfSquares, type Optimizer } from '../optim/index.js';
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
  readonly #slotCount: number;
  readonly #slots: Float32Array | null;

  readonly kernels: string;
  readonly kernelsReport?: KernelsReport;

  /** Use `InlineEngine.create`, which loads the kernels first. */
  constructor(setup: EngineSetup, kernels: Kernels) {
    this.#setup = setup;
    this.kernels = kernels.detail;
    this.kernelsReport = kernels.report;
    this.#model = new Model(setup.model, { kernels });
    this.params = Float32Array.from(setup.params);
    this.gradient = new Float32Array(this.params.length);
    this.#optimizer = createOptimizer(setup.optimizer, this.params.length);
    if (setup.optimizerState) restoreOptimizerState(this.#optimizer.state, setup.optimizerState);
    this.#slotCount = setup.chunks ?? 1;
    this.#slots = this.#slotCount > 1 ? new Float32Array(this.#slotCount * this.params.length) : null;
  }

  get optimizerState(): Readonly<Record<string, Float32Array>> {
    return this.#optimizer.state;
  }

  async computeGradients(plan: StepPlan): Promise<GradientResult> {
    const started = performance.now();
    const order = this.#epochOrder(plan.epoch);
    const { slots } = planSlots(plan.start, plan.end, this.#slotCount, 1);
    const training = { seed: this.#setup.seed, step: plan.step };
    // One slot: accumulate straight into the gradient. Fixed chunks: one buffer per chunk, then
    // the same chunk-order reduce as the threads engine, so both give the same bits.
    const sums = slots.map((rows, i) => {
      const grad = this.#slotCount === 1 ? this.gradient : this.#slots!.subarray(i * this.params.length, (i + 1) * this.params.length);
      grad.fill(0);
      return this.#model.accumulateGradient(this.params, this.#setup.train, order.subarray(rows.start, rows.end), grad, this.#setup.microBatch, training);
    });
    const computeMs = performance.now() - started;
    const reduceStarted = performance.now();
    let gradSumSq: number;
    let slotSumSq: Float64Array;
    if (this.#slotCount === 1) {
      gradSumSq = sumOfSquares(this.gradient);
      slotSumSq = Float64Array.of(gradSumSq);
    } else {
      ({ sumSq: gradSumSq, slotSumSq } = reduceSlotsRange(this.#slots!, this.#slotCount, this.params.length, this.gradient, 0, this.params.length));
    }
    return {
      ...sumResults(sums),
      gradSumSq,
      reduceMs: this.#slotCount === 1 ? 0 : performance.now() - reduceStarted,
      shards: sums.map((sum, i) => ({ count: sum.count, gradSumSq: slotSumSq[i] })),
      workers: [{ computeMs, waitMs: 0 }],
      nonFiniteWorkers: sums.some((sum) => !Number.isFinite(sum.lossSum)) || !Number.isFinite(gradSumSq) ? ['the main thread'] : [],
    };
  }

  /** Nothing to complete: applyUpdate updates at once. */
  async synchronize(): Promise<void> {}

  /** Nothing to undo: the gradient is only read by applyUpdate. */
  async skipUpdate(): Promise<void> {}

  async applyUpdate(update: UpdatePlan): Promise<UpdateTiming> {
    const started = performance.now();
    this.#optimizer.update(this.params, this.gradient, update);
    return { updateMs: performance.now() - started };
  }

  async evaluate(data: Dataset, outputs?: Float32Array): Promise<BatchResult> {
    if (this.#allRows === null || this.#allRows.length < data.n) {
      this.#allRows = Uint32Array.from({ length: data.n }, (_, i) => i);
    }
    return this.#model.evaluate(this.params, data, this.#allRows.subarray(0, data.n), this.#setup.microBatch, outputs);
  }

  static async create(setup: EngineSetup): Promise<InlineEngine> {
    return new InlineEngine(setup, await loadKernels(setup.kernels, { blasLibrary: setup.blasLibrary }));
  }

  async close(): Promise<void> {
    this.#model.dispose();
  }

  /** The permutation is computed once per epoch and reused by that epoch's steps. */
  #epochOrder(epoch: number): Uint32Array {
    if (this.#permutation?.epoch !== epoch) {
      this.#permutation = { epoch, order: epochPermutation(this.#setup.train.n, this.#setup.seed, epoch) };
    }
    return this.#permutation.order;
  }
}
