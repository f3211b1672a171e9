/**
 * `npm run bench:peers`: dptrain side by side with PyTorch (issue 15's acceptance table), run
 * interleaved round by round in one session so that drift and other load fall on both sides.
 *
 * Each round, for each workload: dptrain inline (the best single-thread engine), dptrain with 1
 * worker thread, PyTorch in one process with one thread, dptrain with 2 worker threads, PyTorch
 * DDP (gloo) with 2 one-thread processes. Prints every round as it finishes, then the medians and
 * the ratios dptrain / PyTorch with the load average of each round.
 *
 * The PyTorch side is ../shared/peers (train_bench.py, launch_ddp.py; its README lists the Debian
 * packages it needs), run with /usr/bin/python3. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset
 * in this process before OpenBLAS loads, and so for the PyTorch children too (both sides then run
 * OpenBLAS's own choice of kernel; both cores are printed). Options (defaults in brackets):
 *   --rounds N [3]  --seconds S [5.5] (each timed window)  --workloads W1,W2,W3 [W1,W2,W3; W5 = mlp:784-128-10 at B=1]
 *   --kernels auto|blas|wasm [auto]  --peers DIR [../shared/peers]  --python PATH [/usr/bin/python3]
 *   --openblas-env unset|keep [unset]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKernels, type KernelsChoice } from '../src/kernels/index.js';
import { WORKLOADS, badFlagValue, blasLine, fmt, machineLine, measureEngine, median, peerDataset, scriptFlags, unsetOpenblasEnv } from './bench-common.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const flags = scriptFlags(process.argv.slice(2), {
  rounds: '3',
  seconds: '5.5',
  workloads: 'W1,W2,W3',
  kernels: 'auto',
  peers: path.resolve(repoRoot, '..', 'shared', 'peers'),
  python: '/usr/bin/python3',
  'openblas-env': 'unset',
});
const rounds = Number(flags.rounds);
const seconds = Number(flags.seconds);
if (!(Number.isInteger(rounds) && rounds >= 1)) badFlagValue(`--rounds must be a positive integer (got ${flags.rounds})`);
if (!(seconds >= 1)) badFlagValue(`--seconds must be at least 1 (got ${flags.seconds})`);
const script = path.join(flags.peers, 'train_bench.py');
if (!fs.existsSync(script)) badFlagValue(`--peers ${flags.peers} has no train_bench.py — pass the directory of the PyTorch peer scripts`);

/** The workloads both sides know: docs/benchmarks.md's W1–W3, and W5 (the seed's B = 1 SGD regime). */
const KNOWN = [...WORKLOADS, { name: 'W5', model: 'mlp:784-128-10', batchSize: 1, params: 101_770 }];
const workloads = flags.workloads.split(',').map((name) => KNOWN.find((w) => w.name === name) ?? badFlagValue(`unknown workload ${name}; choose from ${KNOWN.map((w) => w.name).join(', ')}`));

type Column = 'inline' | 'dp1' | 'pt1' | 'dp2' | 'ddp2';
const COLUMNS: { key: Column; title: string }[] = [
  { key: 'inline', title: 'dptrain inline' },
  { key: 'dp1', title: 'dptrain 1 worker' },
  { key: 'pt1', title: 'PyTorch 1 process' },
  { key: 'dp2', title: 'dptrain 2 workers' },
  { key: 'ddp2', title: 'PyTorch DDP 2 processes' },
];

interface PeerResult {
  sps: number;
  blas: string;
}

