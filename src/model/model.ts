/**
 * Forward and backward passes of a model (a stack of layers) over a flat parameter array.
 * The model holds no parameters: callers pass `params` and `grad` (both laid out by
 * paramLayout), so replicas, optimizers and the all-reduce share plain buffers.
 */
import { ModelError, shown } from '../errors.js';
import { jsKernels, type KernelBuffer, type Kernels } from '../kernels/index.js';
import { floatArrayOf, type Dtype, type FloatArray, type FloatArrayConstructor } from '../util/float.js';
import { layoutOfStack, type ParamLayout } from './layout.js';
import { compileOps, type LayerOp, type RunContext } from './layer-ops.js';
import type { BatchNormMode, RowBlocks } from './op-base.js';
import { bufferLayout, type BufferLayout } from './buffers.js';
import { shapeSize } from './layers.js';
import type { ModelSpec } from './spec.js';
import { buildStack, type StackLayer } from './stack.js';

/**
 * Rows of a dataset: x [rows, inputDim], y [rows, targetDim], float32.
 * For classification targetDim = 1 and y holds the class index.
 */
export interface SampleSource {
  x: Float32Array;
  y: Float32Array;
  inputDim: number;
  targetDim: number;
}

/** Sums over the rows of one call (docs/architecture.md, "Semantics the engines keep": workers return sums, not means). */
export interface BatchResult {
  /** Sum over rows of the per-sample loss. */
  lossSum: number;
  /** Rows whose argmax equals the label (classification); 0 for regression. */
  correct: number;
  /** Number of rows. */
  count: number;
}

export interface ModelOptions {
  /** Precision of the workspace, and of the params and grad arrays the calls take. Default 'float32'. */
  dtype?: Dtype;
  /**
   * The kernel set (from `loadKernels`), shared by every Model of the thread. Default: the js
   * kernels. The wasm kernels are float32 only (ModelError `dptrain.model.kernelsDtype` otherwise).
   */
  kernels?: Kernels;
  /** How BatchNorm layers normalize in training (default local: over each call's rows). */
  batchNorm?: BatchNormMode;
}

/** Largest micro-batch when the caller gives none, to bound activation memory. */
export const DEFAULT_MAX_MICRO_BATCH = 4096;

/**
 * Frees the kernel buffers of a Model that was garbage-collected without dispose(), so that a
 * process creating many Models (sweeps) does not fill the thread's wasm memory. The held value
 * is the set of live buffers, not the Model.
 */
const workspaceRegistry = new FinalizationRegistry<Set<KernelBuffer>>((buffers) => {
  for (const b of buffers) b.free();
});

/** Views of one flat array (params or grad), per op: its layer's tensors; rebuilt when the array changes. */
interface OpViews {
  array: FloatArray | null;
  tensors: FloatArray[][];
}

/** The dropout key of a training call: the run's seed and the global step (docs/models.md#dropout). */
export interface TrainingStep {
  seed: number;
  step: number;
}

/**
 * Floats of workspace (16 MiB of float32) that a layer model's default micro-batch stays within.
 * Sized to the cache, not to memory: between the GEMMs a conv model streams its largest buffers
 * (conv outputs, im2col columns) through max pooling, col2im and the epilogues, which run ~2x
 * faster when the micro-batch's buffers stay in L2/L3. Measured on W4 (cnn-mnist), 128 rows per
 * worker, blas kernels (OpenBLAS Haswell kernels, CPU time, under load): 54 ms per call at 101
 * rows per micro-batch (the old 64 MiB budget), 48 ms at 16 rows (this budget), 50 ms at 8, 55 at
 * 32 (docs/kernels.md, "Convolutions"). The row count is rounded down to a power of two, so that
 * the usual power-of-two batches split evenly.
 */
const WORKSPACE_FLOATS = 4 * 1024 * 1024;

