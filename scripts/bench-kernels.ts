/**
 * `npm run bench:kernels`: the js, wasm and blas kernel sets side by side (issues 3, 15).
 *
 *   1. GFLOP/s per kernel and shape: the layer shapes of W1 and W2 (docs/benchmarks.md) at batch
 *      128/256/512, plus odd sizes. fwd = y = relu(x·Wᵀ + b), dx = (dy·W) masked by ReLU,
 *      dW = dW + dyᵀ·x; each counts 2·n·in·out flops.
 *   2. End-to-end samples/s of W1, W2, W3 with one worker: Model.accumulateGradient + plain SGD
 *      (lr 0.1) on synthetic MNIST-shaped data, with the time split into compute and update.
 *   3. What the wasm path costs around the products: staging params and grad, per call.
 *
 * Every figure is the median of --runs runs (default 3); the kernel sets alternate run by run so
 * that load from other processes falls on both. Prints the core count, CPU model, load average,
 * the BLAS library and the core OpenBLAS picked first, and the headline figure of issue 15 (W2's
 * large layer products through the blas set, target >= 90 GFLOP/s in one thread) last.
 * Options: --runs N, --seconds S (per end-to-end run, default 5), --only kernels|e2e|copies,
 * --quick (1 s runs, fewer shapes), --sets js,wasm,blas (default all that load),
 * --keep-openblas-env (default: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset in this process
 * before OpenBLAS loads, so that it picks its fastest kernel for this CPU; the self-test still guards it).
 */
import os from 'node:os';
import { loadDataset, epochPermutation, type Dataset } from '../src/data/index.js';
import { createWasmKernels, jsKernels, loadKernels, type KernelBuffer, type Kernels } from '../src/kernels/index.js';
import { Model, parseModelSpec, initParams } from '../src/model/index.js';
import { createOptimizer, defaultOptimizerConfig } from '../src/optim/index.js';
import { badFlagValue, blasLine, unsetOpenblasEnv } from './bench-common.js';

interface Options {
  runs: number;
  seconds: number;
  only: string | null;
  quick: boolean;
  sets: string[];
  keepOpenblasEnv: boolean;
}

const TAKES = 'takes --runs N (default 3), --seconds S (default 5), --only kernels|e2e|copies, --quick, --sets js,wasm,blas (default all three), --keep-openblas-env';

function parseArgs(argv: string[]): Options {
  const o: Options = { runs: 3, seconds: 5, only: null, quick: false, sets: ['js', 'wasm', 'blas'], keepOpenblasEnv: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--only') o.only = argv[++i];
    else if (a === '--quick') o.quick = true;
    else if (a === '--sets') o.sets = String(argv[++i]).split(',');
    else if (a === '--keep-openblas-env') o.keepOpenblasEnv = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`This benchmark ${TAKES} (docs/benchmarks.md)\n`);
      process.exit(0);
    } else {
      process.stderr.write(`unknown option ${a}; this benchmark ${TAKES}\n`);
      process.exit(2);
    }
  }
  if (o.quick) o.seconds = Math.min(o.seconds, 1);
  if (!(Number.isInteger(o.runs) && o.runs >= 1)) badFlagValue(`--runs must be a positive integer (got ${o.runs})`);
  if (!(o.seconds > 0)) badFlagValue(`--seconds must be > 0 (got ${o.seconds})`);
  return o;
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function fmt(v: number, digits = 1): string {
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Runs `fn` for at least `seconds` (after one warm-up call) and returns seconds per call. */
function timePerCall(fn: () => void, seconds: number): number {
  fn();
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    calls++;
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < seconds);
  return elapsed / calls;
}

/** A kernel buffer of uniform values in [-1, 1) (xorshift, so that the bench needs no Rng state). */
function random(k: Kernels, length: number, seed: number): KernelBuffer {
  const buf = k.allocate(length);
  const a = buf.array;
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = (s >>> 0) / 2 ** 31 - 1;
  }
  return buf;
}

// --- 1. kernels --------------------------------------------------------------------------

const KERNEL_NAMES = ['fwd', 'dx', 'dW'] as const;

function kernelShapes(quick: boolean): { label: string; n: number; inDim: number; outDim: number }[] {
  const layers: [string, number, number][] = [
    ['W1 L1', 784, 256],
    ['W1 L2', 256, 128],
    ['W1 L3', 128, 10],
    ['W2 L1', 784, 1024],
    ['W2 L2', 1024, 1024],
    ['W2 L3', 1024, 10],
  ];
  const shapes = [];
  for (const n of quick ? [256] : [128, 256, 512]) {
    for (const [label, inDim, outDim] of layers) shapes.push({ label, n, inDim, outDim });
  }
  shapes.push({ label: 'odd', n: 127, inDim: 129, outDim: 131 });
  shapes.push({ label: 'odd', n: 3, inDim: 7, outDim: 5 });
  shapes.push({ label: 'odd', n: 1, inDim: 784, outDim: 1024 });
  shapes.push({ label: 'odd', n: 500, inDim: 333, outDim: 77 });
  return shapes;
}