/** One PyTorch run (1 timed window of `seconds`), samples/s from its RESULT line. */
function pytorch(workload: string, batch: number, processes: number): PeerResult {
  const bench = ['--workload', workload, '--threads', '1', '--windows', '1', '--min-window', String(seconds), ...(workload === 'W5' ? ['--batch', String(batch)] : [])];
  const args = processes === 1 ? [script, ...bench] : [path.join(flags.peers, 'launch_ddp.py'), '--nproc', String(processes), '--', script, ...bench];
  const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
  const r = spawnSync(flags.python, args, { cwd: flags.peers, env, encoding: 'utf8', timeout: 600_000 });
  const line = `${r.stdout}`.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`PyTorch run failed (${flags.python} ${args.join(' ')}): exit ${r.status}\n${r.stderr}`);
  const result = JSON.parse(line.slice('RESULT '.length)) as { sps_median: number; blas: string };
  return { sps: result.sps_median, blas: result.blas };
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const unset = unsetOpenblasEnv(flags['openblas-env'] === 'keep');
  const kernels = await loadKernels(flags.kernels as KernelsChoice);
  console.log(machineLine());
  console.log(`dptrain ${blasLine(kernels.report, unset)}`);
  console.log(`dptrain kernels: ${kernels.detail}`);
  const results = new Map<string, number[]>();
  const add = (w: string, c: Column, v: number) => results.set(`${w} ${c}`, [...(results.get(`${w} ${c}`) ?? []), v]);
  const loads: string[] = [];
  let peerBlas = '';
  // Both sides train on data of one distribution, the peer's (bench-common.ts peerDataset).
  const data = peerDataset();
  for (let r = 1; r <= rounds; r++) {
    loads.push(load());
    for (const w of workloads) {
      const o = { kernels: flags.kernels as KernelsChoice, seconds, warmupSteps: w.batchSize === 1 ? 200 : 5, data };
      const row: Partial<Record<Column, number>> = {};
      row.inline = (await measureEngine(w, { kind: 'inline', workers: 1 }, o)).samplesPerSec;
      row.dp1 = (await measureEngine(w, { kind: 'threads', workers: 1 }, o)).samplesPerSec;
      const p1 = pytorch(w.name, w.batchSize, 1);
      row.pt1 = p1.sps;
      peerBlas = p1.blas;
      row.dp2 = (await measureEngine(w, { kind: 'threads', workers: 2 }, o)).samplesPerSec;
      // DDP splits the global batch over its ranks: B = 1 cannot be split.
      row.ddp2 = w.batchSize >= 2 ? pytorch(w.name, w.batchSize, 2).sps : NaN;
      for (const c of COLUMNS) add(w.name, c.key, row[c.key]!);
      console.log(`round ${r} ${w.name}: ${COLUMNS.map((c) => `${c.title} ${fmt(row[c.key]!)}`).join(', ')} (load ${load()})`);
    }
  }
  loads.push(load());
  console.log(`PyTorch BLAS (threadpoolctl): ${peerBlas}`);
  const m = (w: string, c: Column) => median(results.get(`${w} ${c}`)!);
  console.log(`\nsamples/s, medians of ${rounds} interleaved rounds (windows of ${seconds} s); load average (1, 5, 15 min) at each round start and at the end: ${loads.join(' | ')}\n`);
  console.log(`| workload | ${COLUMNS.map((c) => c.title).join(' | ')} | 1 worker / PyTorch | best 1-thread (inline or 1 worker) / PyTorch | 2 workers / DDP 2 | 2 workers / best 1-thread dptrain |`);
  console.log(`|---|${COLUMNS.map(() => '---:').join('|')}|---:|---:|---:|---:|`);
  for (const w of workloads) {
    const best1 = Math.max(m(w.name, 'inline'), m(w.name, 'dp1'));
    const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a');
    console.log(
      `| ${w.name} ${w.model} B=${w.batchSize} | ${COLUMNS.map((c) => (Number.isNaN(m(w.name, c.key)) ? 'n/a' : fmt(m(w.name, c.key)))).join(' | ')} | ${ratio(m(w.name, 'dp1'), m(w.name, 'pt1'))} | ${ratio(best1, m(w.name, 'pt1'))} | ${ratio(m(w.name, 'dp2'), m(w.name, 'ddp2'))} | ${ratio(m(w.name, 'dp2'), best1)} |`,
    );
  }
}

await main();
