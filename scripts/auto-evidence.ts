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
 *   --variants a,b,c   which to run (default all); --engine, --workers as for train, and
 *                      --engine ws: `dptrain coordinator` on 127.0.0.1 with --workers
 *                      `dptrain worker --threads 1` processes per run, ended by SIGINT (as Ctrl-C)
 *                      at the first validation that meets the target
 *   --extra JSON       more train() options for every variant (e.g. '{"standardize":true}')
 *   --eval-samples N   samples between validations (default 256; raise it on a large training
 *                      split, where a validation every 256 samples would dominate the wall time)
 *   --warmup-steps N   steps of each variant run first, not measured (default 200): the first
 *                      run in a fresh process pays for compiling the training loop
 * Ctrl-C stops the run in progress as dptrain's Ctrl-C does (its outputs written) and prints the
 * table of the runs that finished (exit 130).
 * Writes OUT/<variant>-seed<S>/ run directories and OUT/evidence.json; prints a markdown table,
 * with, for auto, the median over its choices of the speed-up its own model expected over B0
 * (the adapt records' `overBase`): what (c)/(a) would be if the model were right and the probe free.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { train, type TrainConfig } from '../src/train/index.js';

/** The repository (this file runs as dist/scripts/auto-evidence.js). */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

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
/** Whether a validation (an eval or epoch record) meets the target. */
const meetsTarget = (record: { valLoss: number | null; valAccuracy: number | null }) => {
  const value = metricOf[targetKey](record);
  return value !== null && better(value);
};

/**
 * Ctrl-C: the run in progress stops as dptrain's own Ctrl-C stops one (summary.json and
 * final.safetensors written), the finished runs are reported, and the script exits 130. ws runs are
 * in their own process group, so the terminal's Ctrl-C reaches them once, from here, not twice.
 */
const interrupt = new AbortController();
process.once('SIGINT', () => {
  console.error('SIGINT: stopping the run in progress; the table covers the runs that finished');
  interrupt.abort();
});

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
  /** Auto only: the median over its choices of goodput(B)/goodput(B0), the speed-up its model expected over B0. */
  overBase: number | null;
}

/** The complete records of a run's metrics.jsonl (none before it exists; a line being written is left out). */
function readRecords(dir: string): MetricsRecord[] {
  const file = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l) as MetricsRecord);
}

/** The fields of metrics.jsonl's step, eval, epoch and adapt records (docs/formats.md) read here. */
interface MetricsRecord {
  type: string;
  step: number;
  ms: number;
  samples: number;
  batchSize: number;
  valLoss: number | null;
  valAccuracy: number | null;
  efficiency?: number | null;
  overBase?: number | null;
}

/**
 * The sample-weighted mean of the model's E(B) = (φ + B0)/(φ + B) over the first `steps` steps of
 * a run, each step at the efficiency of the last choice before it: the fraction of (c)'s samples
 * per sample that the model expected. Steps whose choice had no φ are left out; null if none is left.
 */
function modelEfficiency(dir: string, steps: number): number | null {
  let efficiency: number | null = null;
  let seen = 0;
  let weighted = 0;
  let samples = 0;
  for (const r of readRecords(dir)) {
    if (seen >= steps) break;
    if (r.type === 'adapt') efficiency = r.efficiency ?? null;
    if (r.type !== 'step') continue;
    seen += 1;
    if (efficiency === null) continue;
    weighted += r.batchSize * efficiency;
    samples += r.batchSize;
  }
  return samples > 0 ? weighted / samples : null;
}

/** The median `overBase` of a run's adapt records (null for a fixed batch size or before any fit). */
function modelSpeedUp(dir: string): number | null {
  const values = readRecords(dir).flatMap((r) => (r.type === 'adapt' && typeof r.overBase === 'number' ? [r.overBase] : []));
  return values.length > 0 ? median(values) : null;
}

