/**
 * A model's buffers: the BatchNorm running statistics, PyTorch's `running_mean` [C],
 * `running_var` [C] and `num_batches_tracked` (a scalar) of each BatchNorm layer, in ONE flat
 * Float32Array beside the parameters (docs/models.md#batchnorm). They are replicated state, not
 * parameters: no gradient, no optimizer; every replica updates them once per applied step from
 * the same statistics of the global batch, so they stay identical everywhere.
 */
import type { ParamTensor } from './layout.js';
import type { LayerStack } from './stack.js';

/** Per BatchNorm layer: where its buffers and its statistics live. */
export interface NormSlot {
  /** Index of the layer in the stack. */
  layer: number;
  channels: number;
  /** Offset of running_mean in the buffers (running_var follows, then num_batches_tracked). */
  offset: number;
  /** Offset of its sums (Σx [C], Σx² [C], count) in a batch-statistics vector. */
  statsOffset: number;
}

export interface BufferLayout {
  /** `layers.{i}.running_mean` [C], `.running_var` [C], `.num_batches_tracked` [] (stored as float32 here, int64 in files). */
  tensors: ParamTensor[];
  size: number;
  norms: NormSlot[];
  /** Length of a batch-statistics vector: Σ (2C + 1) over the BatchNorm layers. */
  statsSize: number;
}

/** PyTorch's BatchNorm momentum and ε. */
export const BN_MOMENTUM = 0.1;
export const BN_EPS = 1e-5;

/** The buffers of a stack, in layer order (empty for a model without BatchNorm). */
export function bufferLayout(stack: LayerStack): BufferLayout {
  const tensors: ParamTensor[] = [];
  const norms: NormSlot[] = [];
  let offset = 0;
  let statsSize = 0;
  stack.layers.forEach((s, i) => {
    if (s.layer.type !== 'batchnorm') return;
    const c = s.inShape[0];
    norms.push({ layer: i, channels: c, offset, statsOffset: statsSize });
    tensors.push({ name: `${s.name}.running_mean`, shape: [c], offset, size: c });
    tensors.push({ name: `${s.name}.running_var`, shape: [c], offset: offset + c, size: c });
    tensors.push({ name: `${s.name}.num_batches_tracked`, shape: [], offset: offset + 2 * c, size: 1 });
    offset += 2 * c + 1;
    statsSize += 2 * c + 1;
  });
  return { tensors, size: offset, norms, statsSize };
}

/** Fresh buffers, as PyTorch starts them: running_mean 0, running_var 1, num_batches_tracked 0. */
export function initBuffers(layout: BufferLayout): Float32Array {
  const buffers = new Float32Array(layout.size);
  for (const n of layout.norms) buffers.fill(1, n.offset + n.channels, n.offset + 2 * n.channels);
  return buffers;
}

/**
 * One step's running update from the batch statistics (sums over the normalized batch, as
 * batchNormSums lays them out), as PyTorch does it: running_mean ← (1 − m)·running_mean + m·mean,
 * running_var ← (1 − m)·running_var + m·(unbiased variance), num_batches_tracked += 1.
 */
export function updateRunningStats(layout: BufferLayout, buffers: Float32Array, stats: Float64Array): void {
  const m = BN_MOMENTUM;
  for (const n of layout.norms) {
    const c = n.channels;
    const count = stats[n.statsOffset + 2 * c];
    for (let ch = 0; ch < c; ch++) {
      const mean = stats[n.statsOffset + ch] / count;
      const biased = Math.max(0, stats[n.statsOffset + c + ch] / count - mean * mean);
      const unbiased = count > 1 ? (biased * count) / (count - 1) : biased;
      buffers[n.offset + ch] = (1 - m) * buffers[n.offset + ch] + m * mean;
      buffers[n.offset + c + ch] = (1 - m) * buffers[n.offset + c + ch] + m * unbiased;
    }
    buffers[n.offset + 2 * c] += 1;
  }
}

/** A buffer as a file holds it: running_mean/var F32 [C], num_batches_tracked I64 [] (PyTorch's state_dict). */
export interface BufferTensor {
  name: string;
  dtype: 'F32' | 'I64';
  shape: number[];
  data: Float32Array | BigInt64Array;
}

/** The dtype a buffer tensor has in a file: num_batches_tracked (a scalar) is int64, the rest float32. */
export function bufferDtype(t: ParamTensor): 'F32' | 'I64' {
  return t.shape.length === 0 ? 'I64' : 'F32';
}

/** The buffers as PyTorch's tensors (views of `buffers`, the scalar converted), so load_state_dict takes them. */
export function bufferTensors(buffers: Float32Array, layout: BufferLayout): BufferTensor[] {
  return layout.tensors.map((t) =>
    bufferDtype(t) === 'I64'
      ? { name: t.name, dtype: 'I64' as const, shape: [], data: BigInt64Array.of(BigInt(Math.round(buffers[t.offset]))) }
      : { name: t.name, dtype: 'F32' as const, shape: [...t.shape], data: buffers.subarray(t.offset, t.offset + t.size) },
  );
}

/** Writes one buffer tensor read from a file (of bufferDtype(t), checked by the caller) into `buffers`. */
export function setBufferTensor(buffers: Float32Array, t: ParamTensor, data: ArrayLike<number> | BigInt64Array): void {
  if (bufferDtype(t) === 'I64') buffers[t.offset] = Number((data as BigInt64Array)[0]);
  else buffers.set(data as ArrayLike<number>, t.offset);
}
