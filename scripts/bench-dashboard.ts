/**
 * The dashboard's cost (docs/dashboard.md, "Cost"): W1 (mlp:784-256-128-10, B = 256) with the
 * threads engine and 2 workers, trained by the real CLI with and without `--dashboard` and a
 * headless Chromium showing the page, interleaved (off, on, on, off, ...) so that the machine's
 * load hits both alike. Prints each run's training samples/s (summary.json), the medians and
 * their ratio. Needs /usr/bin/chromium.
 *
 *   node dist/scripts/bench-dashboard.js [--rounds 4] [--steps 1500]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { BENCH_DATASET, machineLine, median } from './bench-common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'dptrain.js');

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** One training run; with `browser`, --dashboard and the page open for the whole run. Returns samples/s. */
async function run(steps: number, browser: Browser | null): Promise<number> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'dptrain-bench-dash-'));
  const args = [bin, 'train', '--dataset', BENCH_DATASET, '--model', 'mlp:784-256-128-10', '--batch-size', '256', '--engine', 'threads', '--workers', '2', '--kernels', 'wasm', '--optimizer', 'sgd', '--lr', '0.1', '--momentum', '0', '--val-split', '0', '--max-steps', String(steps), '--out', out];
  if (browser) args.push('--dashboard');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  let opened: Promise<unknown> | null = null;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    text += chunk;
    const m = /dashboard at (http:\/\/\S+)/.exec(text);
    if (browser && m && !opened) opened = browser.newPage({ viewport: { width: 1100, height: 900 } }).then((page) => page.goto(m[1]).then(() => page));
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`train exited ${code}:\n${text}`);
  if (browser && !opened) throw new Error('no dashboard URL');
  const page = (await opened) as { close(): Promise<void> } | null;
  await page?.close();
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { samplesPerSec: number };
  fs.rmSync(out, { recursive: true, force: true });
  return summary.samplesPerSec;
}

async function main(): Promise<void> {
  const rounds = flag('--rounds', 4);
  const steps = flag('--steps', 1500);
  console.log(machineLine());
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  const off: number[] = [];
  const on: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      // ABBA order: off, on in even rounds, on, off in odd ones.
      for (const withPage of r % 2 === 0 ? [false, true] : [true, false]) {
        const sps = await run(steps, withPage ? browser : null);
        (withPage ? on : off).push(sps);
        console.log(`round ${r + 1}: ${withPage ? 'dashboard + browser' : 'no dashboard      '} ${Math.round(sps).toLocaleString('en-US')} samples/s`);
      }
    }
  } finally {
    await browser.close();
  }
  const mOff = median(off);
  const mOn = median(on);
  console.log(`W1, threads x2, ${steps} steps per run, ${rounds} rounds: median ${Math.round(mOff).toLocaleString('en-US')} samples/s without, ${Math.round(mOn).toLocaleString('en-US')} with the dashboard and a browser: ratio ${(mOn / mOff).toFixed(3)} (${((1 - mOn / mOff) * 100).toFixed(1)}% slower)`);
  console.log(machineLine());
}

await main();
