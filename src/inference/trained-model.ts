/**
 * A trained model: its spec, parameters and what its file says about the data (`dptrain.about`),
 * with Keras' predict / evaluate / save. `loadModel(file)` (src/train/model-file.ts) and `train()`
 * return one. predict runs in this thread; evaluate splits the rows over an engine's workers.
 */
import os from 'node:os';
import { applyStandardization, checkFiniteSamples, checkInMemoryDataset, datasetHash, loadDataset, splitDataset, subset, type Dataset } from '../data/index.js';
import { createEngine } from '../engine/create.js';
import type { EngineKind } from '../engine/index.js';
import { ConfigError, DataError, ModelError, shown } from '../errors.js';
import { ABOUT_KEY, encodeModelAbout, outputFileProblem, saveSafetensors, type ModelAbout, type Tensor } from '../io/index.js';
import { loadKernels, type KernelsChoice } from '../kernels/index.js';
import { firstNonFinite } from '../util/defined.js';
import { bufferLayout, bufferTensors, buildStack, inputShapeOf, Model, outputSize, paramLayout, type ModelSpec } from '../model/index.js';
import { fitDataToModel, standardizationOf, type ModelShape } from './matching.js';
import { classificationMetrics, regressionMetrics, softmaxRows, argmaxRow, type EvaluationMetrics } from './metrics.js';

/**
 * Rows of features, as the data loader gives them (pixels already in [0, 1]): flat [n, inputs]
 * (a Float64Array is converted) or one array per row.
 */
export type PredictInput = Float32Array | Float64Array | readonly (readonly number[] | Float32Array | Float64Array)[];

export interface Predictions {
  n: number;
  task: 'classification' | 'regression';
  /** Classification: softmax probabilities [n, classes]; regression: the predictions [n, outputs]. */
  outputs: Float32Array;
  /** Classification: the predicted class index per row; null for regression. */
  classIndex: Int32Array | null;
  /** Classification: the predicted class's name per row (the index as text when the model has no names); null for regression. */
  className: string[] | null;
}

export interface EvaluateOptions {
  /** 'threads' (default: the rows split over worker threads) or 'inline' (this thread). */
  engine?: Extract<EngineKind, 'threads' | 'inline'>;
  /** Worker threads (default: the available cores). */
  workers?: number;
  kernels?: KernelsChoice;
  /** Rows computed at once per worker (default: the model's). */
  microBatch?: number;
  /** Told what the data holds that the model does not take (columns left out). */
  onWarning?: (message: string) => void;
}

export type Evaluation = EvaluationMetrics & {
  /** The dataset's spec and, for a part of it, which part. */
  dataset: string;
  part: EvaluationPart;
  engine: string;
  workers: number;
};

/** 'all' of a dataset, or the training or validation part of the split the model was trained with. */
export type EvaluationPart = 'all' | 'train' | 'val';

const EVALUATION_PARTS: readonly EvaluationPart[] = ['all', 'train', 'val'];

/** What predict accepts, for messages about what it got instead. */
const PREDICT_ACCEPTS = 'rows of numbers (number[][]), or a flat Float32Array (or Float64Array) of rows × features';

export class TrainedModel {
  readonly spec: ModelSpec;
  /** Flat parameters in the layout of the file's tensors (docs/formats.md). */
  readonly params: Float32Array;
  /** What the file says about the data; null for files written before dptrain recorded it. */
  readonly metadata: ModelAbout | null;
  /** What the file did not say, for files without `dptrain.about` (a line each, for warnings). */
  readonly missing: readonly string[];
  /** How messages name the model: its file, or the spec. */
  readonly name: string;
  readonly #kernels: KernelsChoice;
  /** BatchNorm running statistics (model buffers.ts); empty for a model without BatchNorm. */
  readonly buffers: Float32Array;
  /** The forward pass, made on first use with the loaded kernel set. */
  #net: Model | null = null;

  constructor(spec: ModelSpec, params: Float32Array, metadata: ModelAbout | null, options: { name?: string; kernels?: KernelsChoice; buffers?: Float32Array } = {}) {
    this.spec = spec;
    this.params = params;
    this.metadata = metadata;
    this.name = options.name ?? spec.text;
    this.#kernels = options.kernels ?? 'auto';
    this.buffers = options.buffers ?? new Float32Array(0);
    const size = paramLayout(spec).size;
    if (params.length !== size) throw new ModelError('badParameters', `${this.name}: ${params.length} parameters for ${spec.text}, which has ${size}`);
    this.missing = metadata
      ? []
      : [`${this.name} has no "${ABOUT_KEY}" metadata (it was written before dptrain recorded it): the class names, feature names, standardization and training data are unknown, so classes are shown as indices and inputs are used as given`];
  }

