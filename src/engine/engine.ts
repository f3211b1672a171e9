/**
 * The one interface every engine implements. The training loop hands an engine a step plan
 * (which slice of which epoch's permutation) and gets back the all-reduced gradient *sum*,
 * the loss sum and the counts; it then asks the engine to apply the optimizer update.
 * The loop never knows whether workers are inline, threads or remote hosts.
 */
import type { Dataset } from '../data/index.js';
import type { ModelSpec, BatchResult, BatchNormMode } from '../model/index.js';
import type { OptimizerConfig } from '../optim/index.js';
import type { KernelsChoice, KernelsReport } from '../kernels/index.js';

export type EngineKind = 'inline' | 'threads' | 'ws';

export interface EngineSetup {
  model: ModelSpec;
  /** The training samples; every worker sees all of them and gathers its shard by index. */
  train: Dataset;
  /** Initial parameters (copied by the engine; `Engine.params` holds the live ones). */
  params: Float32Array;
  /** Saved optimizer state to start from (a resumed checkpoint's); undefined = fresh state. */
  optimizerState?: Readonly<Record<string, Float32Array>>;
  optimizer: OptimizerConfig;
  /** Seed of the epoch permutations (docs/architecture.md, "Semantics the engines keep"). */
  seed: number;
  /** The validation split; engines may share it with their workers for evaluate(). */
  validation: Dataset | null;
  /** Rows computed at once per worker; undefined = the model's default. */
  microBatch: number | undefined;
  /** Kernel set every worker loads (docs/kernels.md); 'auto' = blas, else wasm, where they run. */
  kernels: KernelsChoice;
  /** The BLAS library for 'blas' and 'auto' (--blas-library); undefined = DPTRAIN_BLAS or the search. */
  blasLibrary?: string | null;
  /**
   * Gradient slots per step: the batch is split into this many fixed chunks whose sums are
   * reduced in chunk order, so the result is bit-identical for every worker count. Undefined =
   * one slot per worker (fastest; equal across worker counts only up to float rounding).
   */
  chunks?: number;
  /** How BatchNorm layers normalize in training (--batchnorm; default local). */
  batchNorm?: BatchNormMode;
  /** The BatchNorm running statistics to start from (a checkpoint's); undefined = fresh (mean 0, var 1). */
  buffers?: Float32Array;
}

/** One step: the rows [start, end) of epoch `epoch`'s permutation form the global batch. */
export interface StepPlan {
  epoch: number;
  /** Global step, counted from 0 over the whole run. */
  step: number;
  start: number;
  end: number;
}

/** What one gradient slot (a worker's shard, or a fixed chunk) contributed. */
export interface ShardReport {
  count: number;
  /** |sum of the shard's per-sample gradients|², for the gradient noise scale. */
  gradSumSq: number;
}

/** Where one worker's time went in a step. */
export interface WorkerReport {
  /** Its name, as the run's records name it (a ws worker's --name); undefined = `worker INDEX` (threads, inline). */
  name?: string;
  computeMs: number;
  /** Time spent waiting for the other workers before the reduce. */
  waitMs: number;
  /** The thread that ran it (threads engine). */
  threadId?: number;
}

export interface GradientResult extends BatchResult {
  /** |reduced gradient sum|² (divide by count² for the mean gradient's squared norm). */
  gradSumSq: number;
  /** Per gradient slot, in slot order. */
  shards: ShardReport[];
  /** Per worker, in worker order. */
  workers: WorkerReport[];
  reduceMs: number;
  /**
   * Workers whose shard had a non-finite loss or gradient, by name (`thread 1`, a ws worker's
   * name), in worker order; empty when every shard was finite.
   */
  nonFiniteWorkers: string[];
  /** ws engine: per worker, when its gradient buckets were final and all-reduced. */
  timeline?: WorkerTimeline[];
}

/**
 * One ws worker's step, ms from the start of its compute (forward + backward): backward ended at
 * `computeMs`; bucket b (backward order) was final at `readyMs` and all-reduced from `startMs` to
 * `endMs` (star: sent to the coordinator).
 */
export interface WorkerTimeline {
  worker: string;
  computeMs: number;
  buckets: BucketTiming[];
}

/** One gradient bucket in a worker's step (WorkerTimeline), ms from the start of its compute. */
export interface BucketTiming {
  readyMs: number;
  startMs: number;
  endMs: number;
}

export interface UpdatePlan {
  lr: number;
  /** Multiplies the reduced gradient sum: 1/globalCount × the clipping factor. */
  gradScale: number;
  /** 1-based count of updates applied so far including this one (Adam bias correction). */
  t: number;
}

export interface UpdateTiming {
  updateMs: number;
}

export interface Engine {
  readonly kind: EngineKind;
  readonly workers: number;
  /** The kernel set in use, as its start-up description (e.g. `wasm (simd128)`). */
  readonly kernels: string;
  /** How the kernel set was chosen: the BLAS library and its self-test, or why auto fell back. */
  readonly kernelsReport?: KernelsReport;
  /**
   * ws: `dptrain coordinator`'s own options, which the run records beside its config (config.json's
   * and each checkpoint's `coordinator`) so that `--resume` takes them back; undefined otherwise.
   */
  readonly coordinatorRecord?: Readonly<Record<string, unknown>>;
  /**
   * The live parameters, identical on every replica after each update. The three buffers are
   * plain reads (no getter does work); after `applyUpdate`, read them after `synchronize()`.
   */
  readonly params: Float32Array;
  /** The reduced gradient sum of the last `computeGradients`. */
  readonly gradient: Float32Array;
  /** Optimizer state tensors by PyTorch name (for checkpoints). */
  readonly optimizerState: Readonly<Record<string, Float32Array>>;
  /**
   * The BatchNorm running statistics (model buffers.ts; empty without BatchNorm), identical on
   * every replica: each applied step updates them from the global batch's statistics; a skipped
   * step leaves them. Read after synchronize(), like params.
   */
  readonly buffers: Float32Array;
  computeGradients(plan: StepPlan): Promise<GradientResult>;
  /**
   * The optimizer update with the last reduced gradient (optim/ runs it). An engine may defer it
   * (the threads engine folds it into the next step's tasks); `synchronize()` completes it.
   */
  applyUpdate(update: UpdatePlan): Promise<UpdateTiming>;
  /**
   * Completes a deferred update, so that `params`, `optimizerState` and `gradient` are current
   * (the threads engine throws EngineError `notSynchronized` if they are read before). No-op
   * for engines that update at once.
   */
  synchronize(): Promise<void>;
  /**
   * Drops the last computed gradient instead of applying it (a non-finite step under
   * --on-nonfinite skip): every replica keeps its parameters and optimizer state.
   */
  skipUpdate(): Promise<void>;
  /**
   * Loss and correct count over a whole dataset with the current parameters; with `outputs`
   * ([data.n, model outputs]) also the model's outputs per row (logits, or regression predictions).
   */
  evaluate(data: Dataset, outputs?: Float32Array): Promise<BatchResult>;
  close(): Promise<void>;
}
