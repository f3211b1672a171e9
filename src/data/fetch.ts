/**
 * Download one published file into the cache: mirrors tried in order, streamed to a temp file
 * beside its final path, checked against the published size, SHA-256 and MD5 (hashed as it streams,
 * src/data/file-check.ts), then renamed into place.
 * The rename is atomic, so the cache only ever holds a complete, verified file. Two processes
 * fetching the same file take turns through a lock file (`FILE.lock`, created exclusively, holding
 * the owner's pid): the second waits and then finds the file cached. A fetch killed midway leaves
 * a `.part-PID-*` file and maybe its lock; the next fetch removes both once that pid is gone and
 * restarts the download. DPTRAIN_NETWORK=loopback-only (set by the test runner) refuses any host
 * but 127.0.0.1 / ::1 / localhost at once.
 */
import { createWriteStream, type WriteStream, existsSync, renameSync, rmSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { basename, dirname, join } from 'node:path';
import { homedir } from 'node:os';
import { DataError } from '../errors.js';
import { makeOutputDir } from '../io/output-dir.js';
import type { RegistryEntry, RegistryFile } from './registry.js';
import { describePublished, FileDigester, mismatchOf } from './file-check.js';

/** Seconds without a byte before a server counts as stalled (DPTRAIN_FETCH_TIMEOUT_MS overrides). */
const DEFAULT_STALL_MS = 30_000;

export interface FetchOptions {
  /** Cache root; default `$XDG_CACHE_HOME/dptrain` or `~/.cache/dptrain`. */
  readonly dataDir?: string;
  /** Mirrors (comma-separated) tried before the entry's own (also DPTRAIN_DATA_MIRROR). */
  readonly mirror?: string;
  /** Called with progress lines (stderr on a TTY in the CLI). */
  readonly onProgress?: (line: string) => void;
}

/** The cache root from options and the environment. */
export function dataDirOf(dataDir?: string): string {
  if (dataDir) return dataDir;
  if (process.env.DPTRAIN_DATA_DIR) return process.env.DPTRAIN_DATA_DIR;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg !== '' ? xdg : join(homedir(), '.cache'), 'dptrain');
}

/** Where a dataset file lives in the cache. */
export function cachedPath(entry: RegistryEntry, file: RegistryFile, dataDir?: string): string {
  return join(dataDirOf(dataDir), entry.name, file.name);
}

/** Every file of `entry` in the cache, fetching the missing ones; returns their paths by name. */
export async function ensureDataset(entry: RegistryEntry, files: readonly RegistryFile[], options: FetchOptions = {}): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  for (const file of files) {
    const path = cachedPath(entry, file, options.dataDir);
    if (!existsSync(path)) await withFetchLock(path, () => (existsSync(path) ? Promise.resolve() : fetchFile(entry, file, path, options)));
    paths.set(file.name, path);
  }
  return paths;
}

/** How often a process waiting for another's download looks again. */
const LOCK_POLL_MS = 100;

/**
 * Runs `fetch` holding `PATH.lock`; while another live process holds it, waits (its own stall
 * timeout bounds its download). A lock or temp file whose process is gone is removed first.
 */
async function withFetchLock(path: string, fetch: () => Promise<void>): Promise<void> {
  // Level by level: a recursive mkdir spins forever under /proc (src/io/output-dir.ts).
  await makeOutputDir(dirname(path), '--data-dir (the download cache)', 'badOption');
  const lock = `${path}.lock`;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(readFileSafe(lock));
    // An empty lock is one being written this instant: wait for its pid.
    if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) rmSync(lock, { force: true });
    else await sleep(LOCK_POLL_MS);
  }
  try {
    removeStaleParts(path);
    await fetch();
  } finally {
    rmSync(lock, { force: true });
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temp files `FILE.part-PID-TIME` of processes that no longer run (a download killed midway). */
function removeStaleParts(path: string): void {
  const prefix = `${basename(path)}.part-`;
  for (const name of readdirSync(dirname(path))) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (!(Number.isInteger(pid) && pid > 0 && processAlive(pid))) rmSync(join(dirname(path), name), { force: true });
  }
}