/** --engine ws: the run as `dptrain coordinator` on 127.0.0.1 and `workers` `dptrain worker --threads 1` processes. */
async function runOneWs(variant: string, seed: number): Promise<Outcome> {
  const dir = path.join(out, `${variant}-seed${seed}`);
  const setup = setups[variant];
  const flags = ['--dataset', dataset, '--model', model, '--seed', String(seed), '--epochs', String(maxEpochs), '--out', dir, '--overwrite', '--batch-size', String(setup.batchSize), '--eval-every', String(setup.evalEvery), '--log-every', '1'];
  if (setup.lr !== undefined) flags.push('--lr', String(setup.lr));
  const started = performance.now();
  const coordinator = spawnDptrain(['coordinator', '--listen', '127.0.0.1:0', '--min-workers', String(workers), '--log-format', 'json', ...flags]);
  const url = await listeningAt(coordinator);
  const peers = Array.from({ length: workers }, (_, k) => spawnDptrain(['worker', '--connect', url, '--threads', '1', '--name', `w${k + 1}`, '--log-format', 'json']));
  for (const peer of peers) peer.stderr!.resume();
  // Follow metrics.jsonl and end the run with Ctrl-C's signal once a validation meets the target.
  const tail = new MetricsTail(path.join(dir, 'metrics.jsonl'));
  let wall = 0;
  const ended = new Promise((resolve) => coordinator.once('exit', resolve));
  const stop = () => coordinator.kill('SIGINT');
  interrupt.signal.addEventListener('abort', stop, { once: true });
  while (coordinator.exitCode === null && coordinator.signalCode === null) {
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 200))]);
    tail.read();
    if (tail.crossed && !wall) {
      wall = (performance.now() - started) / 1000;
      coordinator.kill('SIGINT');
    }
  }
  interrupt.signal.removeEventListener('abort', stop);
  await Promise.all(peers.map((p) => (p.exitCode === null ? new Promise((resolve) => p.once('exit', resolve)) : null)));
  tail.read();
  const crossed = tail.crossed;
  const totals = crossed ?? tail.totals;
  return { variant, seed, reached: crossed !== null, seconds: totals.ms / 1000, steps: totals.steps, samples: totals.samples, wallSeconds: wall || (performance.now() - started) / 1000, finalBatchSize: totals.batchSize, load: os.loadavg()[0], overBase: modelSpeedUp(dir) };
}

function spawnDptrain(args: string[]): ChildProcess {
  // The log goes to stderr (read by listeningAt for the coordinator); nothing needs stdout.
  return spawn(process.execPath, [path.join(repoRoot, 'bin', 'dptrain.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
}

/** The coordinator's URL from its "coordinator at ws://…" log line. */
function listeningAt(coordinator: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: coordinator.stderr! });
    lines.on('line', (line) => {
      const url = /coordinator at (ws:\/\/[^/\s]+\/)/.exec(line)?.[1];
      if (url) resolve(url);
    });
    coordinator.once('exit', (code) => reject(new Error(`the coordinator ended (exit ${code}) before it listened`)));
  });
}

interface StepTotals {
  ms: number;
  steps: number;
  samples: number;
  batchSize: number;
}

/**
 * metrics.jsonl of a run in progress, read from where the last read ended: the step totals so far
 * and, once a validation meets the target, the totals up to it. Needs every step's record
 * (--log-every 1): a missing step would leave its time out of the total, so it throws.
 */
class MetricsTail {
  readonly totals: StepTotals = { ms: 0, steps: 0, samples: 0, batchSize: 0 };
  crossed: StepTotals | null = null;
  #offset = 0;
  #partial = '';

  constructor(readonly file: string) {}