  get task(): 'classification' | 'regression' {
    return this.spec.loss === 'softmax-cross-entropy' ? 'classification' : 'regression';
  }

  get inputShape(): readonly number[] {
    return this.metadata?.inputShape ?? inputShapeOf(this.spec);
  }

  get inputDim(): number {
    return inputShapeOf(this.spec).reduce((a, b) => a * b, 1);
  }

  /** Classes (classification) or targets (regression) per sample. */
  get outputs(): number {
    return outputSize(this.spec);
  }

  /** Each class's name: the file's, else the index as text; [] for regression. */
  get classNames(): string[] {
    if (this.task !== 'classification') return [];
    return this.metadata?.classNames?.slice() ?? Array.from({ length: this.outputs }, (_, k) => String(k));
  }

  /** The output columns' names for regression: the label column's name for one output, else output_0, output_1, …. */
  get outputNames(): string[] {
    if (this.task === 'classification') return this.classNames;
    const label = this.metadata?.labelColumn?.name;
    return this.outputs === 1 && label !== undefined && !/^\d+$/.test(label) ? [label] : Array.from({ length: this.outputs }, (_, k) => `output_${k}`);
  }

  /** What matching a dataset needs (matching.ts). */
  get shape(): ModelShape {
    return { name: this.name, about: this.metadata, inputShape: this.inputShape, inputDim: this.inputDim, outputs: this.outputs, task: this.task };
  }

  /**
   * Predictions for rows of features in the model's input order, as the dataset loader gives them;
   * the training standardization is applied here. Runs in this thread.
   */
  async predict(x: PredictInput): Promise<Predictions> {
    const rows = this.#flatten(x);
    await this.ready();
    return this.predictionsOf(this.forwardSync(rows), rows.length / this.inputDim);
  }

  /** Loads the kernel set and makes the forward pass (predict does it; forwardSync needs it done). */
  async ready(): Promise<void> {
    this.#net ??= new Model(this.spec, { kernels: await loadKernels(this.#kernels) });
  }

  /** The model's raw outputs (logits, or regression predictions) for standardized rows [n, inputs], after ready(). */
  forwardSync(standardized: Float32Array): Float32Array {
    const net = this.#net;
    if (net === null) throw new ModelError('notReady', 'call and await ready() (or predict()) before forwardSync()');
    const n = standardized.length / this.inputDim;
    const targetDim = this.task === 'classification' ? 1 : this.outputs;
    const out = new Float32Array(n * this.outputs);
    if (n === 0) return out;
    const source = { x: standardized, y: new Float32Array(n * targetDim), inputDim: this.inputDim, targetDim };
    net.evaluate(this.params, source, Uint32Array.from({ length: n }, (_, i) => i), undefined, this.buffers.length > 0 ? this.buffers : undefined, out);
    return out;
  }

  /** Standardizes rows [n, inputs] in place as training did (nothing without --standardize). */
  standardize(rows: Float32Array): Float32Array {
    const stats = standardizationOf(this.metadata);
    if (!stats) return rows;
    const d = this.inputDim;
    const n = rows.length / d;
    const shaped = applyStandardization({ spec: 'rows', n, inputDim: d, x: rows, targetDim: 1, y: new Float32Array(n), task: 'classification', numClasses: 1 }, stats);
    rows.set(shaped.x);
    return rows;
  }

  /** Predictions from the raw outputs of n rows: softmax probabilities and the class, or the regression outputs. */
  predictionsOf(logits: Float32Array, n: number): Predictions {
    if (this.task === 'regression') return { n, task: 'regression', outputs: logits, classIndex: null, className: null };
    const k = this.outputs;
    const names = this.classNames;
    const classIndex = Int32Array.from({ length: n }, (_, r) => argmaxRow(logits, r, k));
    return { n, task: 'classification', outputs: softmaxRows(logits, k), classIndex, className: Array.from(classIndex, (c) => names[c]) };
  }

