/**
 * `npm run bench`: data-parallel throughput on one machine (issue: threads engine).
 * For W1, W2, W3: samples/s of the inline engine and of 1 and 2 worker threads, speed-up and
 * scaling efficiency, the step's split into compute / reduce / update / idle, and the
 * shared-memory all-reduce's bus bandwidth against a plain memory copy, measured in the same run
 * on the path the engine uses (the wasm collective kernels over a shared WebAssembly.Memory, or
 * the JS reference), with the update's cost.
 * Medians of --runs runs of at least --seconds seconds each, after warm-up steps.
 *
 * --kernels auto|blas|wasm|js picks the kernel set (auto: blas where a fast library passes its
 * self-test); OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset in this process before OpenBLAS
 * loads (--openblas-env keep leaves them), and the BLAS line says which core OpenBLAS picked.
 *
 * --variants unfolded,js adds, at the largest worker count, the engine with a separate round of
 * update tasks (foldUpdate: false) and with the JS collective kernels (collective: 'js').
 */
import os from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { EngineChoice, EngineKind } from '../src/engine/index.js';
import { defaultOptimizerConfig, stateTensorCount, VersionedOptimizer, WasmUpdateKernels, type OptimizerConfig } from '../src/optim/index.js';
import { loadKernels, type KernelsChoice } from '../src/kernels/index.js';
import { compileCollective, partitionRanges, reduceSlotsRange, WasmCollective, type WasmMemory, type WasmModule } from '../src/collective/index.js';
import { allocateShared, planLayout, viewsOf, type SharedLayout } from '../src/engine/shared-memory.js';
import { convThroughput } from './bench-conv.js';
import { WORKLOADS, blasLine, fmt, machineLine, measureEngine, median, scriptFlags, unsetOpenblasEnv, type Measurement, type Workload } from './bench-common.js';

const flags = isMainThread
  ? scriptFlags(process.argv.slice(2), { runs: '3', seconds: '5', warmup: '3', workloads: 'W1,W2,W3,W4', workers: '1,2', chunks: '8', kernels: 'auto', variants: '', collective: 'auto', 'openblas-env': 'unset' })
  : ({} as Record<string, string>);
const runs = Number(flags.runs);
const seconds = Number(flags.seconds);
const warmupSteps = Number(flags.warmup);

/** Steps an engine for at least `seconds` after warm-up; returns samples/s and the time split. */
function measure(workload: Workload, kind: EngineKind, workers: number, chunks?: number, threads: EngineChoice['threads'] = {}): Promise<Measurement> {
  return measureEngine(workload, { kind, workers, threads: { collective: flags.collective as 'auto' | 'wasm' | 'js', ...threads } }, {
    kernels: flags.kernels as KernelsChoice,
    chunks,
    seconds,
    warmupSteps,
  });
}

/** The collective path the threads engine takes with these flags: the compiled wasm module, or null for js. */
async function enginePath(): Promise<{ module: WasmModule | null; detail: string }> {
  const kernels = await loadKernels(flags.kernels as KernelsChoice);
  if (flags.collective === 'js' || (flags.collective === 'auto' && kernels.name === 'js')) return { module: null, detail: 'js' };
  try {
    return { module: await compileCollective(), detail: 'wasm (shared memory, f32x4)' };
  } catch (error) {
    return { module: null, detail: `js (wasm unavailable: ${(error as Error).message})` };
  }
}

/** Median time of `fn` in seconds, after warming up (>= 200 calls or 50 ms: wasm code tiers up to TurboFan after some use). */
const time = (fn: () => void, rounds = 15) => {
  const warm = performance.now();
  for (let i = 0; i < 200 || performance.now() - warm < 50; i++) fn();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return median(samples) / 1000;
};

/** A plain memory copy of `params` float32 in one thread (TypedArray.set), in GB/s. */
function copyBandwidth(params: number): number {
  const source = new Float32Array(params).fill(1);
  const target = new Float32Array(params);
  return (params * 4) / time(() => target.set(source)) / 1e9;
}