/**
 * A model (a stack of layers: stack.ts, layer-ops.ts) with its own workspace (activations,
 * deltas, per-layer scratch, the gathered micro-batch), grown lazily to the largest micro-batch
 * seen and reused. The workspace is allocated by the kernel set, so with the wasm kernels it
 * lives in wasm memory and the products run in place; params and grad from elsewhere are copied
 * in (and grad back out) once per call (docs/kernels.md: about 1 % of a W2 step).
 * Not thread-safe and not reentrant: use one Model per thread.
 */
export class Model {
  readonly spec: ModelSpec;
  readonly layout: ParamLayout;
  readonly numParams: number;
  /** Elements per sample of the input, and its shape ([C, H, W] or [D]). */
  readonly inputDim: number;
  readonly inputShape: readonly number[];
  readonly outputDim: number;
  readonly dtype: Dtype;
  readonly kernels: Kernels;
  /** Rows per call when the caller gives no micro-batch. */
  readonly defaultMicroBatch: number;
  /** The BatchNorm buffers (running statistics) and the layout of a batch-statistics vector. */
  readonly bufferLayout: BufferLayout;
  readonly numBuffers: number;

  #k: Kernels;
  #Float: FloatArrayConstructor;
  #ops: { op: LayerOp; layer: number }[];
  /** Per op: the workspace buffer its output lives in (an in-place op shares its input's). */
  #outBuf: number[];
  /** Widths (per row) of the workspace buffers; buffer 0 holds the gathered input. */
  #bufWidths: number[];
  /** Per op: copy its input into its own buffer before an in-place forward. */
  #copyIn: boolean[];
  #deltaWidth: number;
  /** Per op: the layout tensors of its layer. */
  #opTensors: { offset: number; size: number; shape: number[] }[][];
  /** Per op: the rows at which its weight gradient is cut (setGradientCuts), descending; empty: whole. */
  #rowCuts: number[][];
  /** Channels-last images need the input rows transposed from (C, H, W) when C > 1. */
  #inputChannels: number;
  #classification: boolean;
  /** Rows the workspace can hold. */
  #capacity = 0;
  #actBufs: KernelBuffer[] = [];
  /** Two delta buffers, [capacity, max width], used in turn going backward. */
  #deltaABuf: KernelBuffer | null = null;
  #deltaBBuf: KernelBuffer | null = null;
  #targetsBuf: KernelBuffer | null = null;
  /** Copies of params and grad in kernel memory, for kernels that cannot use them in place. */
  #paramStage: KernelBuffer | null = null;
  #gradStage: KernelBuffer | null = null;
  /** Every live kernel buffer above and the ops' scratch, for dispose() and the finalization registry. */
  #owned = new Set<KernelBuffer>();
  #disposed = false;
  // Views of the buffers above, read again at the start of every call (wasm memory may have grown).
  #acts: FloatArray[] = [];
  #deltaA: FloatArray;
  #deltaB: FloatArray;
  #targets: FloatArray;
  #labels = new Float32Array(0);
  #paramViews: OpViews = { array: null, tensors: [] };
  #gradViews: OpViews = { array: null, tensors: [] };
  #ctx: RunContext;
  /** The batch statistics of the last training call (ctx.stats). */
  #stats: Float64Array;

