/**
 * The dashboard's cost (docs/dashboard.md, "Cost"): W1 (mlp:784-256-128-10, B = 256) with the
 * threads engine and 2 workers, trained by the real CLI without `--dashboard`, with it and a
 * headless Chromium on this machine showing the page, with it and a client that reads every
 * update but draws nothing (the run's side of a browser on another machine), and with it and a
 * client that completes the WebSocket upgrade and never reads; interleaved round by round (the
 * order rotates) so that the machine's load hits all alike.
 * Prints each run's training samples/s (summary.json) and the training process's peak RSS
 * (VmHWM), the medians and the ratios. Also, because opening a page costs a browser far more
 * than watching it (docs/dashboard.md, "Cost"): the steady samples/s, over the second half of
 * the steps (metrics.jsonl's step times, the page open by then), and the browser's CPU split into
 * opening the page (until its charts show) and then watching, per second. Needs /usr/bin/chromium.
 *
 *   node dist/scripts/bench-dashboard.js [--rounds 4] [--steps 1500] [--arms off,browser,reader,stuck]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { WebSocket } from 'ws';
import { BENCH_DATASET, machineLine, median } from './bench-common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'dptrain.js');

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

type Arm = 'off' | 'browser' | 'reader' | 'stuck';

/** A client that reads every update and draws nothing: the run's side of a browser on another machine. */
function reader(url: string): WebSocket {
  const ws = new WebSocket(url.replace('http://', 'ws://') + 'ws');
  ws.on('message', () => {});
  ws.on('error', () => {});
  return ws;
}

