/**
 * One checkpoint file (docs/formats.md, docs/reliability.md): a safetensors file that
 * `safetensors.torch.load_file` reads as the model's tensors plus the optimizer's, with the run's
 * state as JSON metadata and a SHA-256 over the whole file.
 *
 *   tensors   layers.{i}.weight [out, in], layers.{i}.bias [out]   F32, run-dir.ts's PyTorch names
 *             optimizer.{name} [numParams]                        F32, sorted by name (none for plain SGD)
 *             best.layers.{i}.weight, best.layers.{i}.bias         F32, the best epoch's parameters (--restore-best only)
 *             layers.{i}.running_mean, .running_var [C] F32, .num_batches_tracked [] I64: BatchNorm buffers (models with bn)
 *   metadata  format: "pt"                      (what PyTorch tooling expects of a state dict)
 *             dptrain.model: the model spec     (as in final.safetensors)
 *             dptrain.checkpoint: JSON of CheckpointMeta
 *             dptrain.checksum: "sha256:<hex>" of the whole file as written with these 64 hex digits all "0"
 *             dptrain.about: what the model says about its data, as in final.safetensors (format version 3)
 *
 * The checksum covers every byte (header, tensor table, metadata, padding, data), so any change to
 * the file after writing is detected, not only changes to the tensors.
 *
 * Encoding is deterministic (no timestamps or paths; nested JSON keys sorted), so equal state gives
 * equal bytes. Loading is data only: strict JSON (no duplicate or prototype keys), every field
 * type-checked, the checksum verified before anything in the file is trusted.
 */
import { open } from 'node:fs/promises';
import { FormatError, shown } from '../errors.js';
import {
  ABOUT_KEY,
  decodeModelAbout,
  decodeSafetensors,
  encodeModelAbout,
  encodeSafetensors,
  SafetensorsFile,
  type DecodedSafetensors,
  type ModelAbout,
  type SafetensorsHeader,
  type TensorDtype,
} from '../io/index.js';
import { JsonSyntaxError, parseStrictJson, type JsonValue } from '../io/strict-json.js';
import { bufferDtype, bufferLayout, bufferTensors, buildStack, paramLayout, parseModelSpec, setBufferTensor, type BufferLayout, type ParamLayout } from '../model/index.js';
import { optimizerNames } from '../optim/index.js';
import { actualChecksum, checkChecksum, checksumDigitsAt, checksumOf, CHECKSUM_KEY, CHECKSUM_PLACEHOLDER } from './checksum.js';
import { countNonFinite, describeCounts } from './non-finite.js';
import { parameterTensors } from './run-dir.js';

/**
 * The version this dptrain writes and the newest it reads. Bump it when the layout or meta changes.
 * 2: the best epoch's parameters (best.*), and meta.loop's history bounded (state.ts); 1 is read too.
 * 3: the `dptrain.about` metadata (what the model says about its data); 1 and 2 are read too.
 */
export const CHECKPOINT_FORMAT_VERSION = 3;

/** The run's state at a step boundary: everything an exact resume needs besides the tensors. */
export interface CheckpointMeta {
  /** CHECKPOINT_FORMAT_VERSION of the writer. */
  formatVersion: number;
  /** Model spec text, e.g. 'mlp:784-128-10'. */
  model: string;
  numParams: number;
  /** Dataset spec as configured. */
  dataset: string;
  /** 'sha256:<hex>' of the loaded dataset (data/dataset.ts datasetHash). */
  datasetHash: string;
  /** 'sgd' | 'adam' | 'adamw'. */
  optimizer: string;
  /** Updates applied so far = index of the next step to run. */
  step: number;
  /** Epoch of the next step. */
  epoch: number;
  /** Index of the next step within its epoch. */
  position: number;
  /** Samples processed so far. */
  samples: number;
  /** The epoch-permutation stream the next step reads (permutations derive from (seed, epoch)). */
  rng: { algorithm: string; seed: number; epoch: number };
  /** Engine kind at save. */
  engine: string;
  /** Worker count at save. */
  workers: number;
  /** The resolved training config. */
  config: Record<string, unknown>;
  /** The loop's own state, opaque JSON; round-trips exactly (numbers are doubles, -0 included). */
  loop: Record<string, unknown>;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  /** numParams values in the model's flat layout. */
  params: Float32Array;
  /** Optimizer state by PyTorch name (momentum_buffer, exp_avg, exp_avg_sq), numParams values each. */
  optimizerState: Record<string, Float32Array>;
  /** The parameters of the best epoch so far (--restore-best), in the layout of `params`; absent otherwise. */
  best?: Float32Array;
  /** The BatchNorm running statistics (model buffers.ts); absent for a model without BatchNorm. */
  buffers?: Float32Array;
  /** With `best` and BatchNorm: the best epoch's running statistics (best.layers.{i}.running_mean, ...). */
  bestBuffers?: Float32Array;
  /** What the model says about its data (`dptrain.about`); absent in files of format version 1 and 2. */
  about?: ModelAbout;
}