  #flatten(x: PredictInput): Float32Array {
    const d = this.inputDim;
    if (x instanceof Float32Array || x instanceof Float64Array) {
      if (x.length % d !== 0) throw new DataError('featuresMismatch', `predict got ${x.length} values, not a whole number of rows of ${d} features for ${this.name}`);
      const rows = Float32Array.from(x);
      checkFiniteRows(rows, d, (row) => `predict row ${row}`);
      return this.standardize(rows);
    }
    if (!Array.isArray(x)) throw new DataError('badShape', `predict got ${describeInput(x)} — pass ${PREDICT_ACCEPTS}`);
    if (typeof x[0] === 'number') throw new DataError('badShape', `predict got a flat array of ${x.length} numbers, not rows — pass ${PREDICT_ACCEPTS}; one row is [[${x.slice(0, 2).join(', ')}${x.length > 2 ? ', …' : ''}]]`);
    const rows = new Float32Array(x.length * d);
    x.forEach((row: unknown, i) => rows.set(this.#rowValues(row, i), i * d));
    return this.standardize(rows);
  }

  /** Row i of number[][] input, checked: an array of d finite numbers (a string is not converted). */
  #rowValues(row: unknown, i: number): ArrayLike<number> {
    const d = this.inputDim;
    if (!Array.isArray(row) && !(row instanceof Float32Array) && !(row instanceof Float64Array)) throw new DataError('badShape', `predict row ${i} is ${describeInput(row)} — pass ${PREDICT_ACCEPTS}`);
    if (row.length !== d) throw new DataError('featuresMismatch', `predict row ${i} has ${row.length} values but ${this.name} takes ${d} features`);
    for (let j = 0; j < d; j++) {
      const value: unknown = row[j];
      if (typeof value !== 'number' || !Number.isFinite(value)) throw badPredictValue(`predict row ${i}`, j, value);
    }
    return row as ArrayLike<number>;
  }

  /**
   * Metrics on a dataset (a Dataset, or a spec to load), Keras' evaluate: loss and accuracy,
   * per-class precision/recall/F1 and the confusion matrix, or MSE/RMSE/MAE/R². The dataset is
   * fitted to the model first (fitDataToModel); its rows are split over the engine's workers.
   */
  async evaluate(data: Dataset | string, options: EvaluateOptions & { part?: EvaluationPart } = {}): Promise<Evaluation> {
    return (await this.evaluateWithOutputs(data, options)).evaluation;
  }

