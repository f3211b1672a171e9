/**
 * The docs' BatchNorm table (docs/models.md#batchnorm, docs/batch-size.md): validation accuracy and
 * loss after k epochs of a small BatchNorm CNN on the bundled mnist digits, for --batchnorm sync,
 * local and ghost:G at 1, 2 and 4 worker threads. Prints a markdown table and the load average.
 *
 * usage: node dist/scripts/bn-table.js [epochs=2] [batch=64] [ghost=8]
 */
import os from 'node:os';
import { train } from '../src/index.js';

const epochs = Number(process.argv[2] ?? 2);
const batchSize = Number(process.argv[3] ?? 64);
const ghost = Number(process.argv[4] ?? 8);
const model = 'cnn:1x28x28 conv8k3p1 bn relu maxpool2 conv16k3p1 bn relu maxpool2 flatten dense10';
const modes = ['sync', 'local', `ghost:${ghost}`];
const workerCounts = [1, 2, 4];

console.log(`${model}, batch ${batchSize}, ${epochs} epochs, SGD lr 0.05 momentum 0.9, seed 0, wasm kernels, threads engine`);
console.log('| --batchnorm | W | samples per BatchNorm batch | val accuracy | val loss | s |');
console.log('|---|---:|---:|---:|---:|---:|');
const loads: number[] = [];
for (const mode of modes) {
  for (const workers of workerCounts) {
    loads.push(os.loadavg()[0]);
    const started = performance.now();
    const r = await train({ dataset: 'mnist', model, batchSize, epochs, lr: 0.05, momentum: 0.9, seed: 0, engine: 'threads', workers, kernels: 'wasm', batchnorm: mode });
    const per = mode === 'sync' ? batchSize : mode === 'local' ? batchSize / workers : ghost;
    const f = r.summary.final;
    console.log(`| ${mode} | ${workers} | ${per} | ${((f.valAccuracy ?? 0) * 100).toFixed(2)} % | ${(f.valLoss ?? NaN).toFixed(4)} | ${((performance.now() - started) / 1000).toFixed(0)} |`);
  }
}
console.log(`load average (1 min) at the runs' starts: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${os.availableParallelism()} cores`);