async function fetchFile(entry: RegistryEntry, file: RegistryFile, path: string, options: FetchOptions): Promise<void> {
  const extra = options.mirror ?? process.env.DPTRAIN_DATA_MIRROR;
  const own = extra ? extra.split(',').filter((url) => url !== '').map(withSlash) : [];
  const mirrors = [...own, ...entry.mirrors];
  const failures: string[] = [];
  for (const base of mirrors) {
    const url = base + file.name;
    try {
      await download(url, file, path, options);
      return;
    } catch (error) {
      if (error instanceof DataError && error.code === 'dptrain.data.checksumMismatch') throw error;
      failures.push(`${url} (${(error as Error).message})`);
    }
  }
  throw new DataError(
    'fetchFailed',
    `could not download ${file.name} for ${entry.name}: ${failures.join('; ')} — put the file by hand at ${path} (${describePublished(file)}) or pass --data-mirror URL`,
  );
}

function withSlash(base: string): string {
  return base.endsWith('/') ? base : `${base}/`;
}

/** Throws at once when the network guard forbids `url`. */
export function checkNetworkGuard(url: string): void {
  if (process.env.DPTRAIN_NETWORK !== 'loopback-only') return;
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
    throw new DataError('networkForbidden', `refusing to contact ${url}: DPTRAIN_NETWORK=loopback-only allows only 127.0.0.1`);
  }
}

async function download(url: string, file: RegistryFile, path: string, options: FetchOptions): Promise<void> {
  checkNetworkGuard(url);
  const temp = `${path}.part-${process.pid}-${Date.now()}`;
  const stallMs = Number(process.env.DPTRAIN_FETCH_TIMEOUT_MS) || DEFAULT_STALL_MS;
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), stallMs);
  const digester = new FileDigester();
  let out: WriteStream | undefined;
  try {
    const response = await fetch(url, { signal: controller.signal });
    if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
    out = createWriteStream(temp);
    const sink = out;
    // Write errors reach us through end()'s callback; a listener keeps a late one (after destroy) from crashing.
    sink.on('error', () => {});
    const total = Number(response.headers.get('content-length')) || 0;
    const started = Date.now();
    let received = 0;
    let shown = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), stallMs);
      digester.update(chunk);
      received += chunk.length;
      if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
      // At most ten progress lines a second, plus the last one.
      const now = Date.now();
      if (now - shown >= 100 || received === total) {
        shown = now;
        options.onProgress?.(progressLine(file.name, received, total, now - started));
      }
    }
    if (total > 0 && received !== total) throw new Error(`truncated: ${received} of ${total} bytes`);
    await new Promise<void>((resolve, reject) => sink.end((error?: Error | null) => (error ? reject(error) : resolve())));
    const mismatch = mismatchOf(file, digester.digests());
    if (mismatch !== undefined) {
      throw new DataError('checksumMismatch', `${url} ${mismatch.detail} — nothing was cached; check the mirror`);
    }
    renameSync(temp, path);
  } catch (error) {
    if (controller.signal.aborted) error = new Error(`no data for ${stallMs} ms (stalled)`);
    throw error;
  } finally {
    clearTimeout(timer);
    if (out !== undefined && !out.closed) {
      // Wait for the file to be closed, else it can reappear after the rmSync below.
      await new Promise<void>((resolve) => (out as WriteStream).destroy().once('close', () => resolve()));
    }
    rmSync(temp, { force: true });
  }
}

function progressLine(name: string, received: number, total: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? received / (elapsedMs / 1000) : 0;
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  const eta = total > 0 && rate > 0 ? ` ETA ${Math.ceil((total - received) / rate)} s` : '';
  return `${name}: ${mb(received)}${total > 0 ? `/${mb(total)}` : ''} MB ${mb(rate)} MB/s${eta}`;
}
