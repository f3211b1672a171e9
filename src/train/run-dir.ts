/**
 * The run directory (`--out DIR`): config.json, metrics.jsonl, summary.json, final.safetensors.
 * final.safetensors holds the parameters and what the model says about its data (`dptrain.about`,
 * docs/formats.md), with no timestamps, so equal parameters trained on the same data spec give
 * equal bytes and runs can be compared with `cmp`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, FormatError, ModelError, DptrainError, TrainError } from '../errors.js';
import { ABOUT_KEY, encodeModelAbout, encodeSafetensors, makeOutputDir, SafetensorsFile, saveSafetensors, writeFileAtomic, type ModelAbout, type Tensor } from '../io/index.js';
import { actualChecksum, checkChecksum, CHECKSUM_KEY } from './checksum.js';
import { countNonFinite, describeCounts } from './non-finite.js';
import { bufferLayout, bufferTensors, buildStack, parseModelSpec, type ParamLayout } from '../model/index.js';
import type { EpochRecord, EvalRecord, RunSummary, SkipRecord, StepRecord } from './records.js';
import type { AdaptRecord } from './adaptive/index.js';

/** The files a run writes into --out: what makes a directory "hold a run", and what --overwrite deletes. */
export const RUN_FILES = ['config.json', 'metrics.jsonl', 'summary.json', 'final.safetensors'] as const;

interface RunDirLog {
  warn(fields: object, message: string): void;
}

/** The RUN_FILES present in `dir`. */
export async function runFilesIn(dir: string): Promise<string[]> {
  const present = await Promise.all(RUN_FILES.map((name): Promise<string | null> => fs.promises.access(path.join(dir, name)).then(() => name, () => null)));
  return present.filter((name): name is string => name !== null);
}

/** Refuses a directory holding an earlier run's files (outDirInUse); returns nothing when it holds none. */
export async function refuseRunIn(dir: string): Promise<void> {
  const found = await runFilesIn(dir);
  if (found.length > 0) throw usedOutDir(dir, found);
}

function usedOutDir(dir: string, found: readonly string[]): ConfigError {
  return new ConfigError('outDirInUse', `--out ${dir} already holds a run (${found.join(', ')}) — choose another directory, pass --overwrite to replace that run's files, or continue it with --resume CHECKPOINT_DIR`);
}

/** Refuses a directory holding an earlier run's files, or deletes them with `overwrite`. */
async function claimOutDir(dir: string, overwrite: boolean, log?: RunDirLog): Promise<void> {
  const found = await runFilesIn(dir);
  if (found.length === 0) return;
  if (!overwrite) throw usedOutDir(dir, found);
  await Promise.all(found.map((name) => fs.promises.rm(path.join(dir, name), { force: true })));
  log?.warn({ out: dir, removed: found }, `--overwrite: removed the earlier run's ${found.join(', ')} from ${dir}`);
}

export class RunDirectory {
  readonly dir: string;
  /** A resumed run: the epoch records metrics.jsonl kept from before the checkpoint (empty for a new run). */
  readonly keptEpochs: EpochRecord[];
  #metrics: fs.WriteStream;
  #metricsPath: string;
  #failure: Error | null = null;
  /** Bytes of metrics.jsonl known to be on disk: whole records only (a failed write is cut back to it). */
  #confirmedBytes: number;
  #records = 0;
  /** Files completely written so far, for the message when a write fails. */
  #written: string[] = [];

  private constructor(dir: string, metricsPath: string, metrics: fs.WriteStream, keptBytes: number, keptEpochs: EpochRecord[]) {
    this.dir = dir;
    this.keptEpochs = keptEpochs;
    this.#metricsPath = metricsPath;
    this.#metrics = metrics;
    this.#confirmedBytes = keptBytes;
    metrics.on('error', (error) => {
      this.#failure ??= error;
    });
  }

