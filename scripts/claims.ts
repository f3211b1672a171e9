/**
 * Checks common claims about batch size with dptrain's own measurements, for docs/batch-size.md:
 *   1. smaller batches make more updates per epoch (ceil(N/B));
 *   2. their gradient estimate is less accurate: |G_B − G|² vs B at fixed parameters, slope −1 on
 *      log-log axes, 0 at full batch (finite-population correction);
 *   3. smaller batches need less memory: the model's activation workspace for one batch of B rows
 *      (ArrayBuffer bytes allocated by a fresh Model), capped by the micro-batch size.
 * Run: `npx tsc -p . && node --expose-gc dist/scripts/claims.js [--dataset mnist] [--model mlp:784-128-10]`
 * (--expose-gc lets the memory figures start from a collected heap).
 * Prints Markdown tables. Progress per epoch and speed per second come from a sweep's report.
 */
import { loadDataset, splitDataset } from '../src/data/index.js';
import { initParams, Model, parseModelSpec } from '../src/model/index.js';
import { batchGradientError, exactGradientStats } from '../src/study/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const datasetSpec = arg('--dataset', 'mnist');
const modelSpec = arg('--model', 'mlp:784-128-10');
const trials = Number(arg('--trials', '30'));
const data = splitDataset(await loadDataset(datasetSpec), 0.1, 0).train;
const spec = parseModelSpec(modelSpec);
const params = initParams(spec, 0) as Float32Array;
const N = data.n;
const sizes = [1, 4, 16, 64, 256, 1024, N];

console.log(`# Batch-size claims on ${datasetSpec} (${N} training samples), ${spec.text} at its seed-0 initial parameters\n`);

// 1. Updates per epoch.
console.log('## Updates per epoch\n\n| B | steps per epoch |\n|---:|---:|');
for (const B of sizes) console.log(`| ${B === N ? `full (${N})` : B} | ${Math.ceil(N / B).toLocaleString('en-US')} |`);

// 2. Gradient error against the full-batch gradient.
const model = new Model(spec);
const exact = exactGradientStats(model, params, data);
const errors = batchGradientError(model, params, data, sizes, { trials, seed: 0, exact });
console.log(`\n## Error of the mini-batch gradient (|G|² = ${exact.gradSq.toPrecision(4)}, tr Σ = ${exact.trSigma.toPrecision(4)}, B_simple = ${(exact.trSigma / exact.gradSq).toPrecision(4)})\n`);
console.log(`| B | mean |G_B − G|² over ${trials} batches | predicted (tr Σ/B)(N−B)/(N−1) | local slope (log-log) |\n|---:|---:|---:|---:|`);
errors.forEach((e, i) => {
  const prev = errors[i - 1];
  const slope = prev && e.meanSqError > 0 ? Math.log(e.meanSqError / prev.meanSqError) / Math.log(e.batchSize / prev.batchSize) : null;
  console.log(`| ${e.batchSize === N ? `full (${N})` : e.batchSize} | ${e.meanSqError.toPrecision(4)} ± ${e.standardError.toPrecision(2)} | ${e.predicted.toPrecision(4)} | ${slope === null ? '' : slope.toFixed(2)} |`);
});

// 3. Memory: ArrayBuffer bytes a fresh Model allocates for one batch of B rows.
console.log('\n## Activation memory of one batch (fresh Model, default micro-batch cap 4096 rows)\n\n| B | workspace bytes | per sample |\n|---:|---:|---:|');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.log('(run node with --expose-gc: without it garbage collection can disturb these figures)\n');
const keep: Model[] = [];
for (const B of sizes) {
  const fresh = new Model(spec);
  keep.push(fresh); // nothing measured here is freed during the loop
  const grad = new Float32Array(fresh.numParams);
  const rows = Uint32Array.from({ length: B }, (_, i) => i);
  gc?.();
  const before = process.memoryUsage().arrayBuffers;
  fresh.accumulateGradient(params, data, rows, grad);
  const bytes = process.memoryUsage().arrayBuffers - before;
  console.log(`| ${B === N ? `full (${N})` : B} | ${bytes.toLocaleString('en-US')} | ${Math.round(bytes / B).toLocaleString('en-US')} |`);
}
