/**
 * dptrain against PyTorch DDP across an emulated LAN (issue 20; docs/benchmarks.md, "Across a LAN").
 *
 * In the namespace lab (cluster/lab up n+1 --delay D --rate R; docs/cluster.md §4), interleaved
 * round by round: dptrain (the coordinator in h1 beside worker 1, or in a host of its own with
 * --coordinator h0; one `dptrain worker --threads 1` in each of h1..hn; the ring all-reduce) with
 * and without overlap, with --compress bf16 and with --coordinator-replica on-demand (also with
 * bf16), and PyTorch DDP with gloo (one rank with
 * one thread in each of h1..hn, MASTER_ADDR = h1, GLOO_SOCKET_IFNAME = eth0; scripts/lan-ddp-peer.py)
 * without and with its fp16 compression hook. Same MLP, global batch, plain SGD lr 0.1, synthetic
 * 784-feature data. Prints one markdown table per (rate, n): samples/s, the step split (compute,
 * exposed communication, the rest) and the overlap achieved (hidden / total communication).
 * Samples/s is measured alike on both sides, as the peer measures its own: the median of 3 windows'
 * mean step time, 20 steps each, after the warm-up; the mean over all those steps beside it.
 *
 *   npm run build && node dist/scripts/bench-lan.js [--rounds 3] [--workloads W2,W1] [--rates 1gbit,100mbit] [--workers 2,3] [--coordinator h1|h0]
 *
 * Needs root (CAP_NET_ADMIN) for the lab and /usr/bin/python3 with torch; says why and exits 2 otherwise.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DATASET, WORKLOADS, badFlagValue, fmt, machineLine, median, scriptFlags } from './bench-common.js';

const script = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(script), '..', '..');
const labScript = path.join(repo, 'cluster', 'lab');
const dptrain = path.join(repo, 'bin', 'dptrain.js');
const peer = path.join(repo, 'scripts', 'lan-ddp-peer.py');
const PYTHON = '/usr/bin/python3';
const labEnv = { ...process.env, DPTRAIN_LAB_PREFIX: `dpl${process.pid % 100000}`, DPTRAIN_LAB_OWNER: String(process.pid) };
const ip = (host: number) => `10.77.0.${host + 1}`;
let port = 7100;

interface Sample {
  /** Samples/s as the peer measures it: the global batch over the median of the timed windows' mean step time. */
  sps: number;
  /** Samples/s over every timed step (their mean step time). */
  spsMean: number;
  stepMs: number;
  computeMs: number;
  exposedMs: number;
  commMs: number;
  /** hidden / total communication, 0..1. */
  overlap: number;
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

