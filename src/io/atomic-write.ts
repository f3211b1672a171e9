/**
 * Atomic file replacement: readers see the old file or the new one, never a partial write, and after
 * the promise resolves the new content survives a crash or power loss (POSIX: write a temp file in the
 * same directory, fsync it, rename it over the target, fsync the directory).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * Temp files of writes in progress. A process that exits in the middle of one (a second Ctrl-C
 * calls process.exit) removes them on its way out, so no half-written `.tmp` is left beside the
 * outputs; only a kill -9 can leave one (checkpoint directories clean those up on resume).
 */
const inFlight = new Set<string>();
let exitHookInstalled = false;

function track(temp: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const t of inFlight) rmSync(t, { force: true });
    });
  }
  inFlight.add(temp);
}


/**
 * The points of an atomic write that a caller can observe: `tempWritten` after the temp file is
 * written and fsynced (before the rename; the path is the temp file's), `renamed` after the rename
 * (before the directory fsync; the path is the target's). Tests kill the process there.
 */
export type AtomicWritePhase = 'tempWritten' | 'renamed';

export interface AtomicWriteOptions {
  /** Awaited at each phase; if it throws before the rename, the temp file is removed and the error propagates. */
  onPhase?(phase: AtomicWritePhase, path: string): void | Promise<void>;
}

/** The target's name if `fileName` is the temp file of a write to it (`<name>.<pid>-<random>.tmp`), else null. */
export function atomicWriteTarget(fileName: string): string | null {
  const m = /^(.+)\.\d+-[0-9a-f]{12}\.tmp$/.exec(fileName);
  return m === null ? null : m[1];
}

/**
 * Writes `data` to `path` atomically. The temp file `<name>.<pid>-<random>.tmp` sits beside the target
 * and is removed if anything fails. File-system errors (a missing directory, EACCES) propagate as Node errors.
 */
export async function writeFileAtomic(path: string, data: Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const target = resolve(path);
  const dir = dirname(target);
  const temp = join(dir, `${basename(target)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(temp, 'wx');
  track(temp);
  try {
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await options.onPhase?.('tempWritten', temp);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  } finally {
    inFlight.delete(temp);
  }
  // The rename is the commit point: from here on the target holds the new content.
  await options.onPhase?.('renamed', target);
  await syncDirectory(dir);
}

/** fsync a directory so that a rename in it is durable; platforms that cannot (Windows) skip it. */
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF' && code !== 'EACCES') throw error;
  } finally {
    await handle?.close();
  }
}
