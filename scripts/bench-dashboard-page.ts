/**
 * What watching the dashboard costs the browser (docs/dashboard.md, "Cost"): a real W1 run
 * (mlp:784-256-128-10, B = 256, threads engine, 2 workers) with `--dashboard`, the page open in
 * headless Chromium (/usr/bin/chromium, software rendering, as the tests), and, after a warm-up,
 * over a fixed window: Chromium's CPU from /proc per process type (renderer, GPU, browser,
 * utility) and the renderer's own account (CDP Performance.getMetrics: task, script, layout,
 * style recalculation), per second of watching. The page load is reported apart.
 * `--compare DIR` measures another checkout's dptrain (e.g. main before a change) in the same
 * run, interleaved round by round, so the machine's load hits both alike.
 *
 *   node dist/scripts/bench-dashboard-page.js [--rounds 3] [--seconds 15] [--warmup 4] [--compare /path/to/checkout]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, CDPSession } from 'playwright-core';
import { BENCH_DATASET, machineLine, median } from './bench-common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** utime + stime (s), parent and Chromium process type of every process (Linux /proc). */
function processTable(): Map<number, { cpu: number; ppid: number; type: string }> {
  const table = new Map<number, { cpu: number; ppid: number; type: string }>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const type = /--type=([\w-]+)/.exec(cmd)?.[1] ?? (/chrom/.test(cmd) ? 'browser' : 'other');
      table.set(Number(name), { cpu: (Number(f[11]) + Number(f[12])) / 100, ppid: Number(f[1]), type });
    } catch {
      // The process ended while being read.
    }
  }
  return table;
}

/** CPU seconds so far of this process's descendants (the browser) outside `exclude`'s tree, per type. */
function browserCpu(exclude: number): Map<number, { cpu: number; type: string }> {
  const table = processTable();
  const mine = new Set<number>([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of table) if (!mine.has(pid) && pid !== exclude && mine.has(p.ppid)) (mine.add(pid), (grew = true));
  }
  mine.delete(process.pid);
  return new Map([...mine].map((pid) => [pid, table.get(pid)!]));
}

/** CPU per type between two readings; a process new in `b` counts from zero. */
function cpuDelta(a: Map<number, { cpu: number; type: string }>, b: Map<number, { cpu: number; type: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [pid, p] of b) out[p.type] = (out[p.type] ?? 0) + p.cpu - (a.get(pid)?.cpu ?? 0);
  return out;
}

const METRICS = ['TaskDuration', 'ScriptDuration', 'LayoutDuration', 'RecalcStyleDuration', 'LayoutCount', 'RecalcStyleCount', 'JSHeapUsedSize'] as const;
async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics: list } = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
  return Object.fromEntries(list.filter((m) => (METRICS as readonly string[]).includes(m.name)).map((m) => [m.name, m.value]));
}

interface Reading {
  load: number;
  perSecond: Record<string, number>;
  renderer: Record<string, number>;
  heapMb: number;
  stepsPerSec: number;
}

async function startRun(checkout: string): Promise<{ child: ChildProcess; url: string; out: string }> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'dptrain-bench-page-'));
  const args = [path.join(checkout, 'bin', 'dptrain.js'), 'train', '--dataset', BENCH_DATASET, '--model', 'mlp:784-256-128-10', '--batch-size', '256', '--engine', 'threads', '--workers', '2', '--kernels', 'wasm', '--optimizer', 'sgd', '--lr', '0.1', '--momentum', '0', '--val-split', '0', '--max-steps', '10000000', '--out', out, '--dashboard'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8');
  let text = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: string) => {
      text += chunk;
      const m = /dashboard at (http:\/\/\S+)/.exec(text);
      if (m) resolve(m[1]);
    });
    child.on('close', (code) => reject(new Error(`train exited ${code} before its dashboard:\n${text}`)));
  });
  return { child, url, out };
}