  /**
   * Creates DIR (and parents). A new run refuses a DIR that already holds a run's files, unless
   * `overwrite` (which deletes them first, and says so); an empty DIR or other files are fine. A
   * resumed run keeps its records up to the checkpoint it resumed from (`resumeAt`) and appends.
   * ConfigError `badOutDir` when DIR cannot be created or written; TrainError `outWrite` when the
   * file system fails while writing (disk full).
   */
  static async open(dir: string, resumeAt?: { step: number; epoch: number }, options: { overwrite?: boolean; log?: RunDirLog } = {}): Promise<RunDirectory> {
    await makeOutputDir(dir, '--out', 'badOutDir');
    if (!resumeAt) await claimOutDir(dir, options.overwrite ?? false, options.log);
    const file = path.join(dir, 'metrics.jsonl');
    const kept = resumeAt ? await recordsBefore(file, resumeAt) : { text: '', epochs: [] };
    const keptBytes = new TextEncoder().encode(kept.text);
    if (resumeAt) {
      try {
        await writeFileAtomic(file, keptBytes);
      } catch (cause) {
        throw outWriteError(dir, 'metrics.jsonl', cause, [], 'the records before the checkpoint are unchanged');
      }
    }
    return new RunDirectory(dir, file, fs.createWriteStream(file, { flags: resumeAt ? 'a' : 'w' }), keptBytes.length, kept.epochs);
  }

  async writeConfig(config: object): Promise<void> {
    await this.#writeFile('config.json', jsonBytes(config));
  }

  /** Appends one record; TrainError `outWrite` if an earlier append failed (the file keeps its whole records). */
  writeRecord(record: StepRecord | SkipRecord | EvalRecord | EpochRecord | AdaptRecord): void {
    if (this.#failure) throw this.#metricsError();
    const line = Buffer.from(JSON.stringify(record) + '\n');
    this.#metrics.write(line, (error) => {
      // The callback can come before the stream's 'error' event: note the failure here too.
      if (error) {
        this.#failure ??= error;
        return;
      }
      this.#confirmedBytes += line.length;
      this.#records++;
    });
  }

  async finish(summary: RunSummary, params: Float32Array, layout: ParamLayout, model: string, buffers: Float32Array = new Float32Array(0), about?: ModelAbout): Promise<void> {
    // A run shorter than one turn of the event loop ends before the failure of its first writes is
    // reported: end()'s callback carries it, sometimes ahead of the 'error' event.
    await new Promise<void>((resolve) =>
      this.#metrics.end((error?: Error | null) => {
        if (error) this.#failure ??= error;
        resolve();
      }),
    );
    if (this.#failure) throw await this.#metricsErrorAfterCut();
    this.#written.push(`metrics.jsonl (${this.#records} records)`);
    await this.#writeFile('summary.json', jsonBytes(summary));
    const tensors = [...parameterTensors(params, layout), ...bufferTensors(buffers, bufferLayout(buildStack(parseModelSpec(model))))];
    await this.#writeFile('final.safetensors', encodeSafetensors(tensors, parametersMetadata(model, about)));
  }

  /** Closes metrics.jsonl after a failed run, keeping what was written (whole records). */
  async abandon(): Promise<void> {
    if (!this.#metrics.destroyed) await new Promise<void>((resolve) => this.#metrics.end(() => resolve()));
    if (this.#failure) await this.#cutMetrics();
  }

  /** Writes DIR/name atomically: on failure the file is absent or keeps its old content, never half written. */
  async #writeFile(name: string, bytes: Uint8Array): Promise<void> {
    try {
      await writeFileAtomic(path.join(this.dir, name), bytes);
    } catch (cause) {
      throw outWriteError(this.dir, name, cause, this.#written, 'no partial file is left');
    }
    this.#written.push(name);
  }

  #metricsError(): DptrainError {
    return outWriteError(this.dir, 'metrics.jsonl', this.#failure, this.#written, `it keeps its first ${this.#records} records whole`);
  }

  async #metricsErrorAfterCut(): Promise<DptrainError> {
    await this.#cutMetrics();
    return this.#metricsError();
  }

  /** Cuts metrics.jsonl back to its whole records, so a torn last line is not left behind. */
  async #cutMetrics(): Promise<void> {
    await fs.promises.truncate(this.#metricsPath, this.#confirmedBytes).catch(() => undefined);
  }
}

