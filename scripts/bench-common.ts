/** Shared pieces of the benchmark scripts: workloads (docs/benchmarks.md), machine facts, statistics. */
import os from 'node:os';
import { batchRange, loadDataset, resolveBatchSize, stepsPerEpoch, type Dataset } from '../src/data/index.js';
import { createEngine, type Engine, type EngineChoice } from '../src/engine/index.js';
import type { KernelsChoice } from '../src/kernels/index.js';
import { initParams, parseModelSpec } from '../src/model/index.js';
import { defaultOptimizerConfig } from '../src/optim/index.js';
import { StepTimings, type TimingSummary } from '../src/train/timing.js';
import { Rng } from '../src/util/rng.js';

export interface Workload {
  name: string;
  model: string;
  batchSize: number;
  params: number;
}

/** docs/benchmarks.md: synthetic MNIST-shaped data, softmax cross-entropy, plain SGD lr 0.1. */
export const WORKLOADS: Workload[] = [
  { name: 'W1', model: 'mlp:784-256-128-10', batchSize: 256, params: 235_146 },
  { name: 'W2', model: 'mlp:784-1024-1024-10', batchSize: 512, params: 1_863_690 },
  { name: 'W3', model: 'logreg:784-10', batchSize: 1024, params: 7_850 },
  // issue 14: the CNN of docs/models.md (conv32k3p1 relu maxpool2 conv64k3p1 relu maxpool2 flatten dense128 relu dense10).
  { name: 'W4', model: 'cnn-mnist', batchSize: 256, params: 421_642 },
];

export const BENCH_DATASET = 'synthetic:blobs?n=60000&d=784&classes=10&seed=0';

/**
 * The PyTorch peer's data (../shared/peers train_bench.py, re-generated here with dptrain's own
 * generator: the same distribution, not the same numbers): 60,000 x 784 uniform in [0, 1), labels
 * argmax((x - 0.5) · T) for a Gaussian teacher T [784 x 10]. On it plain SGD at lr 0.1 stays
 * finite at B = 1, where it diverges on the blobs (W5 measured NaN arithmetic before).
 */
export function peerDataset(n = 60_000, d = 784, classes = 10): Dataset {
  const rng = new Rng(1234, 'bench-peer-data');
  const teacher = new Float64Array(d * classes);
  for (let i = 0; i < teacher.length; i++) teacher[i] = rng.normal();
  const x = new Float32Array(n * d);
  const y = new Float32Array(n);
  const score = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    score.fill(0);
    for (let j = 0; j < d; j++) {
      const v = (x[i * d + j] = rng.next());
      for (let c = 0; c < classes; c++) score[c] += (v - 0.5) * teacher[j * classes + c];
    }
    y[i] = score.indexOf(Math.max(...score));
  }
  return { spec: `bench:peer?n=${n}&d=${d}&classes=${classes}`, n, inputDim: d, x, targetDim: 1, y, task: 'classification', numClasses: classes };
}

let cached: Dataset | null = null;
export async function benchDataset(): Promise<Dataset> {
  cached ??= await loadDataset(BENCH_DATASET);
  return cached;
}

export function machineLine(): string {
  const cpus = os.cpus();
  return `machine: ${os.availableParallelism()} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

export { median } from '../src/util/index.js';

export interface Measurement {
  samplesPerSec: number;
  timing: TimingSummary;
}

/**
 * Steps an engine on `workload` (plain SGD lr 0.1, as docs/benchmarks.md) for at least `seconds` after
 * `warmupSteps` steps; returns samples/s and the step's time split.
 */
export async function measureEngine(
  workload: Pick<Workload, 'model' | 'batchSize'>,
  choice: EngineChoice,
  o: { kernels: KernelsChoice; chunks?: number; seconds: number; warmupSteps: number; data?: Dataset },
): Promise<Measurement> {
  const data = o.data ?? (await benchDataset());
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
      chunks: o.chunks,
      kernels: o.kernels,
    },
    choice,
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
    for (let i = 0; i < o.warmupSteps; i++) await runStep(null);
    const timings = new StepTimings(engine.workers);
    const started = performance.now();
    let samples = 0;
    while (performance.now() - started < o.seconds * 1000) samples += await runStep(timings);
    // A diverged model times NaN arithmetic (and the norm's float64 fallback), not training.
    await engine.synchronize();
    if (!engine.params.every(Number.isFinite)) throw new Error(`${workload.model} at B = ${workload.batchSize} diverged during the measurement (non-finite parameters): its figures would not be of training`);
    return { samplesPerSec: samples / ((performance.now() - started) / 1000), timing: timings.summary() };
  } finally {
    await engine.close();
  }
}

/** Parses `--name value` flags of a script with defaults; unknown flags are an error. */
export function scriptFlags<T extends Record<string, string>>(argv: string[], defaults: T): T {
  const flags: Record<string, string> = { ...defaults };
  const takes = `this benchmark takes ${Object.entries(defaults).map(([k, v]) => `--${k} (default ${v === '' ? 'none' : v})`).join(', ')}`;
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (argv[i] === '--help' || argv[i] === '-h') {
      process.stdout.write(`${takes[0].toUpperCase()}${takes.slice(1)} (docs/benchmarks.md)\n`);
      process.exit(0);
    }
    if (!argv[i].startsWith('--') || !(key in defaults)) {
      // An entry point: a clear line and exit 2, as the dptrain command does for a wrong flag.
      process.stderr.write(`unknown argument ${argv[i]}; ${takes}\n`);
      process.exit(2);
    }
    flags[key] = argv[++i] ?? '';
  }
  return flags as T;
}

/** A flag with a value this benchmark cannot use: one clear line and exit 2, as for an unknown flag. */
export function badFlagValue(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

export function fmt(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The OpenBLAS variables that pin its CPU kernel (set on some machines where old builds miscompute). */
export const OPENBLAS_ENV = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'] as const;

/**
 * Unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in this process unless `keep`, before OpenBLAS is
 * loaded (it reads them once, at load), so that it picks its own fastest kernel for this CPU; the
 * blas set's self-test still refuses a library that then computes wrong. Returns what it unset.
 */
export function unsetOpenblasEnv(keep: boolean): string[] {
  if (keep) return [];
  const unset = OPENBLAS_ENV.filter((v) => process.env[v] !== undefined);
  for (const v of unset) delete process.env[v];
  return unset;
}

/** The BLAS facts every benchmark prints: library, version, the core OpenBLAS picked, and the environment. */
export function blasLine(report: { blas: { config: string | null; vendor: string; core: string | null; library: string; threads: string } | null; fallback: string | null } | undefined, unset: string[]): string {
  const b = report?.blas;
  const env = OPENBLAS_ENV.map((v) => `${v}=${process.env[v] ?? '(unset)'}`).join(' ');
  const lib = b ? `${b.config ?? b.vendor}; core ${b.core ?? 'n/a'}; ${b.library}; ${b.threads}` : `none (${report?.fallback ?? 'not asked for'})`;
  return `BLAS: ${lib}; ${env}${unset.length ? ` (unset by this benchmark: ${unset.join(', ')})` : ''}`;
}
