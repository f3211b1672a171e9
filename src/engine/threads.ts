/**
 * The threads engine: N worker threads of a piscina pool, all state in shared memory.
 *
 * One step is three rounds of N tasks, each carrying only a plan:
 *   compute  worker i writes the gradient sum of shard i into slot i;
 *   reduce   worker i sums parameter range i over all slots, in worker order (reduce-scatter);
 *   update   worker i applies the optimizer to parameter range i (parameters are double-buffered,
 *            so an update reads version v and writes v + 1 and can be retried).
 * No thread does O(N·P) work and nothing but plans is copied per step. A task that fails (the
 * thread throws or exits) is run again on a live thread; piscina replaces the dead one.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { epochPermutation, shardRanges, type Dataset } from '../data/index.js';
import { planSlots } from './plan.js';
import { sumResults } from './sum-results.js';
import { EngineError } from '../errors.js';
import { Model } from '../model/index.js';
import { loadKernels } from '../kernels/index.js';
import { createOptimizer, type Optimizer } from '../optim/index.js';
import { partitionRanges, type Range } from '../collective/index.js';
import type { BatchResult } from '../model/index.js';
import type { Engine, EngineSetup, GradientResult, StepPlan, UpdatePlan, UpdateTiming } from './engine.js';
import type {
  EvaluateResult,
  InjectedFault,
  StepResult,
  StepTask,
  UpdateResult,
  WorkerSetup,
  WorkerTask,
} from './messages.js';
import { abortRound, CONTROL_WORDS, openRound } from './barrier.js';
import { shareDataset, sharedFloat32, sharedUint32, stateAllocator } from './shared-memory.js';

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
}

const workerFile = fileURLToPath(new URL('./threads-worker.js', import.meta.url));

export class ThreadsEngine implements Engine {
  readonly kind = 'threads' as const;
  readonly workers: number;
  readonly kernels: string;
  #pool: Piscina<WorkerTask, unknown>;
  #shared: WorkerSetup;
  #ranges: Range[];
  #version = 0;
  #round = 0;
  #epoch = -1;
  #optimizers: [Optimizer, Optimizer];
  #setup: EngineSetup;
  #options: Required<Omit<ThreadsEngineOptions, 'faults' | 'onWarning'>> & ThreadsEngineOptions;
  #faults: FaultInjection[];
  #mainModel: Model | null = null;

  /** Resolves the kernel choice in this thread first, so every worker loads the same set. */
  static async create(setup: EngineSetup, options: ThreadsEngineOptions): Promise<ThreadsEngine> {
    const kernels = await loadKernels(setup.kernels);
    return new ThreadsEngine({ ...setup, kernels: kernels.name }, options, kernels.detail);
  }

  /** Use `ThreadsEngine.create`. */
  constructor(setup: EngineSetup, options: ThreadsEngineOptions, kernelsDetail = String(setup.kernels)) {
    this.kernels = kernelsDetail;
    const workers = options.workers;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer (got ${workers})`);
    this.workers = workers;
    this.#setup = setup;
    this.#options = { maxAttempts: 3, ...options };
    this.#faults = [...(options.faults ?? [])];
    const P = setup.params.length;

    // Count the optimizer's state tensors, then give both parameter versions shared room for them.
    let stateTensors = 0;
    createOptimizer(setup.optimizer, 0, (length) => (stateTensors++, new Float32Array(length)));
    const params: [Float32Array, Float32Array] = [sharedFloat32(P), sharedFloat32(P)];
    params[0].set(setup.params);
    const state: [Float32Array, Float32Array] = [sharedFloat32(stateTensors * P), sharedFloat32(stateTensors * P)];

    this.#shared = {
      model: setup.model.text,
      kernels: setup.kernels,
      workers,
      slotCount: setup.chunks ?? workers,
      numParams: P,
      microBatch: setup.microBatch,
      optimizer: setup.optimizer,
      stateTensors,
      train: shareDataset(setup.train),
      validation: setup.validation ? shareDataset(setup.validation) : null,
      permutation: sharedUint32(setup.train.n),
      params,
      state,
      slots: sharedFloat32((setup.chunks ?? workers) * P),
      reduced: sharedFloat32(P),
      control: new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4)),
    };
    // The coordinator's own views of the optimizer state, for checkpoints and names.
    this.#optimizers = [
      createOptimizer(setup.optimizer, P, stateAllocator(state[0], P)),
      createOptimizer(setup.optimizer, P, stateAllocator(state[1], P)),
    ];
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

  get params(): Float32Array {
    return this.#shared.params[this.#version % 2];
  }

  get gradient(): Float32Array {
    return this.#shared.reduced;
  }

  get optimizerState(): Readonly<Record<string, Float32Array>> {
    return this.#optimizers[this.#version % 2].state;
  }

  async computeGradients(plan: StepPlan): Promise<GradientResult> {
    if (plan.epoch !== this.#epoch) {
      this.#shared.permutation.set(epochPermutation(this.#setup.train.n, this.#setup.seed, plan.epoch));
      this.#epoch = plan.epoch;
    }
    const { slots, owners } = planSlots(plan.start, plan.end, this.#shared.slotCount, this.workers);
    const results = await this.#runStep(plan.step, (round) =>
      owners.map((owned, worker): StepTask => ({
        kind: 'step',
        worker,
        firstSlot: owned.start,
        slots: slots.slice(owned.start, owned.end),
        step: plan.step,
        round,
        version: this.#version,
        reduceStart: this.#ranges[worker].start,
        reduceEnd: this.#ranges[worker].end,
        fault: this.#takeFault(plan.step, worker),
      })),
    );

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
    return {
      ...totals,
      gradSumSq,
      reduceMs,
      shards: slotSums.map((sum, i) => ({ count: sum.count, gradSumSq: slotSumSq[i] })),
      workers: results.map((r) => ({ computeMs: r.computeMs, waitMs: r.waitMs, threadId: r.threadId })),
    };
  }

  /**
   * Dispatches one round of step tasks. If any fails (throws, or its thread exits), the others are
   * released from the barrier, and the whole round runs again on live threads: every part of it
   * (compute into a zeroed slot, reduce from the slots) can be repeated without changing the result.
   */
  async #runStep(step: number, tasksFor: (round: number) => StepTask[]): Promise<StepResult[]> {
    const control = this.#shared.control;
    for (let attempt = 1; ; attempt++) {
      const round = ++this.#round;
      openRound(control);
      const settled = await Promise.allSettled(
        tasksFor(round).map((task) =>
          (this.#pool.run(task) as Promise<StepResult>).catch((error: unknown) => {
            abortRound(control, round);
            throw error;
          }),
        ),
      );
      const failures = settled.flatMap((s, worker) => (s.status === 'rejected' && !(s.reason instanceof Error && s.reason.message.includes('was aborted')) ? [{ worker, reason: s.reason as Error }] : []));
      if (failures.length === 0 && settled.every((s) => s.status === 'fulfilled')) {
        return settled.map((s) => (s as PromiseFulfilledResult<StepResult>).value);
      }
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

  async applyUpdate(update: UpdatePlan): Promise<UpdateTiming> {
    const started = performance.now();
    const version = this.#version;
    await Promise.all(
      this.#ranges.map((range, worker) =>
        this.#run<UpdateResult>({ kind: 'update', version, start: range.start, end: range.end, ...update }, `worker ${worker}'s update of step ${update.t - 1}`),
      ),
    );
    this.#version = version + 1;
    return { updateMs: performance.now() - started };
  }

  async evaluate(data: Dataset): Promise<BatchResult> {
    if (data !== this.#setup.validation) {
      // Not the shared validation set: evaluate in this thread.
      this.#mainModel ??= new Model(this.#setup.model, { kernels: await loadKernels(this.#setup.kernels) });
      const rows = Uint32Array.from({ length: data.n }, (_, i) => i);
      return this.#mainModel.evaluate(this.params, data, rows, this.#setup.microBatch);
    }
    const parts = shardRanges(0, data.n, this.workers).filter((r) => r.end > r.start);
    const results = await Promise.all(
      parts.map((r, worker) =>
        this.#run<EvaluateResult>({ kind: 'evaluate', version: this.#version, start: r.start, end: r.end }, `worker ${worker}'s evaluation`),
      ),
    );
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

  #takeFault(step: number, worker: number): InjectedFault | undefined {
    const index = this.#faults.findIndex((f) => f.step === step && f.worker === worker);
    if (index < 0) return undefined;
    return this.#faults.splice(index, 1)[0].kind;
  }
}