  /** evaluate(), also returning the model's outputs [n, outputs] and the targets the metrics compared them with. */
  async evaluateWithOutputs(data: Dataset | string, options: EvaluateOptions & { part?: EvaluationPart } = {}): Promise<{ evaluation: Evaluation; outputs: Float32Array; targets: Float32Array }> {
    const part = evaluationPartOf(options);
    // A spec is read as the training file was: its label column by the recorded name, for the recorded task.
    const loaded =
      typeof data === 'string'
        ? await loadDataset(data, { labelColumn: this.metadata?.labelColumn?.name, task: this.metadata?.task })
        : inMemoryForEvaluate(data);
    const chosen = part === 'all' ? loaded : this.splitPart(loaded, part);
    const fitted = fitDataToModel(this.shape, chosen, options.onWarning);
    const kind = options.engine ?? 'threads';
    const workers = kind === 'inline' ? 1 : Math.max(1, Math.min(options.workers ?? os.availableParallelism(), Math.max(1, fitted.n)));
    const engine = await createEngine(
      {
        model: this.spec,
        train: subset(fitted, fitted.n > 0 ? [0] : []),
        validation: fitted,
        params: this.params,
        ...(this.buffers.length > 0 && { buffers: this.buffers }),
        optimizer: { name: 'sgd', momentum: 0, nesterov: false, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        seed: 0,
        microBatch: options.microBatch,
        kernels: options.kernels ?? this.#kernels,
      },
      { kind, workers },
    );
    try {
      const outputs = new Float32Array(fitted.n * this.outputs);
      const sums = await engine.evaluate(fitted, outputs);
      const metrics = this.task === 'classification' ? classificationMetrics(outputs, fitted.y, this.classNames, sums) : regressionMetrics(outputs, fitted.y, this.outputNames, sums);
      return { evaluation: { ...metrics, dataset: loaded.spec, part, engine: engine.kind, workers: engine.workers }, outputs, targets: fitted.y };
    } finally {
      await engine.close();
    }
  }

  /**
   * The training or validation part of the dataset the model was trained on, split as training
   * split it (the recorded seed and --val-split); the data must be the same samples (its hash).
   */
  splitPart(data: Dataset, part: 'train' | 'val'): Dataset {
    const about = this.metadata;
    if (!about) throw new DataError('noSplit', `${this.name} does not record the split it was trained with (an older file) — evaluate a whole dataset (--part all)`);
    if (about.dataset.valSplit === 0) throw new DataError('noSplit', `${this.name} was trained with --val-split 0: there is no held-out part — evaluate a whole dataset (--part all), e.g. a test set`);
    const hash = datasetHash(data);
    if (hash !== about.dataset.hash) {
      throw new DataError('datasetChanged', `dataset ${data.spec} is not the data ${this.name} was trained on (its samples hash to ${hash}, the file records ${about.dataset.hash}), so its ${part === 'val' ? 'held-out' : 'training'} part would not be the same rows — evaluate the whole dataset (--part all)`);
    }
    const { train, val } = splitDataset(data, about.dataset.valSplit, about.dataset.seed);
    return part === 'val' ? val! : train;
  }

  /** Writes the model as final.safetensors is written: PyTorch names, the spec and `dptrain.about` as metadata. */
  async save(file: string): Promise<void> {
    // Said before writing: otherwise the write's error names its temp file, not `file`.
    const problem = typeof file === 'string' && file !== '' ? outputFileProblem(file) : `the file name is ${describeInput(file)} — give a path such as "model.safetensors"`;
    if (problem !== null) throw new ConfigError('badOption', `model.save(${shown(file)}): ${problem}`);
    const layout = paramLayout(this.spec);
    const tensors: Tensor[] = layout.tensors.map((t) => ({ name: t.name, dtype: 'F32', shape: [...t.shape], data: this.params.subarray(t.offset, t.offset + t.size) }));
    // BatchNorm running statistics under PyTorch's names, as final.safetensors has them.
    if (this.buffers.length > 0) tensors.push(...bufferTensors(this.buffers, bufferLayout(buildStack(this.spec))));
    await saveSafetensors(file, tensors, { format: 'pt', 'dptrain.model': this.spec.text, ...(this.metadata && { [ABOUT_KEY]: encodeModelAbout(this.metadata) }) });
  }

  /** Returns the model's workspace (wasm memory) now; a later predict makes a new one. */
  dispose(): void {
    this.#net?.dispose();
    this.#net = null;
  }
}

/** evaluate's Dataset, checked as a loader's output: a Dataset, not empty, every feature finite (a NaN row would be scored). */
function inMemoryForEvaluate(data: unknown): Dataset {
  const name = 'evaluate(data): data';
  const checked = checkInMemoryDataset(data, name, 'or a dataset spec such as "csv:test.csv"');
  checkFiniteSamples(checked, name);
  return checked;
}

/** options.part, checked: 'all' (the default), 'train' or 'val'. Also refuses options that are not an object. */
function evaluationPartOf(options: unknown): EvaluationPart {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new ConfigError('badOption', `evaluate(data, options): options is ${describeInput(options)} — pass an object such as { part: 'val' }, or leave it out`);
  const part: unknown = (options as { part?: unknown }).part ?? 'all';
  if (!EVALUATION_PARTS.includes(part as EvaluationPart)) throw new ConfigError('badOption', `evaluate's part must be one of ${EVALUATION_PARTS.join(', ')} (got ${shown(part)})`);
  return part as EvaluationPart;
}

/** The first non-finite value of flat rows [n, d], as badPredictRow naming the row and column. */
function checkFiniteRows(rows: Float32Array, d: number, rowName: (row: number) => string): void {
  const k = firstNonFinite(rows);
  if (k >= 0) throw badPredictValue(rowName(Math.floor(k / d)), k % d, rows[k]);
}

function badPredictValue(row: string, column: number, value: unknown): DataError {
  const got = typeof value === 'number' ? String(value) : `${describeInput(value)}${typeof value === 'string' ? ` ${JSON.stringify(value)}` : ''}`;
  return new DataError('badPredictRow', `${row} column ${column} is ${got}, not a finite number — features must be finite numbers (convert strings with Number(), fill or drop missing values)`);
}

/** A value's kind, for messages: null, an array, a string, an object, a Float64Array. */
function describeInput(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  const kind = typeof value === 'object' ? (value.constructor?.name ?? 'Object') : typeof value;
  return kind === 'Object' ? 'an object' : `a ${kind}`;
}
