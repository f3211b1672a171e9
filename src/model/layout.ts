/**
 * Parameter layout: every parameter in ONE flat array, PyTorch naming and layout
 * (design.md §4): for each linear layer i, `layers.{i}.weight` [out, in] row-major, then
 * `layers.{i}.bias` [out]. One flat array makes all-reduce and optimizers layout-agnostic.
 */
import { ModelError, shown } from '../errors.js';
import type { FloatArray } from '../util/float.js';
import type { ModelSpec } from './spec.js';

export interface ParamTensor {
  name: string;
  shape: number[];
  /** Start index in the flat parameter array (elements, not bytes). */
  offset: number;
  /** Number of elements. */
  size: number;
}

export interface ParamLayout {
  tensors: ParamTensor[];
  /** Total number of parameters. */
  size: number;
}

/** The layout of a spec's parameters: weight then bias for each linear layer, in order. */
export function paramLayout(spec: ModelSpec): ParamLayout {
  const tensors: ParamTensor[] = [];
  let offset = 0;
  for (let i = 0; i + 1 < spec.sizes.length; i++) {
    const inDim = spec.sizes[i];
    const outDim = spec.sizes[i + 1];
    tensors.push({ name: `layers.${i}.weight`, shape: [outDim, inDim], offset, size: outDim * inDim });
    offset += outDim * inDim;
    tensors.push({ name: `layers.${i}.bias`, shape: [outDim], offset, size: outDim });
    offset += outDim;
  }
  return { tensors, size: offset };
}

/** A view (subarray, sharing memory) of one named tensor; ModelError `unknownTensor` otherwise. */
export function paramView<T extends FloatArray>(params: T, layout: ParamLayout, name: string): T {
  const tensor = layout.tensors.find((t) => t.name === name);
  if (tensor === undefined) {
    const names = layout.tensors.map((t) => t.name).join(', ');
    throw new ModelError('unknownTensor', `no parameter tensor named ${shown(name)} — this model has ${names}`);
  }
  return params.subarray(tensor.offset, tensor.offset + tensor.size) as T;
}
