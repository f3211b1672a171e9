/**
 * A checkpoint directory (`--checkpoint-dir`): `ckpt-<step, 9 digits>.safetensors` files, each
 * written atomically (temp file beside it, fsync, rename, fsync of the directory: the rename is the
 * commit point), the newest `keep` kept. Loading takes the newest file that verifies and reports
 * the ones it skipped (docs/reliability.md, "Checkpoints"). Temp files of
 * interrupted writes are never loaded and are removed when a store is opened. One run per directory.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, DptrainError, FormatError, TrainError, shown } from '../errors.js';
import { atomicWriteTarget, writeFileAtomic, type AtomicWritePhase } from '../io/atomic-write.js';
import { makeOutputDir } from '../io/output-dir.js';
import { encodeCheckpoint, loadCheckpointFile, type Checkpoint } from './checkpoint.js';

export interface CheckpointWriteHooks {
  /**
   * Awaited after the temp file is written and fsynced (`tempWritten`, before the rename; `path` is
   * the temp file) and after the rename (`renamed`, before the directory fsync; `path` is the
   * checkpoint). Tests use it to SIGKILL the process mid-write.
   */
  onPhase?(phase: AtomicWritePhase, path: string): void | Promise<void>;
}

export interface CheckpointStoreLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface CheckpointStoreOptions {
  /** Checkpoints kept; older ones are deleted after each save (>= 1). */
  keep: number;
  log?: CheckpointStoreLog;
  hooks?: CheckpointWriteHooks;
}

export interface LatestCheckpoint {
  checkpoint: Checkpoint;
  path: string;
  /** Newer files that did not verify, newest first, with the error's message and code. */
  rejected: { path: string; reason: string; code: string }[];
}

const CHECKPOINT_FILE = /^ckpt-(\d{9,})\.safetensors$/;

/** `ckpt-000000120.safetensors`: the step zero-padded to 9 digits, so names sort by step. */
export function checkpointFileName(step: number): string {
  return `ckpt-${String(step).padStart(9, '0')}.safetensors`;
}

/** The checkpoint files in `dir` (by name; not verified), newest step first. Node errors propagate. */
export async function listCheckpoints(dir: string): Promise<{ path: string; step: number }[]> {
  const found: { path: string; step: number }[] = [];
  for (const name of await readdir(dir)) {
    const m = CHECKPOINT_FILE.exec(name);
    if (m !== null) found.push({ path: path.join(dir, name), step: Number(m[1]) });
  }
  return found.sort((a, b) => b.step - a.step);
}

export class CheckpointStore {
  readonly dir: string;
  readonly keep: number;
  #log: CheckpointStoreLog | undefined;
  #hooks: CheckpointWriteHooks;

  private constructor(dir: string, options: CheckpointStoreOptions) {
    this.dir = dir;
    this.keep = options.keep;
    this.#log = options.log;
    this.#hooks = options.hooks ?? {};
  }

  /**
   * Creates `dir` (and parents) and removes the temp files of earlier interrupted writes (logged).
   * ConfigError `badCheckpointDir` when it cannot be created or written, `badOption` for a bad `keep`.
   */
  static async open(dir: string, options: CheckpointStoreOptions): Promise<CheckpointStore> {
    if (!Number.isSafeInteger(options.keep) || options.keep < 1) {
      throw new ConfigError('badOption', `--keep must be a positive integer (got ${shown(options.keep)})`);
    }
    await makeOutputDir(dir, '--checkpoint-dir', 'badCheckpointDir');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (cause) {
      throw new ConfigError('badCheckpointDir', `--checkpoint-dir ${dir} cannot be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)}) — choose a readable directory`, { cause });
    }
    for (const name of names) {
      if (!isCheckpointTemp(name)) continue;
      const file = path.join(dir, name);
      try {
        await rm(file, { force: true });
        options.log?.info({ file }, `removed ${file}, the temp file of an interrupted checkpoint write`);
      } catch (error) {
        options.log?.warn({ file, error: (error as Error).message }, `cannot remove ${file}, the temp file of an interrupted checkpoint write`);
      }
    }
    return new CheckpointStore(dir, options);
  }

