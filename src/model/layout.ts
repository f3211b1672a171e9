/**
 * Parameter layout: every parameter in ONE flat array, PyTorch naming and layout
 * (docs/models.md): for the dense forms, for each linear layer i, `layers.{i}.weight` [out, in] row-major, then
 * `layers.{i}.bias` [out]; for layer models `layers.{position}.weight` (conv: [out, in, kh, kw]). One flat array makes all-reduce and optimizers layout-agnostic.
 */
import { ModelError, shown } from '../errors.js';
import type { FloatArray } from '../util/float.js';
import { shapeSize } from './layers.js';
import type { ModelSpec } from './spec.js';
import { buildStack, type LayerStack } from './stack.js';

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

/** The layout of a spec's parameters: each layer's weight then bias, in layer order (stack.ts names them). */
export function paramLayout(spec: ModelSpec): ParamLayout {
  return layoutOfStack(buildStack(spec));
}

/** The layout of an already-built stack. */
export function layoutOfStack(stack: LayerStack): ParamLayout {
  const tensors: ParamTensor[] = [];
  let offset = 0;
  for (const layer of stack.layers) {
    for (const p of layer.params) {
      const size = shapeSize(p.shape);
      tensors.push({ name: `${layer.name}.${p.suffix}`, shape: p.shape.slice(), offset, size });
      offset += size;
    }
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
