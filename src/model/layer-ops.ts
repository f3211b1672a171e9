/**
 * The numeric side of each layer: forward and backward over a batch of rows, through a kernel
 * set. Images travel between layers channels-last (HWC, kernels/conv.ts explains why); flatten
 * turns them into PyTorch's (C, H, W) order, so dense weights after it match PyTorch's.
 *
 * Gradient protocol: an op whose `outputIsRelu` is set has already had its ReLU applied, and the
 * op after it zeroes its dx where that output is <= 0 (`dxMask`), inside the GEMM for dense
 * layers (the fused ReLU-gradient epilogue). In-place ops (relu, tanh, dropout, an identity
 * flatten) keep the sign of their input, so a mask read through them is still right.
 */
import type { DropoutKey, KernelBuffer, Window2d } from '../kernels/index.js';
import type { FloatArray } from '../util/float.js';
import type { StackLayer } from './stack.js';
import { BatchNormOp } from './batchnorm-op.js';
import type { NormSlot } from './buffers.js';
import { BaseOp, maskDx, Scratch, type Allocate, type LayerOp, type RowBlocks, type RunContext } from './op-base.js';

export type { Allocate, LayerOp, RunContext } from './op-base.js';

/** y = x·Wᵀ + b (nn.Linear); the ReLU epilogue when fused. */
class DenseOp extends BaseOp {
  override readonly splitsWeightRows = true;
  #bias: boolean;
  #relu = false;
  constructor(s: StackLayer, bias: boolean) {
    super(s);
    this.#bias = bias;
  }
  override fuseRelu(): boolean {
    this.#relu = true;
    this.outputIsRelu = true;
    return true;
  }
  forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number, p: FloatArray[]): void {
    const k = ctx.k;
    if (this.#bias) k.linearForward(x, p[0], p[1], y, n, this.inWidth, this.outWidth, this.#relu);
    else {
      k.matmulXWt(x, p[0], y, n, this.inWidth, this.outWidth);
      if (this.#relu) k.reluForward(y, n * this.outWidth);
    }
  }
  backward(ctx: RunContext, x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number, p: FloatArray[], g: FloatArray[], paramsDone?: () => void, rows?: RowBlocks): void {
    const k = ctx.k;
    if (rows && rows.cuts.length > 0 && k.matmulDyTXAccRows) {
      // The bias first: a block's bucket runs on to the end of the gradient, past this bias.
      if (this.#bias) k.biasGradAcc(dy, g[1], n, this.outWidth);
      let end = this.outWidth;
      for (const start of rows.cuts) {
        k.matmulDyTXAccRows(dy, x, g[0], n, this.outWidth, this.inWidth, start, end);
        rows.done(start);
        end = start;
      }
      k.matmulDyTXAccRows(dy, x, g[0], n, this.outWidth, this.inWidth, 0, end);
    } else {
      k.matmulDyTXAcc(dy, x, g[0], n, this.outWidth, this.inWidth);
      if (this.#bias) k.biasGradAcc(dy, g[1], n, this.outWidth);
    }
    paramsDone?.();
    if (dx === null) return;
    if (dxMask !== null) k.matmulDyWReluMask(dy, p[0], dxMask, dx, n, this.outWidth, this.inWidth);
    else k.matmulDyW(dy, p[0], dx, n, this.outWidth, this.inWidth);
  }
}

/** Geometry of a window layer for n rows. */
function windowOf(s: StackLayer, kernel: number, stride: number, padding: number, n: number): Window2d {
  const [c, h, w] = s.inShape;
  return { n, h, w, c, k: kernel, stride, pad: padding, ho: s.outShape[1], wo: s.outShape[2] };
}

/** nn.Conv2d as im2col + one GEMM over the batch (kernels/conv.ts). */
class Conv2dOp extends BaseOp {
  #s: StackLayer;
  #kernel: number;
  #stride: number;
  #padding: number;
  #bias: boolean;
  #relu = false;
  /** A 1x1, stride 1, unpadded conv needs no im2col: the HWC input is the cols matrix. */
  #direct: boolean;
  #filters: number;
  /** kh·kw·C: the GEMM's depth. */
  #depth: number;
  #cols: Scratch;
  /** The weights in kkC order, and the Model call they were reordered in (-1: none). */
  #wk: KernelBuffer | null = null;
  #wkCall = -1;
  /** The weight gradient in kkC order, summed over a call's micro-batches. */
  #dwk: KernelBuffer | null = null;
  constructor(s: StackLayer, layer: { filters: number; kernel: number; stride: number; padding: number; bias: boolean }) {
    super(s);
    this.#s = s;
    this.#kernel = layer.kernel;
    this.#stride = layer.stride;
    this.#padding = layer.padding;
    this.#bias = layer.bias;
    this.#filters = layer.filters;
    this.#depth = layer.kernel * layer.kernel * s.inShape[0];
    this.#direct = layer.kernel === 1 && layer.stride === 1 && layer.padding === 0;
    this.#cols = new Scratch(this.#direct ? 0 : s.outShape[1] * s.outShape[2] * this.#depth);
  }
  override fuseRelu(): boolean {
    this.#relu = true;
    this.outputIsRelu = true;
    return true;
  }
  /**
   * Leaves bias and ReLU to the max pool after this layer (`deferredBias` tells it the bias of the
   * current call): the output is then x·Wᵀ alone, and the pool applies them to its 4x smaller
   * output (kernels/conv.ts, maxPoolHwcForward, says why that is exact).
   */
  deferEpilogue(): void {
    this.#deferred = true;
    this.#relu = false;
    this.outputIsRelu = false;
  }
  /** The bias view of the last forward call when the epilogue is deferred (null: no bias). */
  deferredBias: FloatArray | null = null;
  #deferred = false;
  /**
   * The first layer's conv, whose pool hands it its own gradient: the conv's output gradient is
   * that pool gradient at the argmax positions and zero elsewhere, so the weight and bias
   * gradients come from those rows alone (kernels/conv.ts, pooledConvGradAcc), and neither the
   * pool's scatter into the conv's output gradient nor a GEMM over all rows is needed.
   */
  #pooled: MaxPoolOp | null = null;
  takePooledGradient(pool: MaxPoolOp): void {
    this.#pooled = pool;
  }
  override reserve(rows: number, alloc: Allocate): void {
    if (!this.#direct) this.#cols.reserve(rows, alloc);
    this.#wk ??= alloc(this.#filters * this.#depth);
    this.#dwk ??= alloc(this.#filters * this.#depth);
  }
  forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number, p: FloatArray[]): void {
    const k = ctx.k;
    const g = windowOf(this.#s, this.#kernel, this.#stride, this.#padding, n);
    const wk = this.#wk!.array;
    // Once per Model call: the parameters do not change between its micro-batches.
    const call = ctx.microBatch?.call ?? -1;
    if (call === -1 || call !== this.#wkCall) k.convWeightToKkc(p[0], wk, this.#filters, g.c, this.#kernel);
    this.#wkCall = call;
    let cols = x;
    if (!this.#direct) {
      cols = this.#cols.array;
      k.im2colHwc(x, cols, g);
    }
    const rows = n * g.ho * g.wo;
    if (this.#deferred) {
      this.deferredBias = this.#bias ? p[1] : null;
      k.matmulXWt(cols, wk, y, rows, this.#depth, this.#filters);
    } else if (this.#bias) k.linearForward(cols, wk, p[1], y, rows, this.#depth, this.#filters, this.#relu);
    else {
      k.matmulXWt(cols, wk, y, rows, this.#depth, this.#filters);
      if (this.#relu) k.reluForward(y, rows * this.#filters);
    }
  }
  backward(ctx: RunContext, x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number, _p: FloatArray[], g: FloatArray[]): void {
    const k = ctx.k;
    const win = windowOf(this.#s, this.#kernel, this.#stride, this.#padding, n);
    const rows = n * win.ho * win.wo;
    const cols = this.#direct ? x : this.#cols.array;
    const dwk = this.#dwk!.array;
    // Summed in kkC order over the call's micro-batches, reordered into g once at the last.
    if (ctx.microBatch?.first ?? true) dwk.fill(0);
    if (this.#pooled !== null && dx === null) {
      const pooled = this.#pooled.gradient(n);
      k.pooledConvGradAcc(pooled.dy, pooled.argmax, cols, dwk, this.#bias ? g[1] : null, pooled.count, this.#filters, this.#depth, rows);
      if (ctx.microBatch?.last ?? true) k.convGradFromKkcAcc(dwk, g[0], this.#filters, win.c, this.#kernel);
      return;
    }
    k.matmulDyTXAcc(dy, cols, dwk, rows, this.#filters, this.#depth);
    if (ctx.microBatch?.last ?? true) k.convGradFromKkcAcc(dwk, g[0], this.#filters, win.c, this.#kernel);
    if (this.#bias) k.biasGradAcc(dy, g[1], rows, this.#filters);
    if (dx === null) return;
    const wk = this.#wk!.array;
    if (this.#direct) {
      if (dxMask !== null) k.matmulDyWReluMask(dy, wk, dxMask, dx, rows, this.#filters, this.#depth);
      else k.matmulDyW(dy, wk, dx, rows, this.#filters, this.#depth);
      return;
    }
    // dcols overwrites cols: the weight gradient above was its last reader.
    k.matmulDyW(dy, wk, cols, rows, this.#filters, this.#depth);
    k.col2imHwc(cols, dx, win);
    maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}

/** nn.MaxPool2d: the gradient goes to the first maximum of each window. */
class MaxPoolOp extends BaseOp {
  #s: StackLayer;
  #layer: { kernel: number; stride: number; padding: number };
  /** Argmax indices as int32 over kernel memory (so the wasm kernel writes them in place). */
  #argmaxBuf: Scratch;
  #argmax: Int32Array<ArrayBufferLike> = new Int32Array(0);
  /** The conv before this pool whose bias and ReLU this pool applies (compileOps), or null. */
  #epilogueOf: Conv2dOp | null = null;
  constructor(s: StackLayer, layer: { kernel: number; stride: number; padding: number }) {
    super(s);
    this.#s = s;
    this.#layer = layer;
    this.#argmaxBuf = new Scratch(this.outWidth);
  }
  /** The conv (the model's first op) that takes its gradient from this pool's (Conv2dOp.takePooledGradient), or null. */
  #gradientTo: Conv2dOp | null = null;
  /** This micro-batch's dy, kept by backward for #gradientTo. */
  #dy: FloatArray | null = null;
  /** Hands `conv`, the model's first op, this pool's gradient instead of a scattered one (backward then writes no dx). */
  giveGradient(conv: Conv2dOp): void {
    conv.takePooledGradient(this);
    this.#gradientTo = conv;
  }
  /** The pool gradient of this micro-batch's `n` rows and where each entry's maximum was. */
  gradient(n: number): { dy: FloatArray; argmax: Int32Array; count: number } {
    return { dy: this.#dy!, argmax: this.#argmaxView(), count: n * this.outWidth };
  }
  /** Takes over the bias and ReLU of `conv` (the op just before): this pool's output is then the ReLU output. */
  takeEpilogue(conv: Conv2dOp): void {
    conv.deferEpilogue();
    this.#epilogueOf = conv;
    this.outputIsRelu = true;
  }
  override reserve(rows: number, alloc: Allocate): void {
    this.#argmaxBuf.reserve(rows, alloc);
  }
  /** An int32 view of the argmax buffer, made again when the memory behind it moved. */
  #argmaxView(): Int32Array {
    const f = this.#argmaxBuf.array;
    if (this.#argmax.buffer !== f.buffer || this.#argmax.byteOffset !== f.byteOffset || this.#argmax.length === 0) {
      this.#argmax = new Int32Array(f.buffer, f.byteOffset, f.length);
    }
    return this.#argmax;
  }
  forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number): void {
    const g = windowOf(this.#s, this.#layer.kernel, this.#layer.stride, this.#layer.padding, n);
    const conv = this.#epilogueOf;
    if (conv === null) ctx.k.maxPoolHwcForward(x, y, this.#argmaxView(), g);
    else ctx.k.maxPoolHwcForward(x, y, this.#argmaxView(), g, conv.deferredBias, true);
  }
  backward(ctx: RunContext, _x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number): void {
    if (dx === null) return;
    if (this.#gradientTo !== null) {
      this.#dy = dy; // read by the conv's backward, next
      return;
    }
    // The ReLU mask rides along: only the argmax positions can carry gradient. (With the conv's
    // epilogue taken over, dy arrives masked by this pool's own ReLU output and dxMask is null.)
    ctx.k.maxPoolHwcBackward(dy, this.#argmaxView(), dx, windowOf(this.#s, this.#layer.kernel, this.#layer.stride, this.#layer.padding, n), dxMask);
  }
}

/** nn.AvgPool2d (count_include_pad = True). */
class AvgPoolOp extends BaseOp {
  #s: StackLayer;
  #layer: { kernel: number; stride: number; padding: number };
  constructor(s: StackLayer, layer: { kernel: number; stride: number; padding: number }) {
    super(s);
    this.#s = s;
    this.#layer = layer;
  }
  forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number): void {
    ctx.k.avgPoolHwcForward(x, y, windowOf(this.#s, this.#layer.kernel, this.#layer.stride, this.#layer.padding, n));
  }
  backward(ctx: RunContext, _x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number): void {
    if (dx === null) return;
    ctx.k.avgPoolHwcBackward(dy, dx, windowOf(this.#s, this.#layer.kernel, this.#layer.stride, this.#layer.padding, n));
    maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}

/** Mean over H·W per channel: [C, H, W] -> [C]. */
class GlobalAvgPoolOp extends BaseOp {
  #hw: number;
  #c: number;
  constructor(s: StackLayer) {
    super(s);
    this.#c = s.inShape[0];
    this.#hw = s.inShape[1] * s.inShape[2];
  }
  forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number): void {
    ctx.k.globalAvgPoolHwcForward(x, y, n, this.#hw, this.#c);
  }
  backward(ctx: RunContext, _x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number): void {
    if (dx === null) return;
    ctx.k.globalAvgPoolHwcBackward(dy, dx, n, this.#hw, this.#c);
    maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}

/** HWC -> (C, H, W) order; in place (a no-op) when that order is the same (C = 1, or H·W = 1, or already flat). */
class FlattenOp extends BaseOp {
  override readonly inPlace: boolean;
  #hw: number;
  #c: number;
  constructor(s: StackLayer) {
    super(s);
    const image = s.inShape.length === 3;
    this.#c = image ? s.inShape[0] : 1;
    this.#hw = image ? s.inShape[1] * s.inShape[2] : this.inWidth;
    this.inPlace = this.#c === 1 || this.#hw === 1;
  }
  forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number): void {
    if (!this.inPlace) ctx.k.hwcToChw(x, y, n, this.#hw, this.#c);
  }
  backward(ctx: RunContext, _x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number): void {
    if (dx === null) return;
    if (!this.inPlace) ctx.k.chwToHwc(dy, dx, n, this.#hw, this.#c);
    maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}

/** A ReLU that no layer before it could absorb: in place, its gradient applied by the next op. */
class ReluOp extends BaseOp {
  override readonly inPlace = true;
  override outputIsRelu = true;
  forward(ctx: RunContext, _x: FloatArray, y: FloatArray, n: number): void {
    ctx.k.reluForward(y, n * this.outWidth);
  }
  backward(ctx: RunContext, _x: FloatArray, _y: FloatArray, _dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number): void {
    // dy (= dx, in place) is already masked by the op after this one.
    if (dx !== null) maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}

/** tanh in place; backward reads its output. */
class TanhOp extends BaseOp {
  override readonly inPlace = true;
  override readonly needsOwnOutput = true;
  forward(ctx: RunContext, _x: FloatArray, y: FloatArray, n: number): void {
    ctx.k.tanhForward(y, n * this.outWidth);
  }
  backward(ctx: RunContext, _x: FloatArray, y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number): void {
    if (dx === null) return;
    ctx.k.tanhBackward(dy, y, n * this.outWidth);
    maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}

/** GELU into its own buffer (backward reads its input). */
class GeluOp extends BaseOp {
  forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number): void {
    ctx.k.geluForward(x, y, n * this.outWidth);
  }
  backward(ctx: RunContext, x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number): void {
    if (dx === null) return;
    ctx.k.geluBackward(dy, x, dx, n * this.outWidth);
    maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}

/** Inverted dropout in place, masks keyed by (seed, step, layer, sample, unit); identity in evaluation. */
class DropoutOp extends BaseOp {
  override readonly inPlace = true;
  #rate: number;
  #key: DropoutKey = { seed: 0, step: 0, layer: 0 };
  #mask: Scratch;
  constructor(s: StackLayer, rate: number, layerIndex: number) {
    super(s);
    this.#rate = rate;
    this.#key.layer = layerIndex;
    this.#mask = new Scratch(this.outWidth);
  }
  override reserve(rows: number, alloc: Allocate): void {
    this.#mask.reserve(rows, alloc);
  }
  forward(ctx: RunContext, _x: FloatArray, y: FloatArray, n: number): void {
    if (!ctx.training || this.#rate === 0) return;
    this.#key.seed = ctx.seed;
    this.#key.step = ctx.step;
    const mask = this.#mask.array;
    ctx.k.dropoutMask(mask, n, this.outWidth, this.#rate, this.#key, ctx.samples, ctx.firstRow);
    ctx.k.multiplyInPlace(y, mask, n * this.outWidth);
  }
  backward(ctx: RunContext, _x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number): void {
    if (dx === null) return;
    if (this.#rate !== 0) ctx.k.multiplyInPlace(dy, this.#mask.array, n * this.outWidth);
    maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}

/** nn.LayerNorm(D) over flat rows; keeps x̂ and 1/σ per row for backward. */
class LayerNormOp extends BaseOp {
  #xhat: Scratch;
  #rstd: Scratch;
  constructor(s: StackLayer) {
    super(s);
    this.#xhat = new Scratch(this.outWidth);
    this.#rstd = new Scratch(1);
  }
  override reserve(rows: number, alloc: Allocate): void {
    this.#xhat.reserve(rows, alloc);
    this.#rstd.reserve(rows, alloc);
  }
  forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number, p: FloatArray[]): void {
    ctx.k.layerNormForward(x, y, this.#xhat.array, this.#rstd.array, p[0], p[1], n, this.outWidth, 1e-5);
  }
  backward(ctx: RunContext, _x: FloatArray, _y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number, p: FloatArray[], g: FloatArray[]): void {
    ctx.k.layerNormBackward(dy, this.#xhat.array, this.#rstd.array, p[0], dx, g[0], g[1], n, this.outWidth);
    if (dx !== null) maskDx(ctx, dx, dxMask, n * this.inWidth);
  }
}

/**
 * The ops of a stack, with each ReLU absorbed into the dense or conv layer before it where it
 * can be (one pass over the output instead of two, and the same kernel calls as before layers
 * existed, so the dense models' results stay bit-identical). Returns each op with the index of
 * its stack layer (whose parameters it uses).
 */
export function compileOps(layers: StackLayer[], norms: readonly NormSlot[] = []): { op: LayerOp; layer: number }[] {
  const ops: { op: LayerOp; layer: number }[] = [];
  let dropouts = 0;
  layers.forEach((s, i) => {
    const l = s.layer;
    const prev = ops[ops.length - 1];
    if (l.type === 'relu' && prev !== undefined && !prev.op.outputIsRelu && prev.op.fuseRelu()) return;
    let op: LayerOp;
    switch (l.type) {
      case 'dense':
        op = new DenseOp(s, l.bias);
        break;
      case 'conv2d':
        op = new Conv2dOp(s, l);
        break;
      case 'maxpool2d': {
        const pool = new MaxPoolOp(s, l);
        // conv, ReLU, max pool: the pool applies the conv's bias and ReLU to its own output.
        if (prev !== undefined && prev.op instanceof Conv2dOp && prev.op.outputIsRelu) {
          pool.takeEpilogue(prev.op);
          // The first layer computes no input gradient: it needs only the pool's gradient.
          if (ops.length === 1) pool.giveGradient(prev.op);
        }
        op = pool;
        break;
      }
      case 'avgpool2d':
        op = new AvgPoolOp(s, l);
        break;
      case 'globalavgpool':
        op = new GlobalAvgPoolOp(s);
        break;
      case 'flatten':
        op = new FlattenOp(s);
        break;
      case 'relu':
        op = new ReluOp(s);
        break;
      case 'tanh':
        op = new TanhOp(s);
        break;
      case 'gelu':
        op = new GeluOp(s);
        break;
      case 'dropout':
        op = new DropoutOp(s, l.rate, dropouts++);
        break;
      case 'layernorm':
        op = new LayerNormOp(s);
        break;
      case 'batchnorm':
        op = new BatchNormOp(s, norms.find((n) => n.layer === i)!);
        break;
    }
    ops.push({ op, layer: i });
  });
  return ops;
}
