/**
 * `loadModel(file)`: a final.safetensors, a file saved by TrainedModel.save, or a checkpoint (its
 * checksum verified), as a TrainedModel. Read header first, like --init: the tensors of the model
 * its `dptrain.model` metadata names must be declared with their shapes before any is read. Every
 * problem with the file is a ModelError (a mistake in the command: exit 2) naming the file:
 * `modelFileNotFound`, `cannotLoadModel` (damaged, not safetensors, not dptrain's, inconsistent).
 */
import { DptrainError, ModelError } from '../errors.js';
import { ABOUT_KEY, decodeModelAbout, SafetensorsFile, type ModelAbout } from '../io/index.js';
import { TrainedModel } from '../inference/index.js';
import type { KernelsChoice } from '../kernels/index.js';
import { bufferLayout, buildStack, setBufferTensor, inputShapeOf, outputSize, paramLayout, parseModelSpec, type ModelSpec } from '../model/index.js';
import { loadCheckpointFile } from './checkpoint.js';
import { describeCounts } from './non-finite.js';
import { readFlatParameters } from './run-dir.js';

const HINT = 'pass a final.safetensors or checkpoint written by dptrain train';

export async function loadModel(file: string, options: { kernels?: KernelsChoice } = {}): Promise<TrainedModel> {
  const { spec, params, about, buffers } = await readModelFile(file);
  return new TrainedModel(spec, params, about, { name: file, kernels: options.kernels, buffers });
}

async function readModelFile(file: string): Promise<{ spec: ModelSpec; params: Float32Array; about: ModelAbout | null; buffers?: Float32Array }> {
  const st = await wrap(file, () => SafetensorsFile.open(file));
  let isCheckpoint = false;
  try {
    const metadata = st.header.metadata;
    isCheckpoint = metadata['dptrain.checkpoint'] !== undefined;
    if (!isCheckpoint) {
      const text = metadata['dptrain.model'];
      if (text === undefined) {
        throw new ModelError('cannotLoadModel', `${file} is a safetensors file without "dptrain.model" metadata, so the model it holds is unknown (it was not written by dptrain) — ${HINT}`);
      }
      const spec = await wrap(file, async () => parseModelSpec(text));
      const about = metadata[ABOUT_KEY] === undefined ? null : await wrap(file, async () => decodeModelAbout(metadata[ABOUT_KEY], file));
      checkAbout(file, spec, about);
      return { spec, params: await readParameters(st, spec, file), about, buffers: await readBuffers(st, spec, file) };
    }
  } finally {
    await st.close();
  }
  const checkpoint = await wrap(file, () => loadCheckpointFile(file));
  const spec = parseModelSpec(checkpoint.meta.model);
  checkAbout(file, spec, checkpoint.about ?? null);
  return { spec, params: checkpoint.params, about: checkpoint.about ?? null, buffers: checkpoint.buffers };
}

/** The model's tensors, declared with its shapes (F32 or F64), read and checked finite. */
async function readParameters(st: SafetensorsFile, spec: ModelSpec, file: string): Promise<Float32Array> {
  const layout = paramLayout(spec);
  const declared = new Map(st.header.entries.map((e) => [e.name, e]));
  for (const t of layout.tensors) {
    const found = declared.get(t.name);
    const shape = found ? `${found.dtype} [${found.shape.join(', ')}]` : 'missing';
    if (!found || (found.dtype !== 'F32' && found.dtype !== 'F64') || found.shape.join(',') !== t.shape.join(',')) {
      throw new ModelError('cannotLoadModel', `${file}: tensor "${t.name}" of ${spec.text} is ${shape}, not F32 [${t.shape.join(', ')}] — the file is damaged or does not hold the model its metadata names`);
    }
  }
  const { params, bad } = await wrap(file, () => readFlatParameters(st, layout));
  if (bad.length > 0) throw new ModelError('cannotLoadModel', `${file} holds non-finite parameters: ${describeCounts(bad)} — the run that wrote it diverged; use an earlier checkpoint`);
  return params;
}

/** The BatchNorm running statistics under PyTorch's names (undefined for a model without BatchNorm); each must be there. */
async function readBuffers(st: SafetensorsFile, spec: ModelSpec, file: string): Promise<Float32Array | undefined> {
  const layout = bufferLayout(buildStack(spec));
  if (layout.size === 0) return undefined;
  const declared = new Set(st.header.entries.map((e) => e.name));
  const missing = layout.tensors.find((t) => !declared.has(t.name));
  if (missing) throw new ModelError('cannotLoadModel', `${file}: tensor "${missing.name}" (a BatchNorm running statistic of ${spec.text}) is missing — the file is damaged or does not hold the model its metadata names`);
  const tensors = await wrap(file, () => st.read(layout.tensors.map((t) => t.name)));
  const buffers = new Float32Array(layout.size);
  for (const t of layout.tensors) setBufferTensor(buffers, t, tensors.get(t.name)!.data as Float32Array | BigInt64Array);
  return buffers;
}

/** The description must fit the model: task, input size and outputs. */
function checkAbout(file: string, spec: ModelSpec, about: ModelAbout | null): void {
  if (!about) return;
  const task = spec.loss === 'softmax-cross-entropy' ? 'classification' : 'regression';
  const inputs = about.inputShape.reduce((a, b) => a * b, 1);
  const modelInputs = inputShapeOf(spec).reduce((a, b) => a * b, 1);
  if (about.task !== task || about.outputs !== outputSize(spec) || inputs !== modelInputs) {
    throw new ModelError('cannotLoadModel', `${file}: its "${ABOUT_KEY}" (${about.task}, ${inputs} inputs, ${about.outputs} outputs) does not fit its model ${spec.text} — the file is damaged or was edited`);
  }
}

/** Runs `read`; a DptrainError from it becomes ModelError `modelFileNotFound` or `cannotLoadModel` naming the file. */
async function wrap<T>(file: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof DptrainError) || error.code.startsWith('dptrain.model.')) throw error;
    if (error.code === 'dptrain.format.fileNotFound') throw new ModelError('modelFileNotFound', `model file ${file} not found — ${HINT} (e.g. runs/NAME/final.safetensors)`, { cause: error });
    const detail = error.message.startsWith(file) ? error.message.slice(file.length).replace(/^[:\s]+/, '') : error.message;
    throw new ModelError('cannotLoadModel', `${file} cannot be used as a model: ${detail}`, { cause: error });
  }
}
