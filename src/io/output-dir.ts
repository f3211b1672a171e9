/**
 * Output paths given on the command line: directories (`--out`, `--checkpoint-dir`) created level
 * by level, parent first, with a one-line ConfigError naming the flag and the reason when that
 * fails; files (`--output`, `report --out`) checked before any work is done.
 */
import { closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';

/**
 * Creates `dir` and its missing parents, then checks that it can be written. Not
 * `fs.mkdir(dir, { recursive: true })`: on procfs that loops forever at 100 % CPU, since mkdir of
 * `/proc/x` says ENOENT while mkdir of `/proc` says EEXIST. Throws ConfigError `dptrain.config.<problem>`:
 * `<flag> <dir> cannot be created: <reason> — choose a writable directory` (ENOENT where the
 * parent exists, EACCES, EPERM, EROFS, ENOTDIR, ENOSPC), or `… is not writable: …`.
 */
export async function makeOutputDir(dir: string, flag: string, problem = 'badOutDir'): Promise<void> {
  const fail = (what: string, reason: string, cause?: unknown): never => {
    throw new ConfigError(problem, `${flag} ${dir} ${what}: ${reason} — choose a writable directory`, { cause });
  };
  // The missing levels, deepest first, up to the first that exists.
  const missing: string[] = [];
  for (let level = resolve(dir); ; level = dirname(level)) {
    let found;
    try {
      found = await stat(level);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOTDIR: a file somewhere above; the walk up finds it and names it.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') fail('cannot be created', `cannot look at ${level} (${code ?? String(error)})`, error);
    }
    if (found !== undefined) {
      if (!found.isDirectory()) fail('cannot be created', `${level} is a file, not a directory (ENOTDIR)`);
      break;
    }
    missing.push(level);
    if (dirname(level) === level) break; // a missing root: its mkdir says why
  }
  for (const level of missing.reverse()) {
    try {
      await mkdir(level);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(level).catch(() => null))?.isDirectory()) continue; // made meanwhile
      fail('cannot be created', mkdirReason(level, code, error), error);
    }
  }
  try {
    await access(dir, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    fail('is not writable', code === 'EROFS' ? `it is on a read-only file system (EROFS)` : code === 'EACCES' || code === 'EPERM' ? `no permission to write in it (${code})` : String(code ?? error), error);
  }
}

/** Why mkdir of `level` (whose parent exists) failed, in words. */
function mkdirReason(level: string, code: string | undefined, error: unknown): string {
  const parent = dirname(level);
  switch (code) {
    case 'ENOENT':
      return `${parent} does not accept new directories (ENOENT)`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to create directories in ${parent} (${code})`;
    case 'EROFS':
      return `${parent} is on a read-only file system (EROFS)`;
    case 'ENOTDIR':
      return `${parent} is not a directory (ENOTDIR)`;
    case 'ENOSPC':
      return `no space left on the device (ENOSPC)`;
    default:
      return `cannot create ${level} (${code ?? String(error)})`;
  }
}

/**
 * Why `file` cannot be written as an output, or null: its folder is missing, or it names a
 * directory. For a one-line error before any work is done.
 */
export function outputFileProblem(file: string): string | null {
  const folder = dirname(resolve(file));
  if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) return `the folder ${folder} does not exist — create it, or write the file elsewhere`;
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) return `${file} is a directory — give a file name, e.g. ${join(file, 'out')}`;
  return null;
}

/** Whether `a` and `b` name the same existing file, through symbolic or hard links too. */
export function sameFile(a: string, b: string): boolean {
  const x = statSync(a, { throwIfNoEntry: false });
  const y = statSync(b, { throwIfNoEntry: false });
  return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino;
}

/**
 * Why an output `file` that exists must not be replaced, or null: an existing file whose first
 * bytes do not match `ours` (what this output starts with, e.g. `<!doctype html>`) holds
 * something else (a run's metrics.jsonl, its model, the user's data), which a write would lose.
 */
export function replacedFileProblem(file: string, ours: RegExp, what: string): string | null {
  if (!statSync(file, { throwIfNoEntry: false })?.isFile()) return null;
  const head = Buffer.alloc(64);
  let length = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      length = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return null; // unreadable: the write itself says why
  }
  if (length === 0 || ours.test(head.subarray(0, length).toString('latin1'))) return null;
  return `${file} exists and is not ${what}, which would replace it — choose another file name, or remove it first`;
}
