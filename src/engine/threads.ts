/**
 * The threads engine: N worker threads of a piscina pool, all state in shared memory.
 *
 * One step is one round of N tasks, each carrying only a plan:
 *   update   (folded in from the previous step) worker i applies the optimizer to parameter
 *            range i, reading version v and writing v + 1 (so it can be retried); barrier;
 *   compute  worker i writes the gradient sum of shard i into slot i; barrier;
 *   reduce   worker i sums parameter range i over all slots, in worker order (reduce-scatter).
 * No thread does O(N·P) work and nothing but plans is copied per step. Parameters, optimizer
 * state, slots and the reduced gradient live in one shared WebAssembly.Memory, which the wasm
 * collective kernels (asm/collective.ts) of every thread address in place; where that cannot run
 * the same layout is a SharedArrayBuffer and the JS reference kernels run, with the same bits.
 * A task that fails (the thread throws or exits) is run again on a live thread; piscina replaces
 * the dead one.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { epochPermutation, shardRanges, type Dataset } from '../data/index.js';
import { planSlots } from './plan.js';
import { sumResults } from './sum-results.js';
import { EngineError } from '../errors.js';
import { bufferLayout, buildStack, initBuffers, Model, updateRunningStats, type BufferLayout } from '../model/index.js';
import { exchangeWidth, slotUnit } from './lockstep.js';
import { loadKernels, type KernelsReport } from '../kernels/index.js';
import { restoreOptimizerState, stateTensorCount, VersionedOptimizer, WasmUpdateKernels } from '../optim/index.js';
import { compileCollective, partitionRanges, slotNormSq, WasmCollective, type Range, type WasmModule } from '../collective/index.js';
import type { BatchResult } from '../model/index.js';
import type { Engine, EngineSetup, GradientResult, StepPlan, UpdatePlan, UpdateTiming } from './engine.js';
import type {
  EvaluateResult,
  InjectedFault,
  StepResult,
  StepAborted,
  StepTask,
  UpdateResult,
  VersionUpdate,
  WorkerSetup,
  WorkerTask,
} from './messages.js';
import { abortRound, CONTROL_WORDS, openRound } from './barrier.js';
import { createBucketShared, resetBuckets, watchBuckets, type BucketShared } from './buckets.js';
import { allocateShared, fitsWasmMemory, planLayout, shareDataset, sharedFloat32, sharedUint32, type SharedState } from './shared-memory.js';

/** Test-only: make the task of (step, worker) fail once. */
export interface FaultInjection {
  step: number;
  worker: number;
  kind: InjectedFault;
}

export interface ThreadsEngineOptions {
  workers: number;
  /** Tries per task before the step fails (a failed task is re-run on a live thread). */
  maxAttempts?: number;
  faults?: FaultInjection[];
  /** Called for every recovered failure, e.g. to log a warning. */
  onWarning?: (message: string, fields: object) => void;
  /**
   * The reduce and update kernels: 'wasm' (f32x4 SIMD over a shared WebAssembly.Memory; throws
   * where it cannot run), 'js' (the reference), or 'auto' (default: wasm unless the kernel set
   * is js or wasm cannot run here). Both give the same bits.
   */
  collective?: 'auto' | 'wasm' | 'js';
  /**
   * Run each step's optimizer update inside the next step's tasks (default true), saving a round
   * of tasks per step; synchronize() and evaluate() apply a pending update first.
   * false: applyUpdate runs a round of update tasks, as a reference for tests and the benchmark.
   */
  foldUpdate?: boolean;
  /**
   * Gradient buckets in backward order (buckets.ts, planBuckets): each is reduced as soon as
   * every thread's backward pass finished it, and `computeGradients`' `onBucket` hears of it.
   * Ignored with fixed chunks (several slots per thread).
   */
  buckets?: Range[];
}

/** A step's bucket listener: bucket `bucket` of `reduced` (the engine's reduced gradient) is final. */
export type BucketListener = (bucket: number, reduced: Float32Array) => void;

/** The collective path an engine uses, resolved at creation. */
interface CollectiveChoice {
  module: WasmModule | null;
  detail: string;
}

const workerFile = fileURLToPath(new URL('./threads-worker.js', import.meta.url));

