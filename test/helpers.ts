/** Shared test helpers: temp dirs, running the real `dptrain` bin, small in-memory datasets. */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/util/rng.js';
import type { Dataset } from '../src/data/index.js';

// Every test (and every dptrain it starts) may contact only 127.0.0.1 (src/data/fetch.ts).
process.env.DPTRAIN_NETWORK ??= 'loopback-only';

/** The repository root (tests run from dist/test/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const binPath = path.join(repoRoot, 'bin', 'dptrain.js');

/** Directories made by `tempDir` in this test file's process, removed when it exits. */
const madeDirs = new Set<string>();
process.on('exit', () => {
  // DPTRAIN_KEEP_TEST_DIRS=1 keeps them to look at after a failure (README, Development).
  if (process.env.DPTRAIN_KEEP_TEST_DIRS === '1') return;
  for (const dir of madeDirs) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
});

/**
 * A fresh directory under the system's temp dir, removed with everything in it when the test
 * file's process exits (each file runs in a process of its own under `node --test`).
 */
export function tempDir(prefix = 'dptrain-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  madeDirs.add(dir);
  return dir;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `dptrain ...args` as a real process (no terminal, so no progress bar). */
export function runCli(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): CliResult {
  const result = spawnSync(process.execPath, [binPath, ...args], {
    cwd: options.cwd ?? repoRoot,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * runCli without blocking: the runs of a test that do not depend on each other go at once, and
 * an in-process server keeps answering. `input` goes to stdin (a child that exits unread leaves
 * EPIPE, ignored as spawnSync ignores it); `env` is added to this process's environment.
 */
export function runCliAsync(args: string[], options: { input?: string | Uint8Array; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const env = options.env ? { ...process.env, ...options.env } : process.env;
    const child = execFile(process.execPath, [binPath, ...args], { cwd: repoRoot, env, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
    child.stdin!.on('error', () => {}).end(options.input ?? '');
  });
}

/** A mistake in the command: exit 2 and one line matching `pattern` that ends with the code. */
export async function expectUsageError(args: string[], pattern: RegExp, code: string): Promise<void> {
  const result = await runCliAsync(args);
  assert.equal(result.status, 2, `exit status for ${args.join(' ')}: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.ok(result.stderr.includes(`[${code}]`), result.stderr);
  assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
}

/** The one stderr line of a run that exited with `status`: `dptrain: error: … [code]`. */
export function oneErrorLine(r: CliResult, status: number, code: string): string {
  assert.equal(r.status, status, `status ${r.status}: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].endsWith(`[${code}]`), lines[0]);
  return lines[0];
}

/** n samples of d Gaussian features in `classes` separable-ish clusters. */
export function makeClassification(n: number, d: number, classes: number, seed = 1): Dataset {
  const rng = new Rng(seed, 'test-classification');
  const centres = Array.from({ length: classes * d }, () => 2 * rng.normal());
  const x = new Float32Array(n * d);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    y[i] = c;
    for (let j = 0; j < d; j++) x[i * d + j] = centres[c * d + j] + rng.normal();
  }
  return { spec: `test:classification?n=${n}&d=${d}`, n, inputDim: d, x, targetDim: 1, y, task: 'classification', numClasses: classes };
}

/**
 * max_i |a_i − b_i| / max_i |a_i|: the relative difference of two parameter vectors measured
 * against the vector's scale, so that parameters near zero do not turn float32 rounding into
 * huge element-wise ratios.
 */
export function maxRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/**
 * The kernel sets every exactness test runs with: wasm, and blas where a BLAS library loads and
 * passes its self-test (else skipped with the reason, e.g. on a machine without OpenBLAS).
 */
export async function exactnessKernelSets(): Promise<{ kernels: 'wasm' | 'blas'; skip: string | false }[]> {
  const { loadKernels } = await import('../src/kernels/index.js');
  const blasSkip = await loadKernels('blas').then(
    () => false as const,
    (error: Error) => `no usable BLAS library here (${error.message})`,
  );
  return [
    { kernels: 'wasm', skip: false },
    { kernels: 'blas', skip: blasSkip },
  ];
}