  /**
   * Writes `ckpt-<step>.safetensors` atomically (replacing one of the same step), then deletes the
   * oldest files beyond `keep`. Returns the path. TrainError `checkpointWrite` when the file system
   * fails (disk full, directory removed); FormatError `cannotEncodeCheckpoint` for a bad checkpoint.
   */
  async save(checkpoint: Checkpoint): Promise<string> {
    const bytes = encodeCheckpoint(checkpoint);
    const file = path.join(this.dir, checkpointFileName(checkpoint.meta.step));
    try {
      await writeFileAtomic(file, bytes, { onPhase: this.#hooks.onPhase?.bind(this.#hooks) });
    } catch (cause) {
      if (cause instanceof DptrainError) throw cause;
      throw new TrainError('checkpointWrite', `cannot write checkpoint ${file}: ${(cause as Error).message} — free space or fix the directory; the previous checkpoints are intact`, { cause });
    }
    await this.#prune(file);
    return file;
  }

  /** Deletes all but the newest `keep` checkpoints, never the one just written. Failures are warnings. */
  async #prune(justWritten: string): Promise<void> {
    let files: { path: string; step: number }[];
    try {
      files = await listCheckpoints(this.dir);
    } catch (error) {
      this.#log?.warn({ dir: this.dir, error: (error as Error).message }, `cannot list ${this.dir} to delete old checkpoints`);
      return;
    }
    for (const old of files.slice(this.keep)) {
      if (old.path === justWritten) continue;
      try {
        await rm(old.path, { force: true });
      } catch (error) {
        this.#log?.warn({ file: old.path, error: (error as Error).message }, `cannot delete the old checkpoint ${old.path}`);
      }
    }
  }
}

/** A temp file of an atomic checkpoint write: `ckpt-<step>.safetensors.<pid>-<random>.tmp`. */
function isCheckpointTemp(name: string): boolean {
  const target = atomicWriteTarget(name);
  return target !== null && CHECKPOINT_FILE.test(target);
}

/**
 * The newest checkpoint in `dir` that decodes and verifies, with the newer ones that did not
 * (truncated, corrupt, another format version) and why. Only `ckpt-<step>.safetensors` files are
 * considered, never temp files. null when `dir` holds no checkpoint files. ConfigError
 * `checkpointDirNotFound` when `dir` does not exist; FormatError `noValidCheckpoint` when it holds
 * checkpoint files but none verifies (the message lists each one's problem).
 */
export async function findLatestCheckpoint(dir: string): Promise<LatestCheckpoint | null> {
  let files: { path: string; step: number }[];
  try {
    files = await listCheckpoints(dir);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory' : `cannot be read (${(cause as Error).message})`;
    throw new ConfigError('checkpointDirNotFound', `checkpoint directory ${dir} ${what} — --resume takes the --checkpoint-dir of the run to continue, a directory of ckpt-<step>.safetensors files`, { cause });
  }
  if (files.length === 0) return null;

  const rejected: LatestCheckpoint['rejected'] = [];
  for (const file of files) {
    try {
      const checkpoint = await loadCheckpointFile(file.path);
      if (checkpoint.meta.step !== file.step) {
        throw new FormatError('checkpointInvalid', `${file.path} holds step ${checkpoint.meta.step} but its name says step ${file.step} — checkpoint files must keep the names dptrain gave them`);
      }
      return { checkpoint, path: file.path, rejected };
    } catch (error) {
      if (!(error instanceof DptrainError)) throw error;
      rejected.push({ path: file.path, reason: error.message, code: error.code });
    }
  }
  const reasons = rejected.map((r) => `${path.basename(r.path)}: ${r.code}`).join('; ');
  throw new FormatError('noValidCheckpoint', `${dir} holds ${files.length} checkpoint file(s) and none is valid (${reasons}) — nothing to resume from; start the run again without --resume`);
}
