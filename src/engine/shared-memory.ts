/** Allocation of the threads engine's SharedArrayBuffers. */
import type { Dataset } from '../data/index.js';
import type { SharedDataset } from './messages.js';

export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, length) * 4), 0, length);
}

export function sharedUint32(length: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(Math.max(1, length) * 4), 0, length);
}

/** Copies a dataset into shared memory once; every thread then maps it without a copy. */
export function shareDataset(data: Dataset): SharedDataset {
  const x = sharedFloat32(data.x.length);
  x.set(data.x);
  const y = sharedFloat32(data.y.length);
  y.set(data.y);
  return { n: data.n, inputDim: data.inputDim, targetDim: data.targetDim, x, y };
}

/** An optimizer `allocate` callback handing out consecutive [numParams] views of one state buffer. */
export function stateAllocator(state: Float32Array, numParams: number): (length: number) => Float32Array {
  let tensor = 0;
  return (length) => {
    const view = state.subarray(tensor * numParams, tensor * numParams + length);
    tensor += 1;
    return view;
  };
}