  read(): void {
    if (!fs.existsSync(this.file)) return;
    const fd = fs.openSync(this.file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= this.#offset) return;
      const bytes = Buffer.alloc(size - this.#offset);
      fs.readSync(fd, bytes, 0, bytes.length, this.#offset);
      this.#offset = size;
      const lines = (this.#partial + bytes.toString('utf8')).split('\n');
      this.#partial = lines.pop()!;
      for (const line of lines) if (line.endsWith('}')) this.#add(JSON.parse(line) as MetricsRecord);
    } finally {
      fs.closeSync(fd);
    }
  }

  #add(r: MetricsRecord): void {
    if (this.crossed) return;
    if (r.type === 'step') {
      if (r.step !== this.totals.steps) throw new Error(`${this.file}: step record ${r.step} follows ${this.totals.steps} steps (run with --log-every 1)`);
      this.totals.ms += r.ms;
      this.totals.steps += 1;
      this.totals.samples = r.samples;
      this.totals.batchSize = r.batchSize;
    } else if ((r.type === 'eval' || r.type === 'epoch') && meetsTarget(r)) this.crossed = { ...this.totals };
  }
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
    if (!reached && meetsTarget(record)) {
      reached = true;
      wall = (performance.now() - started) / 1000;
      stop();
    }
  };
  await train(
    { dataset, model, engine, workers, seed, epochs: maxEpochs, out: dir, overwrite: true, ...extra, ...setups[variant] },
    {
      signal: interrupt.signal,
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
  return { variant, seed, reached, seconds: trainMs / 1000, steps, samples, wallSeconds: reached ? wall : (performance.now() - started) / 1000, finalBatchSize: batch, load: os.loadavg()[0], overBase: modelSpeedUp(dir) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

fs.mkdirSync(out, { recursive: true });
// Warm-up, not measured: the first run in a fresh process pays for compiling the loop (its steps
// were 1.5-2x slower in the first seed at load ~3), and without this it was always variant (a).
if (engine === 'ws' && Object.keys(extra).length > 0) throw new Error('--extra is for the in-process engines; --engine ws passes only the flags this script sets');
// ws runs are fresh processes each, so every variant pays the same start-up: no warm-up.
for (const variant of engine === 'ws' ? [] : variants) {
  if (interrupt.signal.aborted) break;
  await train({ dataset, model, engine, workers, seed: 0, epochs: maxEpochs, maxSteps: warmupSteps, out: path.join(out, `warmup-${variant}`), overwrite: true, ...extra, ...setups[variant] }, { signal: interrupt.signal });
}
const outcomes: Outcome[] = [];
runs: for (let seed = 0; seed < seeds; seed++) {
  for (const variant of variants) {
    if (interrupt.signal.aborted) break runs;
    const o = engine === 'ws' ? await runOneWs(variant, seed) : await runOne(variant, seed);
    // An interrupted run did not miss the target: it is left out (its directory keeps its outputs).
    if (interrupt.signal.aborted && !o.reached) break runs;
    outcomes.push(o);
    console.error(`${variant} seed ${seed}: ${o.reached ? `${o.seconds.toFixed(2)} s, ${o.steps} steps, ${o.samples} samples` : 'not reached'} (wall ${o.wallSeconds.toFixed(1)} s, last B ${o.finalBatchSize}${o.overBase === null ? '' : `, model's speed-up over B0 ${o.overBase.toFixed(2)}x`}, load ${o.load.toFixed(2)})`);
    fs.writeFileSync(path.join(out, 'evidence.json'), JSON.stringify({ dataset, model, target: `${targetKey}=${target}`, best: { batchSize: bestBatch, lr: bestLr }, evalSamples, engine, workers, extra, outcomes }, null, 2));
  }
}
const names: Record<string, string> = { a: '(a) auto, default lr', b: `(b) best fixed: B = ${bestBatch}, lr ${bestLr}`, c: '(c) B = 64, lr 0.05' };
console.log(`| variant | reached | median s to target | per seed (s) | median steps | median samples | model's speed-up over B0 (per seed) |`);
console.log(`|---|---:|---:|---|---:|---:|---|`);
const med: Record<string, number> = {};
for (const v of variants.filter((x) => outcomes.some((o) => o.variant === x))) {
  const rs = outcomes.filter((o) => o.variant === v);
  const ok = rs.filter((o) => o.reached);
  // A seed that missed counts as slowest (as the sweep does).
  med[v] = median(rs.map((o) => (o.reached ? o.seconds : Infinity)));
  const speedUps = rs.map((o) => (o.overBase === null ? '—' : `${o.overBase.toFixed(2)}x`)).join(', ');
  console.log(`| ${names[v]} | ${ok.length}/${rs.length} | ${med[v].toFixed(2)} | ${rs.map((o) => (o.reached ? o.seconds.toFixed(2) : '—')).join(', ')} | ${median(rs.map((o) => o.steps))} | ${median(rs.map((o) => o.samples))} | ${v === 'a' ? speedUps : ''} |`);
}
// A median of Infinity (most seeds missed the target) makes a ratio meaningless: say so instead.
const ratio = (x: string, y: string) => {
  const missed = [x, y].filter((v) => med[v] === Infinity).map((v) => `(${v})`);
  return missed.length > 0 ? `— (${missed.join(' and ')} missed the target in most seeds)` : (med[x] / med[y]).toFixed(2);
};
const ratios = [med.a && med.b ? `(a)/(b) = ${ratio('a', 'b')}` : '', med.a && med.c ? `(c)/(a) = ${ratio('c', 'a')}` : ''].filter(Boolean);
console.log(`\n${ratios.map((r) => `${r}; `).join('')}load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`);
if (variants.includes('a') && variants.includes('c')) explainSpeedUp();
if (interrupt.signal.aborted) process.exitCode = 130;

/**
 * Where auto's speed-up over (c) came from, per seed that both reached: (c)/(a) = (a)'s samples
 * per second over (c)'s × (c)'s samples to target over (a)'s (the efficiency realized), beside
 * what the model expected: `overBase`, and the mean E(B) over (a)'s steps.
 */
function explainSpeedUp(): void {
  console.log(`\n| seed | (c)/(a) | samples/s, (a) over (c) | efficiency realized: (c)'s samples / (a)'s | model's mean E(B) | model's speed-up over B0 |`);
  console.log(`|---:|---:|---:|---:|---:|---:|`);
  for (let seed = 0; seed < seeds; seed++) {
    const a = outcomes.find((o) => o.variant === 'a' && o.seed === seed);
    const c = outcomes.find((o) => o.variant === 'c' && o.seed === seed);
    if (!a?.reached || !c?.reached) continue;
    const e = modelEfficiency(path.join(out, `a-seed${seed}`), a.steps);
    const throughput = a.samples / a.seconds / (c.samples / c.seconds);
    console.log(`| ${seed} | ${(c.seconds / a.seconds).toFixed(2)} | ${throughput.toFixed(2)} | ${(c.samples / a.samples).toFixed(2)} | ${e === null ? '—' : e.toFixed(2)} | ${a.overBase === null ? '—' : `${a.overBase.toFixed(2)}x`} |`);
  }
}
