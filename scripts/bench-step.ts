/**
 * `node dist/scripts/bench-step.js`: the fixed cost of a step at small batches (issue 15, W5:
 * mlp:784-128-10, plain SGD). Per round, interleaved: the inline engine, 1 and 2 worker threads
 * stepped directly (measureEngine), then the whole training loop (`train()`, inline engine, no
 * validation, no output directory) for about the same time; steps/s and the step's time split.
 * The loop's own cost per step is the difference between the loop and the bare inline engine.
 * Options (defaults in brackets): --rounds N [3] --seconds S [3] --batch B [1] --kernels K [auto]
 * --model M [mlp:784-128-10].
 */
import os from 'node:os';
import type { KernelsChoice } from '../src/kernels/index.js';
import { train } from '../src/train/index.js';
import { fmt, machineLine, measureEngine, median, peerDataset, scriptFlags } from './bench-common.js';

const flags = scriptFlags(process.argv.slice(2), { rounds: '3', seconds: '3', batch: '1', kernels: 'auto', model: 'mlp:784-128-10' });
const rounds = Number(flags.rounds);
const seconds = Number(flags.seconds);
const batchSize = Number(flags.batch);
const workload = { model: flags.model, batchSize };
// The PyTorch peer's data: plain SGD at lr 0.1 and B = 1 diverges on the benchmark blobs.
const data = peerDataset();
const o = { kernels: flags.kernels as KernelsChoice, seconds, warmupSteps: batchSize === 1 ? 500 : 20, data };
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

const columns = ['inline', 'threads x1', 'threads x2', 'train() loop, inline'] as const;
const results: Record<string, number[]> = Object.fromEntries(columns.map((c) => [c, []]));

console.log(machineLine());
console.log(`${flags.model}, batch ${batchSize}, plain SGD lr 0.1, kernels ${flags.kernels}; steps/s`);
for (let r = 1; r <= rounds; r++) {
  const loadAtStart = load();
  const inline = await measureEngine(workload, { kind: 'inline', workers: 1 }, o);
  const one = await measureEngine(workload, { kind: 'threads', workers: 1 }, o);
  const two = await measureEngine(workload, { kind: 'threads', workers: 2 }, o);
  const steps = Math.max(1000, Math.round((inline.samplesPerSec / batchSize) * seconds));
  const loop = await train(
    { model: flags.model, batchSize, lr: 0.1, momentum: 0, engine: 'inline', kernels: flags.kernels as KernelsChoice, valSplit: 0, maxSteps: steps, seed: 0 },
    { data },
  );
  const row = [inline.samplesPerSec, one.samplesPerSec, two.samplesPerSec, loop.summary.samplesPerSec].map((sps) => sps / batchSize);
  row.forEach((v, i) => results[columns[i]].push(v));
  const share = (t: typeof inline.timing) => `${(t.share.compute * 100).toFixed(0)}/${(t.share.update * 100).toFixed(0)}/${(t.share.idle * 100).toFixed(0)} %`;
  console.log(
    `round ${r} (load ${loadAtStart}): ${columns.map((c, i) => `${c} ${fmt(row[i])}`).join(', ')}; compute/update/idle inline ${share(inline.timing)}, x1 ${share(one.timing)}, x2 ${share(two.timing)}, loop ${share(loop.summary.timing)}`,
  );
}
const m = (c: (typeof columns)[number]) => median(results[c]);
console.log(`\nmedians of ${rounds} rounds (load at the end ${load()}): ${columns.map((c) => `${c} ${fmt(m(c))}`).join(', ')}`);
console.log(`loop cost per step: ${((1 / m('train() loop, inline') - 1 / m('inline')) * 1e6).toFixed(1)} µs (loop ${((1e6 / m('train() loop, inline'))).toFixed(1)} µs vs bare engine ${(1e6 / m('inline')).toFixed(1)} µs)`);