/** GFLOP/s of the three kernels of one layer shape with kernel set k, one run. */
function kernelRun(k: Kernels, n: number, inDim: number, outDim: number, seconds: number): number[] {
  // Operands allocated by the kernel set: in place for wasm, as in the Model. Views are read
  // after the last allocation (a growing wasm memory detaches older ones).
  const bufs = [n * inDim, outDim * inDim, outDim, n * outDim, n * outDim, n * inDim, outDim * inDim].map((len, i) =>
    random(k, len, i + 1),
  );
  const [x, w, b, y, dy, dx, dw] = bufs.map((buf) => buf.array);
  const flops = 2 * n * inDim * outDim;
  const fns = [
    () => k.linearForward(x, w, b, y, n, inDim, outDim, true),
    () => k.matmulDyWReluMask(dy, w, x, dx, n, outDim, inDim),
    () => k.matmulDyTXAcc(dy, x, dw, n, outDim, inDim),
  ];
  const gflops = fns.map((fn) => flops / timePerCall(fn, seconds) / 1e9);
  for (const buf of bufs) buf.free();
  return gflops;
}

/** W2's large products (layers 1 and 2 at batch 512: fwd, dx, dW) per set: total flops / total time. */
const w2Headline = new Map<string, { flops: number; seconds: number }>();

function benchKernels(sets: Kernels[], o: Options): void {
  console.log('\n## Kernels: GFLOP/s (fwd = relu(x·Wᵀ + b), dx = (dy·W) ⊙ relu′, dW += dyᵀ·x; median of runs)\n');
  console.log(`| layer | n x in x out | ${sets.map((k) => KERNEL_NAMES.map((name) => `${label(k)} ${name}`).join(' | ')).join(' | ')} |`);
  console.log(`|---|---|${sets.map(() => KERNEL_NAMES.map(() => '---:').join('|')).join('|')}|`);
  for (const s of kernelShapes(o.quick)) {
    const flops = 2 * s.n * s.inDim * s.outDim;
    const cells: string[] = [];
    const results = sets.map(() => KERNEL_NAMES.map(() => [] as number[]));
    for (let r = 0; r < o.runs; r++) {
      sets.forEach((k, ki) => {
        // The js kernels are 10-20x slower: give each call at least 0.05 s, every set at most ~0.3 s.
        const seconds = Math.max(0.05, Math.min(o.quick ? 0.1 : 0.25, flops / 2e10));
        const g = kernelRun(k, s.n, s.inDim, s.outDim, seconds);
        g.forEach((v, i) => results[ki][i].push(v));
      });
    }
    for (const per of results) for (const values of per) cells.push(fmt(median(values)));
    if ((s.label === 'W2 L1' || s.label === 'W2 L2') && s.n === (o.quick ? 256 : 512)) {
      sets.forEach((k, ki) => {
        const h = w2Headline.get(label(k)) ?? { flops: 0, seconds: 0 };
        for (const values of results[ki]) {
          h.flops += flops;
          h.seconds += flops / (median(values) * 1e9);
        }
        w2Headline.set(label(k), h);
      });
    }
    console.log(`| ${s.label} | ${s.n}x${s.inDim}x${s.outDim} | ${cells.join(' | ')} |`);
  }
}

// --- 2. end to end -----------------------------------------------------------------------

const WORKLOADS = [
  { name: 'W1', spec: 'mlp:784-256-128-10', batch: 256 },
  { name: 'W2', spec: 'mlp:784-1024-1024-10', batch: 512 },
  { name: 'W3', spec: 'logreg:784-10', batch: 1024 },
];

interface E2eRun {
  samplesPerSec: number;
  computeMs: number;
  updateMs: number;
}

/** Trains for `seconds` after 3 warm-up steps; one worker, accumulateGradient + SGD update. */
function e2eRun(k: Kernels, data: Dataset, spec: string, batch: number, seconds: number): E2eRun {
  const modelSpec = parseModelSpec(spec);
  const model = new Model(modelSpec, { kernels: k });
  const params = Float32Array.from(initParams(modelSpec, 0));
  const grad = new Float32Array(params.length);
  const optimizer = createOptimizer({ ...defaultOptimizerConfig }, params.length);
  const order = epochPermutation(data.n, 0, 0);
  let at = 0;
  let t = 0;
  let computeMs = 0;
  let updateMs = 0;
  const step = (): void => {
    if (at + batch > order.length) at = 0;
    const t0 = performance.now();
    grad.fill(0);
    model.accumulateGradient(params, data, order.subarray(at, at + batch), grad);
    const t1 = performance.now();
    optimizer.update(params, grad, { lr: 0.1, gradScale: 1 / batch, t: ++t });
    const t2 = performance.now();
    computeMs += t1 - t0;
    updateMs += t2 - t1;
    at += batch;
  };
  for (let i = 0; i < 3; i++) step();
  computeMs = 0;
  updateMs = 0;
  let steps = 0;
  const start = performance.now();
  do {
    step();
    steps++;
  } while (performance.now() - start < seconds * 1000);
  const elapsed = (performance.now() - start) / 1000;
  model.dispose();
  return { samplesPerSec: (steps * batch) / elapsed, computeMs: computeMs / steps, updateMs: updateMs / steps };
}