export class ThreadsEngine implements Engine {
  readonly kind = 'threads' as const;
  readonly workers: number;
  readonly kernels: string;
  kernelsReport?: KernelsReport;
  /** The reduce/update path: 'wasm (shared memory, f32x4)', 'js', or 'js (wasm unavailable: ...)'. */
  readonly collective: string;
  #pool: Piscina<WorkerTask, unknown>;
  #shared: WorkerSetup;
  /** The wasm norm kernel on this engine's memory (normSq), made on first use; null without wasm. */
  #norms: WasmCollective | null | undefined;
  #views: SharedState;
  #ranges: Range[];
  /** The version of the parameters fully written; a pending update makes the live version one more. */
  #version = 0;
  /** The last applyUpdate, not yet applied (folded into the next step's tasks). */
  #pending: VersionUpdate | null = null;
  /** Time of the folded update run inside the last computeGradients (the slowest range). */
  #foldedUpdateMs = 0;
  #round = 0;
  #epoch = -1;
  /** The coordinator thread's optimizer over the shared versions: checkpoints read its state, synchronize() runs a pending update with it. */
  #optimizer: VersionedOptimizer;
  #setup: EngineSetup;
  #options: Required<Omit<ThreadsEngineOptions, 'faults' | 'onWarning' | 'buckets'>> & ThreadsEngineOptions;
  #faults: FaultInjection[];
  #mainModel: Model | null = null;
  #bufferLayout: BufferLayout;
  /** The batch statistics of the last computed step, applied to the buffers by its update. */
  #pendingStats: Float64Array | null = null;

  /** Resolves the kernel choice in this thread first, so every worker loads the same set. */
  static async create(setup: EngineSetup, options: ThreadsEngineOptions): Promise<ThreadsEngine> {
    const kernels = await loadKernels(setup.kernels, { blasLibrary: setup.blasLibrary });
    const choice = options.collective ?? 'auto';
    let collective: CollectiveChoice = { module: null, detail: 'js' };
    if (choice === 'wasm' || (choice === 'auto' && kernels.name !== 'js')) {
      try {
        collective = { module: await compileCollective(), detail: 'wasm (shared memory, f32x4)' };
      } catch (error) {
        if (choice === 'wasm') throw error;
        collective = { module: null, detail: `js (wasm unavailable: ${(error as Error).message})` };
      }
    }
    // Workers load exactly the resolved set: the same library, self-tested, without a new probe.
    const engine = new ThreadsEngine({ ...setup, kernels: kernels.name, blasLibrary: kernels.report?.blas?.library ?? null }, options, kernels.detail, collective);
    engine.kernelsReport = kernels.report;
    return engine;
  }

