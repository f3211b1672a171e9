/**
 * The reference engine: one worker, in the calling thread. Every other engine is tested against it.
 *
 * Its parameters, gradient, optimizer state and reduce slots live in one shared
 * WebAssembly.Memory laid out as the threads engine's (shared-memory.ts, one version used), so
 * that the wasm collective kernels run the gradient norm, the chunk reduce and the SGD update in
 * place, with the threads engine's bits; where they cannot run, the same layout is a
 * SharedArrayBuffer and the JS references run. The per-step fixed cost this removes (the JS
 * update, a JS norm) dominated small batches (docs/kernels.md, "Fixed cost per step").
 */
import { epochPermutation, type Dataset } from '../data/index.js';
import { initBuffers, Model, updateRunningStats } from '../model/index.js';
import { runLockstep, slotUnit, sumInOrder } from './lockstep.js';
import { loadKernels, type Kernels, type KernelsReport } from '../kernels/index.js';
import { compileCollective, reduceSlotsRange, slotNormSq, WasmCollective, type WasmModule } from '../collective/index.js';
import { planSlots } from './plan.js';
import { allocateShared, fitsWasmMemory, planLayout, type SharedLayout } from './shared-memory.js';
import { createOptimizer, inPlaceOptimizer, restoreOptimizerState, stateTensorCount, WasmUpdateKernels, type Optimizer } from '../optim/index.js';
import type { Engine, EngineSetup, GradientResult, StepPlan, UpdatePlan, UpdateTiming } from './engine.js';
import type { BatchResult } from '../model/index.js';

export class InlineEngine implements Engine {
  readonly kind = 'inline' as const;
  readonly workers = 1;
  readonly params: Float32Array;
  readonly gradient: Float32Array;
  readonly buffers: Float32Array;
  #model: Model;
  /** With BatchNorm and fixed chunks: one Model per chunk, run in lockstep (lockstep.ts). */
  #chunkModels: Model[] = [];
  /** The batch statistics of the last computed step, applied to the buffers by its update. */
  #pendingStats: Float64Array | null = null;
  #optimizer: Optimizer;
  #setup: EngineSetup;
  #permutation: { epoch: number; order: Uint32Array } | null = null;
  #allRows: Uint32Array | null = null;
  readonly #slotCount: number;
  readonly #slots: Float32Array;
  /** The collective kernels over the engine's memory (null: the JS references). */
  readonly #collective: WasmCollective | null;
  readonly #layout: SharedLayout;
  /** Reused per step: the slot sums and the per-slot norms. */
  readonly #slotSumSq: Float64Array;

  readonly kernels: string;
  readonly kernelsReport?: KernelsReport;

