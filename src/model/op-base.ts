/**
 * What every layer op shares (layer-ops.ts has the ops and the gradient protocol): the call
 * context, the op interface, a base class, and per-row scratch buffers.
 */
import type { KernelBuffer, Kernels } from '../kernels/index.js';
import type { FloatArray } from '../util/float.js';
import type { StackLayer } from './stack.js';

/**
 * How BatchNorm layers normalize in training (docs/models.md#batchnorm): over this call's rows
 * (local), over every worker's rows of the step through an exchange (sync), or over groups of
 * `group` consecutive samples (ghost).
 */
export type BatchNormMode = { kind: 'local' } | { kind: 'sync' } | { kind: 'ghost'; group: number };

/** `local`, `sync` or `ghost:G` as a mode; null for anything else (callers say what is wrong). */
export function batchNormModeOf(text: unknown): BatchNormMode | null {
  if (text === 'local' || text === 'sync') return { kind: text };
  const m = typeof text === 'string' ? /^ghost:([0-9]+)$/.exec(text) : null;
  const group = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(group) && group >= 1 ? { kind: 'ghost', group } : null;
}

/** The text of a mode (batchNormModeOf's inverse). */
export function batchNormText(mode: BatchNormMode): string {
  return mode.kind === 'ghost' ? `ghost:${mode.group}` : mode.kind;
}

/** What one forward/backward call knows beyond its arrays. */
export interface RunContext {
  k: Kernels;
  /** Training (dropout active) or evaluation. */
  training: boolean;
  /** Seed and step of the dropout masks (training only). */
  seed: number;
  step: number;
  /** Dataset row index of each row of the call, from `firstRow` on. */
  samples: ArrayLike<number>;
  firstRow: number;
  /** How BatchNorm layers normalize in training (the Model always sets it and the two below; default local). */
  norm?: BatchNormMode;
  /** Evaluation: the running statistics (buffers.ts) BatchNorm layers normalize with. */
  buffers?: FloatArray | null;
  /**
   * Training: BatchNorm layers' sums over the rows they normalize (Σx, Σx², count per layer, at
   * its statsOffset): this call's own rows (local, ghost), or the exchanged totals (sync).
   */
  stats?: Float64Array;
  /**
   * Where this forward/backward sits in a Model call (absent: a call of one micro-batch, nothing
   * cached). `call` changes with every call, within which the parameters are fixed, so an op may
   * reuse what it derives from them (a conv's reordered weights) for the call's later
   * micro-batches; `first` and `last` say which micro-batch this is, so an op may sum a gradient
   * over the call's micro-batches in its own buffer and add it to g once, at the last.
   */
  microBatch?: { call: number; first: boolean; last: boolean };
}

/** Allocates kernel memory for an op's scratch (the Model owns and frees it). */
export type Allocate = (length: number) => KernelBuffer;

export interface LayerOp {
  /** Elements per sample in and out. */
  readonly inWidth: number;
  readonly outWidth: number;
  /** Forward writes its output over its input (the Model passes one array as x and y). */
  readonly inPlace: boolean;
  /** Backward reads the op's own output y (so a later in-place op must not overwrite it). */
  readonly needsOwnOutput: boolean;
  /** The output is a ReLU output and dy arrives already masked (see the file comment). */
  outputIsRelu: boolean;
  /** Absorbs a following ReLU into this op's epilogue; false when it cannot. */
  fuseRelu(): boolean;
  /** Grows per-row scratch to `rows` rows (called before any view is read). */
  reserve(rows: number, alloc: Allocate): void;
  forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number, p: FloatArray[]): void;
  /**
   * Ops whose statistics cross rows (BatchNorm) run these instead of forward/backward: they yield
   * per-channel partial sums and resume with the sums over every row of the normalized batch,
   * which may be spread over several workers (an exchange, docs/models.md#batchnorm).
   */
  forwardSteps?(ctx: RunContext, x: FloatArray, y: FloatArray, n: number, p: FloatArray[]): Generator<Float64Array, void, Float64Array>;
  backwardSteps?(ctx: RunContext, x: FloatArray, y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number, p: FloatArray[], g: FloatArray[]): Generator<Float64Array, void, Float64Array>;
  /**
   * dx null: the gradient wrt the input is not needed (first op). Adds parameter gradients into g.
   * `paramsDone`, when given, is called once g is final and before dx is computed, so that a
   * caller can start reducing g while dx is still being computed (the ws engine's buckets).
   * `rows`, given to ops with `splitsWeightRows`, cuts the weight gradient into row blocks.
   */
  backward(ctx: RunContext, x: FloatArray, y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number, p: FloatArray[], g: FloatArray[], paramsDone?: () => void, rows?: RowBlocks): void;
  /** True when backward honours `rows` (its first tensor is a [rows, ...] weight, the rest final before it). */
  readonly splitsWeightRows?: boolean;
}

/**
 * Row blocks of an op's weight gradient (its first tensor, row-major [rows, ...]): the op computes
 * rows [cuts[0], rows) first, then down to each next cut, and calls `done(cut)` after each block,
 * when rows [cut, rows) and every later tensor of the op are final. Cuts are descending, in (0, rows).
 * The blocks are the same in every call (not only the reporting one), so the bits never depend on
 * whether anyone listens.
 */
export interface RowBlocks {
  cuts: readonly number[];
  done(row: number): void;
}

/** Shared bits: in-place flags and no scratch. */
export abstract class BaseOp implements LayerOp {
  readonly inWidth: number;
  readonly outWidth: number;
  readonly inPlace: boolean = false;
  readonly needsOwnOutput: boolean = false;
  readonly splitsWeightRows: boolean = false;
  outputIsRelu = false;
  constructor(s: StackLayer) {
    this.inWidth = s.inShape.reduce((a, b) => a * b, 1);
    this.outWidth = s.outShape.reduce((a, b) => a * b, 1);
  }
  fuseRelu(): boolean {
    return false;
  }
  reserve(_rows: number, _alloc: Allocate): void {}
  abstract forward(ctx: RunContext, x: FloatArray, y: FloatArray, n: number, p: FloatArray[]): void;
  abstract backward(ctx: RunContext, x: FloatArray, y: FloatArray, dy: FloatArray, dx: FloatArray | null, dxMask: FloatArray | null, n: number, p: FloatArray[], g: FloatArray[], paramsDone?: () => void, rows?: RowBlocks): void;
}

/** Applies dxMask to dx for ops that cannot fuse it. */
export function maskDx(ctx: RunContext, dx: FloatArray, dxMask: FloatArray | null, count: number): void {
  if (dxMask !== null) ctx.k.reluBackward(dx, dxMask, count);
}

/** Buffers grown to `rows · perRow` elements on demand. */
export class Scratch {
  #buf: KernelBuffer | null = null;
  #perRow: number;
  constructor(perRow: number) {
    this.#perRow = perRow;
  }
  reserve(rows: number, alloc: Allocate): void {
    const need = rows * this.#perRow;
    if (this.#buf !== null && this.#buf.length >= need) return;
    this.#buf?.free();
    this.#buf = alloc(need);
  }
  get array(): FloatArray {
    return this.#buf!.array;
  }
}