/** A tensor as a file lists it. */
export interface TensorInfo {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** NaN and ±Infinity values in it (0 for integer dtypes). */
  nonFinite: number;
}

/** What a safetensors file holds, as `dptrain inspect` shows it. */
export type SafetensorsContents =
  | { kind: 'checkpoint'; checkpoint: Checkpoint; tensors: TensorInfo[]; checksum: string }
  | {
      kind: 'parameters';
      tensors: TensorInfo[];
      metadata: Record<string, string>;
      /** The dptrain.model spec when the file has one (its tensors were checked against it). */
      model: string | null;
      /** Elements over the tensors other than BatchNorm buffers (as training counts parameters). */
      numParams: number;
      /** Elements of the BatchNorm buffers (running_mean, running_var, num_batches_tracked). */
      numBuffers: number;
    };

const META_KEY = 'dptrain.checkpoint';
const MODEL_KEY = 'dptrain.model';
const METADATA_KEYS = ['format', MODEL_KEY, META_KEY, CHECKSUM_KEY, ABOUT_KEY];
const OPTIMIZER_PREFIX = 'optimizer.';
const BEST_PREFIX = 'best.';
const STATE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const BUFFER_NAME = /\.(running_mean|running_var|num_batches_tracked)$/;
const SHA256 = /^sha256:[0-9a-f]{64}$/;
// Keys that would reach Object.prototype or look like it when the JSON becomes plain objects.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_JSON_DEPTH = 64; // parseStrictJson's default, so whatever is written can be read

const metaFields = [
  'formatVersion', 'model', 'numParams', 'dataset', 'datasetHash', 'optimizer',
  'step', 'epoch', 'position', 'samples', 'rng', 'engine', 'workers', 'config', 'loop',
] as const satisfies readonly (keyof CheckpointMeta)[];
const rngFields = ['algorithm', 'seed', 'epoch'] as const;

type Fail = (message: string) => never;

// ---- encode ----

/**
 * The checkpoint as safetensors bytes. Deterministic: equal state gives equal bytes. Throws
 * FormatError `cannotEncodeCheckpoint` for a meta that does not validate, arrays of the wrong type or
 * length, or JSON that would not round-trip (NaN, Infinity, class instances, undefined in arrays).
 */
export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const fail: Fail = (message) => {
    throw new FormatError('cannotEncodeCheckpoint', `cannot encode checkpoint: ${message}`);
  };
  const { meta, params, optimizerState, best, buffers, bestBuffers, about } = checkpoint;
  const checked = validateMeta(meta, fail);
  if (checked.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    fail(`meta.formatVersion must be ${CHECKPOINT_FORMAT_VERSION}, the version this dptrain writes (got ${checked.formatVersion})`);
  }
  const layout = layoutOf(checked, fail);
  if (!(params instanceof Float32Array) || params.length !== layout.size) {
    fail(`params must be a Float32Array of ${layout.size} values for ${checked.model} (got ${describeArray(params)})`);
  }
  if (best !== undefined && (!(best instanceof Float32Array) || best.length !== layout.size)) {
    fail(`best must be a Float32Array of ${layout.size} values for ${checked.model} (got ${describeArray(best)})`);
  }
  if (optimizerState === null || typeof optimizerState !== 'object') fail('optimizerState must be an object of Float32Arrays');
  const names = Object.keys(optimizerState).sort();
  for (const name of names) {
    if (!STATE_NAME.test(name) || FORBIDDEN_KEYS.has(name)) fail(`optimizer state name ${shown(name)} must be an identifier such as exp_avg`);
    const state = optimizerState[name];
    if (!(state instanceof Float32Array) || state.length !== layout.size) {
      fail(`optimizerState.${name} must be a Float32Array of ${layout.size} values (got ${describeArray(state)})`);
    }
  }

  const metaText = metaJson(checked, fail);
  const tensors = [
    ...parameterTensors(params, layout),
    ...names.map((name) => ({ name: OPTIMIZER_PREFIX + name, dtype: 'F32' as const, shape: [layout.size], data: optimizerState[name] })),
    ...(best ? parameterTensors(best, layout).map((t) => ({ ...t, name: BEST_PREFIX + t.name })) : []),
    ...encodableBuffers(checked.model, buffers, fail),
    ...(best && bestBuffers ? encodableBuffers(checked.model, bestBuffers, fail).map((t) => ({ ...t, name: BEST_PREFIX + t.name })) : []),
  ];
  // Encode with a zero checksum, hash the whole file, then write the digits in place (same length).
  const aboutEntry: Record<string, string> = about ? { [ABOUT_KEY]: encodeModelAbout(about) } : {};
  const bytes = encodeSafetensors(tensors, { format: 'pt', [MODEL_KEY]: checked.model, [META_KEY]: metaText, [CHECKSUM_KEY]: CHECKSUM_PLACEHOLDER, ...aboutEntry });
  const at = checksumDigitsAt(bytes);
  if (at < 0) throw new Error('internal: the checksum field is not in the encoded header');
  bytes.set(Buffer.from(checksumOf(bytes, at), 'latin1'), at);
  return bytes;
}

