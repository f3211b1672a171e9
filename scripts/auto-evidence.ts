/**
 * The evidence for `--batch-size auto` (docs/batch-size.md, "Choosing the batch size while
 * training"): wall-clock training time to a target for
 *   (a) --batch-size auto with the default learning rate (0.05 at B0 = 64, AdaScale gain),
 *   (b) the best fixed batch size and rate found by `dptrain sweep --lr-rule tuned` (given here),
 *   (c) the default fixed batch size 64 with the default rate 0.05,
 * over several seeds, the three variants interleaved per seed so that they share the machine's
 * load. Time to target is the steps' wall time up to the first validation that meets the target
 * (validation left out, as the sweep's seconds_to_target); validations come every ~EVAL samples
 * (--eval-samples, default 256: every max(1, EVAL/B) steps at a fixed B; auto, whose B varies,
 * every max(1, EVAL/128) steps, i.e. every EVAL samples at B = 128 and fewer validations per
 * sample above it, which can only delay its measured crossing).
 *
 * Run: `npm run build && node dist/scripts/auto-evidence.js --dataset mnist --model mlp:784-128-10 \
 *        --target val_acc=0.97 --best 256:0.255 --seeds 3 --max-epochs 60 --out /tmp/evidence`
 *   --variants a,b,c   which to run (default all); --engine, --workers as for train
 *   --extra JSON       more train() options for every variant (e.g. '{"standardize":true}')
 *   --eval-samples N   samples between validations (default 256; raise it on a large training
 *                      split, where a validation every 256 samples would dominate the wall time)
 *   --warmup-steps N   steps of each variant run first, not measured (default 200): the first
 *                      run in a fresh process pays for compiling the training loop
 * Writes OUT/<variant>-seed<S>/ run directories and OUT/evidence.json; prints a markdown table.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { train, type TrainConfig } from '../src/train/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const dataset = arg('--dataset', 'mnist');
const model = arg('--model', 'mlp:784-128-10');
const [targetKey, targetText] = arg('--target', 'val_acc=0.97').split('=');
const target = Number(targetText);
const [bestBatch, bestLr] = arg('--best', '256:0.255').split(':').map(Number);
const seeds = Number(arg('--seeds', '3'));
const maxEpochs = Number(arg('--max-epochs', '60'));
const out = arg('--out', '/tmp/auto-evidence');
const engine = arg('--engine', 'threads') as TrainConfig['engine'];
const workers = Number(arg('--workers', '2'));
const variants = arg('--variants', 'a,b,c').split(',');
const extra = JSON.parse(arg('--extra', '{}')) as Partial<TrainConfig>;
const evalSamples = Number(arg('--eval-samples', '256'));
const warmupSteps = Number(arg('--warmup-steps', '200'));

const metricOf: Record<string, (r: { valLoss: number | null; valAccuracy: number | null; trainLoss?: number }) => number | null> = {
  val_acc: (r) => r.valAccuracy,
  val_loss: (r) => r.valLoss,
};
const better = targetKey.endsWith('acc') ? (v: number) => v >= target : (v: number) => v <= target;

const setups: Record<string, Partial<TrainConfig>> = {
  a: { batchSize: 'auto', evalEvery: Math.max(1, Math.round(evalSamples / 128)) },
  b: { batchSize: bestBatch, lr: bestLr, evalEvery: Math.max(1, Math.ceil(evalSamples / bestBatch)) },
  c: { batchSize: 64, lr: 0.05, evalEvery: Math.max(1, Math.ceil(evalSamples / 64)) },
};

interface Outcome {
  variant: string;
  seed: number;
  reached: boolean;
  /** Steps' wall time up to the target (validation excluded), s. */
  seconds: number;
  steps: number;
  samples: number;
  /** From the run's start to the target, validations and start-up included. */
  wallSeconds: number;
  finalBatchSize: number;
  load: number;
}

async function runOne(variant: string, seed: number): Promise<Outcome> {
  const dir = path.join(out, `${variant}-seed${seed}`);
  let trainMs = 0;
  let steps = 0;
  let samples = 0;
  let batch = 0;
  let reached = false;
  const started = performance.now();
  let wall = 0;
  const check = (record: { valLoss: number | null; valAccuracy: number | null }, stop: () => void) => {
    const value = metricOf[targetKey](record);
    if (!reached && value !== null && better(value)) {
      reached = true;
      wall = (performance.now() - started) / 1000;
      stop();
    }
  };
  await train(
    { dataset, model, engine, workers, seed, epochs: maxEpochs, out: dir, overwrite: true, ...extra, ...setups[variant] },
    {
      callbacks: [
        {
          onStep: (r) => {
            if (reached) return;
            trainMs += r.ms;
            steps += 1;
            samples = r.samples;
            batch = r.batchSize;
          },
          onEval: (r, control) => check(r, () => control.stop('target')),
          onEpochEnd: (r, control) => check(r, () => control.stop('target')),
        },
      ],
    },
  );
  return { variant, seed, reached, seconds: trainMs / 1000, steps, samples, wallSeconds: reached ? wall : (performance.now() - started) / 1000, finalBatchSize: batch, load: os.loadavg()[0] };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

fs.mkdirSync(out, { recursive: true });
// Warm-up, not measured: the first run in a fresh process pays for compiling the loop (its steps
// were 1.5-2x slower in the first seed at load ~3), and without this it was always variant (a).
for (const variant of variants) {
  await train({ dataset, model, engine, workers, seed: 0, epochs: maxEpochs, maxSteps: warmupSteps, out: path.join(out, `warmup-${variant}`), overwrite: true, ...extra, ...setups[variant] });
}
const outcomes: Outcome[] = [];
for (let seed = 0; seed < seeds; seed++) {
  for (const variant of variants) {
    const o = await runOne(variant, seed);
    outcomes.push(o);
    console.error(`${variant} seed ${seed}: ${o.reached ? `${o.seconds.toFixed(2)} s, ${o.steps} steps, ${o.samples} samples` : 'not reached'} (wall ${o.wallSeconds.toFixed(1)} s, last B ${o.finalBatchSize}, load ${o.load.toFixed(2)})`);
    fs.writeFileSync(path.join(out, 'evidence.json'), JSON.stringify({ dataset, model, target: `${targetKey}=${target}`, best: { batchSize: bestBatch, lr: bestLr }, evalSamples, engine, workers, extra, outcomes }, null, 2));
  }
}
const names: Record<string, string> = { a: '(a) auto, default lr', b: `(b) best fixed: B = ${bestBatch}, lr ${bestLr}`, c: '(c) B = 64, lr 0.05' };
console.log(`| variant | reached | median s to target | per seed (s) | median steps | median samples |`);
console.log(`|---|---:|---:|---|---:|---:|`);
const med: Record<string, number> = {};
for (const v of variants) {
  const rs = outcomes.filter((o) => o.variant === v);
  const ok = rs.filter((o) => o.reached);
  // A seed that missed counts as slowest (as the sweep does).
  med[v] = median(rs.map((o) => (o.reached ? o.seconds : Infinity)));
  console.log(`| ${names[v]} | ${ok.length}/${rs.length} | ${med[v].toFixed(2)} | ${rs.map((o) => (o.reached ? o.seconds.toFixed(2) : '—')).join(', ')} | ${median(rs.map((o) => o.steps))} | ${median(rs.map((o) => o.samples))} |`);
}
if (med.a && med.b) console.log(`\n(a)/(b) = ${(med.a / med.b).toFixed(2)}; (c)/(a) = ${(med.c / med.a).toFixed(2)}; load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`);
