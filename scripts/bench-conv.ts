/**
 * The conv layers' own speed (issue 14's target: forward + backward >= 25 GFLOP/s in one thread):
 * each conv layer of a model driven alone through its op (im2col, GEMM, weight reorder, col2im),
 * as the Model runs it in training; the first layer computes no input gradient, as in training.
 * FLOPs: 2·rows·Ho·Wo·out·(k·k·C) per GEMM, three GEMMs (two for the first layer).
 */
import type { Kernels } from '../src/kernels/index.js';
import { buildStack, initParams, layerToken, parseModelSpec } from '../src/model/index.js';
import { compileOps } from '../src/model/layer-ops.js';
import { median } from './bench-common.js';

export interface ConvThroughput {
  rows: number;
  gflops: number;
  perLayer: { token: string; gflops: number }[];
}

export async function convThroughput(model: string, k: Kernels, rows = 64, rounds = 7): Promise<ConvThroughput> {
  const stack = buildStack(parseModelSpec(model));
  const ctx = { k, training: true, seed: 0, step: 0, samples: [], firstRow: 0 };
  const perLayer: { token: string; gflops: number; flops: number; seconds: number }[] = [];
  const owned: { free(): void }[] = [];
  const alloc = (length: number) => {
    const b = k.allocate(length);
    owned.push(b);
    return b;
  };
  const params = initParams(parseModelSpec(model), 0) as Float32Array;
  let first = true;
  let offset = 0;
  for (const [i, s] of stack.layers.entries()) {
    const size = s.params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    if (s.layer.type !== 'conv2d') {
      offset += size;
      continue;
    }
    // Each conv with its ReLU alone: in the model a max pool after them may take over their
    // epilogue and, for the first layer, the weight gradient (layer-ops.ts), which is not the
    // conv's own speed.
    const alone = stack.layers.slice(i, stack.layers[i + 1]?.layer.type === 'relu' ? i + 2 : i + 1);
    const { op } = compileOps(alone)[0];
    op.reserve(rows, alloc);
    const x = alloc(rows * op.inWidth);
    const y = alloc(rows * op.outWidth);
    const dy = alloc(rows * op.outWidth);
    const dx = alloc(rows * op.inWidth);
    const p = alloc(size);
    const g = alloc(size);
    x.array.forEach((_, j, a) => (a[j] = ((j * 7) % 13) / 13));
    dy.array.forEach((_, j, a) => (a[j] = ((j * 5) % 11) / 11 - 0.5));
    p.array.set(params.subarray(offset, offset + size));
    offset += size;
    const wSize = s.params[0].shape.reduce((a, b) => a * b, 1);
    const views = () => [p.array.subarray(0, wSize), p.array.subarray(wSize)];
    const grads = () => [g.array.subarray(0, wSize), g.array.subarray(wSize)];
    const noDx = first;
    first = false;
    const run = () => {
      op.forward(ctx, x.array, y.array, rows, views());
      op.backward(ctx, x.array, y.array, dy.array, noDx ? null : dx.array, null, rows, views(), grads());
    };
    for (let w = 0; w < 3; w++) run();
    const samples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      run();
      samples.push((performance.now() - t0) / 1000);
    }
    const [c] = s.inShape;
    const [out, ho, wo] = s.outShape;
    const gemm = 2 * rows * ho * wo * out * s.params[0].shape[2] * s.params[0].shape[3] * c;
    const flops = gemm * (noDx ? 2 : 3);
    const seconds = median(samples);
    perLayer.push({ token: layerToken(s.layer), gflops: flops / seconds / 1e9, flops, seconds });
  }
  for (const b of owned) b.free();
  const flops = perLayer.reduce((a, l) => a + l.flops, 0);
  const seconds = perLayer.reduce((a, l) => a + l.seconds, 0);
  return { rows, gflops: flops / seconds / 1e9, perLayer: perLayer.map(({ token, gflops }) => ({ token, gflops })) };
}