/** meta's fields in declaration order; nested objects with sorted keys, so equal state gives equal text. */
function metaJson(meta: CheckpointMeta, fail: Fail): string {
  return `{${metaFields.map((key) => `${JSON.stringify(key)}:${jsonText(meta[key], `meta.${key}`, 1, fail)}`).join(',')}}`;
}

/**
 * JSON text that parses back to an equal value: finite numbers only (NaN would come back as null),
 * -0 kept, plain objects and arrays only. Object properties that are undefined are left out, as
 * JSON.stringify does.
 */
function jsonText(value: unknown, path: string, depth: number, fail: Fail): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) return fail(`${path} is ${value}; checkpoint JSON holds finite numbers only`);
      return Object.is(value, -0) ? '-0' : JSON.stringify(value);
    case 'object': {
      if (depth >= MAX_JSON_DEPTH) return fail(`${path} is nested deeper than ${MAX_JSON_DEPTH} levels (or refers to itself)`);
      if (Array.isArray(value)) {
        return `[${Array.from(value, (item, i) => (item === undefined ? fail(`${path}[${i}] is undefined; JSON has no undefined`) : jsonText(item, `${path}[${i}]`, depth + 1, fail))).join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        return fail(`${path} is a ${(value as object).constructor?.name ?? 'non-plain object'}; checkpoint JSON holds plain objects, arrays, strings, finite numbers, booleans and null`);
      }
      const record = value as Record<string, unknown>;
      const fields: string[] = [];
      for (const key of Object.keys(record).sort()) {
        if (FORBIDDEN_KEYS.has(key)) return fail(`${path} has the key ${shown(key)}, which is not allowed`);
        if (record[key] === undefined) continue;
        fields.push(`${JSON.stringify(key)}:${jsonText(record[key], `${path}.${key}`, depth + 1, fail)}`);
      }
      return `{${fields.join(',')}}`;
    }
    default:
      return fail(`${path} is a ${typeof value}; checkpoint JSON holds plain objects, arrays, strings, finite numbers, booleans and null`);
  }
}

function describeArray(value: unknown): string {
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of ${(value as Float32Array).length}`;
  return value === null ? 'null' : typeof value;
}

// ---- decode ----

/**
 * Decodes and verifies a checkpoint; `source` (the path) names it in error messages. FormatErrors:
 * `checkpointTruncated` (the file ends early), `checkpointInvalid` (not valid safetensors, or its
 * contents contradict themselves: meta fields, tensors, parameter count), `notACheckpoint` (valid
 * safetensors without checkpoint metadata, e.g. final.safetensors), `checkpointVersion` (written by
 * a newer format), `checkpointChecksum` (the data or meta were changed after writing).
 */
export function decodeCheckpoint(bytes: Uint8Array, source: string): Checkpoint {
  const { checkpoint } = readCheckpoint(decodeContainer(bytes, source, true), bytes, source);
  const counts = [
    ...paramTensorsOf(checkpoint).map((t) => ({ name: t.name, nonFinite: countNonFinite(t.data) })),
    ...Object.keys(checkpoint.optimizerState).map((name) => ({ name: OPTIMIZER_PREFIX + name, nonFinite: countNonFinite(checkpoint.optimizerState[name]) })),
  ];
  const bad = counts.filter((t) => t.nonFinite > 0);
  if (bad.length > 0) {
    throw new FormatError(
      'checkpointNonFinite',
      `${source} holds non-finite values (NaN or ±Infinity): ${describeCounts(bad)} — its checksum is valid, so they were written that way; a run cannot continue from it: use an earlier checkpoint`,
    );
  }
  return checkpoint;
}

/**
 * Reads and verifies a checkpoint file, header first: the header must fit the file's size and
 * declare the tensors of the model its metadata names (shapes checked) before the rest of the file
 * is read, so a bogus multi-gigabyte file costs a few bytes of reading. Then as decodeCheckpoint.
 */
export async function loadCheckpointFile(path: string): Promise<Checkpoint> {
  let file: SafetensorsFile;
  try {
    file = await SafetensorsFile.open(path);
  } catch (error) {
    throw asCheckpointError(error, path);
  }
  try {
    checkCheckpointHeader(file.header, path);
    return decodeCheckpoint(await file.readAll(), path);
  } finally {
    await file.close();
  }
}

/**
 * A safetensors file's bytes for `dptrain inspect`, read only after its header has been checked
 * against its size. Header errors of a file whose header names checkpoint metadata are reported
 * with the checkpoint codes (checkpointTruncated, checkpointInvalid), as inspectSafetensors does.
 */
export async function readSafetensorsFile(path: string): Promise<Uint8Array> {
  let file: SafetensorsFile;
  try {
    file = await SafetensorsFile.open(path);
  } catch (error) {
    throw (await headerMentionsCheckpoint(path)) ? asCheckpointError(error, path) : error;
  }
  try {
    return await file.readAll();
  } finally {
    await file.close();
  }
}

/** Whether the first MiB of `path` (read without trusting it) mentions checkpoint metadata. */
async function headerMentionsCheckpoint(path: string): Promise<boolean> {
  try {
    const handle = await open(path, 'r');
    try {
      const head = new Uint8Array(1024 * 1024);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      return looksLikeCheckpoint(head.subarray(0, bytesRead));
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}

/** The tensors a checkpoint's header declares, against the model its metadata names; checkpointInvalid if they differ. */
function checkCheckpointHeader(header: SafetensorsHeader, source: string): void {
  const metaText = header.metadata[META_KEY];
  if (metaText === undefined) return; // decodeCheckpoint says what it is
  let model: unknown;
  try {
    const parsed = parseStrictJson(metaText);
    model = parsed instanceof Map ? parsed.get('model') : undefined;
  } catch {
    return; // decodeCheckpoint reports the JSON
  }
  if (typeof model !== 'string') return;
  let layout: ParamLayout;
  try {
    layout = paramLayout(parseModelSpec(model));
  } catch {
    return;
  }
  const invalid: Fail = (message) => {
    throw new FormatError('checkpointInvalid', `${source}: ${message} — the file is damaged or was not written by dptrain; use another checkpoint`);
  };
  const declared = new Map(header.entries.map((e) => [e.name, e]));
  checkLayoutTensors(declared, layout, model, ['F32'], invalid);
  const names = new Set(layout.tensors.map((t) => t.name));
  const shapes = new Map(layout.tensors.map((t) => [BEST_PREFIX + t.name, t.shape]));
  const buffers = new Map(buffersOf(model).tensors.map((t) => [t.name, t]));
  for (const e of header.entries) {
    if (names.has(e.name)) continue;
    const buffer = buffers.get(e.name) ?? buffers.get(e.name.startsWith(BEST_PREFIX) ? e.name.slice(BEST_PREFIX.length) : '');
    if (buffer !== undefined && e.dtype === (buffer.shape.length === 0 ? 'I64' : 'F32') && sameShape(e.shape, buffer.shape)) continue;
    // The best epoch's copy of a model tensor (--restore-best): the tensor's own dtype and shape.
    const bestShape = shapes.get(e.name);
    if (bestShape !== undefined && e.dtype === 'F32' && sameShape(e.shape, bestShape)) continue;
    if (!e.name.startsWith(OPTIMIZER_PREFIX) || e.dtype !== 'F32' || !sameShape(e.shape, [layout.size])) {
      invalid(`tensor ${shown(e.name)} is ${e.dtype} [${e.shape.join(', ')}]; a checkpoint of ${model} holds its tensors, F32 ${OPTIMIZER_PREFIX}<state> [${layout.size}] and, with --restore-best, ${BEST_PREFIX}<tensor>`);
    }
  }
}

function paramTensorsOf(checkpoint: Checkpoint): { name: string; data: Float32Array }[] {
  const layout = paramLayout(parseModelSpec(checkpoint.meta.model));
  return layout.tensors.map((t) => ({ name: t.name, data: checkpoint.params.subarray(t.offset, t.offset + t.size) }));
}

/**
 * What a safetensors file holds, verified: a checkpoint (as decodeCheckpoint checks it) or a plain
 * parameters file. A plain file with `dptrain.model` metadata must hold that model's tensors
 * (FormatError `parametersMismatch` otherwise). Errors of a file that is not valid safetensors keep
 * the safetensors codes, or the checkpoint ones when its header names checkpoint metadata.
 */
export function inspectSafetensors(bytes: Uint8Array, source: string): SafetensorsContents {
  const decoded = decodeContainer(bytes, source, looksLikeCheckpoint(bytes));
  const tensors = [...decoded.tensors.values()].map(({ name, dtype, shape, data }) => ({ name, dtype, shape, nonFinite: countNonFinite(data) }));
  // Either key makes it a checkpoint, so that one damaged key does not pass it off as a parameters file.
  if (decoded.metadata[META_KEY] !== undefined || decoded.metadata[CHECKSUM_KEY] !== undefined) {
    const { checkpoint, checksum } = readCheckpoint(decoded, bytes, source);
    return { kind: 'checkpoint', checkpoint, tensors, checksum };
  }
  const model = decoded.metadata[MODEL_KEY] ?? null;
  if (model !== null) checkParameterTensors(decoded, model, source);
  // Buffers by their PyTorch names, the names dptrain writes too: a file without dptrain.model has them as well.
  const size = (t: TensorInfo): number => t.shape.reduce((a, b) => a * b, 1);
  const numBuffers = tensors.filter((t) => BUFFER_NAME.test(t.name)).reduce((sum, t) => sum + size(t), 0);
  const numParams = tensors.reduce((sum, t) => sum + size(t), 0) - numBuffers;
  return { kind: 'parameters', tensors, metadata: decoded.metadata, model, numParams, numBuffers };
}

/** Whether the header (read without trusting it) mentions checkpoint metadata. */
function looksLikeCheckpoint(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  const length = Number(declared < BigInt(bytes.length - 8) ? declared : BigInt(bytes.length - 8));
  return Buffer.from(bytes.buffer, bytes.byteOffset + 8, length).includes(`"${META_KEY}"`);
}

function decodeContainer(bytes: Uint8Array, source: string, asCheckpoint: boolean): DecodedSafetensors {
  try {
    return decodeSafetensors(bytes, { source });
  } catch (error) {
    throw asCheckpoint ? asCheckpointError(error, source) : error;
  }
}

/** A safetensors error of a file expected to be a checkpoint, as a checkpoint error (file errors kept). */
function asCheckpointError(error: unknown, source: string): unknown {
  if (!(error instanceof FormatError)) return error;
  if (['dptrain.format.fileNotFound', 'dptrain.format.fileUnreadable', 'dptrain.format.notAFile'].includes(error.code)) return error;
  const detail = error.message.startsWith(`${source}: `) ? error.message.slice(source.length + 2) : error.message;
  if (error.code === 'dptrain.format.truncatedSafetensors') {
    return new FormatError('checkpointTruncated', `${source} is truncated: ${detail} — the write was cut short or the file was damaged; use an earlier checkpoint`, { cause: error });
  }
  return new FormatError('checkpointInvalid', `${source} is not a valid safetensors file (${detail}) — the file is damaged; use an earlier checkpoint`, { cause: error });
}

function readCheckpoint(decoded: DecodedSafetensors, bytes: Uint8Array, source: string): { checkpoint: Checkpoint; checksum: string } {
  const { tensors, metadata } = decoded;
  const invalid: Fail = (message) => {
    throw new FormatError('checkpointInvalid', `${source}: ${message} — the file is damaged or was not written by dptrain; use another checkpoint`);
  };
  const metaText = metadata[META_KEY];
  if (metaText === undefined && metadata[CHECKSUM_KEY] !== undefined) invalid(`it has a "${CHECKSUM_KEY}" but no "${META_KEY}" metadata`);
  if (metaText === undefined) {
    throw new FormatError(
      'notACheckpoint',
      `${source} is a safetensors file without checkpoint metadata ("${META_KEY}"), e.g. a final.safetensors — ` +
        '`dptrain inspect` shows what it holds; --init starts a new run from its parameters',
    );
  }

  // 1. The checksum, over the whole file with its own digits read as zeros.
  const stated = metadata[CHECKSUM_KEY];
  const actual = actualChecksum(bytes);

  let parsed: JsonValue | undefined;
  let syntax: JsonSyntaxError | undefined;
  try {
    parsed = parseStrictJson(metaText);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    syntax = error;
  }
  // A newer format may lay out or checksum its files differently: its version is the message.
  const version = parsed instanceof Map ? parsed.get('formatVersion') : undefined;
  if (typeof version === 'number' && Number.isSafeInteger(version) && version > CHECKPOINT_FORMAT_VERSION) {
    const damaged = stated !== actual ? '; its checksum does not match either, so it may instead be damaged' : '';
    throw new FormatError(
      'checkpointVersion',
      `${source} has checkpoint format version ${version}, but this dptrain reads format version ${CHECKPOINT_FORMAT_VERSION}${damaged} — use the newer dptrain that wrote it`,
    );
  }
  checkChecksum(stated, actual, source);

  // 2. The metadata and meta fields.
  for (const key of Object.keys(metadata)) {
    if (!METADATA_KEYS.includes(key)) invalid(`unexpected metadata key ${shown(key)} (a checkpoint has ${METADATA_KEYS.join(', ')})`);
  }
  if (metadata.format !== 'pt') invalid(`metadata "format" is ${shown(metadata.format ?? null)}, not "pt"`);
  if (syntax !== undefined) invalid(`the "${META_KEY}" metadata is not valid JSON: ${syntax.message}`);
  const meta = validateMeta(plainJson(parsed!, 'meta', invalid), invalid);
  const layout = layoutOf(meta, invalid);
  if (metadata[MODEL_KEY] !== meta.model) invalid(`metadata "${MODEL_KEY}" (${shown(metadata[MODEL_KEY] ?? null)}) differs from meta.model (${shown(meta.model)})`);
  const about = aboutOf(metadata[ABOUT_KEY], meta.formatVersion, invalid);

  // 3. The tensors: exactly the model's, then optimizer.{name} of numParams each, then the best
  //    epoch's copy of the model's (all of them or none); all F32.
  const expected = new Set(layout.tensors.map((t) => t.name));
  checkLayoutTensors(tensors, layout, meta.model, ['F32'], invalid);
  const params = new Float32Array(layout.size);
  for (const t of layout.tensors) params.set(tensors.get(t.name)!.data as Float32Array, t.offset);
  const best = readBestTensors(tensors, layout, meta.model, invalid);
  const bufferLayoutOfModel = buffersOf(meta.model);
  const buffers = readBufferTensors(tensors, bufferLayoutOfModel, meta.model, invalid);
  const bufferNames = new Set(bufferLayoutOfModel.tensors.flatMap((t) => [t.name, BEST_PREFIX + t.name]));
  const bestBuffers = best && bufferLayoutOfModel.tensors.some((t) => tensors.has(BEST_PREFIX + t.name)) ? readBufferTensors(tensors, bufferLayoutOfModel, meta.model, invalid, BEST_PREFIX) : undefined;
  const optimizerState: Record<string, Float32Array> = {};
  for (const [name, t] of tensors) {
    if (expected.has(name) || bufferNames.has(name) || (best && name.startsWith(BEST_PREFIX) && expected.has(name.slice(BEST_PREFIX.length)))) continue;
    const stateName = name.startsWith(OPTIMIZER_PREFIX) ? name.slice(OPTIMIZER_PREFIX.length) : '';
    if (!STATE_NAME.test(stateName) || FORBIDDEN_KEYS.has(stateName)) {
      invalid(`unexpected tensor ${shown(name)} (a checkpoint holds ${meta.model}'s tensors, ${OPTIMIZER_PREFIX}<state> and ${BEST_PREFIX}<tensor>)`);
    }
    if (t.dtype !== 'F32' || !sameShape(t.shape, [layout.size])) {
      invalid(`optimizer tensor ${shown(name)} is ${t.dtype} [${t.shape.join(', ')}]; it must be F32 [${layout.size}]`);
    }
    optimizerState[stateName] = t.data as Float32Array;
  }
  return { checkpoint: { meta, params, optimizerState, ...(best && { best }), ...(buffers && { buffers }), ...(bestBuffers && { bestBuffers }), ...(about && { about }) }, checksum: stated };
}

/** The BatchNorm buffer layout of a model spec (empty without BatchNorm). */
function buffersOf(model: string): BufferLayout {
  return bufferLayout(buildStack(parseModelSpec(model)));
}

/** The buffers' tensors to write: all of the model's, or none for a model without BatchNorm. */
function encodableBuffers(model: string, buffers: Float32Array | undefined, fail: Fail): ReturnType<typeof bufferTensors> {
  const layout = buffersOf(model);
  if (layout.size === 0) return [];
  if (!(buffers instanceof Float32Array) || buffers.length !== layout.size) {
    fail(`buffers must be a Float32Array of ${layout.size} values (the BatchNorm running statistics of ${model}) (got ${describeArray(buffers)})`);
  }
  return bufferTensors(buffers!, layout);
}

/** The model's BatchNorm buffers from a checkpoint's tensors (undefined without BatchNorm); each must be there. */
function readBufferTensors(tensors: DecodedSafetensors['tensors'], layout: BufferLayout, model: string, fail: Fail, prefix = ''): Float32Array | undefined {
  if (layout.size === 0) return undefined;
  const buffers = new Float32Array(layout.size);
  for (const t of layout.tensors) {
    const name = prefix + t.name;
    const found = tensors.get(name);
    const dtype = bufferDtype(t);
    if (found === undefined) return fail(`tensor "${name}" (a BatchNorm buffer of ${model}) is missing`);
    if (found.dtype !== dtype || !sameShape(found.shape, t.shape)) fail(`tensor "${name}" is ${found.dtype} [${found.shape.join(', ')}]; it must be ${dtype} [${t.shape.join(', ')}]`);
    setBufferTensor(buffers, t, found.data as Float32Array | BigInt64Array);
  }
  return buffers;
}

/** The checkpoint's `dptrain.about` (format version 3 on), checked; undefined in older files. */
function aboutOf(text: string | undefined, formatVersion: number, invalid: Fail): ModelAbout | undefined {
  if (text === undefined) return undefined;
  if (formatVersion < 3) invalid(`metadata "${ABOUT_KEY}" is in a file of format version ${formatVersion}, which has none`);
  try {
    return decodeModelAbout(text, 'the checkpoint');
  } catch (error) {
    return invalid((error as Error).message);
  }
}

/** The best.* copy of the model's tensors as flat parameters, or undefined when the file has none. */
function readBestTensors(tensors: DecodedSafetensors['tensors'], layout: ParamLayout, model: string, fail: Fail): Float32Array | undefined {
  if (![...tensors.keys()].some((name) => name.startsWith(BEST_PREFIX))) return undefined;
  const best = new Float32Array(layout.size);
  for (const t of layout.tensors) {
    const found = tensors.get(BEST_PREFIX + t.name);
    if (found === undefined) return fail(`tensor "${BEST_PREFIX}${t.name}" of the best epoch's ${model} is missing`);
    if (found.dtype !== 'F32' || !sameShape(found.shape, t.shape)) fail(`tensor "${BEST_PREFIX}${t.name}" is ${found.dtype} [${found.shape.join(', ')}]; it must be F32 [${t.shape.join(', ')}]`);
    best.set(found.data as Float32Array, t.offset);
  }
  return best;
}

function checkParameterTensors(decoded: DecodedSafetensors, model: string, source: string): void {
  const mismatch: Fail = (message) => {
    throw new FormatError('parametersMismatch', `${source}: ${message} — the file does not hold the model its metadata names`);
  };
  let layout: ParamLayout;
  try {
    layout = paramLayout(parseModelSpec(model));
  } catch (error) {
    return mismatch(`metadata "${MODEL_KEY}" is not a model spec: ${(error as Error).message}`);
  }
  checkLayoutTensors(decoded.tensors, layout, model, ['F32', 'F64'], mismatch);
}

/** Every tensor of `layout` is present with its shape and one of the `dtypes`; `fail` otherwise. */
function checkLayoutTensors(tensors: ReadonlyMap<string, { dtype: TensorDtype; shape: number[] }>, layout: ParamLayout, model: string, dtypes: readonly TensorDtype[], fail: Fail): void {
  for (const t of layout.tensors) {
    const found = tensors.get(t.name);
    if (found === undefined) return fail(`tensor "${t.name}" of ${model} is missing`);
    if (!dtypes.includes(found.dtype) || !sameShape(found.shape, t.shape)) {
      fail(`tensor "${t.name}" is ${found.dtype} [${found.shape.join(', ')}]; ${model} needs ${dtypes.join(' or ')} [${t.shape.join(', ')}]`);
    }
  }
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Strict JSON (Maps) as plain objects and arrays; prototype keys refused. */
function plainJson(value: JsonValue, path: string, fail: Fail): unknown {
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of value) {
      if (FORBIDDEN_KEYS.has(key)) fail(`${path} has the key ${shown(key)}, which is not allowed`);
      out[key] = plainJson(item, `${path}.${key}`, fail);
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((item, i) => plainJson(item, `${path}[${i}]`, fail));
  return value;
}

// ---- meta validation (shared by encode and decode) ----

/** A value for a message: strings quoted, objects and arrays named rather than printed. */
function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return shown(value);
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Type-checks every field (untrusted input when decoding); returns the same object typed. */
function validateMeta(value: unknown, fail: Fail): CheckpointMeta {
  if (!isRecord(value)) return fail(`meta must be an object (got ${describe(value)})`);
  exactKeys(value, metaFields, 'meta', fail);
  const integer = (key: keyof CheckpointMeta, min: number): void => {
    const v = value[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(`meta.${key} must be an integer >= ${min} (got ${describe(v)})`);
  };
  const text = (key: keyof CheckpointMeta): void => {
    const v = value[key];
    if (typeof v !== 'string' || v === '') fail(`meta.${key} must be a non-empty string (got ${describe(v)})`);
  };
  integer('formatVersion', 1);
  text('model');
  integer('numParams', 1);
  text('dataset');
  if (typeof value.datasetHash !== 'string' || !SHA256.test(value.datasetHash)) fail(`meta.datasetHash must be "sha256:" and 64 hex digits (got ${describe(value.datasetHash)})`);
  if (!(optimizerNames as readonly unknown[]).includes(value.optimizer)) fail(`meta.optimizer must be one of ${optimizerNames.join(', ')} (got ${describe(value.optimizer)})`);
  integer('step', 0);
  integer('epoch', 0);
  integer('position', 0);
  integer('samples', 0);
  const rng = value.rng;
  if (!isRecord(rng)) return fail(`meta.rng must be an object {algorithm, seed, epoch} (got ${describe(rng)})`);
  exactKeys(rng, rngFields, 'meta.rng', fail);
  if (typeof rng.algorithm !== 'string' || rng.algorithm === '') fail(`meta.rng.algorithm must be a non-empty string (got ${describe(rng.algorithm)})`);
  if (typeof rng.seed !== 'number' || !Number.isSafeInteger(rng.seed)) fail(`meta.rng.seed must be an integer (got ${describe(rng.seed)})`);
  if (typeof rng.epoch !== 'number' || !Number.isSafeInteger(rng.epoch) || rng.epoch < 0) fail(`meta.rng.epoch must be an integer >= 0 (got ${describe(rng.epoch)})`);
  text('engine');
  integer('workers', 1);
  if (!isRecord(value.config)) fail(`meta.config must be an object (got ${describe(value.config)})`);
  if (!isRecord(value.loop)) fail(`meta.loop must be an object (got ${describe(value.loop)})`);
  return value as unknown as CheckpointMeta;
}

function exactKeys(value: Record<string, unknown>, keys: readonly string[], path: string, fail: Fail): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) fail(`${path} has an unknown field ${describe(key)} (expected ${keys.join(', ')})`);
  }
  for (const key of keys) {
    if (!Object.hasOwn(value, key) || value[key] === undefined) fail(`${path}.${key} is missing`);
  }
}

/** The model's layout; its size must be meta.numParams. */
function layoutOf(meta: CheckpointMeta, fail: Fail): ParamLayout {
  let layout: ParamLayout;
  try {
    layout = paramLayout(parseModelSpec(meta.model));
  } catch (error) {
    return fail(`meta.model ${describe(meta.model)} is not a model spec: ${(error as Error).message}`);
  }
  if (layout.size !== meta.numParams) {
    fail(`meta.numParams is ${meta.numParams} but ${meta.model} has ${layout.size} parameters`);
  }
  return layout;
}