interface ReduceThreadData {
  memory: WasmMemory | null;
  buffer: SharedArrayBuffer;
  layout: SharedLayout;
  module: WasmModule | null;
  workers: number;
  worker: number;
  iterations: number;
  control: Int32Array;
}

/** Generation barrier for the bench threads: control[0] arrivals, control[1] generation. */
function barrier(control: Int32Array, parties: number): void {
  const generation = Atomics.load(control, 1);
  if (Atomics.add(control, 0, 1) + 1 === parties) {
    Atomics.store(control, 0, 0);
    Atomics.add(control, 1, 1);
    Atomics.notify(control, 1);
    return;
  }
  while (Atomics.load(control, 1) === generation) Atomics.wait(control, 1, generation, 50);
}

/**
 * One bench thread, as a worker of the engine: write its own slot (as the compute does), barrier,
 * reduce its range over all slots (reading lines the other cores just wrote), barrier. Reports the
 * reduce times.
 */
function reduceThread(d: ReduceThreadData): void {
  const buffer = (d.memory ? d.memory.buffer : d.buffer) as SharedArrayBuffer;
  const views = viewsOf(buffer, d.layout);
  const P = d.layout.numParams;
  const wasm = d.memory && d.module ? new WasmCollective(d.module, d.memory) : null;
  const scratch = { offset: d.layout.scratch + d.worker * d.layout.scratchBytes, bytes: d.layout.scratchBytes };
  const range = partitionRanges(P, d.workers)[d.worker];
  const mine = views.slots.subarray(d.worker * P, (d.worker + 1) * P);
  const source = Float32Array.from({ length: P }, (_, i) => ((i * 7 + d.worker) % 97) * 0.01 - 0.48);
  const copyTarget = new Float32Array(range.end - range.start);
  const ms: number[] = [];
  const copyMs: number[] = [];
  for (let it = 0; it < d.iterations; it++) {
    mine.set(source);
    barrier(d.control, d.workers);
    let t0 = performance.now();
    if (wasm) wasm.reduceRange(views.slots, d.workers, P, views.reduced, range.start, range.end, scratch);
    else reduceSlotsRange(views.slots, d.workers, P, views.reduced, range.start, range.end);
    ms.push(performance.now() - t0);
    barrier(d.control, d.workers);
    // The same threads copying their range of the reduced gradient at once: memcpy under the same conditions.
    t0 = performance.now();
    copyTarget.set(views.reduced.subarray(range.start, range.end));
    copyMs.push(performance.now() - t0);
    barrier(d.control, d.workers);
  }
  parentPort!.postMessage({ ms, copyMs });
}

interface Bandwidth {
  /** N threads at once, each its own range, after each wrote its slot (as in the engine). */
  threadedAlgGBs: number;
  /** One thread doing the ranges in turn (the kernel's rate, caches warm), per-worker time = total / N. */
  kernelAlgGBs: number;
  /** A plain copy of P float32 in one thread. */
  copyGBs: number;
  /** N threads at once each copying its range (P float32 in all). */
  threadedCopyGBs: number;
}

const busbw = (algGBs: number, workers: number) => (algGBs * 2 * (workers - 1)) / workers;