  constructor(spec: ModelSpec, options: ModelOptions = {}) {
    this.spec = spec;
    const stack = buildStack(spec);
    this.layout = layoutOfStack(stack);
    this.numParams = this.layout.size;
    this.inputShape = Object.freeze(stack.inputShape.slice());
    this.inputDim = shapeSize(stack.inputShape);
    this.outputDim = stack.outputDim;
    this.#inputChannels = stack.inputShape.length === 3 ? stack.inputShape[0] : 1;
    this.dtype = options.dtype ?? 'float32';
    if (this.dtype !== 'float32' && this.dtype !== 'float64') {
      throw new ModelError('badDtype', `options.dtype must be "float32" or "float64" (got ${shown(this.dtype)})`);
    }
    this.#Float = floatArrayOf(this.dtype);
    this.kernels = this.#k = options.kernels ?? jsKernels;
    if (!this.#k.dtypes.includes(this.dtype)) {
      throw new ModelError(
        'kernelsDtype',
        `the ${this.#k.name} kernels work in ${this.#k.dtypes.join(' or ')} only (asked for dtype ${shown(this.dtype)}) — use the js kernels`,
      );
    }
    if (this.#k.name !== 'js') workspaceRegistry.register(this, this.#owned, this);
    this.#classification = spec.loss === 'softmax-cross-entropy';
    this.#deltaA = new this.#Float(0);
    this.#deltaB = new this.#Float(0);
    this.#targets = new this.#Float(0);

    // Ops, the buffer each writes, and the tensors each reads.
    this.bufferLayout = bufferLayout(stack);
    this.#stats = new Float64Array(this.bufferLayout.statsSize);
    this.numBuffers = this.bufferLayout.size;
    this.#ops = compileOps(stack.layers, this.bufferLayout.norms);
    this.#bufWidths = [this.inputDim];
    this.#outBuf = [];
    this.#copyIn = [];
    this.#ops.forEach(({ op }, i) => {
      const inBuf = i === 0 ? 0 : this.#outBuf[i - 1];
      // An in-place op may overwrite its input unless the op before needs that output back.
      const alias = op.inPlace && (i === 0 || !this.#ops[i - 1].op.needsOwnOutput);
      this.#copyIn.push(op.inPlace && !alias);
      if (alias) this.#outBuf.push(inBuf);
      else {
        this.#outBuf.push(this.#bufWidths.length);
        this.#bufWidths.push(op.outWidth);
      }
    });
    this.#deltaWidth = Math.max(...this.#ops.map(({ op }, i) => (i === 0 ? op.outWidth : Math.max(op.inWidth, op.outWidth))));
    const tensorsOfLayer: { offset: number; size: number; shape: number[] }[][] = stack.layers.map(() => []);
    let t = 0;
    stack.layers.forEach((layer, i) => {
      for (let j = 0; j < layer.params.length; j++) tensorsOfLayer[i].push(this.layout.tensors[t++]);
    });
    this.#opTensors = this.#ops.map(({ layer }) => tensorsOfLayer[layer]);
    this.#rowCuts = this.#ops.map(() => []);
    // Dense models keep the old default; layer models bound their workspace (im2col columns are large).
    const perRow = this.#bufWidths.reduce((a, b) => a + b, 0) + 2 * this.#deltaWidth + stackScratchPerRow(stack.layers);
    this.defaultMicroBatch = spec.kind === 'cnn' ? Math.min(DEFAULT_MAX_MICRO_BATCH, 2 ** Math.floor(Math.log2(Math.max(1, WORKSPACE_FLOATS / perRow)))) : DEFAULT_MAX_MICRO_BATCH;
    this.#ctx = {
      k: this.#k,
      training: false,
      seed: 0,
      step: 0,
      samples: [],
      firstRow: 0,
      norm: options.batchNorm ?? { kind: 'local' },
      buffers: null,
      stats: this.#stats,
      microBatch: { call: 0, first: true, last: true },
    };
  }

  /**
   * Adds to `grad` the gradient of the SUMMED loss over rows `indices` of `source` (never
   * overwrites), working `microBatch` rows at a time (default: all rows, at most 4096).
   * Micro-batching only splits the rows: the result is the same up to float rounding.
   * `params` and `grad` are flat arrays of `numParams` elements in the model's dtype.
   * `training` keys the dropout masks (default seed 0, step 0); models without dropout ignore it.
   * `onGradientReady(from)`, called during the last micro-batch's backward pass, says that
   * grad[from, numParams) is final (backward finishes the last layer first), so that a caller can
   * start reducing those gradients while backward goes on (the ws engine's buckets).
   */
  accumulateGradient(
    params: FloatArray,
    source: SampleSource,
    indices: ArrayLike<number>,
    grad: FloatArray,
    microBatch?: number,
    training: TrainingStep = { seed: 0, step: 0 },
    onGradientReady?: (from: number) => void,
  ): BatchResult {
    return drive(this.gradientSteps(params, source, indices, grad, microBatch, training, onGradientReady));
  }

  /**
   * accumulateGradient as a generator, for models whose BatchNorm statistics cross workers: at
   * each exchange it yields per-channel partial sums over this call's rows and must be resumed
   * with the element-wise sums of every slot's partials of the same exchange, in a fixed slot
   * order (an identity resume: this call is the whole batch). With `sync`, each BatchNorm layer
   * exchanges once going forward and once going backward; otherwise one exchange at the end
   * carries the statistics for the running update. After the call, `batchStats` holds the
   * totals. A model with BatchNorm computes a training call in one pass, whatever microBatch says.
   */
  *gradientSteps(
    params: FloatArray,
    source: SampleSource,
    indices: ArrayLike<number>,
    grad: FloatArray,
    microBatch?: number,
    training: TrainingStep = { seed: 0, step: 0 },
    onGradientReady?: (from: number) => void,
  ): Generator<Float64Array, BatchResult, Float64Array> {
    this.#checkArray('params', params);
    this.#checkArray('grad', grad);
    this.#ctx.training = true;
    this.#ctx.seed = training.seed;
    this.#ctx.step = training.step;
    this.#stats.fill(0);
    const norms = this.bufferLayout.norms.length > 0;
    const sync = this.#ctx.norm?.kind === 'sync';
    if (norms && indices.length === 0 && sync) yield* this.#emptyExchanges();
    const result = yield* this.#run(params, source, indices, grad, norms ? Math.max(1, indices.length) : microBatch, undefined, onGradientReady);
    if (norms && !sync) this.#stats.set(yield this.#stats);
    return result;
  }

  /** A sync call without rows still takes part in every exchange of the step, with zero sums. */
  *#emptyExchanges(): Generator<Float64Array, void, Float64Array> {
    for (const n of this.bufferLayout.norms) this.#stats.set((yield new Float64Array(2 * n.channels + 1)).subarray(0, 2 * n.channels + 1), n.statsOffset);
    // Backward: every BatchNorm layer but a first op exchanges its gradient sums, last layer first.
    for (let i = this.#ops.length - 1; i > 0; i--) {
      const { op, layer } = this.#ops[i];
      if (op.backwardSteps) yield new Float64Array(2 * this.bufferLayout.norms.find((n) => n.layer === layer)!.channels);
    }
  }

  /**
   * The sums over the normalized batch of the last training call, per BatchNorm layer (Σx [C],
   * Σx² [C], count at bufferLayout.norms[i].statsOffset): what updateRunningStats takes.
   */
  get batchStats(): Float64Array {
    return this.#stats;
  }

  /**
   * Loss sum and correct count over rows `indices` of `source`, forward only. A model with
   * BatchNorm normalizes with the running statistics `buffers` (numBuffers values, buffers.ts).
   * With `outputs` ([indices.length, outputDim], row k for indices[k]) it also keeps the model's
   * outputs: the logits of a classifier, the predictions of a regression model (evaluate, predict).
   */
  evaluate(params: FloatArray, source: SampleSource, indices: ArrayLike<number>, microBatch?: number, buffers?: FloatArray, outputs?: FloatArray): BatchResult {
    this.#checkArray('params', params);
    if (outputs !== undefined && outputs.length !== indices.length * this.outputDim) {
      throw new ModelError('badOutputs', `outputs has ${outputs.length} values but ${indices.length} rows of ${this.outputDim} outputs need ${indices.length * this.outputDim}`);
    }
    if (this.numBuffers > 0 && (buffers === undefined || buffers.length !== this.numBuffers)) {
      throw new ModelError('paramCountMismatch', `model ${this.spec.text} has BatchNorm layers: evaluation needs their ${this.numBuffers} running-statistics values (got ${buffers?.length ?? 'none'})`);
    }
    this.#ctx.training = false;
    this.#ctx.buffers = buffers ?? null;
    return drive(this.#run(params, source, indices, null, microBatch, outputs));
  }

  *#run(
    params: FloatArray,
    source: SampleSource,
    indices: ArrayLike<number>,
    grad: FloatArray | null,
    microBatch: number | undefined,
    outputs?: FloatArray,
    onGradientReady?: (from: number) => void,
  ): Generator<Float64Array, BatchResult, Float64Array> {
    this.#checkLive();
    const rows = this.#checkSource(source);
    const count = indices.length;
    let step: number;
    if (microBatch === undefined) {
      step = Math.min(count, this.defaultMicroBatch);
    } else if (Number.isInteger(microBatch) && microBatch >= 1) {
      step = Math.min(count, microBatch);
    } else {
      throw new ModelError('badMicroBatch', `micro-batch must be a positive integer (got ${shown(microBatch)})`);
    }
    if (count === 0) return { lossSum: 0, correct: 0, count: 0 };
    // Validate every row first, so that a bad row never leaves `grad` half updated.
    this.#checkRows(source, rows, indices);
    // Every allocation happens here, before any view is read: growing wasm memory detaches views.
    this.#ensureCapacity(step);
    const stageParams = !this.#k.isResident(params);
    const stageGrad = grad !== null && !this.#k.isResident(grad);
    if (stageParams && this.#paramStage === null) this.#paramStage = this.#alloc(this.numParams);
    if (stageGrad && this.#gradStage === null) this.#gradStage = this.#alloc(this.numParams);
    this.#readViews();

    // Kernels that cannot use the caller's arrays in place get copies: params in, grad in and out.
    let pArray = params;
    let gArray = grad;
    if (stageParams) {
      pArray = this.#paramStage!.array;
      pArray.set(params);
    }
    if (stageGrad) {
      gArray = this.#gradStage!.array;
      gArray.set(grad);
    }
    const p = this.#views(this.#paramViews, pArray);
    const g = gArray === null ? null : this.#views(this.#gradViews, gArray);

    let lossSum = 0;
    let correct = 0;
    /** grad[readyFrom, numParams) is final and, when staged, already copied back. */
    let readyFrom = this.numParams;
    this.#ctx.samples = indices;
    const where = this.#ctx.microBatch!;
    where.call++;
    for (let start = 0; start < count; start += step) {
      const n = Math.min(step, count - start);
      this.#ctx.firstRow = start;
      where.first = start === 0;
      where.last = start + n >= count;
      this.#gather(source, indices, start, n);
      yield* this.#forward(p, n);
      const dOut = g === null ? null : this.#deltaA;
      const logits = this.#acts[this.#outBuf[this.#ops.length - 1]];
      outputs?.set(logits.subarray(0, n * this.outputDim), start * this.outputDim);
      if (this.#classification) {
        const r = this.#k.softmaxCrossEntropy(logits, this.#labels, n, this.outputDim, dOut);
        lossSum += r.lossSum;
        correct += r.correct;
      } else {
        lossSum += this.#k.meanSquaredError(logits, this.#targets, n, this.outputDim, dOut).lossSum;
      }
      if (g === null) continue;
      // Only the last micro-batch finishes a layer's gradient; a staged gradient is copied back first.
      const last = start + n >= count && onGradientReady;
      const ready = last ? (from: number) => {
        if (stageGrad) grad!.set(gArray!.subarray(from, readyFrom), from);
        readyFrom = from;
        onGradientReady!(from);
      } : null;
      yield* this.#backward(p, g, n, ready);
    }
    if (stageGrad && readyFrom > 0) grad!.set(gArray!.subarray(0, readyFrom));
    return { lossSum, correct, count };
  }

  /**
   * Offsets at which a caller cuts the gradient (the ws engine's bucket starts, planBuckets): a
   * weight that a cut crosses at a row boundary is then computed in row blocks ending at the cuts,
   * and `onGradientReady` hears of each block, so a bucket can start before its layer is done. The
   * blocks apply to every call (a different blocking could change a product's last bits), and only
   * where the kernels offer row blocks (blas); elsewhere, and for cuts off a row boundary, nothing changes.
   */
  setGradientCuts(cuts: readonly number[]): void {
    this.#rowCuts = this.#ops.map(({ op }, i) => {
      const w = this.#opTensors[i][0];
      if (!op.splitsWeightRows || !w || this.#k.matmulDyTXAccRows === undefined) return [];
      const rowWidth = w.size / w.shape[0];
      return cuts
        .filter((c) => c > w.offset && c < w.offset + w.size && (c - w.offset) % rowWidth === 0)
        .map((c) => (c - w.offset) / rowWidth)
        .sort((a, b) => b - a);
    });
  }

  /**
   * Grows the workspace to hold `rows` rows now. Callers that keep params or grad in kernel
   * memory (KernelBuffer views, no copies) call it first and read their views afterwards, since a
   * call with a larger micro-batch would grow the memory and detach those views.
   */
  reserve(rows: number): void {
    if (!(Number.isInteger(rows) && rows >= 1)) {
      throw new ModelError('badMicroBatch', `rows to reserve must be a positive integer (got ${shown(rows)})`);
    }
    this.#checkLive();
    this.#ensureCapacity(rows);
  }

  /**
   * Makes now every allocation a training call of `rows` rows with `params` and `grad` like these
   * needs. Several Models of one thread running gradientSteps in lockstep call it for each first:
   * an allocation inside one call could grow the thread's kernel memory and detach the views
   * another call holds across its exchanges.
   */
  reserveCall(rows: number, params: FloatArray, grad: FloatArray): void {
    this.reserve(Math.max(1, rows));
    if (!this.#k.isResident(params)) this.#paramStage ??= this.#alloc(this.numParams);
    if (!this.#k.isResident(grad)) this.#gradStage ??= this.#alloc(this.numParams);
  }

  /**
   * Returns the workspace to the kernel set now (with the wasm kernels: the thread's wasm
   * memory; otherwise a Model's workspace is freed when it is garbage-collected). The Model
   * cannot be used afterwards (ModelError `dptrain.model.disposed`). Calling it again does nothing.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    workspaceRegistry.unregister(this);
    for (const b of this.#owned) b.free();
    this.#owned.clear();
    this.#actBufs = [];
    this.#deltaABuf = this.#deltaBBuf = this.#targetsBuf = this.#paramStage = this.#gradStage = null;
    this.#ctx.samples = [];
    this.#acts = [];
    this.#capacity = 0;
  }

  #checkLive(): void {
    if (this.#disposed) throw new ModelError('disposed', `this Model (${this.spec.text}) was disposed — create a new one`);
  }

  /** Each op from its input buffer into its output buffer; the last output holds the logits. */
  *#forward(p: OpViews, n: number): Generator<Float64Array, void, Float64Array> {
    const acts = this.#acts;
    const ctx = this.#ctx;
    for (let i = 0; i < this.#ops.length; i++) {
      const op = this.#ops[i].op;
      const x = acts[i === 0 ? 0 : this.#outBuf[i - 1]];
      const y = acts[this.#outBuf[i]];
      if (this.#copyIn[i]) y.set(x.subarray(0, n * op.inWidth));
      if (op.forwardSteps) yield* op.forwardSteps(ctx, x, y, n, p.tensors[i]);
      else op.forward(ctx, x, y, n, p.tensors[i]);
    }
  }

  /**
   * Starts from the loss gradient in deltaA; adds every layer's parameter gradients into g.
   * `ready(from)`: after a layer's last op (in backward order), its first tensor's offset.
   */
  *#backward(p: OpViews, g: OpViews, n: number, ready: ((from: number) => void) | null = null): Generator<Float64Array, void, Float64Array> {
    const acts = this.#acts;
    const ops = this.#ops;
    const ctx = this.#ctx;
    let delta = this.#deltaA;
    let other = this.#deltaB;
    const last = ops.length - 1;
    if (ops[last].op.outputIsRelu) this.#k.reluBackward(delta, acts[this.#outBuf[last]], n * this.outputDim);
    for (let i = last; i >= 0; i--) {
      const op = ops[i].op;
      const x = acts[i === 0 ? 0 : this.#outBuf[i - 1]];
      const y = acts[this.#outBuf[i]];
      // The op before a ReLU output leaves its gradient to this op (layer-ops.ts).
      const dxMask = i > 0 && ops[i - 1].op.outputIsRelu ? x : null;
      const dx = i === 0 ? null : op.inPlace ? delta : other;
      // This op finishes its layer's gradient: say so as soon as its parameter gradients are
      // final (before its dx, where the op allows), so their reduction overlaps the rest.
      const tensors = this.#opTensors[i];
      let finishes = ready !== null && tensors.length > 0 && (i === 0 || ops[i - 1].layer !== ops[i].layer);
      const paramsDone = finishes ? () => {
        finishes = false;
        ready!(tensors[0].offset);
      } : undefined;
      const cuts = this.#rowCuts[i];
      const rows: RowBlocks | undefined = cuts.length === 0 ? undefined : {
        cuts,
        done: (row) => {
          if (finishes) ready!(tensors[0].offset + (row * tensors[0].size) / tensors[0].shape[0]);
        },
      };
      if (op.backwardSteps) yield* op.backwardSteps(ctx, x, y, delta, dx, dxMask, n, p.tensors[i], g.tensors[i]);
      else op.backward(ctx, x, y, delta, dx, dxMask, n, p.tensors[i], g.tensors[i], paramsDone, rows);
      if (dx === other) {
        other = delta;
        delta = dx;
      }
      if (finishes) paramsDone!();
    }
  }

  /**
   * Copies rows indices[start .. start+n) into acts[0] (converting to dtype) and their targets.
   * Images with several channels are reordered from (C, H, W) to the channels-last layout.
   */
  #gather(source: SampleSource, indices: ArrayLike<number>, start: number, n: number): void {
    const inDim = this.inputDim;
    const x = source.x;
    const y = source.y;
    const xs = this.#acts[0];
    const c = this.#inputChannels;
    if (c === 1) {
      for (let r = 0; r < n; r++) {
        const from = indices[start + r] * inDim;
        xs.set(x.subarray(from, from + inDim), r * inDim); // a memcpy per row (float32 source)
      }
    } else {
      const hw = inDim / c;
      for (let r = 0; r < n; r++) {
        const from = indices[start + r] * inDim;
        const to = r * inDim;
        for (let ch = 0; ch < c; ch++) for (let q = 0; q < hw; q++) xs[to + q * c + ch] = x[from + ch * hw + q];
      }
    }
    if (this.#classification) {
      const labels = this.#labels;
      for (let r = 0; r < n; r++) {
        labels[r] = y[indices[start + r]];
      }
    } else {
      const dim = this.outputDim;
      const targets = this.#targets;
      for (let r = 0; r < n; r++) {
        const from = indices[start + r] * dim;
        const to = r * dim;
        for (let k = 0; k < dim; k++) targets[to + k] = y[from + k];
      }
    }
  }

  /** Every index is a row of the source and, for a classifier, every label a class index. */
  #checkRows(source: SampleSource, rows: number, indices: ArrayLike<number>): void {
    const classes = this.outputDim;
    for (let r = 0; r < indices.length; r++) {
      const idx = indices[r];
      if (!(idx >= 0 && idx < rows && Number.isInteger(idx))) {
        throw new ModelError('badIndex', `sample index ${shown(idx)} is outside the dataset's ${rows} rows`);
      }
      if (this.#classification) {
        const label = source.y[idx];
        if (!(label >= 0 && label < classes && Number.isInteger(label))) {
          throw new ModelError(
            'badLabel',
            `sample ${idx} has label ${shown(label)} but model ${this.spec.text} has classes 0..${classes - 1}`,
          );
        }
      }
    }
  }

  /** Validates a source against the model and returns its row count. */
  #checkSource(source: SampleSource): number {
    const spec = this.spec.text;
    if (source.inputDim !== this.inputDim) {
      throw new ModelError(
        'inputMismatch',
        `model ${spec} expects ${this.inputDim} inputs but the dataset has ${source.inputDim} features — ` +
          (this.spec.kind === 'cnn'
            ? `change the input shape of the model spec (${this.inputShape.join('x')}) to one of ${source.inputDim} values`
            : `change the first size of the model spec to ${source.inputDim}`),
      );
    }
    const targetDim = this.#classification ? 1 : this.outputDim;
    if (source.targetDim !== targetDim) {
      throw new ModelError(
        'targetMismatch',
        this.#classification
          ? `model ${spec} is a classifier and needs one class label per sample, but the dataset has ${source.targetDim} targets`
          : `model ${spec} has ${this.outputDim} outputs but the dataset has ${source.targetDim} targets — ` +
              `change the last size of the model spec to ${source.targetDim}`,
      );
    }
    const rows = Math.floor(source.x.length / this.inputDim);
    if (source.x.length !== rows * this.inputDim || source.y.length !== rows * targetDim) {
      throw new ModelError(
        'badSource',
        `dataset arrays do not match their dimensions: x has ${source.x.length} values (inputDim ${this.inputDim}), ` +
          `y has ${source.y.length} (targetDim ${targetDim})`,
      );
    }
    return rows;
  }

  #checkArray(what: string, array: FloatArray): void {
    if (!(array instanceof this.#Float)) {
      throw new ModelError('dtypeMismatch', `${what} must be a ${this.#Float.name} for a ${this.dtype} model`);
    }
    if (array.length !== this.numParams) {
      throw new ModelError(
        'paramCountMismatch',
        `${what} has ${array.length} values but model ${this.spec.text} has ${this.numParams} parameters`,
      );
    }
  }

  #ensureCapacity(rows: number): void {
    if (rows <= this.#capacity) return;
    // Free first, so that the allocator can reuse the space.
    for (const b of [...this.#actBufs, this.#deltaABuf, this.#deltaBBuf, this.#targetsBuf]) if (b !== null) this.#release(b);
    this.#actBufs = this.#bufWidths.map((width) => this.#alloc(rows * width));
    this.#deltaABuf = this.#alloc(rows * this.#deltaWidth);
    this.#deltaBBuf = this.#alloc(rows * this.#deltaWidth);
    const alloc = (length: number): KernelBuffer => {
      const b = this.#alloc(length);
      return { get array() { return b.array; }, length: b.length, free: () => this.#release(b) }; // prettier-ignore
    };
    for (const { op } of this.#ops) op.reserve(rows, alloc);
    if (this.#classification) this.#labels = new Float32Array(rows);
    else this.#targetsBuf = this.#alloc(rows * this.outputDim);
    this.#capacity = rows;
  }

  #alloc(length: number): KernelBuffer {
    const b = this.#k.allocate(length, this.dtype);
    this.#owned.add(b);
    return b;
  }

  #release(b: KernelBuffer): void {
    b.free();
    this.#owned.delete(b);
  }

  /** Reads the workspace views again (after any allocation; cheap when nothing moved). */
  #readViews(): void {
    this.#acts = this.#actBufs.map((b) => b.array);
    this.#deltaA = this.#deltaABuf!.array;
    this.#deltaB = this.#deltaBBuf!.array;
    if (this.#targetsBuf !== null) this.#targets = this.#targetsBuf.array;
  }

  /** Per-op tensor subarrays of `array`, cached for the last array seen (no allocation per call). */
  #views(cache: OpViews, array: FloatArray): OpViews {
    if (cache.array === array) return cache;
    cache.array = array;
    cache.tensors = this.#opTensors.map((tensors) => tensors.map((t) => array.subarray(t.offset, t.offset + t.size)));
    return cache;
  }
}

/** Per-row scratch floats of a stack's layers (im2col columns, dropout masks), to size the default micro-batch. */
function stackScratchPerRow(layers: StackLayer[]): number {
  let floats = 0;
  for (const s of layers) {
    if (s.layer.type === 'conv2d') floats += s.outShape[1] * s.outShape[2] * s.layer.kernel * s.layer.kernel * s.inShape[0];
    else if (s.layer.type === 'dropout' || s.layer.type === 'layernorm' || s.layer.type === 'batchnorm') floats += shapeSize(s.outShape);
  }
  return floats;
}

/** Runs a training or evaluation generator whose exchanges are answered by itself (one slot: the whole batch). */
function drive<R>(steps: Generator<Float64Array, R, Float64Array>): R {
  let next = steps.next();
  while (!next.done) next = steps.next(next.value);
  return next.value;
}