/** A client that completes the upgrade, then never reads a byte. */
function stuckClient(url: string): net.Socket {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname, () => {
    socket.write(`GET /ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    socket.pause();
  });
  socket.on('error', () => {});
  return socket;
}

/** The peak resident set of a process so far, MB (Linux). */
function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** utime + stime of a process, s, and its parent (Linux /proc; clock ticks of 1/100 s). */
function cpuOf(pid: number): { cpu: number; ppid: number } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { cpu: (Number(f[11]) + Number(f[12])) / 100, ppid: Number(f[1]) };
  } catch {
    return null;
  }
}

/** CPU seconds used so far by the descendants of this process (the browser), without `exclude`'s tree. */
function browserCpuSeconds(exclude: number): number {
  const procs = new Map<number, { cpu: number; ppid: number }>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = cpuOf(Number(name));
    if (p) procs.set(Number(name), p);
  }
  const mine = new Set<number>([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) if (!mine.has(pid) && pid !== exclude && mine.has(p.ppid)) (mine.add(pid), (grew = true));
  }
  mine.delete(process.pid);
  let total = 0;
  for (const pid of mine) total += procs.get(pid)!.cpu;
  return total;
}

/** Samples/s over the second half of the steps, from metrics.jsonl's step times (the page is open by then). */
function steadySamplesPerSec(out: string): number {
  const steps = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{"type":"step"'))
    .map((line) => JSON.parse(line) as { batchSize: number; ms: number });
  const half = steps.slice(Math.floor(steps.length / 2));
  return (1000 * half.reduce((a, s) => a + s.batchSize, 0)) / half.reduce((a, s) => a + s.ms, 0);
}

interface RunFigures {
  sps: number;
  steadySps: number;
  rssMb: number;
  cpu: number;
  browserCpu: number;
  /** The browser's CPU seconds from opening the page until its charts showed, and its share of a core after. */
  openCpu: number;
  watchShare: number;
}

/** One training run of `arm`; returns its training samples/s, peak RSS, its CPU seconds and the browser's during it. */
async function run(steps: number, arm: Arm, browserOf: () => Browser): Promise<RunFigures> {
  const browser = arm === 'browser' ? browserOf() : null;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'dptrain-bench-dash-'));
  const args = [bin, 'train', '--dataset', BENCH_DATASET, '--model', 'mlp:784-256-128-10', '--batch-size', '256', '--engine', 'threads', '--workers', '2', '--kernels', 'wasm', '--optimizer', 'sgd', '--lr', '0.1', '--momentum', '0', '--val-split', '0', '--max-steps', String(steps), '--log-every', '1', '--out', out];
  if (arm !== 'off') args.push('--dashboard');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  let opened: Promise<unknown> | null = null;
  let stuck: net.Socket | null = null;
  let read: WebSocket | null = null;
  let rssMb = 0;
  let cpu = 0;
  const browserCpu0 = browserCpuSeconds(child.pid!);
  let shown: { cpu: number; at: number } | null = null;
  const poll = setInterval(() => {
    rssMb = Math.max(rssMb, peakRssMb(child.pid!) || 0);
    cpu = cpuOf(child.pid!)?.cpu ?? cpu;
  }, 100);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    text += chunk;
    const m = /dashboard at (http:\/\/\S+)/.exec(text);
    if (browser && m && !opened)
      opened = browser.newPage({ viewport: { width: 1100, height: 900 } }).then(async (page) => {
        await page.goto(m[1]);
        // Polled, not on every animation frame: the wait itself must not cost the browser.
        await page.waitForFunction(() => Number((globalThis as unknown as { document: { body: { dataset: { charts?: string } } } }).document.body.dataset.charts || 0) >= 3, null, { polling: 250, timeout: 120_000 }).catch(() => {});
        shown = { cpu: browserCpuSeconds(child.pid!), at: performance.now() };
        return page;
      });
    if (arm === 'stuck' && m && !stuck) stuck = stuckClient(m[1]);
    if (arm === 'reader' && m && !read) read = reader(m[1]);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(poll);
  const browserCpuEnd = browserCpuSeconds(child.pid!);
  const browserCpu = browserCpuEnd - browserCpu0;
  const seen = shown as { cpu: number; at: number } | null;
  const openCpu = seen ? seen.cpu - browserCpu0 : NaN;
  const watchShare = seen ? (browserCpuEnd - seen.cpu) / ((performance.now() - seen.at) / 1000) : NaN;
  (stuck as net.Socket | null)?.destroy();
  (read as WebSocket | null)?.terminate();
  if (code !== 0) throw new Error(`train exited ${code}:\n${text}`);
  if (arm !== 'off' && !/dashboard at/.test(text)) throw new Error('no dashboard URL');
  const page = (await opened) as { close(): Promise<void> } | null;
  await page?.close();
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { samplesPerSec: number };
  const steadySps = steadySamplesPerSec(out);
  fs.rmSync(out, { recursive: true, force: true });
  return { sps: summary.samplesPerSec, steadySps, rssMb, cpu, browserCpu, openCpu, watchShare };
}

async function main(): Promise<void> {
  const rounds = flag('--rounds', 4);
  const steps = flag('--steps', 1500);
  console.log(machineLine());
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  const allArms: Arm[] = ['off', 'browser', 'reader', 'stuck'];
  const at = process.argv.indexOf('--arms');
  const arms = at > 0 ? (process.argv[at + 1].split(',') as Arm[]) : allArms;
  const unknown = arms.filter((a) => !allArms.includes(a));
  if (unknown.length > 0 || arms.length === 0) {
    console.error(`bench-dashboard: --arms takes a comma-separated list of ${allArms.join(', ')} (got ${process.argv[at + 1]})`);
    process.exit(2);
  }
  const sps: Record<Arm, number[]> = { off: [], browser: [], reader: [], stuck: [] };
  const rss: Record<Arm, number[]> = { off: [], browser: [], reader: [], stuck: [] };
  const cpu: Record<Arm, number[]> = { off: [], browser: [], reader: [], stuck: [] };
  const browserCpu: Record<Arm, number[]> = { off: [], browser: [], reader: [], stuck: [] };
  const steady: Record<Arm, number[]> = { off: [], browser: [], reader: [], stuck: [] };
  const openCpu: number[] = [];
  const watchShare: number[] = [];
  const label: Record<Arm, string> = { off: 'no dashboard            ', browser: 'dashboard + local browser', reader: 'dashboard + reading client', stuck: 'dashboard + stuck client ' };
  try {
    for (let r = 0; r < rounds; r++) {
      // A different order each round: the arms rotate.
      const order = arms.map((_, i) => arms[(i + r) % arms.length]);
      for (const arm of order) {
        const m = await run(steps, arm, () => browser);
        sps[arm].push(m.sps);
        rss[arm].push(m.rssMb);
        cpu[arm].push(m.cpu);
        browserCpu[arm].push(m.browserCpu);
        steady[arm].push(m.steadySps);
        if (arm === 'browser') (openCpu.push(m.openCpu), watchShare.push(m.watchShare));
        const browserText = arm === 'browser' ? `${m.browserCpu.toFixed(2)} s (opening the page ${m.openCpu.toFixed(2)} s, then ${(100 * m.watchShare).toFixed(1)}% of a core while watching)` : '—';
        console.log(`round ${r + 1}: ${label[arm]} ${Math.round(m.sps).toLocaleString('en-US')} samples/s (second half ${Math.round(m.steadySps).toLocaleString('en-US')}), peak RSS ${m.rssMb.toFixed(0)} MB, train CPU ${m.cpu.toFixed(2)} s, browser CPU ${browserText}`);
      }
    }
  } finally {
    await browser.close();
  }
  const base = median(sps.off);
  const steadyBase = median(steady.off);
  for (const arm of arms) {
    const m = median(sps[arm]);
    const browserText = arm === 'browser' ? `${median(browserCpu[arm]).toFixed(2)} s per run (opening the page ${median(openCpu).toFixed(2)} s, then ${(100 * median(watchShare)).toFixed(1)}% of a core while watching)` : '—';
    console.log(`${label[arm]}: median ${Math.round(m).toLocaleString('en-US')} samples/s (ratio to no dashboard ${(m / base).toFixed(3)}; second half ${Math.round(median(steady[arm])).toLocaleString('en-US')}, ratio ${(median(steady[arm]) / steadyBase).toFixed(3)}), peak RSS ${median(rss[arm]).toFixed(0)} MB, train CPU ${median(cpu[arm]).toFixed(2)} s (ratio ${(median(cpu[arm]) / median(cpu.off)).toFixed(3)}), browser CPU ${browserText}`);
  }
  console.log(`W1, threads x2, wasm kernels, ${steps} steps per run, ${rounds} rounds`);
  console.log(machineLine());
}

await main();