/** The engine's reduce-scatter over `workers` slots on its own path (wasm or js). */
async function allReduceBandwidth(params: number, workers: number, module: WasmModule | null): Promise<Bandwidth> {
  const layout = planLayout(params, 0, workers, workers + 1);
  const shared = allocateShared(layout, module !== null);
  const P = params;
  const bytes = P * 4;
  shared.slots.forEach((_, i, a) => (a[i] = (i % 97) * 0.01));

  // Kernel rate: one thread, the ranges one after the other.
  const wasm = module && shared.memory ? new WasmCollective(module, shared.memory) : null;
  const scratch = { offset: layout.scratch + workers * layout.scratchBytes, bytes: layout.scratchBytes };
  const ranges = partitionRanges(P, workers);
  const reduceSeconds =
    time(() =>
      ranges.forEach((r) =>
        wasm ? wasm.reduceRange(shared.slots, workers, P, shared.reduced, r.start, r.end, scratch) : reduceSlotsRange(shared.slots, workers, P, shared.reduced, r.start, r.end),
      ),
    ) / workers;

  // Engine-like: N threads at once.
  const control = new Int32Array(new SharedArrayBuffer(8));
  const iterations = Math.max(41, Math.ceil(2e7 / P)); // enough for the wasm code to tier up on small vectors
  const perThread = await Promise.all(
    Array.from({ length: workers }, (_, worker) => {
      const data: ReduceThreadData = { memory: shared.memory, buffer: shared.buffer, layout, module: wasm ? module : null, workers, worker, iterations, control };
      const thread = new Worker(new URL(import.meta.url), { workerData: { reduceThread: data } });
      return new Promise<{ ms: number[]; copyMs: number[] }>((resolve, reject) => {
        thread.once('message', (m: { ms: number[]; copyMs: number[] }) => void thread.terminate().then(() => resolve(m)));
        thread.once('error', reject);
      });
    }),
  );
  // Per iteration the slowest thread's time (they start together at the barrier); skip the warm-up third.
  const slowest = (key: 'ms' | 'copyMs') => perThread[0][key].map((_, it) => Math.max(...perThread.map((t) => t[key][it]))).slice(Math.floor(iterations / 3));
  return {
    threadedAlgGBs: bytes / (median(slowest('ms')) / 1000) / 1e9,
    kernelAlgGBs: bytes / reduceSeconds / 1e9,
    copyGBs: copyBandwidth(P),
    threadedCopyGBs: bytes / (median(slowest('copyMs')) / 1000) / 1e9,
  };
}

