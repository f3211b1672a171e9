/**
 * `--workers auto`, the default with `--engine threads`: the run trains on the inline engine or on
 * a pool of worker threads, whichever a short probe of its own step measures faster, so that the
 * default is never slower than one worker. A small step (B = 1, a small model) costs less than
 * handing it to threads and waiting at their barriers; a large one divides. docs/cli.md,
 * "--workers auto".
 *
 * The probe times the run's first gradient step (forward, backward, norm or reduce: no update, so
 * the parameters and optimizer state stay as they were) on the inline engine and on min(cores, B)
 * worker threads, keeps the faster engine and closes the other. The update is left out of the
 * timing: the threads engine runs it split over its workers, so leaving it out can only favour
 * the inline engine, and only where the two are close.
 */
import { createEngine, type EngineChoice } from '../engine/create.js';
import type { Engine, EngineSetup, StepPlan, ThreadsEngineOptions } from '../engine/index.js';

/** The threads engine is chosen only at this speed-up over inline: a near tie keeps one thread (no dispatch, no barriers). */
export const THREADS_MIN_SPEEDUP = 1.1;

/** What the probe measured (summary.json `workersChoice.probe`). */
export interface WorkersProbe {
  /** Median ms of one gradient step on the inline engine. */
  inlineMs: number;
  /** Median ms of the same step on `workers` threads (compute, reduce, dispatch, barriers). */
  threadsMs: number;
  workers: number;
}

/** The engine `--workers auto` chose and why (start-up line, config.json and summary.json). */
export interface WorkersChoice {
  engine: 'inline' | 'threads';
  workers: number;
  reason: string;
  /** null when no probe was needed (one core, a batch of one, a resumed run). */
  probe: WorkersProbe | null;
}

const ms = (x: number) => (x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(3));

/** The decision on measured step times (pure, so that tests can give it any costs). */
export function chooseWorkers(probe: WorkersProbe): WorkersChoice {
  const speedup = probe.inlineMs / probe.threadsMs;
  const measured = `a step took ${ms(probe.inlineMs)} ms inline and ${ms(probe.threadsMs)} ms on ${probe.workers} worker threads`;
  if (speedup >= THREADS_MIN_SPEEDUP) {
    return { engine: 'threads', workers: probe.workers, reason: `--workers auto chose ${probe.workers} worker threads: ${measured} (${speedup.toFixed(2)}x)`, probe };
  }
  const why = speedup >= 1 ? `threads are less than ${THREADS_MIN_SPEEDUP}x faster` : 'dispatch and barriers cost more than the threads save';
  return { engine: 'inline', workers: 1, reason: `--workers auto chose the inline engine: ${measured} (${why})`, probe };
}

/** How many threads a probe would try; below 2 the inline engine is chosen without one. */
export function threadsToTry(cores: number, batchSize: number): number {
  return Math.max(1, Math.min(cores, batchSize));
}

/** The choice when a probe is not worth it (one core, or a batch that cannot be split). */
export function unprobedChoice(cores: number, batchSize: number): WorkersChoice {
  const why = cores < 2 ? 'this machine has one core' : `a batch of ${batchSize} cannot be split over threads`;
  return { engine: 'inline', workers: 1, reason: `--workers auto chose the inline engine: ${why}`, probe: null };
}

/** Median ms of `plan`'s gradient step on `engine`, after one warm-up (tier-up, workers starting). */
async function timeStep(engine: Engine, plan: StepPlan): Promise<number> {
  await engine.computeGradients(plan);
  const times: number[] = [];
  const started = performance.now();
  // Steps for ~0.1 s, at most 15; at least 3 unless one already took longer (a full batch of a wide
  // model takes a second: three more of it on each engine made the probe cost 6 s, and a step that
  // long is not noise-dominated).
  while (times.length < 1 || (times.length < 15 && performance.now() - started < 100) || (times.length < 3 && times[0] < 100)) {
    const t0 = performance.now();
    await engine.computeGradients(plan);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

/**
 * Creates the inline engine and, where it can split the batch, a thread pool; times one step on
 * each; returns the faster engine (the other closed) and the choice. Only gradients are computed,
 * so the engine returned starts from `setup`'s parameters and state as a fresh one would.
 */
export async function probeWorkers(setup: EngineSetup, plan: StepPlan, cores: number, threads: Omit<ThreadsEngineOptions, 'workers'>): Promise<{ engine: Engine; choice: WorkersChoice }> {
  const batchSize = plan.end - plan.start;
  const workers = threadsToTry(cores, batchSize);
  const inline = await createEngine(setup, { kind: 'inline', workers: 1 });
  if (workers < 2) return { engine: inline, choice: unprobedChoice(cores, batchSize) };
  let pool: Engine | null = null;
  try {
    const inlineMs = await timeStep(inline, plan);
    pool = await createEngine(setup, { kind: 'threads', workers, threads });
    const threadsMs = await timeStep(pool, plan);
    const choice = chooseWorkers({ inlineMs, threadsMs, workers });
    const [kept, closed] = choice.engine === 'inline' ? [inline, pool] : [pool, inline];
    await closed.close();
    return { engine: kept, choice };
  } catch (error) {
    await Promise.allSettled([inline.close(), pool?.close()]);
    throw error;
  }
}

/** The engine a resumed `--workers auto` run had (inline or threads), so that it continues with the same bits. */
export interface SavedEngine {
  engine: string;
  workers: number;
}

/**
 * The run's engine: as configured with a number of workers (or another engine); with
 * `--workers auto` the checkpoint's engine when resuming (a new choice could change the bits),
 * else the probe's. `choice` is null when auto did not apply.
 */
export async function openRunEngine(
  kind: 'inline' | 'threads' | 'ws',
  workers: number | 'auto',
  setup: EngineSetup,
  o: { batchSize: number; cores: number; saved: SavedEngine | null; threads: Omit<ThreadsEngineOptions, 'workers'>; run?: EngineChoice['run'] },
): Promise<{ engine: Engine; choice: WorkersChoice | null }> {
  if (workers !== 'auto' || kind !== 'threads') return { engine: await createEngine(setup, { kind, workers: workers === 'auto' ? 1 : workers, threads: o.threads, run: o.run }), choice: null };
  const saved = o.saved;
  if (saved && (saved.engine === 'inline' || saved.engine === 'threads')) {
    const engine = await createEngine(setup, { kind: saved.engine, workers: saved.workers, threads: o.threads });
    const what = saved.engine === 'inline' ? 'inline engine' : `${saved.workers} worker threads`;
    return { engine, choice: { engine: saved.engine, workers: engine.workers, reason: `--workers auto kept the checkpoint's ${what}, so that the resumed run has the same bits`, probe: null } };
  }
  // Test-only injected faults name threads' steps: they need the pool, not a probe that could consume them.
  if (o.threads.faults?.length) {
    const engine = await createEngine(setup, { kind: 'threads', workers: o.cores, threads: o.threads });
    return { engine, choice: { engine: 'threads', workers: o.cores, reason: '--workers auto with injected faults: one worker thread per core', probe: null } };
  }
  return probeWorkers(setup, { epoch: 0, step: 0, start: 0, end: o.batchSize }, o.cores, o.threads);
}