  /** Use `ThreadsEngine.create`. */
  constructor(setup: EngineSetup, options: ThreadsEngineOptions, kernelsDetail = String(setup.kernels), collective: CollectiveChoice = { module: null, detail: 'js' }) {
    this.kernels = kernelsDetail;
    const workers = options.workers;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer (got ${workers})`);
    this.workers = workers;
    this.#setup = setup;
    this.#options = { maxAttempts: 3, collective: 'auto', foldUpdate: true, ...options };
    this.#faults = [...(options.faults ?? [])];
    const P = setup.params.length;
    const slotCount = setup.chunks ?? workers;

    // Count the optimizer's state tensors, then lay out everything a step writes in one buffer:
    // a shared WebAssembly.Memory of exactly that size for the wasm kernels, else a SharedArrayBuffer.
    const stateTensors = stateTensorCount(setup.optimizer);
    const layout = planLayout(P, stateTensors, slotCount, workers + 1);
    if (collective.module && !fitsWasmMemory(layout)) {
      if (options.collective === 'wasm') throw new RangeError(`the engine's buffers (${layout.bytes} bytes) do not fit a 4 GiB WebAssembly memory`);
      collective = { module: null, detail: 'js (the buffers exceed a 4 GiB WebAssembly memory)' };
    }
    this.collective = collective.detail;
    this.#views = allocateShared(layout, collective.module !== null);
    this.#views.params[0].set(setup.params);
    this.#bufferLayout = bufferLayout(buildStack(setup.model));
    const buffers = sharedFloat32(this.#bufferLayout.size);
    buffers.set(setup.buffers ?? initBuffers(this.#bufferLayout));
    const width = exchangeWidth(setup.model);

    this.#shared = {
      model: setup.model.text,
      seed: setup.seed,
      kernels: setup.kernels,
      blasLibrary: setup.blasLibrary ?? null,
      workers,
      slotCount,
      numParams: P,
      microBatch: setup.microBatch,
      optimizer: setup.optimizer,
      train: shareDataset(setup.train),
      validation: setup.validation ? shareDataset(setup.validation) : null,
      permutation: sharedUint32(setup.train.n),
      buffer: this.#views.buffer,
      layout,
      memory: this.#views.memory,
      collectiveModule: collective.module,
      control: new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4)),
      buckets: options.buckets && slotCount === workers ? createBucketShared(options.buckets, slotCount) : null,
      gradientCuts: options.buckets ? options.buckets.map((b) => b.start) : null,
      batchNorm: setup.batchNorm ?? { kind: 'local' },
      buffers,
      exchange: new Float64Array(new SharedArrayBuffer(Math.max(1, 2 * slotCount * width) * 8)),
      exchangeWidth: width,
    };
    this.#optimizer = new VersionedOptimizer(
      setup.optimizer,
      this.#views,
      collective.module && this.#views.memory ? new WasmUpdateKernels(collective.module, this.#views.memory) : null,
    );
    if (setup.optimizerState) restoreOptimizerState(this.#optimizer.state(0), setup.optimizerState);
    this.#ranges = partitionRanges(P, workers);
    this.#pool = new Piscina<WorkerTask, unknown>({
      filename: workerFile,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      workerData: this.#shared,
    });
    // A thread that dies between tasks must not crash the process; its next task will fail and be retried.
    this.#pool.on('error', (error: Error) => this.#options.onWarning?.(`a worker thread failed outside a task: ${error.message}`, {}));
  }

  /** The live parameters. Read them after synchronize(): with an update pending they are not current. */
  get params(): Float32Array {
    this.#checkSynchronized('params');
    return this.#views.params[this.#version % 2];
  }

  /** The reduced gradient sum of the last step; a pending update still reads it, so it is not handed out before synchronize(). */
  get gradient(): Float32Array {
    this.#checkSynchronized('gradient');
    return this.#views.reduced;
  }

  /** The BatchNorm running statistics (updated at applyUpdate, so current once it returns). */
  get buffers(): Float32Array {
    return this.#shared.buffers;
  }

  get optimizerState(): Readonly<Record<string, Float32Array>> {
    this.#checkSynchronized('optimizerState');
    return this.#optimizer.state(this.#version);
  }

  /**
   * Σ x[i]² over [start, end) of `x` (the reduced gradient a ws worker holds after its ring) with
   * the bits the reduce gives one slot's norm (slotNormSq): the wasm kernel when x is in this
   * engine's memory.
   */
  normSq(x: Float32Array, start: number, end: number): number {
    const { collectiveModule, memory } = this.#shared;
    this.#norms ??= collectiveModule && memory ? new WasmCollective(collectiveModule, memory) : null;
    return slotNormSq(x, start, end, this.#norms && x.buffer === memory?.buffer ? this.#norms : null);
  }

  /** A folded update is recorded, not applied: reading the buffers before synchronize() is a bug of the caller. */
  #checkSynchronized(what: string): void {
    if (this.#pending) {
      throw new EngineError('notSynchronized', `ThreadsEngine.${what} was read with the update of step ${this.#pending.t - 1} still pending — await engine.synchronize() after applyUpdate() before reading the parameters, optimizer state or gradient`);
    }
  }

  /** Applies a pending (folded) update over all parameters in this thread: the same kernel, the same bits as the workers'. */
  async synchronize(): Promise<void> {
    const pending = this.#pending;
    if (!pending) return;
    this.#optimizer.update(pending.version, this.#views.reduced, { lr: pending.lr, gradScale: pending.gradScale, t: pending.t });
    this.#version = pending.version + 1;
    this.#pending = null;
  }

  /** With buckets, `onBucket` hears of each bucket as soon as it is reduced, while the step goes on. */
  async computeGradients(plan: StepPlan, onBucket?: BucketListener): Promise<GradientResult> {
    if (plan.epoch !== this.#epoch) {
      this.#shared.permutation.set(epochPermutation(this.#setup.train.n, this.#setup.seed, plan.epoch));
      this.#epoch = plan.epoch;
    }
    const { slots, owners } = planSlots(plan.start, plan.end, this.#shared.slotCount, this.workers, slotUnit(this.#setup.batchNorm));
    // The previous step's update rides in this round: each worker updates its range, then all
    // pass the UPDATED barrier before reading version + 1.
    const update = this.#pending;
    const version = update ? update.version + 1 : this.#version;
    const buckets = this.#shared.buckets;
    const results = await this.#runStep(plan.step, (round) => {
      if (buckets) resetBuckets(buckets);
      return owners.map((owned, worker): StepTask => ({
        kind: 'step',
        worker,
        firstSlot: owned.start,
        slots: slots.slice(owned.start, owned.end),
        step: plan.step,
        round,
        version,
        reduceStart: this.#ranges[worker].start,
        reduceEnd: this.#ranges[worker].end,
        ...(update ? { update } : {}),
        fault: this.#takeFault(plan.step, worker),
      }));
    }, buckets && onBucket ? (settled) => watchBuckets(buckets, settled, (b) => onBucket(b, this.#views.reduced)) : undefined);
    if (update) {
      this.#version = version;
      this.#pending = null;
      this.#foldedUpdateMs = Math.max(...results.map((r) => r.updateMs));
    }

    this.#pendingStats = results[0].batchStats ?? null;
    // Sums in slot and range order, so the result does not depend on thread timing.
    const slotSums = results.flatMap((r) => r.slots);
    const totals = sumResults(slotSums);
    let gradSumSq = 0;
    let reduceMs = 0;
    const slotSumSq = new Float64Array(slotSums.length);
    for (const r of results) {
      gradSumSq += r.sumSq;
      reduceMs = Math.max(reduceMs, r.reduceMs);
      for (let i = 0; i < slotSumSq.length; i++) slotSumSq[i] += r.slotSumSq[i];
    }
    if (buckets) gradSumSq = bucketNorms(buckets, slotSumSq);
    return {
      ...totals,
      gradSumSq,
      reduceMs,
      shards: slotSums.map((sum, i) => ({ count: sum.count, gradSumSq: slotSumSq[i] })),
      workers: results.map((r) => ({ computeMs: r.computeMs, waitMs: r.waitMs, threadId: r.threadId })),
      // A slot's norm sums every worker's range of it, so a NaN anywhere in slot i shows in slotSumSq[i].
      nonFiniteWorkers: owners.flatMap((owned, worker) => {
        let finite = true;
        for (let i = owned.start; i < owned.end; i++) finite &&= Number.isFinite(slotSums[i].lossSum) && Number.isFinite(slotSumSq[i]);
        return finite ? [] : [`worker ${worker}`];
      }),
    };
  }

  /** No update is pending after computeGradients, and the gradient is only read by an update; the batch statistics are dropped. */
  async skipUpdate(): Promise<void> {
    this.#pendingStats = null;
  }

  /**
   * Dispatches one round of step tasks. If any fails (throws, or its thread exits), the others are
   * released from the barrier, and the whole round runs again on live threads: every part of it
   * (compute into a zeroed slot, reduce from the slots) can be repeated without changing the result.
   */
  async #runStep(step: number, tasksFor: (round: number) => StepTask[], watch?: (settled: Promise<unknown>) => Promise<void>): Promise<StepResult[]> {
    const control = this.#shared.control;
    for (let attempt = 1; ; attempt++) {
      const round = ++this.#round;
      openRound(control);
      const all = Promise.allSettled(
        tasksFor(round).map((task) =>
          (this.#pool.run(task) as Promise<StepResult | StepAborted>).catch((error: unknown) => {
            abortRound(control, round);
            throw error;
          }),
        ),
      );
      const [settled] = await Promise.all([all, watch?.(all)]);
      // A task stopped at the barrier by another's failure returns StepAborted: not a failure of its own.
      const failures = settled.flatMap((s, worker) => (s.status === 'rejected' ? [{ worker, reason: s.reason as Error }] : []));
      const results = settled.flatMap((s) => (s.status === 'fulfilled' && !('aborted' in s.value) ? [s.value] : []));
      if (results.length === settled.length) return results;
      const what = failures.map((f) => `worker ${f.worker}'s shard of step ${step} failed (${f.reason?.message ?? f.reason})`).join('; ') || `step ${step} was aborted`;
      if (attempt >= this.#options.maxAttempts) {
        throw new EngineError('workerFailed', `${what}; gave up after ${attempt} attempts — see the warnings above; the run stopped before applying this step`, {
          cause: failures[0]?.reason,
        });
      }
      this.#options.onWarning?.(`${what}; recomputing the step on live threads (attempt ${attempt + 1} of ${this.#options.maxAttempts})`, {
        step,
        workers: failures.map((f) => f.worker),
        attempt,
      });
    }
  }

  /**
   * Folded (default): records the update, which the next computeGradients applies inside its
   * tasks (or synchronize() in this thread, if called first), and reports the time of the
   * update applied during this step — the previous step's, the one on this step's critical path.
   * Otherwise: a round of update tasks, one range per worker.
   */
  async applyUpdate(update: UpdatePlan): Promise<UpdateTiming> {
    const started = performance.now();
    // The running statistics are a few floats: updated here at once (no task reads them before the next evaluation).
    if (this.#pendingStats) updateRunningStats(this.#bufferLayout, this.#shared.buffers, this.#pendingStats);
    this.#pendingStats = null;
    if (this.#options.foldUpdate) {
      await this.synchronize();
      this.#pending = { version: this.#version, lr: update.lr, gradScale: update.gradScale, t: update.t };
      const updateMs = this.#foldedUpdateMs + (performance.now() - started);
      this.#foldedUpdateMs = 0;
      return { updateMs };
    }
    const version = this.#version;
    await Promise.all(
      this.#ranges.map((range, worker) =>
        this.#run<UpdateResult>({ kind: 'update', version, start: range.start, end: range.end, lr: update.lr, gradScale: update.gradScale, t: update.t }, `worker ${worker}'s update of step ${update.t - 1}`),
      ),
    );
    this.#version = version + 1;
    return { updateMs: performance.now() - started };
  }

  async evaluate(data: Dataset, outputs?: Float32Array): Promise<BatchResult> {
    if (data !== this.#setup.validation) {
      // Not the shared validation set: evaluate in this thread.
      this.#mainModel ??= new Model(this.#setup.model, { kernels: await loadKernels(this.#setup.kernels, { blasLibrary: this.#setup.blasLibrary }) });
      const rows = Uint32Array.from({ length: data.n }, (_, i) => i);
      await this.synchronize();
      return this.#mainModel.evaluate(this.params, data, rows, this.#setup.microBatch, this.#shared.buffers, outputs);
    }
    await this.synchronize();
    // The workers write the outputs of their rows into one shared buffer, copied out at the end.
    const shared = outputs && new SharedArrayBuffer(outputs.byteLength);
    const parts = shardRanges(0, data.n, this.workers).filter((r) => r.end > r.start);
    const results = await Promise.all(
      parts.map((r, worker) =>
        this.#run<EvaluateResult>({ kind: 'evaluate', version: this.#version, start: r.start, end: r.end, ...(shared && { outputs: shared }) }, `worker ${worker}'s evaluation`),
      ),
    );
    if (outputs && shared) outputs.set(new Float32Array(shared));
    return sumResults(results);
  }

  async close(): Promise<void> {
    this.#mainModel?.dispose();
    await this.#pool.destroy();
  }

  /** Runs a task; a failure (an error thrown or the thread exiting) is retried on a live thread. */
  async #run<R>(task: WorkerTask, what: string): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.#pool.run(task)) as R;
      } catch (error) {
        const reason = (error as Error)?.message ?? String(error);
        if (attempt >= this.#options.maxAttempts) {
          throw new EngineError('workerFailed', `${what} failed ${attempt} times (last: ${reason}) — see the warnings above; the run stopped before applying this step`, { cause: error });
        }
        this.#options.onWarning?.(`${what} failed (${reason}); recomputing it on a live thread (attempt ${attempt + 1} of ${this.#options.maxAttempts})`, { task: task.kind, attempt });
      }
    }
  }

  /** When bucket b was reduced in the last step (performance.timeOrigin + now(), ms). */
  bucketReadyAt(bucket: number): number {
    return this.#shared.buckets?.readyAt[bucket] ?? Number.NaN;
  }

  #takeFault(step: number, worker: number): InjectedFault | undefined {
    const index = this.#faults.findIndex((f) => f.step === step && f.worker === worker);
    if (index < 0) return undefined;
    return this.#faults.splice(index, 1)[0].kind;
  }
}

/** The step's norms from the buckets' shares, added in bucket order (thread timing never shows in the bits). */
function bucketNorms(buckets: BucketShared, slotSumSq: Float64Array): number {
  const slots = slotSumSq.length;
  let sumSq = 0;
  slotSumSq.fill(0);
  for (let b = 0; b < buckets.ranges.length; b++) {
    sumSq += buckets.sumSq[b];
    for (let i = 0; i < slots; i++) slotSumSq[i] += buckets.slotSumSq[b * slots + i];
  }
  return sumSq;
}
