/**
 * What the threads engine's coordinator and its worker threads say to each other. Only plans
 * cross: data, parameters, gradients and optimizer state stay in shared memory (SharedMemory).
 */
import type { OptimizerConfig } from '../optim/index.js';

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
  kernels: string;
  workers: number;
  numParams: number;
  microBatch: number | undefined;
  optimizer: OptimizerConfig;
  /** Number of optimizer state tensors (0 for plain SGD, 1 for momentum, 2 for Adam). */
  stateTensors: number;
  train: SharedDataset;
  validation: SharedDataset | null;
  /** The current epoch's permutation of the training rows, written by the coordinator. */
  permutation: Uint32Array;
  /** Double-buffered parameters: version v lives in params[v % 2]. */
  params: [Float32Array, Float32Array];
  /** Double-buffered optimizer state, stateTensors × numParams each, version as params. */
  state: [Float32Array, Float32Array];
  /** One gradient-sum slot per worker: [workers, numParams]. */
  slots: Float32Array;
  /** The all-reduced gradient sum: [numParams]. */
  reduced: Float32Array;
}

/** Test-only fault injection: the task fails halfway through its shard. */
export type InjectedFault = 'throw' | 'exit';

export interface ComputeTask {
  kind: 'compute';
  /** The slot to write: the shard's worker index. */
  worker: number;
  step: number;
  /** Parameter version to read. */
  version: number;
  /** Rows [start, end) of the epoch permutation. */
  start: number;
  end: number;
  fault?: InjectedFault;
}

export interface ReduceTask {
  kind: 'reduce';
  start: number;
  end: number;
}

export interface UpdateTask {
  kind: 'update';
  /** Reads parameters and state of `version`, writes `version + 1`. */
  version: number;
  start: number;
  end: number;
  lr: number;
  gradScale: number;
  t: number;
}

export interface EvaluateTask {
  kind: 'evaluate';
  version: number;
  /** Rows [start, end) of the validation set. */
  start: number;
  end: number;
}

export type WorkerTask = ComputeTask | ReduceTask | UpdateTask | EvaluateTask;

export interface ComputeResult {
  lossSum: number;
  correct: number;
  count: number;
  ms: number;
  threadId: number;
}

export interface ReduceResult {
  sumSq: number;
  slotSumSq: Float64Array;
  ms: number;
}

export interface UpdateResult {
  ms: number;
}

export interface EvaluateResult {
  lossSum: number;
  correct: number;
  count: number;
}