/** One thread's cost of an update of all `params` parameters: out of place in wasm, or copy + in place (JS). */
function updateCost(params: number, optimizer: OptimizerConfig, module: WasmModule | null): { ms: number; jsMs: number } {
  const layout = planLayout(params, stateTensorCount(optimizer), 1, 1);
  const shared = allocateShared(layout, module !== null);
  shared.reduced.forEach((_, i, a) => (a[i] = ((i % 89) - 44) * 1e-3));
  shared.params[0].forEach((_, i, a) => (a[i] = ((i % 83) - 41) * 1e-2));
  const wasm = new VersionedOptimizer(optimizer, shared, module && shared.memory ? new WasmUpdateKernels(module, shared.memory) : null);
  const js = new VersionedOptimizer(optimizer, shared, null);
  const u = { lr: 0.1, gradScale: 1 / 256, t: 1 };
  const ms = time(() => wasm.update(0, shared.reduced, u)) * 1000;
  const jsMs = time(() => js.update(0, shared.reduced, u)) * 1000;
  return { ms, jsMs };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

async function main(): Promise<void> {
  console.log(machineLine());
  // Before any kernel set loads OpenBLAS: --openblas-env keep leaves OPENBLAS_CORETYPE/L2_SIZE as set.
  const unset = unsetOpenblasEnv(flags['openblas-env'] === 'keep');
  const path = await enginePath();
  console.log(blasLine((await loadKernels(flags.kernels as KernelsChoice)).report, unset));
  console.log(`kernels: ${(await loadKernels(flags.kernels as KernelsChoice)).detail}; all-reduce and update: ${path.detail}; ${runs} runs of >= ${seconds} s after ${warmupSteps} warm-up steps; medians`);
  const variants = flags.variants.split(',').filter(Boolean);
  const workerCounts = flags.workers.split(',').map(Number);
  for (const workload of WORKLOADS.filter((w) => flags.workloads.split(',').includes(w.name))) {
    console.log(`\n${workload.name} ${workload.model} batch ${workload.batchSize} (${fmt(workload.params)} parameters)`);
    const chunks = Number(flags.chunks);
    const most = Math.max(...workerCounts);
    const configs: { label: string; kind: EngineKind; workers: number; chunks?: number; threads?: EngineChoice['threads'] }[] = [
      { label: 'inline', kind: 'inline', workers: 1 },
      ...workerCounts.map((w) => ({ label: `threads x${w}`, kind: 'threads' as const, workers: w })),
      // The cost of bit-identical results at every worker count (--reduce-chunks).
      ...(chunks > 0 ? [{ label: `x${most} chunks ${chunks}`, kind: 'threads' as const, workers: most, chunks }] : []),
      // A separate round of update tasks instead of folding the update into the next step.
      ...(variants.includes('unfolded') ? [{ label: `x${most} unfolded`, kind: 'threads' as const, workers: most, threads: { foldUpdate: false } }] : []),
      // The JS reference kernels for the reduce and the update.
      ...(variants.includes('js') ? [{ label: `x${most} js-collect`, kind: 'threads' as const, workers: most, threads: { collective: 'js' as const } }] : []),
    ];
    const results = new Map<string, Measurement[]>();
    // Interleave the configurations run by run so that a burst of load hits them alike.
    for (let r = 0; r < runs; r++) {
      for (const c of configs) {
        const list = results.get(c.label) ?? [];
        list.push(await measure(workload, c.kind, c.workers, c.chunks, c.threads));
        results.set(c.label, list);
      }
    }
    const rate = (label: string) => median(results.get(label)!.map((m) => m.samplesPerSec));
    const one = rate(results.has('threads x1') ? 'threads x1' : 'inline');
    console.log('  engine           samples/s  speed-up  efficiency  compute  reduce  update  idle   step ms');
    for (const c of configs) {
      const list = results.get(c.label)!;
      const share = (key: 'compute' | 'reduce' | 'update' | 'idle') => median(list.map((m) => m.timing.share[key]));
      const speedup = rate(c.label) / one;
      console.log(
        `  ${c.label.padEnd(15)} ${fmt(rate(c.label)).padStart(10)}  ${speedup.toFixed(2).padStart(7)}x  ${pct(speedup / c.workers).padStart(10)}  ${pct(share('compute')).padStart(7)} ${pct(share('reduce')).padStart(7)} ${pct(share('update')).padStart(7)} ${pct(share('idle')).padStart(5)}  ${((workload.batchSize / rate(c.label)) * 1000).toFixed(2).padStart(7)}`,
      );
    }
    for (const w of workerCounts.filter((w) => w > 1)) {
      const bw = await allReduceBandwidth(workload.params, w, path.module);
      const bus = busbw(bw.threadedAlgGBs, w);
      const kernelBus = busbw(bw.kernelAlgGBs, w);
      console.log(
        `  all-reduce (${path.detail.startsWith('wasm') ? 'wasm' : 'js'}), ${w} slots, ${os.availableParallelism()} cores: ${w} threads at once algbw ${bw.threadedAlgGBs.toFixed(2)} GB/s, busbw ${bus.toFixed(2)} GB/s ` +
          `= ${pct(bus / bw.copyGBs)} of a 1-thread copy (${bw.copyGBs.toFixed(2)} GB/s), ${pct(bus / bw.threadedCopyGBs)} of ${w} threads copying at once (${bw.threadedCopyGBs.toFixed(2)} GB/s); ` +
          `the kernel alone (1 thread, ranges in turn) busbw ${kernelBus.toFixed(2)} GB/s = ${pct(kernelBus / bw.copyGBs)} of the 1-thread copy`,
      );
    }
    if (workload.model.startsWith('cnn') || workload.model === 'cnn-mnist') {
      const conv = await convThroughput(workload.model, await loadKernels(flags.kernels as KernelsChoice));
      console.log(`  conv layers in 1 thread, forward + backward over ${conv.rows} samples: ${conv.gflops.toFixed(1)} GFLOP/s (${conv.perLayer.map((l) => `${l.token} ${l.gflops.toFixed(1)}`).join(', ')})`);
    }
    const sgd = updateCost(workload.params, { ...defaultOptimizerConfig }, path.module);
    const momentum = updateCost(workload.params, { ...defaultOptimizerConfig, momentum: 0.9 }, path.module);
    console.log(
      `  update of all ${fmt(workload.params)} parameters in 1 thread (version v -> v + 1): sgd ${sgd.ms.toFixed(3)} ms, momentum ${momentum.ms.toFixed(3)} ms on this path; JS copy + in place: ${sgd.jsMs.toFixed(3)} ms, ${momentum.jsMs.toFixed(3)} ms`,
    );
  }
}

if (isMainThread) await main();
else reduceThread((workerData as { reduceThread: ReduceThreadData }).reduceThread);
