/**
 * Download one published file into the cache: mirrors tried in order, streamed to a temp file
 * beside its final path, checked against the published MD5, then renamed into place. The rename
 * is atomic, so two processes fetching at once each write their own temp file and the cache only
 * ever holds a complete, verified file; an interrupted fetch leaves at most a `.part-*` file that
 * the next fetch ignores. DPTRAIN_NETWORK=loopback-only (set by the test runner) refuses any
 * host but 127.0.0.1 / ::1 / localhost at once.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream, existsSync, mkdirSync, renameSync, rmSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { homedir } from 'node:os';
import { DataError } from '../errors.js';
import type { RegistryEntry, RegistryFile } from './registry.js';

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

export function md5Of(path: string): string {
  return createHash('md5').update(readFileSync(path)).digest('hex');
}

/** Every file of `entry` in the cache, fetching the missing ones; returns their paths by name. */
export async function ensureDataset(entry: RegistryEntry, files: readonly RegistryFile[], options: FetchOptions = {}): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  for (const file of files) {
    const path = cachedPath(entry, file, options.dataDir);
    if (!existsSync(path)) await fetchFile(entry, file, path, options);
    paths.set(file.name, path);
  }
  return paths;
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
    `could not download ${file.name} for ${entry.name}: ${failures.join('; ')} — put the file by hand at ${path} (MD5 ${file.md5}) or pass --data-mirror URL`,
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
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.part-${process.pid}-${Date.now()}`;
  const stallMs = Number(process.env.DPTRAIN_FETCH_TIMEOUT_MS) || DEFAULT_STALL_MS;
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), stallMs);
  const hash = createHash('md5');
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
      hash.update(chunk);
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
    const actual = hash.digest('hex');
    if (actual !== file.md5) {
      throw new DataError('checksumMismatch', `${url} has MD5 ${actual} but the published MD5 is ${file.md5} — nothing was cached; check the mirror`);
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