/**
 * TrainError `outWrite`: one line saying which file under --out could not be written and why, what
 * was written before it, and that it was not (the cause's errno code, e.g. ENOSPC, is named).
 * A DptrainError cause is returned as it is.
 */
export function outWriteError(dir: string, name: string, cause: unknown, written: readonly string[], state: string): DptrainError {
  if (cause instanceof DptrainError) return cause;
  const code = (cause as NodeJS.ErrnoException | null)?.code;
  const reason = code === 'ENOSPC' ? 'no space left on device (ENOSPC)' : code === 'EDQUOT' ? 'disk quota exceeded (EDQUOT)' : `${(cause as Error | null)?.message ?? String(cause)}`;
  const before = written.length > 0 ? `written before it: ${written.join(', ')}` : 'nothing was written before it';
  return new TrainError('outWrite', `cannot write ${name} in --out ${dir}: ${reason}; ${name} was not written (${state}); ${before} — free space and run again`, { cause });
}

/**
 * The lines of metrics.jsonl written before the checkpoint at (step, epoch): records are in run
 * order, so everything from the first record past that point on (and a torn last line) is dropped.
 */
async function recordsBefore(file: string, at: { step: number; epoch: number }): Promise<{ text: string; epochs: EpochRecord[] }> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', epochs: [] };
    throw error;
  }
  const kept: string[] = [];
  const epochs: EpochRecord[] = [];
  for (const line of text.split('\n')) {
    let record: { type?: unknown; step?: unknown; epoch?: unknown };
    try {
      record = JSON.parse(line);
    } catch {
      break;
    }
    const after =
      ((record.type === 'step' || record.type === 'skip') && typeof record.step === 'number' && record.step >= at.step) ||
      (record.type === 'eval' && typeof record.step === 'number' && record.step > at.step) ||
      (record.type === 'adapt' && typeof record.step === 'number' && record.step >= at.step) ||
      (record.type === 'epoch' && typeof record.epoch === 'number' && record.epoch >= at.epoch);
    if (after) break;
    kept.push(line + '\n');
    if (record.type === 'epoch') epochs.push(record as unknown as EpochRecord);
  }
  return { text: kept.join(''), epochs };
}

function jsonBytes(value: object): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n');
}

/** final.safetensors' metadata: PyTorch's format tag, the model spec, and what the model says about its data. */
function parametersMetadata(model: string, about?: ModelAbout): Record<string, string> {
  return { format: 'pt', 'dptrain.model': model, ...(about && { [ABOUT_KEY]: encodeModelAbout(about) }) };
}

/** Parameters as PyTorch-named F32 tensors; loads with safetensors.torch.load_file. */
export function parameterTensors(params: Float32Array, layout: ParamLayout): Tensor[] {
  return layout.tensors.map((t) => ({
    name: t.name,
    dtype: 'F32' as const,
    shape: [...t.shape],
    data: params.subarray(t.offset, t.offset + t.size),
  }));
}

/**
 * The layout's tensors (declared F32 or F64 with its shapes, checked by the caller) read into one
 * float32 vector, and the tensors holding non-finite values with their counts.
 */
export async function readFlatParameters(st: SafetensorsFile, layout: ParamLayout): Promise<{ params: Float32Array; bad: { name: string; nonFinite: number }[] }> {
  const tensors = await st.read(layout.tensors.map((t) => t.name));
  const params = new Float32Array(layout.size);
  const bad: { name: string; nonFinite: number }[] = [];
  for (const t of layout.tensors) {
    params.set(tensors.get(t.name)!.data as Float32Array | Float64Array, t.offset);
    // Counted after the conversion to float32, so F64 values beyond its range count too.
    const nonFinite = countNonFinite(params.subarray(t.offset, t.offset + t.size));
    if (nonFinite > 0) bad.push({ name: t.name, nonFinite });
  }
  return { params, bad };
}