  /** Use `InlineEngine.create`, which loads the kernels and the collective module first. */
  constructor(setup: EngineSetup, kernels: Kernels, collective: WasmModule | null = null) {
    this.#setup = setup;
    this.kernels = kernels.detail;
    this.kernelsReport = kernels.report;
    this.#model = new Model(setup.model, { kernels, batchNorm: setup.batchNorm });
    this.buffers = setup.buffers ? Float32Array.from(setup.buffers) : initBuffers(this.#model.bufferLayout);
    const P = setup.params.length;
    this.#slotCount = setup.chunks ?? 1;
    const stateTensors = stateTensorCount(setup.optimizer);
    this.#layout = planLayout(P, stateTensors, this.#slotCount, 1);
    const module = collective && fitsWasmMemory(this.#layout) ? collective : null;
    const views = allocateShared(this.#layout, module !== null);
    this.params = views.params[0];
    this.params.set(setup.params);
    this.gradient = views.reduced;
    this.#slots = views.slots;
    this.#slotSumSq = new Float64Array(this.#slotCount);
    const memory = module ? views.memory : null;
    this.#collective = module && memory ? new WasmCollective(module, memory) : null;
    // The optimizer's state tensors: consecutive [P] views of version 0's state region.
    let tensors = 0;
    const js = createOptimizer(setup.optimizer, P, (length) => {
      const view = views.state[0].subarray(tensors * P, tensors * P + length);
      tensors += 1;
      return view;
    });
    this.#optimizer = inPlaceOptimizer(js, module && memory ? new WasmUpdateKernels(module, memory) : null);
    if (setup.optimizerState) restoreOptimizerState(this.#optimizer.state, setup.optimizerState);
  }

  get optimizerState(): Readonly<Record<string, Float32Array>> {
    return this.#optimizer.state;
  }

  async computeGradients(plan: StepPlan): Promise<GradientResult> {
    const started = performance.now();
    const order = this.#epochOrder(plan.epoch);
    const P = this.params.length;
    const training = { seed: this.#setup.seed, step: plan.step };
    // One slot: accumulate straight into the gradient. Fixed chunks: one buffer per chunk, then
    // the same chunk-order reduce as the threads engine, so both give the same bits.
    const { slots } = planSlots(plan.start, plan.end, this.#slotCount, 1, slotUnit(this.#setup.batchNorm));
    const grads = slots.map((_, i) => (this.#slotCount === 1 ? this.gradient : this.#slots.subarray(i * P, (i + 1) * P)));
    for (const grad of grads) this.#zero(grad);
    let sums: BatchResult[];
    if (this.#model.numBuffers === 0) {
      sums = slots.map((rows, i) => this.#model.accumulateGradient(this.params, this.#setup.train, order.subarray(rows.start, rows.end), grads[i], this.#setup.microBatch, training));
    } else {
      // BatchNorm: every chunk's statistics are summed in chunk order, as the threads engine does.
      while (this.#chunkModels.length < slots.length) this.#chunkModels.push(this.#chunkModels.length === 0 ? this.#model : new Model(this.#setup.model, { kernels: this.#model.kernels, batchNorm: this.#setup.batchNorm }));
      slots.forEach((rows, i) => this.#chunkModels[i].reserveCall(rows.end - rows.start, this.params, grads[i]));
      const gens = slots.map((rows, i) => this.#chunkModels[i].gradientSteps(this.params, this.#setup.train, order.subarray(rows.start, rows.end), grads[i], this.#setup.microBatch, training));
      sums = runLockstep(gens, (partials) => sumInOrder(partials));
      this.#pendingStats = Float64Array.from(this.#model.batchStats);
    }
    const computeMs = performance.now() - started;
    const reduceStarted = performance.now();
    let gradSumSq: number;
    const slotSumSq = this.#slotSumSq;
    if (this.#slotCount === 1) {
      // The norm the threads engine's reduce gives one slot (wasm: read only; JS: in place).
      gradSumSq = slotNormSq(this.gradient, 0, P, this.#collective);
      slotSumSq[0] = gradSumSq;
    } else {
      const reduced = this.#collective
        ? this.#collective.reduceRange(this.#slots, this.#slotCount, P, this.gradient, 0, P, { offset: this.#layout.scratch, bytes: this.#layout.scratchBytes })
        : reduceSlotsRange(this.#slots, this.#slotCount, P, this.gradient, 0, P);
      gradSumSq = reduced.sumSq;
      slotSumSq.set(reduced.slotSumSq);
    }
    let lossSum = 0;
    let correct = 0;
    let count = 0;
    let finite = Number.isFinite(gradSumSq);
    const shards = sums.map((sum, i) => {
      lossSum += sum.lossSum;
      correct += sum.correct;
      count += sum.count;
      finite &&= Number.isFinite(sum.lossSum);
      return { count: sum.count, gradSumSq: slotSumSq[i] };
    });
    return {
      lossSum,
      correct,
      count,
      gradSumSq,
      reduceMs: this.#slotCount === 1 ? 0 : performance.now() - reduceStarted,
      shards,
      workers: [{ computeMs, waitMs: 0 }],
      nonFiniteWorkers: finite ? [] : ['the main thread'],
    };
  }

  /** Nothing to complete: applyUpdate updates at once. */
  async synchronize(): Promise<void> {}

  /** The gradient is only read by applyUpdate; the step's batch statistics are dropped with it. */
  async skipUpdate(): Promise<void> {
    this.#pendingStats = null;
  }

  async applyUpdate(update: UpdatePlan): Promise<UpdateTiming> {
    const started = performance.now();
    this.#optimizer.update(this.params, this.gradient, update);
    if (this.#pendingStats) updateRunningStats(this.#model.bufferLayout, this.buffers, this.#pendingStats);
    this.#pendingStats = null;
    return { updateMs: performance.now() - started };
  }

  async evaluate(data: Dataset, outputs?: Float32Array): Promise<BatchResult> {
    if (this.#allRows === null || this.#allRows.length < data.n) {
      this.#allRows = Uint32Array.from({ length: data.n }, (_, i) => i);
    }
    return this.#model.evaluate(this.params, data, this.#allRows.subarray(0, data.n), this.#setup.microBatch, this.buffers, outputs);
  }

  static async create(setup: EngineSetup): Promise<InlineEngine> {
    const kernels = await loadKernels(setup.kernels, { blasLibrary: setup.blasLibrary });
    // As the threads engine: the wasm collective path unless the kernel set is js or it cannot run here.
    const collective = kernels.name === 'js' ? null : await compileCollective().catch(() => null);
    return new InlineEngine(setup, kernels, collective);
  }

  async close(): Promise<void> {
    for (const m of this.#chunkModels) if (m !== this.#model) m.dispose();
    this.#model.dispose();
  }

  #zero(x: Float32Array): void {
    if (this.#collective) this.#collective.zero(x);
    else x.fill(0);
  }

  /** The permutation is computed once per epoch and reused by that epoch's steps. */
  #epochOrder(epoch: number): Uint32Array {
    if (this.#permutation?.epoch !== epoch) {
      this.#permutation = { epoch, order: epochPermutation(this.#setup.train.n, this.#setup.seed, epoch) };
    }
    return this.#permutation.order;
  }
}
