/**
 * Helpers for the ws engine tests: real `dptrain coordinator` and `dptrain worker` processes on
 * 127.0.0.1 (the coordinator on a free port it picks itself and logs, or on a fixed one with
 * `startCoordinatorOn(await freePort(), …)`, so that a restarted coordinator is where its
 * workers reconnect), their JSON log lines,
 * and a reference run of the inline engine. Every process started here is killed by `killAll()`,
 * which each test file calls in `after`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { binPath, repoRoot } from './helpers.js';
import { TcpProxy } from './tcp-proxy.js';
import { train } from '../src/train/index.js';
import { loadParameters } from '../src/train/index.js';
import { paramLayout, parseModelSpec } from '../src/model/index.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class Proc {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  /**
   * The errors main printed, as `dptrain: error: <msg> [<code>]`: with --log-format json main
   * prints them as JSON lines (level 50 with a code), rendered here in the plain form; and any
   * stderr line that is not JSON.
   */
  readonly text: string[] = [];
  readonly exited: Promise<number | null>;
  readonly #waiters = new Set<() => void>();

  constructor(args: string[], cwd = repoRoot) {
    this.child = spawn(process.execPath, [binPath, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(this);
    let buffered = '';
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as LogLine;
          this.lines.push(parsed);
          if (parsed.level >= 50 && typeof parsed.code === 'string') this.text.push(`dptrain: error: ${parsed.msg} [${parsed.code}]`);
        } catch {
          this.text.push(line);
        }
        for (const wake of [...this.#waiters]) wake();
      }
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code) => {
        live.delete(this);
        for (const wake of [...this.#waiters]) wake();
        resolve(code);
      }),
    );
  }

  /** The first log line whose message matches, waiting up to `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find((l) => pattern.test(l.msg));
      if (hit) return hit;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no log line matching ${pattern} (exit ${this.child.exitCode}); log:\n${this.log()}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(10, deadline - Date.now()));
        this.#waiters.add(done);
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  }

  messages(pattern?: RegExp): string[] {
    return this.lines.map((l) => l.msg).filter((m) => !pattern || pattern.test(m));
  }

  log(): string {
    return [...this.lines.map((l) => `${l.level >= 40 ? 'WARN' : 'INFO'} ${l.msg}`), ...this.text].join('\n');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null) this.child.kill(signal);
  }
}

const live = new Set<Proc>();

/** Kills every process these helpers started and is still running. */
export async function killAll(): Promise<void> {
  const procs = [...live];
  for (const p of procs) p.kill();
  await Promise.all(procs.map((p) => p.exited));
}


/** Starts `dptrain coordinator --listen 127.0.0.1:0 ...` and resolves once it listens. */
export async function startCoordinator(args: string[], cwd?: string): Promise<Proc & { url: string }> {
  return startCoordinatorOn(0, args, cwd);
}

/**
 * Starts `dptrain coordinator --listen 127.0.0.1:PORT ...` and resolves once it listens: a
 * coordinator restarted where its workers look for it (port 0 = a free one). Use `freePort()`
 * for a port to start the first one on.
 */
export async function startCoordinatorOn(port: number, args: string[], cwd?: string): Promise<Proc & { url: string }> {
  const proc = new Proc(['coordinator', '--listen', `127.0.0.1:${port}`, '--log-format', 'json', ...args], cwd);
  const line = await proc.waitFor(/^coordinator at ws:\/\//, 60_000);
  const url = /ws:\/\/[^/\s]+\//.exec(line.msg)![0];
  return Object.assign(proc, { url });
}

import { freePort } from './transport.helpers.js';
export { freePort };

/**
 * The two halves of a coordinator-resume test, with 2 workers and coordinator args `common`: an
 * uninterrupted run into ROOT/reference, then the same run into ROOT/run with a checkpoint every
 * 30 steps in ROOT/ckpt, its coordinator SIGKILLed once the checkpoint of step `killAfter` is
 * written. The workers keep reconnecting (for 60 s) to `port`, where the caller resumes it.
 */
export async function referenceAndKilledRun(root: string, spec: RunSpec, common: string[], killAfter: number): Promise<{ port: number; out: string; ckpt: string; workers: Proc[] }> {
  const reference = await startCoordinator([...common, ...trainArgs(spec, path.join(root, 'reference'))]);
  const refWorkers = [startWorker(reference.url, 'w1'), startWorker(reference.url, 'w2')];
  assert.equal(await reference.exited, 0, reference.log());
  for (const w of refWorkers) assert.equal(await w.exited, 0, w.log());

  const port = await freePort();
  const out = path.join(root, 'run');
  const ckpt = path.join(root, 'ckpt');
  const first = await startCoordinatorOn(port, [...common, ...trainArgs(spec, out), '--checkpoint-dir', ckpt, '--checkpoint-every', '30steps']);
  const workers = [startWorker(first.url, 'w1', ['--reconnect-timeout', '60']), startWorker(first.url, 'w2', ['--reconnect-timeout', '60'])];
  await first.waitFor(new RegExp(`^checkpoint .*\\(step ${killAfter}\\)`), 60_000);
  first.kill('SIGKILL');
  assert.equal(await first.exited, null);
  return { port, out, ckpt, workers };
}

/**
 * Workers w1-w3 for `coordinator`; after 10 steps w2 is SIGKILLed and w4 started. Returns once w2
 * was dropped, w4 joined and the run ended, every process with exit 0.
 */
export async function killOneAndJoin(coordinator: Proc & { url: string }, out: string): Promise<void> {
  const workers = ['w1', 'w2', 'w3'].map((name) => startWorker(coordinator.url, name));
  await waitForSteps(out, 10, 60_000);
  workers[1].kill('SIGKILL');
  const joiner = startWorker(coordinator.url, 'w4');
  await coordinator.waitFor(/^(dropping|lost) worker "w2"/, 30_000);
  await coordinator.waitFor(/^worker "w4" .*joins at step/, 30_000);
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of [workers[0], workers[2], joiner]) assert.equal(await w.exited, 0, w.log());
}

export function startWorker(url: string, name: string, args: string[] = []): Proc {
  return new Proc(['worker', '--connect', url, '--name', name, '--threads', '1', '--log-format', 'json', ...args]);
}

/** The training flags shared by a ws run and its inline reference. */
export interface RunSpec {
  dataset: string;
  model: string;
  batchSize: number;
  maxSteps: number;
  seed?: number;
  reduceChunks?: number;
}

export function trainArgs(spec: RunSpec, out: string): string[] {
  return [
    '--dataset', spec.dataset,
    '--model', spec.model,
    '--batch-size', String(spec.batchSize),
    '--max-steps', String(spec.maxSteps),
    '--epochs', '1000',
    '--seed', String(spec.seed ?? 0),
    ...(spec.reduceChunks ? ['--reduce-chunks', String(spec.reduceChunks)] : []),
    '--out', out,
  ];
}

/**
 * The inline engine's final parameters for the same run: the reference every engine is checked
 * against. With `runDir`, on the kernel set that run used (kernelsOfRun).
 */
export async function referenceParams(spec: RunSpec, runDir?: string): Promise<Float32Array> {
  return referenceParamsWith(spec, runDir === undefined ? {} : kernelsOfRun(runDir));
}

/**
 * `{ kernels }` as the run in `runDir` used them (its summary.json), for a reference run: under
 * --kernels auto each process chooses blas or wasm by its own speed probe, and on a loaded machine
 * two processes may choose differently, which changes the products' rounding.
 */
export function kernelsOfRun(runDir: string): { kernels?: 'js' | 'wasm' | 'blas' } {
  const summary = path.join(runDir, 'summary.json');
  if (!fs.existsSync(summary)) return {};
  // summary.kernels describes the set ("blas (OpenBLAS 0.3.21, core Zen, …)"); its first word names it.
  const described = (JSON.parse(fs.readFileSync(summary, 'utf8')) as { kernels?: string }).kernels;
  const kernels = described?.split(' ')[0];
  if (kernels === undefined) return {};
  if (kernels !== 'js' && kernels !== 'wasm' && kernels !== 'blas') throw new Error(`${summary} names kernels "${described}"`);
  return { kernels };
}

export async function referenceParamsWith(spec: RunSpec, extra: Parameters<typeof train>[0]): Promise<Float32Array> {
  const result = await train({
    ...extra,
    engine: 'inline',
    workers: 1,
    dataset: spec.dataset,
    model: spec.model,
    batchSize: spec.batchSize,
    maxSteps: spec.maxSteps,
    epochs: 1000,
    seed: spec.seed ?? 0,
    reduceChunks: spec.reduceChunks ?? 0,
  });
  return result.params;
}

/** final.safetensors of a run directory, flat. */
export async function finalParams(out: string, model: string): Promise<Float32Array> {
  return loadParameters(path.join(out, 'final.safetensors'), paramLayout(parseModelSpec(model)), model);
}

/** The step records of a run directory's metrics.jsonl (what has been written so far). */
export function stepRecords(out: string): { step: number; timing: { computeMs: number[] } }[] {
  const file = path.join(out, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{"type":"step"'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line)];
      } catch {
        return []; // a line still being written
      }
    });
}