async function benchE2e(sets: Kernels[], o: Options): Promise<void> {
  const data = await loadDataset('synthetic:blobs?n=60000&d=784&classes=10&seed=0');
  console.log(`\n## End to end, one worker: samples/s (median of ${o.runs} runs of ${o.seconds} s after warm-up)\n`);
  console.log('| workload | model | batch | ' + sets.map((k) => `${label(k)} samples/s | ${label(k)} step ms (compute + update)`).join(' | ') + ' |');
  console.log('|---|---|---:|' + sets.map(() => '---:|---:').join('|') + '|');
  for (const w of WORKLOADS) {
    const runs = sets.map(() => [] as E2eRun[]);
    for (let r = 0; r < o.runs; r++) sets.forEach((k, i) => runs[i].push(e2eRun(k, data, w.spec, w.batch, o.seconds)));
    const cells = runs.map((rs) => {
      const sps = median(rs.map((x) => x.samplesPerSec));
      return `${fmt(sps, 0)} | ${fmt(median(rs.map((x) => x.computeMs)), 2)} + ${fmt(median(rs.map((x) => x.updateMs)), 2)}`;
    });
    console.log(`| ${w.name} | ${w.spec} | ${w.batch} | ${cells.join(' | ')} |`);
  }
}

// --- 3. copies ---------------------------------------------------------------------------

/** The per-call staging of the wasm path: params in, grad in and out (Model, docs/kernels.md). */
function benchCopies(wasm: Kernels, o: Options): void {
  console.log('\n## Staging copies of the wasm path, per accumulateGradient call (median)\n');
  console.log('| model | params | params in ms | grad in + out ms | total ms |');
  console.log('|---|---:|---:|---:|---:|');
  for (const w of WORKLOADS) {
    const numParams = new Model(parseModelSpec(w.spec)).numParams;
    const params = new Float32Array(numParams).fill(1);
    const grad = new Float32Array(numParams).fill(2);
    const pStage = wasm.allocate(numParams);
    const gStage = wasm.allocate(numParams);
    const pIn: number[] = [];
    const gInOut: number[] = [];
    for (let r = 0; r < o.runs; r++) {
      pIn.push(timePerCall(() => pStage.array.set(params), 0.2) * 1000);
      gInOut.push(
        timePerCall(() => {
          gStage.array.set(grad);
          grad.set(gStage.array);
        }, 0.2) * 1000,
      );
    }
    pStage.free();
    gStage.free();
    const a = median(pIn);
    const b = median(gInOut);
    console.log(`| ${w.name} ${w.spec} | ${numParams.toLocaleString('en-US')} | ${fmt(a, 3)} | ${fmt(b, 3)} | ${fmt(a + b, 3)} |`);
  }
}

function label(k: Kernels): string {
  if (k.name === 'js' || k.name === 'blas') return k.name;
  return (k as Kernels & { variant: string }).variant === 'relaxed' ? 'wasm-fma' : 'wasm';
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const cpus = os.cpus();
  console.log('# dptrain kernel benchmark');
  console.log(`cores (os.availableParallelism): ${os.availableParallelism()}; CPU: ${cpus[0]?.model ?? 'unknown'}`);
  console.log(`node ${process.version}; load average at start: ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  // Before OpenBLAS loads (it reads these once, at load): its own choice of kernel for this CPU.
  const unset = unsetOpenblasEnv(o.keepOpenblasEnv);
  const sets: Kernels[] = [];
  if (o.sets.includes('js')) sets.push(jsKernels);
  const wasm = await createWasmKernels('simd');
  if (o.sets.includes('wasm')) sets.push(wasm);
  try {
    if (o.sets.includes('wasm')) sets.push(await createWasmKernels('relaxed'));
  } catch (error) {
    console.log(`wasm-fma (relaxed SIMD) not run: ${(error as Error).message}`);
  }
  let blas: Kernels | null = null;
  let why: string | null = 'not asked for (--sets)';
  if (o.sets.includes('blas')) {
    try {
      blas = await loadKernels('blas');
      sets.push(blas);
    } catch (error) {
      why = (error as Error).message;
    }
  }
  console.log(blasLine(blas?.report ?? { blas: null, fallback: why }, unset));
  console.log(`kernel sets: ${sets.map((k) => `${label(k)} = ${k.detail}`).join('; ')}`);
  if (o.only === null || o.only === 'kernels') benchKernels(sets, o);
  if (o.only === null || o.only === 'e2e') await benchE2e(sets, o);
  if (o.only === null || o.only === 'copies') benchCopies(wasm, o);
  if (w2Headline.size > 0) {
    console.log(`\n## W2's large layer products (layers 1 and 2, batch ${o.quick ? 256 : 512}: fwd + dx + dW), one thread; target for blas >= 90 GFLOP/s (issue 15)\n`);
    for (const [name, h] of w2Headline) console.log(`- ${name}: ${fmt(h.flops / h.seconds / 1e9)} GFLOP/s`);
  }
  console.log(`\nload average at end: ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

await main();
