/**
 * The run directory (`--out DIR`): config.json, metrics.jsonl, summary.json, final.safetensors.
 * final.safetensors holds parameters only, with no timestamps or paths, so equal parameters give
 * equal bytes and runs can be compared with `cmp`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, ModelError, DptrainError } from '../errors.js';
import { loadSafetensors, saveSafetensors, writeFileAtomic, type Tensor } from '../io/index.js';
import type { ParamLayout } from '../model/index.js';
import type { EpochRecord, EvalRecord, RunSummary, SkipRecord, StepRecord } from './records.js';

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

/** Refuses a directory holding an earlier run's files, or deletes them with `overwrite`. */
async function claimOutDir(dir: string, overwrite: boolean, log?: RunDirLog): Promise<void> {
  const found = await runFilesIn(dir);
  if (found.length === 0) return;
  if (!overwrite) {
    throw new ConfigError('outDirInUse', `--out ${dir} already holds a run (${found.join(', ')}) — choose another directory, pass --overwrite to replace that run's files, or continue it with --resume CHECKPOINT_DIR`);
  }
  await Promise.all(found.map((name) => fs.promises.rm(path.join(dir, name), { force: true })));
  log?.warn({ out: dir, removed: found }, `--overwrite: removed the earlier run's ${found.join(', ')} from ${dir}`);
}

export class RunDirectory {
  readonly dir: string;
  #metrics: fs.WriteStream;
  #failure: Error | null = null;

  private constructor(dir: string, metrics: fs.WriteStream) {
    this.dir = dir;
    this.#metrics = metrics;
    metrics.on('error', (error) => (this.#failure = error));
  }

  /**
   * Creates DIR (and parents). A new run refuses a DIR that already holds a run's files, unless
   * `overwrite` (which deletes them first, and says so); an empty DIR or other files are fine. A
   * resumed run keeps its records up to the checkpoint it resumed from (`resumeAt`) and appends.
   */
  static async open(dir: string, resumeAt?: { step: number; epoch: number }, options: { overwrite?: boolean; log?: RunDirLog } = {}): Promise<RunDirectory> {
    try {
      await fs.promises.mkdir(dir, { recursive: true });
      await fs.promises.access(dir, fs.constants.W_OK);
    } catch (cause) {
      throw new ConfigError('badOutDir', `--out ${dir} cannot be created or written (${(cause as Error).message}) — choose a writable directory`, { cause });
    }
    if (!resumeAt) await claimOutDir(dir, options.overwrite ?? false, options.log);
    const file = path.join(dir, 'metrics.jsonl');
    const kept = resumeAt ? await recordsBefore(file, resumeAt) : '';
    if (resumeAt) await writeFileAtomic(file, new TextEncoder().encode(kept));
    return new RunDirectory(dir, fs.createWriteStream(file, { flags: resumeAt ? 'a' : 'w' }));
  }

  async writeConfig(config: object): Promise<void> {
    await writeJson(path.join(this.dir, 'config.json'), config);
  }

  writeRecord(record: StepRecord | SkipRecord | EvalRecord | EpochRecord): void {
    if (this.#failure) throw new DptrainError('dptrain.train.metricsWrite', `cannot write metrics.jsonl: ${this.#failure.message}`, { cause: this.#failure });
    this.#metrics.write(JSON.stringify(record) + '\n');
  }

  async finish(summary: RunSummary, params: Float32Array, layout: ParamLayout, model: string): Promise<void> {
    await new Promise<void>((resolve, reject) => this.#metrics.end((error?: Error | null) => (error ? reject(error) : resolve())));
    await writeJson(path.join(this.dir, 'summary.json'), summary);
    await saveParameters(path.join(this.dir, 'final.safetensors'), params, layout, model);
  }

  /** Closes metrics.jsonl after a failed run, keeping what was written. */
  async abandon(): Promise<void> {
    await new Promise<void>((resolve) => this.#metrics.end(() => resolve()));
  }
}

/**
 * The lines of metrics.jsonl written before the checkpoint at (step, epoch): records are in run
 * order, so everything from the first record past that point on (and a torn last line) is dropped.
 */
async function recordsBefore(file: string, at: { step: number; epoch: number }): Promise<string> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
  const kept: string[] = [];
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
      (record.type === 'epoch' && typeof record.epoch === 'number' && record.epoch >= at.epoch);
    if (after) break;
    kept.push(line + '\n');
  }
  return kept.join('');
}

async function writeJson(file: string, value: object): Promise<void> {
  await writeFileAtomic(file, new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n'));
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

export async function saveParameters(file: string, params: Float32Array, layout: ParamLayout, model: string): Promise<void> {
  await saveSafetensors(file, parameterTensors(params, layout), { format: 'pt', 'dptrain.model': model });
}

/**
 * Reads `--init FILE`: every tensor of the layout must be present with the same shape, F32 or F64.
 * Extra tensors (optimizer state in a checkpoint) are ignored.
 */
export async function loadParameters(file: string, layout: ParamLayout, model: string): Promise<Float32Array> {
  const { tensors } = await loadSafetensors(file);
  const params = new Float32Array(layout.size);
  for (const t of layout.tensors) {
    const found = tensors.get(t.name);
    if (!found) {
      const names = [...tensors.keys()].slice(0, 6).join(', ') || 'none';
      throw new ModelError('initMismatch', `--init ${file} has no tensor "${t.name}" that ${model} needs (it has: ${names}) — pass a file saved for the same model spec`);
    }
    if (found.shape.length !== t.shape.length || found.shape.some((d, i) => d !== t.shape[i])) {
      throw new ModelError('initMismatch', `--init ${file}: tensor "${t.name}" has shape [${found.shape}] but ${model} needs [${t.shape}] — pass a file saved for the same model spec`);
    }
    if (found.dtype !== 'F32' && found.dtype !== 'F64') {
      throw new ModelError('initMismatch', `--init ${file}: tensor "${t.name}" is ${found.dtype}; parameters must be F32 or F64`);
    }
    params.set(found.data as Float32Array | Float64Array, t.offset);
  }
  return params;
}