/**
 * The end of a run in which worker w2 of w1…w3 was cut off at `step` and joined again at
 * `rejoinStep`: every process exits 0, nobody else was dropped and nothing was malformed or
 * diverged (with --hash-every 1: every replica equal at every step), the step records show three
 * shards from the rejoin on (and two at `step`, unless `cutStepRecomputed` is false: a cut before
 * the step's work left), and the result is bit-identical to the inline engine with the same chunks.
 */
export async function assertRecoveredRun(run: { coordinator: Proc; workers: Proc[]; out: string; spec: RunSpec; step: number; rejoinStep: number; cutStepRecomputed?: boolean }): Promise<void> {
  const { coordinator, out, spec, step, rejoinStep } = run;
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of run.workers) assert.equal(await w.exited, 0, w.log());
  assert.deepEqual(coordinator.messages(/malformed|protocol violation|diverged|^dropping worker "(w1|w3)"/), []);
  const records = stepRecords(out);
  assert.equal(records.length, spec.maxSteps);
  if (run.cutStepRecomputed !== false) assert.equal(records[step].timing.computeMs.length, 2, `step ${step} was computed by the other two`);
  assert.equal(records[rejoinStep].timing.computeMs.length, 3, 'three workers again from the rejoin on');
  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  assert.deepEqual(ws, inline, 'bit-identical to the inline engine with the same chunks');
}

/**
 * A run of workers w1, w2, w3 in which w2 reaches the coordinator through a TcpProxy, started with
 * `args` for the coordinator; resolves once 5 steps are done. The caller closes the proxy.
 */
export async function startProxiedRun(spec: RunSpec, out: string, args: string[], workerArgs: string[] = []): Promise<{ coordinator: Proc & { url: string }; proxy: TcpProxy; workers: [Proc, Proc, Proc] }> {
  const coordinator = await startCoordinator(['--min-workers', '3', ...args, ...trainArgs(spec, out)]);
  const proxy = await TcpProxy.start(Number(new URL(coordinator.url).port));
  const workers: [Proc, Proc, Proc] = [startWorker(coordinator.url, 'w1', workerArgs), startWorker(proxy.url, 'w2', workerArgs), startWorker(coordinator.url, 'w3', workerArgs)];
  await waitForSteps(out, 5, 40_000);
  return { coordinator, proxy, workers };
}

/** Waits until metrics.jsonl holds at least `steps` step records. */
export async function waitForSteps(out: string, steps: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (stepRecords(out).length < steps) {
    if (Date.now() > deadline) throw new Error(`fewer than ${steps} steps in ${out}/metrics.jsonl after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