/** One watch of a run by `checkout`'s dptrain: the page's load, then `seconds` of watching. */
async function watch(browser: Browser, checkout: string, warmup: number, seconds: number): Promise<Reading> {
  const { child, url, out } = await startRun(checkout);
  try {
    const cpu0 = browserCpu(child.pid!);
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    await page.goto(url);
    await page.waitForFunction(() => Number((globalThis as unknown as { document: { body: { dataset: { charts?: string } } } }).document.body.dataset.charts || 0) >= 3, null, { timeout: 60_000 });
    await page.waitForTimeout(warmup * 1000);
    const cpu1 = browserCpu(child.pid!);
    const m1 = await metrics(cdp);
    const step1 = await page.evaluate(() => Number((globalThis as unknown as { document: { body: { dataset: { step?: string } } } }).document.body.dataset.step || 0));
    const t1 = performance.now();
    await page.waitForTimeout(seconds * 1000);
    const cpu2 = browserCpu(child.pid!);
    const m2 = await metrics(cdp);
    const step2 = await page.evaluate(() => Number((globalThis as unknown as { document: { body: { dataset: { step?: string } } } }).document.body.dataset.step || 0));
    const elapsed = (performance.now() - t1) / 1000;
    await page.close();
    const loadCpu = Object.values(cpuDelta(cpu0, cpu1)).reduce((a, b) => a + b, 0);
    const perSecond = Object.fromEntries(Object.entries(cpuDelta(cpu1, cpu2)).map(([k, v]) => [k, v / elapsed]));
    const renderer = Object.fromEntries(['TaskDuration', 'ScriptDuration', 'LayoutDuration', 'RecalcStyleDuration', 'LayoutCount', 'RecalcStyleCount'].map((k) => [k, (m2[k] - m1[k]) / elapsed]));
    return { load: loadCpu, perSecond, renderer, heapMb: m2.JSHeapUsedSize / 2 ** 20, stepsPerSec: (step2 - step1) / elapsed };
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    fs.rmSync(out, { recursive: true, force: true });
  }
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
function line(label: string, r: Reading): string {
  const total = Object.values(r.perSecond).reduce((a, b) => a + b, 0);
  const types = Object.entries(r.perSecond).filter(([, v]) => v >= 0.0005).map(([k, v]) => `${k} ${pct(v)}`).join(', ');
  const x = r.renderer;
  return `${label}: browser CPU ${pct(total)} of a core (${types}); renderer task ${pct(x.TaskDuration)} script ${pct(x.ScriptDuration)} layout ${pct(x.LayoutDuration)} style ${pct(x.RecalcStyleDuration)}, ${x.LayoutCount.toFixed(1)} layouts/s, ${x.RecalcStyleCount.toFixed(1)} style recalcs/s; JS heap ${r.heapMb.toFixed(1)} MB; page load ${r.load.toFixed(2)} s CPU; ${Math.round(r.stepsPerSec)} steps/s shown`;
}

async function main(): Promise<void> {
  const rounds = Number(option('--rounds') ?? 3);
  const seconds = Number(option('--seconds') ?? 15);
  const warmup = Number(option('--warmup') ?? 4);
  const compare = option('--compare');
  const checkouts: [string, string][] = [['this checkout', root]];
  if (compare) checkouts.push([`--compare ${compare}`, path.resolve(compare)]);
  console.log(machineLine());
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  const results = new Map<string, Reading[]>(checkouts.map(([label]) => [label, []]));
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? checkouts : checkouts.slice().reverse();
      for (const [label, dir] of order) {
        const reading = await watch(browser, dir, warmup, seconds);
        results.get(label)!.push(reading);
        console.log(line(`round ${r + 1}, ${label}`, reading));
      }
    }
  } finally {
    await browser.close();
  }
  const totals = new Map<string, number>();
  for (const [label, list] of results) {
    const total = median(list.map((r) => Object.values(r.perSecond).reduce((a, b) => a + b, 0)));
    totals.set(label, total);
    console.log(`${label}: median browser CPU ${pct(total)} of a core while watching, page load ${median(list.map((r) => r.load)).toFixed(2)} s CPU, renderer task ${pct(median(list.map((r) => r.renderer.TaskDuration)))}`);
  }
  if (compare) console.log(`ratio (--compare / this checkout): ${(totals.get(checkouts[1][0])! / totals.get(checkouts[0][0])!).toFixed(2)}x`);
  console.log(`W1, threads x2, wasm kernels, ${warmup} s warm-up then ${seconds} s watched per round, ${rounds} rounds`);
  console.log(machineLine());
}

await main();