function lab(args: string[]): string {
  const r = spawnSync(labScript, args, { env: labEnv, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`cluster/lab ${args.join(' ')} failed: ${(r.stdout ?? '') + (r.stderr ?? '')}`);
  return r.stdout;
}

/** Runs CMD in lab host h`host`; resolves with its stdout once it exits 0. */
function inHost(host: number, command: string[], label: string, timeoutMs = 600_000): { done: Promise<string>; kill(): void; stderr(): string } {
  const child = spawn(labScript, ['run', `h${host}`, '--', ...command], { env: labEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
  const done = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label}: no end within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${label} exited ${code}: ${err.slice(-3000)}`));
    });
  });
  done.catch(() => {}); // awaited by the caller; a failure before that must not crash the script
  return { done, kill: () => child.kill('SIGTERM'), stderr: () => err };
}

/**
 * Samples/s from a run's timed step times (ms), as the DDP peer measures its own: the windows'
 * mean step times, then their median (sps) and the mean over every step (spsMean).
 */
function throughput(ms: number[], batch: number, windowSteps: number): { sps: number; spsMean: number } {
  const windows: number[] = [];
  for (let i = 0; i + windowSteps <= ms.length; i += windowSteps) windows.push(ms.slice(i, i + windowSteps).reduce((a, b) => a + b, 0) / windowSteps);
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  return { sps: (1000 * batch) / median(windows), spsMean: (1000 * batch) / mean };
}

/** A dptrain variant's coordinator flags. */
interface DptrainRun {
  compress: 'none' | 'bf16';
  overlap: boolean;
  replica: 'full' | 'on-demand';
}

function dptrainRun(variant: string): DptrainRun {
  return {
    compress: variant.includes('bf16') ? 'bf16' : 'none',
    overlap: !variant.endsWith('no-overlap'),
    replica: variant.startsWith('dptrain-on-demand') ? 'on-demand' : 'full',
  };
}

async function runDptrain(w: (typeof WORKLOADS)[number], n: number, { compress, overlap, replica }: DptrainRun, flags: Flags, dir: string, token: string): Promise<Sample> {
  const out = path.join(dir, `${w.name}-${n}-${compress}-${replica}-${port}`);
  const p = port++;
  const steps = Number(flags.warmup) + Number(flags.windows) * Number(flags['window-steps']);
  const warmup = Number(flags.warmup);
  const extra = flags['bucket-mb'] ? ['--bucket-mb', flags['bucket-mb']] : [];
  const home = Number(flags.coordinator.slice(1));
  const coordinator = inHost(home, [process.execPath, dptrain, 'coordinator', '--listen', `${ip(home)}:${p}`, '--token-file', token, '--min-workers', String(n), '--allreduce', 'ring', '--compress', compress, '--overlap', overlap ? 'on' : 'off', '--coordinator-replica', replica, ...extra,
    '--dataset', BENCH_DATASET, '--model', w.model, '--batch-size', String(w.batchSize), '--lr', '0.1', '--momentum', '0', '--max-steps', String(steps), '--val-split', '0', '--out', out, '--log-format', 'json'], `${w.name} dptrain coordinator`);
  // Workers start once the coordinator listens (it loads the dataset first).
  for (const started = Date.now(); !/coordinator at ws:\/\//.test(coordinator.stderr()); ) {
    if (Date.now() - started > 120_000) throw new Error(`the coordinator did not listen within 120 s: ${coordinator.stderr().slice(-2000)}`);
    await Promise.race([coordinator.done, new Promise((resolve) => setTimeout(resolve, 200))]);
  }
  const workers = Array.from({ length: n }, (_, k) =>
    inHost(k + 1, [process.execPath, dptrain, 'worker', '--connect', `${ip(home)}:${p}`, '--token-file', token, '--threads', '1', '--name', `h${k + 1}`, '--log-format', 'json'], `${w.name} dptrain worker h${k + 1}`),
  );
  try {
    await coordinator.done;
    await Promise.all(workers.map((x) => x.done));
  } finally {
    for (const x of [coordinator, ...workers]) x.kill();
  }
  const records = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.startsWith('{"type":"step"')).map((l) => JSON.parse(l)).slice(warmup);
  fs.rmSync(out, { recursive: true, force: true });
  let comm = 0;
  let hidden = 0;
  for (const r of records) for (const b of r.timing.buckets ?? []) (comm += b.commMs), (hidden += b.hiddenMs);
  const ms = records.map((r: { ms: number }) => r.ms);
  const batch = records[0].batchSize as number;
  return {
    ...throughput(ms, batch, Number(flags['window-steps'])),
    stepMs: median(ms),
    computeMs: median(records.map((r: { timing: { computeMs: number[] } }) => Math.max(...r.timing.computeMs))),
    exposedMs: median(records.map((r: { timing: { buckets?: { commMs: number; hiddenMs: number }[] } }) => Math.max(0, ...(r.timing.buckets ?? []).map((b) => b.commMs - b.hiddenMs)))),
    commMs: median(records.map((r: { timing: { buckets?: { commMs: number }[] } }) => Math.max(0, ...(r.timing.buckets ?? []).map((b) => b.commMs)))),
    overlap: comm > 0 ? hidden / comm : 0,
  };
}

async function runDdp(w: (typeof WORKLOADS)[number], n: number, hook: string, flags: Flags): Promise<Sample> {
  const p = port++;
  const ranks = Array.from({ length: n }, (_, r) =>
    inHost(r + 1, ['env', `RANK=${r}`, `WORLD_SIZE=${n}`, `MASTER_ADDR=${ip(1)}`, `MASTER_PORT=${p}`, 'GLOO_SOCKET_IFNAME=eth0', 'OMP_NUM_THREADS=1', 'OPENBLAS_NUM_THREADS=1',
      PYTHON, peer, '--workload', w.name, '--hook', hook, '--windows', flags.windows, '--window-steps', flags['window-steps']], `${w.name} DDP rank ${r}`),
  );
  let outs: string[];
  try {
    outs = await Promise.all(ranks.map((r) => r.done));
  } finally {
    for (const r of ranks) r.kill();
  }
  const line = outs[0].split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`DDP rank 0 printed no RESULT line: ${outs[0].slice(-2000)}`);
  const r = JSON.parse(line.slice(7)) as { step_ms: number; step_ms_mean: number; nosync_ms: number; allreduce_ms: number };
  const exposed = Math.max(0, r.step_ms - r.nosync_ms);
  return { sps: (w.batchSize / r.step_ms) * 1000, spsMean: (w.batchSize / r.step_ms_mean) * 1000, stepMs: r.step_ms, computeMs: r.nosync_ms, exposedMs: exposed, commMs: r.allreduce_ms, overlap: Math.min(1, Math.max(0, 1 - exposed / r.allreduce_ms)) };
}

const VARIANTS = ['dptrain', 'dptrain-no-overlap', 'dptrain-bf16', 'dptrain-on-demand', 'dptrain-on-demand-bf16', 'dptrain-on-demand-no-overlap', 'dptrain-on-demand-bf16-no-overlap', 'ddp', 'ddp-fp16'] as const;

type Flags = ReturnType<typeof parseFlags>;
function parseFlags() {
  const flags = scriptFlags(process.argv.slice(2), {
    rounds: '3',
    workloads: 'W2,W1',
    rates: '1gbit,100mbit',
    workers: '2,3',
    delay: '0.2ms',
    warmup: '8',
    // Both sides measured alike (../peers' statistic): the median of `windows` windows' mean step
    // time, each of `window-steps` steps after the warm-up; the mean over all of them beside it.
    windows: '3',
    'window-steps': '20',
    'bucket-mb': '',
    // h1: beside worker 1, as Horovod's rank 0 and DDP's MASTER_ADDR (worker 1 then hands it the
    // reduced gradient on its own host, --reduced-from local); h0: a host of its own.
    coordinator: 'h1',
    variants: VARIANTS.filter((v) => !v.startsWith('dptrain-on-demand') || !v.endsWith('no-overlap')).join(','),
  });
  for (const w of flags.workloads.split(',')) if (!['W1', 'W2'].includes(w)) badFlagValue(`--workloads: ${w} is not W1 or W2`);
  for (const v of flags.variants.split(',')) if (!(VARIANTS as readonly string[]).includes(v)) badFlagValue(`--variants: ${v} is not one of ${VARIANTS.join(', ')}`);
  if (!(Number(flags.rounds) >= 1)) badFlagValue('--rounds must be a positive integer');
  if (!(Number(flags.windows) >= 1 && Number(flags['window-steps']) >= 1)) badFlagValue('--windows and --window-steps must be positive integers');
  if (!['h0', 'h1'].includes(flags.coordinator)) badFlagValue(`--coordinator: ${flags.coordinator} is not h0 or h1`);
  return flags;
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const check = spawnSync(labScript, ['check', '--delay', '--rate'], { encoding: 'utf8' });
  if (check.status !== 0) {
    console.error(`bench-lan: the namespace lab cannot run here: ${(check.stdout + check.stderr).trim()}`);
    process.exit(2);
  }
  const torch = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (torch.status !== 0) {
    console.error(`bench-lan: PyTorch is missing for ${PYTHON} (apt-get install python3-torch): ${torch.stderr.trim().slice(-300)}`);
    process.exit(2);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dptrain-bench-lan-'));
  const token = path.join(dir, 'token');
  spawnSync(process.execPath, [dptrain, 'token', '--out', token], { stdio: 'ignore' });
  console.log(machineLine());
  console.log(`PyTorch ${torch.stdout.trim()} (gloo), ${BENCH_DATASET}; dptrain ring all-reduce, default buckets and overlap${flags['bucket-mb'] ? ` (--bucket-mb ${flags['bucket-mb']})` : ''}`);
  console.log(`samples/s on both sides: the median of ${flags.windows} windows' mean step time, ${flags['window-steps']} steps each, after ${flags.warmup} warm-up steps (dptrain) or 10 (DDP); "mean": over all those steps; rounds interleaved`);
  const workloads = WORKLOADS.filter((w) => flags.workloads.split(',').includes(w.name));
  const variants = flags.variants.split(',') as (typeof VARIANTS)[number][];
  try {
    for (const rate of flags.rates.split(',')) {
      for (const n of flags.workers.split(',').map(Number)) {
        lab(['up', String(n + 1), '--delay', flags.delay, '--rate', rate]);
        const results = new Map<string, Sample[]>();
        const loadBefore = load();
        for (let round = 0; round < Number(flags.rounds); round++) {
          for (const w of workloads) {
            for (const v of variants) {
              const s = v.startsWith('dptrain') ? await runDptrain(w, n, dptrainRun(v), flags, dir, token) : await runDdp(w, n, v === 'ddp-fp16' ? 'fp16' : 'none', flags);
              results.set(`${w.name}|${v}`, [...(results.get(`${w.name}|${v}`) ?? []), s]);
            }
          }
          process.stderr.write(`  ${rate} n=${n}: round ${round + 1}/${flags.rounds} done (load ${load()})\n`);
        }
        printTable(rate, n, flags, workloads, variants, results, loadBefore);
      }
    }
  } finally {
    spawnSync(labScript, ['down'], { env: labEnv });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(rate: string, n: number, flags: Flags, workloads: typeof WORKLOADS, variants: readonly string[], results: Map<string, Sample[]>, loadBefore: string): void {
  console.log(`\n### ${rate}, ${flags.delay} delay, n = ${n} (dptrain: coordinator in ${flags.coordinator} + ${n} workers in h1…h${n}; DDP: ${n} ranks), medians of ${flags.rounds} rounds, load ${loadBefore} → ${load()}`);
  console.log('| workload | run | samples/s [min–max] | vs DDP | mean: samples/s, vs DDP | step (ms) | compute (ms) | exposed comm. (ms, % of step) | comm. total (ms) | overlap (hidden / total) |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const names: Record<string, string> = { dptrain: 'dptrain', 'dptrain-no-overlap': 'dptrain --overlap off', 'dptrain-bf16': 'dptrain --compress bf16', 'dptrain-on-demand': 'dptrain --coordinator-replica on-demand', 'dptrain-on-demand-bf16': 'dptrain on-demand --compress bf16', 'dptrain-on-demand-no-overlap': 'dptrain on-demand --overlap off', 'dptrain-on-demand-bf16-no-overlap': 'dptrain on-demand bf16 --overlap off', ddp: 'DDP (gloo)', 'ddp-fp16': 'DDP + fp16_compress_hook' };
  for (const w of workloads) {
    const ddp = results.get(`${w.name}|ddp`);
    const base = ddp ? median(ddp.map((s) => s.sps)) : Number.NaN;
    const baseMean = ddp ? median(ddp.map((s) => s.spsMean)) : Number.NaN;
    for (const v of variants) {
      const rs = results.get(`${w.name}|${v}`)!;
      const sps = rs.map((s) => s.sps);
      const m = (f: (s: Sample) => number) => median(rs.map(f));
      const step = m((s) => s.stepMs);
      const mean = m((s) => s.spsMean);
      console.log(
        `| ${w.name} | ${names[v]} | ${fmt(median(sps))} [${fmt(Math.min(...sps))}–${fmt(Math.max(...sps))}] | ${Number.isFinite(base) ? `${fmt(median(sps) / base, 2)}x` : '-'} | ${fmt(mean)}, ${Number.isFinite(baseMean) ? `${fmt(mean / baseMean, 2)}x` : '-'} | ${fmt(step, 1)} | ${fmt(m((s) => s.computeMs), 1)} | ${fmt(m((s) => s.exposedMs), 1)} (${fmt((100 * m((s) => s.exposedMs)) / step, 0)}%) | ${fmt(m((s) => s.commMs), 1)} | ${fmt(100 * m((s) => s.overlap), 0)}% |`,
      );
    }
  }
  console.log('(dptrain: compute = the slowest worker\'s forward + backward; exposed = its all-reduce time after backward ended; total = its bucket all-reduces; DDP: compute = a no_sync step (forward, backward, SGD), exposed = step − that, total = one all-reduce of the whole gradient alone)');
}

await main();
