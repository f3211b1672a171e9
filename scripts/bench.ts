/**
 * `npm run bench`: data-parallel throughput on one machine (issue: threads engine).
 * For W1, W2, W3: samples/s of the inline engine and of 1 and 2 worker threads, speed-up and
 * scaling efficiency, the step's split into compute / reduce / update / idle, and the
 * shared-memory all-reduce's bus bandwidth against a plain memory copy, measured in the same run.
 * Medians of --runs runs of at least --seconds seconds each, after warm-up steps.
 */
import { batchRange, resolveBatchSize, stepsPerEpoch } from '../src/data/index.js';
import { createEngine, type Engine, type EngineKind } from '../src/engine/index.js';
import { defaultOptimizerConfig } from '../src/optim/index.js';
import { loadKernels, type KernelsChoice } from '../src/kernels/index.js';
import { initParams, parseModelSpec } from '../src/model/index.js';
import { partitionRanges, reduceSlotsRange } from '../src/collective/index.js';
import { StepTimings, type TimingSummary } from '../src/train/timing.js';
import { WORKLOADS, benchDataset, fmt, machineLine, median, scriptFlags, type Workload } from './bench-common.js';

const flags = scriptFlags(process.argv.slice(2), { runs: '3', seconds: '5', warmup: '3', workloads: 'W1,W2,W3', workers: '1,2', chunks: '8', kernels: 'auto' });
const runs = Number(flags.runs);
const seconds = Number(flags.seconds);
const warmupSteps = Number(flags.warmup);

interface Measurement {
  samplesPerSec: number;
  timing: TimingSummary;
}

/** Steps an engine for at least `seconds` after warm-up; returns samples/s and the time split. */
async function measure(workload: Workload, kind: EngineKind, workers: number, chunks?: number): Promise<Measurement> {
  const data = await benchDataset();
  const spec = parseModelSpec(workload.model);
  const engine: Engine = await createEngine(
    {
      model: spec,
      train: data,
      validation: null,
      params: initParams(spec, 0) as Float32Array,
      optimizer: { ...defaultOptimizerConfig },
      seed: 0,
      microBatch: undefined,
      chunks,
      kernels: flags.kernels as KernelsChoice,
    },
    { kind, workers },
  );
  try {
    const batch = resolveBatchSize(workload.batchSize, data.n);
    const perEpoch = stepsPerEpoch(data.n, batch, true);
    let step = 0;
    const runStep = async (timings: StepTimings | null) => {
      const started = performance.now();
      const epoch = Math.floor(step / perEpoch);
      const { start, end } = batchRange(step % perEpoch, data.n, batch);
      const result = await engine.computeGradients({ epoch, step, start, end });
      const { updateMs } = await engine.applyUpdate({ lr: 0.1, gradScale: 1 / result.count, t: step + 1 });
      timings?.add(result, updateMs, performance.now() - started);
      step += 1;
      return result.count;
    };
    for (let i = 0; i < warmupSteps; i++) await runStep(null);
    const timings = new StepTimings(engine.workers);
    const started = performance.now();
    let samples = 0;
    while (performance.now() - started < seconds * 1000) samples += await runStep(timings);
    return { samplesPerSec: samples / ((performance.now() - started) / 1000), timing: timings.summary() };
  } finally {
    await engine.close();
  }
}

/** The reduce-scatter of the threads engine over `workers` slots, done by one thread per range in turn. */
function allReduceBandwidth(params: number, workers: number): { busGBs: number; algGBs: number; copyGBs: number } {
  const slots = new Float32Array(workers * params).map((_, i) => (i % 97) * 0.01);
  const out = new Float32Array(params);
  const ranges = partitionRanges(params, workers);
  const bytes = params * 4;
  const time = (fn: () => void) => {
    for (let i = 0; i < 3; i++) fn();
    const samples: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t0 = performance.now();
      fn();
      samples.push(performance.now() - t0);
    }
    return median(samples) / 1000;
  };
  // Each worker reduces its own range concurrently in the engine; here the ranges run one after
  // the other in one thread, so the per-worker time is the total divided by the worker count.
  const reduceSeconds = time(() => ranges.forEach((r) => reduceSlotsRange(slots, workers, params, out, r.start, r.end))) / workers;
  const source = new Float32Array(params).fill(1);
  const target = new Float32Array(params);
  const copySeconds = time(() => target.set(source));
  const algGBs = bytes / reduceSeconds / 1e9;
  return { algGBs, busGBs: (algGBs * 2 * (workers - 1)) / workers, copyGBs: bytes / copySeconds / 1e9 };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(`kernels: ${(await loadKernels(flags.kernels as KernelsChoice)).detail}; ${runs} runs of >= ${seconds} s after ${warmupSteps} warm-up steps; medians`);
  const workerCounts = flags.workers.split(',').map(Number);
  for (const workload of WORKLOADS.filter((w) => flags.workloads.split(',').includes(w.name))) {
    console.log(`\n${workload.name} ${workload.model} batch ${workload.batchSize} (${fmt(workload.params)} parameters)`);
    const chunks = Number(flags.chunks);
    const configs: { label: string; kind: EngineKind; workers: number; chunks?: number }[] = [
      { label: 'inline', kind: 'inline', workers: 1 },
      ...workerCounts.map((w) => ({ label: `threads x${w}`, kind: 'threads' as const, workers: w })),
      // The cost of bit-identical results at every worker count (--reduce-chunks).
      ...(chunks > 0 ? [{ label: `x${Math.max(...workerCounts)} chunks ${chunks}`, kind: 'threads' as const, workers: Math.max(...workerCounts), chunks }] : []),
    ];
    const results = new Map<string, Measurement[]>();
    // Interleave the configurations run by run so that a burst of load hits them alike.
    for (let r = 0; r < runs; r++) {
      for (const c of configs) {
        const list = results.get(c.label) ?? [];
        list.push(await measure(workload, c.kind, c.workers, c.chunks));
        results.set(c.label, list);
      }
    }
    const rate = (label: string) => median(results.get(label)!.map((m) => m.samplesPerSec));
    const one = rate('threads x1');
    console.log('  engine           samples/s  speed-up  efficiency  compute  reduce  update  idle');
    for (const c of configs) {
      const list = results.get(c.label)!;
      const share = (key: 'compute' | 'reduce' | 'update' | 'idle') => median(list.map((m) => m.timing.share[key]));
      const speedup = rate(c.label) / one;
      console.log(
        `  ${c.label.padEnd(15)} ${fmt(rate(c.label)).padStart(10)}  ${speedup.toFixed(2).padStart(7)}x  ${pct(speedup / c.workers).padStart(10)}  ${pct(share('compute')).padStart(7)} ${pct(share('reduce')).padStart(7)} ${pct(share('update')).padStart(7)} ${pct(share('idle')).padStart(5)}`,
      );
    }
    for (const w of workerCounts.filter((w) => w > 1)) {
      const bw = allReduceBandwidth(workload.params, w);
      console.log(`  shared-memory all-reduce, ${w} slots: algbw ${bw.algGBs.toFixed(2)} GB/s, busbw ${bw.busGBs.toFixed(2)} GB/s; memory copy ${bw.copyGBs.toFixed(2)} GB/s (busbw/copy ${pct(bw.busGBs / bw.copyGBs)})`);
    }
  }
}

await main();
