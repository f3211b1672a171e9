/**
 * The run's setup as a worker needs it, and the worker's side of it: rebuild exactly the
 * coordinator's training split from the dataset spec (or the shipped samples), and prove it by
 * hash. The preparation mirrors train()'s data phase (src/train/loop.ts): split with the run's
 * seed, then standardize on the training split's statistics. `trainHash` checks the result, so a
 * change of that phase on one side shows up as a refused join, never as a silent divergence.
 */
import {
  applyStandardization,
  createDataset,
  datasetHash,
  fitStandardization,
  loadDataset,
  sampleArray,
  splitDataset,
  type Dataset,
} from '../../data/index.js';
import { EngineError } from '../../errors.js';
import type { EngineSetup } from '../engine.js';
import type { KernelsName } from '../../kernels/index.js';
import type { SetupMessage } from './messages.js';
import { batchNormText } from '../../model/index.js';

/** Floats per shipped-data chunk. */
export function dataChunkFloats(chunkBytes: number): number {
  return Math.max(1, Math.floor(chunkBytes / 4));
}

export interface SetupFacts {
  setup: EngineSetup;
  kernels: KernelsName;
  datasetSpec: string;
  datasetHash: string;
  valSplit: number;
  standardize: boolean;
  ring: boolean;
  ringChunkFloats: number;
  buckets: { start: number; end: number }[];
  overlap: boolean;
  compress: 'none' | 'fp16' | 'bf16';
  compressFeedback: boolean;
  loaded: Dataset;
  shipData: boolean;
}

/** The `setup` message for every worker of this run. */
export function setupMessage(facts: SetupFacts): SetupMessage {
  const { setup } = facts;
  const o = setup.optimizer;
  return {
    type: 'setup',
    model: setup.model.text,
    numParams: setup.params.length,
    dataset: facts.datasetSpec,
    datasetHash: facts.datasetHash,
    trainHash: datasetHash(setup.train),
    valSplit: facts.valSplit,
    standardize: facts.standardize,
    seed: setup.seed,
    optimizer: { name: o.name, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay, beta1: o.beta1, beta2: o.beta2, eps: o.eps },
    microBatch: setup.microBatch ?? 0,
    kernels: facts.kernels,
    chunks: setup.chunks ?? 0,
    batchnorm: batchNormText(setup.batchNorm ?? { kind: 'sync' }),
    ring: facts.ring,
    ringChunkFloats: facts.ringChunkFloats,
    buckets: facts.buckets,
    overlap: facts.overlap,
    compress: facts.compress,
    compressFeedback: facts.compressFeedback,
    ...(facts.shipData && {
      shipped: {
        n: facts.loaded.n,
        inputDim: facts.loaded.inputDim,
        targetDim: facts.loaded.targetDim,
        task: facts.loaded.task,
        numClasses: facts.loaded.numClasses,
        spec: facts.loaded.spec,
      },
    }),
  };
}

/** Receives a shipped dataset's arrays piece by piece; `add` checks every piece's place. */
export class ShippedData {
  readonly x: Float32Array;
  readonly y: Float32Array;
  #received = { x: 0, y: 0 };
  readonly #shape: NonNullable<SetupMessage['shipped']>;

  constructor(shape: NonNullable<SetupMessage['shipped']>, maxElements: number) {
    this.#shape = shape;
    const xs = shape.n * shape.inputDim;
    const ys = shape.n * shape.targetDim;
    if (xs + ys > maxElements) {
      throw new EngineError('badSetup', `the shipped dataset has ${xs + ys} values, more than this worker accepts (${maxElements})`);
    }
    this.x = sampleArray(xs);
    this.y = sampleArray(ys);
  }

  /** Pieces must arrive in order without gaps: x first, then y. */
  add(array: 'x' | 'y', offset: number, values: Float32Array): void {
    const target = this[array];
    if (offset !== this.#received[array] || offset + values.length > target.length || (array === 'y' && this.#received.x !== this.x.length)) {
      throw new EngineError('badSetup', `shipped data piece ${array}[${offset}, ${offset + values.length}) is out of order or out of bounds`);
    }
    target.set(values, offset);
    this.#received[array] += values.length;
  }

  get complete(): boolean {
    return this.#received.x === this.x.length && this.#received.y === this.y.length;
  }

  dataset(): Dataset {
    const s = this.#shape;
    return createDataset({ spec: s.spec, n: s.n, inputDim: s.inputDim, x: this.x, targetDim: s.targetDim, y: this.y, task: s.task, numClasses: s.numClasses });
  }
}

/** The pieces of a dataset to ship, in order (x then y), each at most `chunkFloats` floats. */
export function* dataPieces(ds: Dataset, chunkFloats: number): Generator<{ array: 'x' | 'y'; offset: number; values: Float32Array }> {
  for (const array of ['x', 'y'] as const) {
    const values = ds[array];
    for (let offset = 0; offset < values.length; offset += chunkFloats) {
      yield { array, offset, values: values.subarray(offset, Math.min(values.length, offset + chunkFloats)) };
    }
  }
}

export interface PreparedData {
  loaded: Dataset;
  loadedHash: string;
  train: Dataset;
  trainHash: string;
}

/** Loads (unless given) and prepares the training split as train() does; returns the hashes to prove it. */
export async function prepareTrainSplit(setup: SetupMessage, shipped: Dataset | null): Promise<PreparedData> {
  const loaded = shipped ?? (await loadDataset(setup.dataset));
  const loadedHash = datasetHash(loaded);
  let { train } = splitDataset(loaded, setup.valSplit, setup.seed);
  if (setup.standardize) train = applyStandardization(train, fitStandardization(train));
  return { loaded, loadedHash, train, trainHash: datasetHash(train) };
}
