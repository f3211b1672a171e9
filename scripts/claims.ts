/**
 * Checks the common claims about batch size with dptrain's own measurements, and regenerates the
 * tables and pictures of docs/batch-size.md:
 *   1. smaller batches make more updates per epoch (ceil(N/B));
 *   2. their gradient estimate is less accurate: |G_B − G|² vs B at fixed parameters, slope −1 on
 *      log-log axes, 0 at full batch (finite-population correction);
 *   3. smaller batches need less memory: the model's activation workspace for one batch of B rows
 *      (ArrayBuffer bytes allocated by a fresh Model, capped by the micro-batch size), and the peak
 *      resident memory of a whole training process at each B;
 *   4. a bigger batch is faster per second until it is not: training throughput vs B with the
 *      threads engine (2 workers) and the inline engine, each B in a fresh process;
 *   5. the classic picture: loss contours of a 2-parameter problem (linreg:1-1, weight and bias)
 *      with the paths of full-batch, mini-batch and B = 1 descent, computed with dptrain's Model
 *      and SGD optimizer and drawn with the report's inlined uPlot, screenshotted in Chromium;
 *   6. with --sweep DIR (a `dptrain sweep` directory): the worked example's table and fit, the
 *      seconds-to-target table, and screenshots of the report's charts.
 *
 * Run: `npx tsc -p . && node --expose-gc dist/scripts/claims.js [options]`
 *   --docs FILE        replace each `<!-- claims:NAME -->…<!-- /claims:NAME -->` block of FILE
 *                      (docs/batch-size.md) with the fresh output; without it, print the blocks
 *   --img DIR          where the pictures go (default docs/img)
 *   --sweep DIR        a sweep directory for block 6; --sweep-name NAME names its pictures
 *                      (batch-size-NAME-<chart>.png, default mnist)
 *   --skip-speed       leave out block 3's process measurements and block 4 (about 3 minutes)
 *   --repeats R        runs per (engine, B) for block 3-4, the fastest kept (default 2)
 *   --dataset, --model, --trials  the problem of blocks 1-4 (default mnist, mlp:784-128-10, 30)
 * --expose-gc lets the workspace figures start from a collected heap. The pictures need
 * /usr/bin/chromium (playwright-core drives it; nothing is downloaded).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset, splitDataset, epochPermutation, batchRange, type Dataset } from '../src/data/index.js';
import { initParams, Model, parseModelSpec } from '../src/model/index.js';
import { createOptimizer } from '../src/optim/index.js';
import { batchGradientError, exactGradientStats, renderHtml, type ChartDef, type ChartSeries, type ReportPage, type SweepResults } from '../src/study/index.js';
import { train } from '../src/train/index.js';
import { Rng } from '../src/util/index.js';

const script = fileURLToPath(import.meta.url);
const repoRoot = path.resolve(path.dirname(script), '..', '..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(name);
const fmtInt = (v: number) => Math.round(v).toLocaleString('en-US');
const sig = (v: number, digits = 3) => {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return fmtInt(v);
  return String(Number(v.toPrecision(digits)));
};

const datasetSpec = arg('--dataset', 'mnist');
const modelSpec = arg('--model', 'mlp:784-128-10');

// ---------------------------------------------------------------------------------------------
// Child mode: one short training run in a fresh process, for throughput and peak memory.

interface ChildResult {
  batchSize: number;
  engine: string;
  workers: number;
  steps: number;
  samplesPerSec: number;
  msPerStep: number;
  maxRssBytes: number;
}

if (process.argv[2] === '--child') {
  const [batchSize, engine, workers, steps] = process.argv.slice(3, 7);
  const B = Number(batchSize);
  let samples = 0;
  let ms = 0;
  let seen = 0;
  const warmup = Math.ceil(Number(steps) / 5);
  const { summary } = await train(
    { dataset: datasetSpec, model: modelSpec, batchSize: B, epochs: 1000, maxSteps: Number(steps), lr: 0.01, engine: engine as 'threads' | 'inline', workers: Number(workers), seed: 0 },
    { callbacks: [{ onStep: (r) => { if (seen++ >= warmup) { samples += r.batchSize; ms += r.ms; } } }] },
  );
  const result: ChildResult = {
    batchSize: summary.batchSize,
    engine: summary.engine,
    workers: summary.workers,
    steps: summary.steps,
    samplesPerSec: samples / (ms / 1000),
    msPerStep: ms / (summary.steps - warmup),
    // resourceUsage().maxRSS is in kilobytes: the whole process, its worker threads included.
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The blocks, by name.

const blocks = new Map<string, string>();
const data = splitDataset(await loadDataset(datasetSpec), 0.1, 0).train;
const spec = parseModelSpec(modelSpec);
const params = initParams(spec, 0) as Float32Array;
const N = data.n;
const sizes = [1, 4, 16, 64, 256, 1024, N];
const shownB = (B: number) => (B === N ? `full (${fmtInt(N)})` : fmtInt(B));
console.error(`claims on ${datasetSpec} (${N} training samples), ${spec.text} at its seed-0 initial parameters`);

// 1. Updates per epoch.
blocks.set('updates-per-epoch', ['| B | steps per epoch |', '|---:|---:|', ...sizes.map((B) => `| ${shownB(B)} | ${fmtInt(Math.ceil(N / B))} |`)].join('\n'));

// 2. Gradient error against the full-batch gradient.
{
  const trials = Number(arg('--trials', '30'));
  const model = new Model(spec);
  const exact = exactGradientStats(model, params, data);
  const errors = batchGradientError(model, params, data, sizes, { trials, seed: 0, exact });
  const lines = [
    `Mean |G_B − G|² over ${trials} random batches (without replacement) against the full-batch gradient G, with the prediction (tr Σ/B)(N−B)/(N−1); |G|² = ${sig(exact.gradSq, 4)}, tr Σ = ${sig(exact.trSigma, 4)}, so B_simple = ${sig(exact.trSigma / exact.gradSq)} at initialisation:`,
    '',
    '| B | measured | predicted | slope (log-log) |',
    '|---:|---:|---:|---:|',
  ];
  errors.forEach((e, i) => {
    const prev = errors[i - 1];
    const slope = prev && e.meanSqError > 0 && e.batchSize < N ? Math.log(e.meanSqError / prev.meanSqError) / Math.log(e.batchSize / prev.batchSize) : null;
    const measured = e.batchSize === N ? `${e.meanSqError.toExponential(1)} (float rounding)` : `${sig(e.meanSqError)} ± ${sig(e.standardError, 2)}`;
    lines.push(`| ${shownB(e.batchSize)} | ${measured} | ${sig(e.predicted)} | ${slope === null ? '' : slope.toFixed(2).replace('-', '−')} |`);
  });
  blocks.set('gradient-error', lines.join('\n'));
}

// 3a. Memory: ArrayBuffer bytes a fresh Model allocates for one batch of B rows.
{
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) console.error('(run node with --expose-gc: without it garbage collection can disturb the workspace figures)');
  const keep: Model[] = [];
  const lines = ['| B | workspace of one batch | per sample |', '|---:|---:|---:|'];
  for (const B of sizes) {
    const fresh = new Model(spec);
    keep.push(fresh); // nothing measured here is freed during the loop
    const grad = new Float32Array(fresh.numParams);
    const rows = Uint32Array.from({ length: B }, (_, i) => i);
    gc?.();
    const before = process.memoryUsage().arrayBuffers;
    fresh.accumulateGradient(params, data, rows, grad);
    const bytes = process.memoryUsage().arrayBuffers - before;
    lines.push(`| ${shownB(B)} | ${fmtBytes(bytes)} | ${fmtInt(bytes / B)} B |`);
  }
  lines.push('', `Parameters, gradient and SGD momentum: 3 × ${fmtBytes(new Model(spec).numParams * 4)}, whatever B is.`);
  blocks.set('memory-workspace', lines.join('\n'));
}

function fmtBytes(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

// 3b and 4. Peak memory and throughput of whole training runs, one fresh process per (engine, B).
if (!flag('--skip-speed')) {
  const runs: { engine: string; workers: number }[] = [{ engine: 'threads', workers: 2 }, { engine: 'inline', workers: 1 }];
  const results = new Map<string, ChildResult>();
  const repeats = Number(arg('--repeats', '2'));
  for (const { engine, workers } of runs) {
    for (const B of sizes) {
      // About one epoch of samples (at least 10 steps); the first fifth of the steps is warm-up.
      const steps = Math.max(10, Math.ceil(N / B));
      // The best of --repeats runs: other processes on the machine only ever slow a run down.
      const tries: ChildResult[] = [];
      for (let r = 0; r < repeats; r++) {
        const child = spawnSync(process.execPath, [script, '--child', String(B), engine, String(workers), String(steps), '--dataset', datasetSpec, '--model', modelSpec], { encoding: 'utf8', cwd: repoRoot });
        if (child.status !== 0) throw new Error(`child run B=${B} ${engine} failed: ${child.stderr}`);
        tries.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!) as ChildResult);
      }
      // Throughput: the fastest run; peak memory: the smallest (the heap's growth varies between runs).
      const fastest = tries.reduce((a, b) => (b.samplesPerSec > a.samplesPerSec ? b : a));
      const result: ChildResult = { ...fastest, maxRssBytes: Math.min(...tries.map((r) => r.maxRssBytes)) };
      results.set(`${engine}/${B}`, result);
      console.error(`  ${engine} ×${workers} B=${B}: ${fmtInt(result.samplesPerSec)} samples/s, peak RSS ${fmtBytes(result.maxRssBytes)}`);
    }
  }
  const load = os.loadavg()[0];
  const t = (B: number) => results.get(`threads/${B}`)!;
  const i = (B: number) => results.get(`inline/${B}`)!;
  blocks.set('throughput', [
    `Samples per second of training (validation excluded, the first fifth of the steps left out as warm-up), about one epoch per batch size, the best of ${repeats} fresh processes each; ${os.cpus().length} cores, load average ${load.toFixed(1)} when the measurements ended (other processes share the machine: expect ±20%, more for the threads engine, which needs both cores at once):`,
    '',
    '| B | threads, 2 workers: samples/s | ms per step | inline, 1 worker: samples/s | ms per step |',
    '|---:|---:|---:|---:|---:|',
    ...sizes.map((B) => `| ${shownB(B)} | ${fmtInt(t(B).samplesPerSec)} | ${sig(t(B).msPerStep)} | ${fmtInt(i(B).samplesPerSec)} | ${sig(i(B).msPerStep)} |`),
  ].join('\n'));
  const peaks = sizes.flatMap((B) => [t(B).maxRssBytes, i(B).maxRssBytes]);
  blocks.set('memory-peak', [
    `Peak resident memory of the same runs (the smaller of the ${repeats}):`,
    '',
    '| B | threads engine, 2 workers | inline engine, 1 worker |',
    '|---:|---:|---:|',
    ...sizes.map((B) => `| ${shownB(B)} | ${fmtBytes(t(B).maxRssBytes)} | ${fmtBytes(i(B).maxRssBytes)} |`),
    '',
    `From ${fmtBytes(Math.min(...peaks))} to ${fmtBytes(Math.max(...peaks))} with no trend in B: the Node runtime, the dataset and the heap's garbage between collections, not the batch.`,
  ].join('\n'));
}

// ---------------------------------------------------------------------------------------------
// 5. The classic picture: loss contours and descent paths on a 2-parameter problem.

interface Path2 {
  label: string;
  batchSize: number;
  points: [number, number][];
}

const pictures: { file: string; page: ReportPage }[] = [];
{
  // linreg:1-1: y ≈ w·x + b. Inputs centred at 1 (not 0) make the valley long and tilted.
  const n = 200;
  const rng = new Rng(0, 'claims', 'contours');
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    x[k] = 1 + 0.5 * rng.normal();
    y[k] = 2 * x[k] - 1 + 0.3 * rng.normal();
  }
  const source: Dataset = { spec: 'claims:line', n, inputDim: 1, x, targetDim: 1, y, task: 'regression', numClasses: 0 };
  const lineSpec = parseModelSpec('linreg:1-1');
  const model = new Model(lineSpec, { dtype: 'float64' });
  const all = Uint32Array.from({ length: n }, (_, k) => k);
  const loss = (w: number, b: number) => model.evaluate(Float64Array.of(w, b), source, all).lossSum / n;
  const gradient = (w: number, b: number) => {
    const g = new Float64Array(2);
    model.accumulateGradient(Float64Array.of(w, b), source, all, g);
    return [g[0] / n, g[1] / n];
  };
  // The mean loss is quadratic in (w, b): its gradient is linear, so three gradients give the
  // Hessian H and the minimum exactly.
  const g0 = gradient(0, 0);
  const gw = gradient(1, 0);
  const gb = gradient(0, 1);
  const H = [[gw[0] - g0[0], gb[0] - g0[0]], [gw[1] - g0[1], gb[1] - g0[1]]];
  const det = H[0][0] * H[1][1] - H[0][1] * H[1][0];
  const wStar = -(H[1][1] * g0[0] - H[0][1] * g0[1]) / det;
  const bStar = -(-H[1][0] * g0[0] + H[0][0] * g0[1]) / det;
  const lStar = loss(wStar, bStar);
  const tr = H[0][0] + H[1][1];
  const disc = Math.sqrt((H[0][0] - H[1][1]) ** 2 + 4 * H[0][1] * H[1][0]);
  const lMax = (tr + disc) / 2;
  const lMin = (tr - disc) / 2;
  const lrFactor = 0.8;
  const lr = lrFactor / lMax; // full batch: stable below 2/λ_max; one sample's curvature can be far larger
  const steps = 60;
  const start: [number, number] = [wStar - 2.2, bStar + 3.4];

  // Descent with dptrain's SGD optimizer on float32 parameters, batches from dptrain's epoch permutations.
  const descend = (batchSize: number, label: string): Path2 => {
    const p = Float32Array.of(start[0], start[1]);
    const opt = createOptimizer({ name: 'sgd', momentum: 0, nesterov: false, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 2);
    const m = new Model(lineSpec);
    const points: [number, number][] = [[p[0], p[1]]];
    const stepsPerEpoch = Math.ceil(n / batchSize);
    for (let t = 0; t < steps; t++) {
      const epoch = Math.floor(t / stepsPerEpoch);
      const order = epochPermutation(n, 0, epoch);
      const { start: a, end: e } = batchRange(t % stepsPerEpoch, n, batchSize);
      const g = new Float32Array(2);
      const r = m.accumulateGradient(p, source, order.subarray(a, e), g);
      opt.update(p, g, { lr, gradScale: 1 / r.count, t: t + 1 });
      points.push([p[0], p[1]]);
    }
    return { label, batchSize, points };
  };
  const paths = [descend(n, `full batch (B = ${n})`), descend(20, 'mini-batch (B = 20)'), descend(1, 'SGD (B = 1)')];

  // Contours: ellipses L(θ) = L* + c, i.e. θ* + √(2c)·H^(-1/2)·(cos t, sin t), with H's eigenvectors.
  const angle = 0.5 * Math.atan2(2 * H[0][1], H[0][0] - H[1][1]);
  const [c, s] = [Math.cos(angle), Math.sin(angle)];
  const lA = H[0][0] * c * c + 2 * H[0][1] * c * s + H[1][1] * s * s; // eigenvalue along (c, s)
  const lB = tr - lA;
  const startLoss = loss(start[0], start[1]);
  const levels = Array.from({ length: 8 }, (_, k) => (startLoss - lStar) * Math.pow(0.42, k));
  // One series: the ellipses one after the other, a null between two.
  const cx: number[] = [];
  const cy: (number | null)[] = [];
  for (const excess of levels) {
    for (let j = 0; j <= 160; j++) {
      const t = (2 * Math.PI * j) / 160;
      const u = Math.sqrt((2 * excess) / lA) * Math.cos(t);
      const v = Math.sqrt((2 * excess) / lB) * Math.sin(t);
      cx.push(wStar + c * u - s * v);
      cy.push(bStar + s * u + c * v);
      // Check: every point lies on its level of the Model's own loss.
      const onLevel = loss(cx.at(-1)!, cy.at(-1)!);
      if (Math.abs(onLevel - (lStar + excess)) > 1e-9 * (1 + onLevel)) throw new Error(`contour check failed: ${onLevel} vs ${lStar + excess}`);
    }
    cx.push(cx.at(-1)!);
    cy.push(null);
  }
  const contours: ChartSeries[] = [{ label: 'loss contours', style: 'line', color: 8, width: 1, x: cx, values: cy }];
  const colours = [0, 2, 1];
  const pathSeries: ChartSeries[] = paths.map((p, k) => ({ label: p.label, style: 'line', color: colours[k], width: 2, x: p.points.map((q) => q[0]), values: p.points.map((q) => q[1]) }));
  const marks: ChartSeries[] = [
    { label: 'start', style: 'points', color: 9, x: [start[0]], values: [start[1]] },
    { label: `minimum (w, b) = (${sig(wStar)}, ${sig(bStar)})`, style: 'points', color: 4, x: [wStar], values: [bStar] },
  ];
  // The view: the paths and the minimum (the outer contours are cut at its edges).
  const xs = [...pathSeries, ...marks].flatMap((q) => q.x!);
  const ys = [...pathSeries, ...marks].flatMap((q) => q.values.filter((v): v is number => v !== null));
  const pad = (lo: number, hi: number): [number, number] => [lo - 0.12 * (hi - lo), hi + 0.12 * (hi - lo)];
  const chart: ChartDef = {
    id: 'contours',
    title: `Loss contours of y ≈ w·x + b, and ${steps} steps of descent at learning rate ${sig(lr)}`,
    note: `linreg:1-1 on ${n} noisy points (x centred at 1), mean squared error; contours at L* + ${sig(levels[0], 2)} × 0.42^k. The same start, learning rate and optimizer (dptrain's SGD, no momentum) for every batch size. Full batch follows the gradient, across the contours and then down the valley; B = 20 wanders around that path; B = 1 takes ${steps} steps of one sample each, each an unbiased but noisy estimate of the full-batch step.`,
    xLabel: 'weight w',
    yLabel: 'bias b',
    xLog: false,
    yLog: false,
    x: [],
    series: [...contours, ...pathSeries, ...marks],
    layout: 'xy',
    square: true,
    xRange: pad(Math.min(...xs), Math.max(...xs)),
    yRange: pad(Math.min(...ys), Math.max(...ys)),
  };
  pictures.push({ file: 'batch-size-contours.png', page: { kind: 'run', title: 'Loss contours and descent paths', summary: [], table: null, warnings: [], charts: [chart] } });
  const end = (p: Path2) => p.points.at(-1)!;
  blocks.set('contours', [
    `The problem: linreg:1-1 (weight w and bias b) on ${n} points y = 2x − 1 + noise, x ~ N(1, 0.5²); Hessian eigenvalues ${sig(lMax)} and ${sig(lMin)} (condition number ${sig(lMax / lMin)}), learning rate ${lrFactor}/λ_max = ${sig(lr)} for every batch size, ${steps} steps from (${sig(start[0])}, ${sig(start[1])}):`,
    '',
    '| path | samples used | loss after 50 steps | minimum loss L* |',
    '|---|---:|---:|---:|',
    ...paths.map((p) => `| ${p.label} | ${fmtInt(steps * p.batchSize)} | ${sig(loss(end(p)[0], end(p)[1]), 4)} | ${sig(lStar, 4)} |`),
  ].join('\n').replace('after 50 steps', `after ${steps} steps`));
}

// ---------------------------------------------------------------------------------------------
// 6. The sweep: its table, its fit, its seconds, and its report's pictures.

const sweepDir = arg('--sweep', '');
const sweepName = arg('--sweep-name', 'mnist');
const sweepShots: { html: string; prefix: string } | null = sweepDir ? { html: path.join(sweepDir, 'report.html'), prefix: `batch-size-${sweepName}-` } : null;
if (sweepDir) {
  const results = JSON.parse(fs.readFileSync(path.join(sweepDir, 'results.json'), 'utf8')) as SweepResults;
  const rows = results.batchSizes;
  const B = (r: (typeof rows)[number]) => (r.batchSize === 'full' ? `full (${fmtInt(r.resolvedBatchSize)})` : String(r.batchSize));
  const lines = [
    '| B | lr | steps to target | epochs | samples | seconds (training) | samples/s | B_simple at target | regime |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => `| ${B(r)} | ${sig(r.lr ?? NaN)} | ${r.reached ? fmtInt(r.stepsToTarget!) : 'not reached'} | ${r.reached ? sig(r.epochsToTarget!) : '—'} | ${r.reached ? fmtInt(r.samplesToTarget!) : '—'} | ${r.reached ? sig(r.secondsToTarget!) : '—'} | ${fmtInt(r.samplesPerSec ?? NaN)} | ${r.gnsSlots < 2 ? 'not measurable' : sig(r.bSimpleLogged ?? NaN)} | ${r.regime ?? '—'} |`),
  ];
  const fit = results.fit;
  const startNoise = rows.map((r) => r.bSimpleStart).find((v) => v !== null);
  lines.push(
    '',
    fit
      ? `Fit: S_min = ${sig(fit.sMin)} steps, E_min = ${fmtInt(fit.eMin)} samples, **B_crit ≈ ${fit.bCrit === null ? 'beyond the largest B' : fmtInt(fit.bCrit)}** (rms relative residual ${Math.round(fit.rmsRelativeError * 100)}%). B_simple: ${results.gns ? `logged with the ${results.gns.engine} engine, ${results.gns.workers} workers, --reduce-chunks ${results.gns.reduceChunks}` : 'not logged'}; at initialisation, measured at fixed parameters, ${startNoise === undefined || startNoise === null ? '—' : sig(startNoise)}.`
      : `No fit: ${results.fitNote}.`,
  );
  blocks.set('sweep-table', lines.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Pictures (Chromium) and output.

const imgDir = path.resolve(arg('--img', path.join(repoRoot, 'docs', 'img')));
await screenshot();

const docs = arg('--docs', '');
if (docs) {
  let text = fs.readFileSync(docs, 'utf8');
  for (const [name, body] of blocks) {
    const re = new RegExp(`(<!-- claims:${name} -->\\n)[\\s\\S]*?(<!-- /claims:${name} -->)`);
    if (!re.test(text)) throw new Error(`${docs} has no <!-- claims:${name} --> … <!-- /claims:${name} --> block`);
    text = text.replace(re, (_m, open: string, close: string) => `${open}${body}\n${close}`);
  }
  fs.writeFileSync(docs, text);
  console.error(`updated ${blocks.size} blocks of ${docs}: ${[...blocks.keys()].join(', ')}`);
} else {
  for (const [name, body] of blocks) console.log(`<!-- claims:${name} -->\n${body}\n<!-- /claims:${name} -->\n`);
}

async function screenshot(): Promise<void> {
  const chromiumPath = '/usr/bin/chromium';
  if (!fs.existsSync(chromiumPath)) {
    console.error(`no Chromium at ${chromiumPath}: pictures not written`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  fs.mkdirSync(imgDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dptrain-claims-'));
  try {
    const shoot = async (html: string, sections: { id: string; file: string }[]) => {
      const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
      const errors: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
      page.on('pageerror', (e) => void errors.push(String(e)));
      await page.goto('file://' + html);
      await page.waitForSelector('body[data-charts-ready]', { timeout: 30_000 });
      if (errors.length) throw new Error(`${html}: ${errors.join('; ')}`);
      for (const { id, file } of sections) {
        await page.locator(`section#${id}`).screenshot({ path: path.join(imgDir, file) });
        console.error(`wrote ${path.join(imgDir, file)}`);
      }
      await page.close();
    };
    for (const { file, page } of pictures) {
      const html = path.join(tmp, file.replace(/\.png$/, '.html'));
      fs.writeFileSync(html, renderHtml(page));
      await shoot(html, page.charts.map((c) => ({ id: c.id, file })));
    }
    if (sweepShots) {
      const ids = ['steps-vs-batch', 'epochs-vs-batch', 'loss-vs-steps', 'loss-vs-samples', 'gns', 'lr-vs-batch', 'throughput-vs-batch'];
      await shoot(path.resolve(sweepShots.html), ids.map((id) => ({ id, file: `${sweepShots.prefix}${id}.png` })));
    }
  } finally {
    await browser.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
