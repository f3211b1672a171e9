/**
 * CIFAR-10-sized data in the threads engine (docs/datasets.md, "Memory"): peak RSS of a run on
 * 50,000 × 3,072 float32 samples whose array is a plain ArrayBuffer (the engine copies it into
 * shared memory) vs. a SharedArrayBuffer (mapped as it is); and what keeping pixels as uint8 would
 * cost per batch: gathering 64 rows as float32 copies vs. uint8 → float32 conversion, next to one
 * gradient of the default model on those rows.
 * Usage: node dist/scripts/bench-data-memory.js            (runs both memory modes as child processes)
 *        node dist/scripts/bench-data-memory.js plain|shared (one mode, prints its peak RSS)
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createDataset, sampleArray, type Dataset } from '../src/data/index.js';
import { Model, parseModelSpec, initParams } from '../src/model/index.js';
import { loadKernels } from '../src/kernels/index.js';
import { train } from '../src/index.js';

const N = 50_000;
const D = 3072;

function cifarSized(shared: boolean): Dataset {
  const x = shared ? sampleArray(N * D) : new Float32Array(N * D);
  const y = shared ? sampleArray(N) : new Float32Array(N);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) >>> 24) / 255;
  for (let i = 0; i < N; i++) y[i] = i % 10;
  return createDataset({ spec: 'bench:cifar-sized', n: N, inputDim: D, x, targetDim: 1, y, task: 'classification', numClasses: 10, sampleShape: [3, 32, 32] });
}

async function memoryMode(mode: string): Promise<void> {
  const data = cifarSized(mode === 'shared');
  await train({ model: 'mlp:3072-128-10', valSplit: 0, maxSteps: 3, engine: 'threads', workers: 2, kernels: 'wasm' }, { data });
  const mib = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ mode, peakRssMiB: Math.round(mib) }));
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function gatherCost(): Promise<void> {
  const B = 64;
  const rows = Uint32Array.from({ length: B }, (_, k) => (k * 7919) % N);
  const floats = new Float32Array(N * D).map((_, i) => ((i * 2654435761) >>> 24) / 255);
  const bytes = new Uint8Array(N * D).map((_, i) => (i * 2654435761) >>> 24);
  const scale = new Float32Array(256).map((_, k) => k / 255);
  const batch = new Float32Array(B * D);
  const time = (fn: () => void) => median(Array.from({ length: 41 }, () => {
    const t0 = process.hrtime.bigint();
    for (let rep = 0; rep < 10; rep++) fn();
    return Number(process.hrtime.bigint() - t0) / 1e6 / 10;
  }));
  const copyMs = time(() => {
    for (let r = 0; r < B; r++) batch.set(floats.subarray(rows[r] * D, rows[r] * D + D), r * D);
  });
  const convertMs = time(() => {
    for (let r = 0; r < B; r++) {
      const from = rows[r] * D;
      const to = r * D;
      for (let p = 0; p < D; p++) batch[to + p] = scale[bytes[from + p]];
    }
  });
  const source = { x: floats, y: new Float32Array(N).map((_, i) => i % 10), inputDim: D, targetDim: 1 };
  const spec = parseModelSpec('mlp:3072-128-10');
  const model = new Model(spec, { kernels: await loadKernels('wasm') });
  const params = initParams(spec, 0) as Float32Array;
  const grad = new Float32Array(params.length);
  const stepMs = time(() => void model.accumulateGradient(params, source, rows, grad));
  console.log(JSON.stringify({ batch: B, gatherFloat32Ms: +copyMs.toFixed(3), gatherUint8ConvertMs: +convertMs.toFixed(3), gradientMlp3072Ms: +stepMs.toFixed(3), load: os.loadavg().map((l) => +l.toFixed(1)) }));
}

const mode = process.argv[2];
if (mode === 'plain' || mode === 'shared') {
  await memoryMode(mode);
} else {
  const self = fileURLToPath(import.meta.url);
  // Interleaved, three rounds, each mode in a fresh process.
  for (let round = 0; round < 3; round++) {
    for (const m of ['plain', 'shared']) process.stdout.write(execFileSync(process.execPath, [self, m], { encoding: 'utf8' }));
  }
  await gatherCost();
}
