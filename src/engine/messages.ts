/**
 * What the threads engine's coordinator and its worker threads say to each other. Only plans
 * cross: data, parameters, gradients and optimizer state stay in shared memory (SharedMemory).
 */
import type { OptimizerConfig } from '../optim/index.js';
import type { BatchNormMode } from '../model/index.js';
import type { KernelsChoice } from '../kernels/index.js';
import type { WasmMemory, WasmModule } from '../collective/index.js';
import type { SharedLayout } from './shared-memory.js';
import type { BucketShared } from './buckets.js';

/** A dataset's arrays in shared memory, mapped once by every thread. */
export interface SharedDataset {
  n: number;
  inputDim: number;
  targetDim: number;
  x: Float32Array;
  y: Float32Array;
}

/** workerData of every pool thread (the same for a replacement thread). */
export interface WorkerSetup {
  model: string;
  /** The run's seed: with a task's step, it keys the dropout masks (docs/models.md#dropout). */
  seed: number;
  kernels: KernelsChoice;
  /** The BLAS library the main thread resolved (for 'blas'); null otherwise. */
  blasLibrary: string | null;
  workers: number;
  numParams: number;
  microBatch: number | undefined;
  optimizer: OptimizerConfig;
  /** Gradient slots per step (fixed chunks, or one per worker). */
  slotCount: number;
  train: SharedDataset;
  validation: SharedDataset | null;
  /** The current epoch's permutation of the training rows, written by the coordinator. */
  permutation: Uint32Array;
  /**
   * The one buffer of everything a step writes, laid out by `layout` (shared-memory.ts):
   * double-buffered parameters (version v in params[v % 2]) and optimizer state (stateTensors ×
   * numParams per version), the gradient-sum slots [slotCount, numParams], the reduced gradient
   * sum [numParams], and a reduce scratch region per worker.
   */
  buffer: SharedArrayBuffer;
  layout: SharedLayout;
  /** The shared WebAssembly.Memory that `buffer` belongs to, with the compiled collective module; null on the JS path. */
  memory: WasmMemory | null;
  collectiveModule: WasmModule | null;
  /** The step barrier's words (see barrier.ts). */
  control: Int32Array;
  /** Gradient buckets (buckets.ts): each is reduced as soon as every thread's backward finished it. */
  buckets: BucketShared | null;
  /** The bucket starts, for Model.setGradientCuts (also where `buckets` is null, so that every step path has the same blocks). */
  gradientCuts: number[] | null;
  /** How BatchNorm layers normalize in training. */
  batchNorm: BatchNormMode;
  /** The BatchNorm running statistics (written by the engine's thread at each update, read by evaluations). */
  buffers: Float32Array;
  /**
   * BatchNorm exchanges (lockstep.ts): two areas (by exchange parity) of slotCount × width
   * float64 partial sums, each slot's written by its owner; empty without BatchNorm.
   */
  exchange: Float64Array;
  exchangeWidth: number;
}

/** Test-only fault injection: the task fails halfway through its shard. */
export type InjectedFault = 'throw' | 'exit';

/**
 * One worker's part of a step: compute each of its slots' rows into that slot, wait at the
 * barrier until every slot is written, then reduce parameter range [reduceStart, reduceEnd)
 * over all slots.
 */
export interface StepTask {
  kind: 'step';
  worker: number;
  /** The first slot this worker writes; `slots[i]` are the rows of slot firstSlot + i. */
  firstSlot: number;
  slots: { start: number; end: number }[];
  step: number;
  /** Identifies this dispatch at the barrier (a retried step gets a new round). */
  round: number;
  /** Parameter version to read. */
  version: number;
  /** This worker's parameter range: it reduces it, and applies `update` to it. */
  reduceStart: number;
  reduceEnd: number;
  /**
   * The previous step's optimizer update, folded into this task: applied to this worker's range
   * (reading version `update.version`, writing version + 1 = `version`) before the UPDATED
   * barrier, which every worker passes before it reads the parameters.
   */
  update?: VersionUpdate;
  fault?: InjectedFault;
}

/** An optimizer update from version `version` to version + 1 (out of place: version stays intact). */
export interface VersionUpdate {
  version: number;
  lr: number;
  gradScale: number;
  t: number;
}

export interface UpdateTask extends VersionUpdate {
  kind: 'update';
  /** Reads parameters and state of `version`, writes `version + 1`, over [start, end). */
  start: number;
  end: number;
}

export interface EvaluateTask {
  kind: 'evaluate';
  version: number;
  /** Rows [start, end) of the validation set. */
  start: number;
  end: number;
  /** Where to write the outputs of every row ([rows, outputs] float32, shared by the tasks), when asked for. */
  outputs?: SharedArrayBuffer;
}

export type WorkerTask = StepTask | UpdateTask | EvaluateTask;

/**
 * A step task whose round was aborted at a barrier because another task of it failed: returned,
 * not thrown, because an Error's class and code do not survive the structured clone to the engine.
 */
export interface StepAborted {
  aborted: number;
}

export interface StepResult {
  /** Per slot of this worker, in slot order: the model's sums. */
  slots: { lossSum: number; correct: number; count: number }[];
  threadId: number;
  computeMs: number;
  /** Time spent at the barrier waiting for the other workers. */
  waitMs: number;
  reduceMs: number;
  /** Time of the folded update of the previous step on this worker's range (0 if none). */
  updateMs: number;
  /** Σ reduced² over this worker's range. */
  sumSq: number;
  /** Per slot, Σ slot² over this worker's range. */
  slotSumSq: Float64Array;
  /** With BatchNorm: the step's batch statistics (the same on every worker). */
  batchStats?: Float64Array;
}

export interface UpdateResult {
  ms: number;
}

export interface EvaluateResult {
  lossSum: number;
  correct: number;
  count: number;
}