export async function saveParameters(file: string, params: Float32Array, layout: ParamLayout, model: string, about?: ModelAbout): Promise<void> {
  await saveSafetensors(file, parameterTensors(params, layout), parametersMetadata(model, about));
}

const INIT_HINT = 'pass a final.safetensors or ckpt-<step>.safetensors written by dptrain train';

/**
 * Opens `--init FILE` and reads its header. A file that is missing, a directory, unreadable or not
 * safetensors is ModelError `badInitFile` (a mistake in the command, exit 2) saying what it is.
 */
export async function openInitFile(file: string): Promise<SafetensorsFile> {
  try {
    return await SafetensorsFile.open(file, { source: `--init ${file}` });
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
    const message = error.code === 'dptrain.format.fileNotFound' ? `--init ${file}: no such file (relative paths start at ${process.cwd()})` : error.message;
    throw new ModelError('badInitFile', message.includes(' — ') ? message : `${message} — ${INIT_HINT}`, { cause: error });
  }
}

/**
 * Reads `--init FILE`, header first: every tensor of the layout must be declared with the same
 * shape, F32 or F64, before any data is read; then only those tensors are read (extra tensors, such
 * as a checkpoint's optimizer state, are skipped). ModelError `initMismatch` names both models when
 * the file's `dptrain.model` metadata says which one it was saved for; `nonFiniteParameters` when
 * a tensor holds NaN or ±Infinity (counted per tensor); `badInitFile` (openInitFile), also when a
 * checkpoint's checksum, verified first, does not match.
 */
export async function loadParameters(file: string, layout: ParamLayout, model: string): Promise<Float32Array> {
  const st = await openInitFile(file);
  try {
    // A checkpoint carries a checksum: verified (as inspect and evaluate do) before its parameters
    // are trusted. A damaged file is one the command cannot use, as a foreign one is (exit 2).
    if (st.header.metadata[CHECKSUM_KEY] !== undefined || st.header.metadata['dptrain.checkpoint'] !== undefined) {
      try {
        checkChecksum(st.header.metadata[CHECKSUM_KEY], actualChecksum(await st.readAll()), `--init ${file}`);
      } catch (error) {
        if (!(error instanceof FormatError)) throw error;
        throw new ModelError('badInitFile', error.message, { cause: error });
      }
    }
    const declared = new Map(st.header.entries.map((e) => [e.name, e]));
    const savedFor = st.header.metadata['dptrain.model'];
    const models = savedFor !== undefined && savedFor !== model ? ` (the file holds parameters of ${savedFor}; this run's model is ${model})` : '';
    for (const t of layout.tensors) {
      const found = declared.get(t.name);
      if (!found) {
        const names = [...declared.keys()].slice(0, 6).join(', ') || 'none';
        throw new ModelError('initMismatch', `--init ${file} has no tensor "${t.name}" that ${model} needs (it has: ${names})${models} — pass a file saved for the same model spec`);
      }
      if (found.shape.length !== t.shape.length || found.shape.some((d, i) => d !== t.shape[i])) {
        throw new ModelError('initMismatch', `--init ${file}: tensor "${t.name}" has shape [${found.shape}] but ${model} needs [${t.shape}]${models} — pass a file saved for the same model spec`);
      }
      if (found.dtype !== 'F32' && found.dtype !== 'F64') {
        throw new ModelError('initMismatch', `--init ${file}: tensor "${t.name}" is ${found.dtype}; parameters must be F32 or F64`);
      }
    }
    const { params, bad } = await readFlatParameters(st, layout);
    if (bad.length > 0) {
      throw new ModelError('nonFiniteParameters', `--init ${file} holds non-finite values (NaN or ±Infinity, or F64 values beyond the float32 range): ${describeCounts(bad)} — training cannot start from them; pass a file of finite parameters (\`dptrain inspect ${file}\` counts them per tensor)`);
    }
    return params;
  } finally {
    await st.close();
  }
}
