// The run page of `dptrain report` (src/study/report-run.ts): what a user's try found missing or
// misleading. A one-epoch run draws its per-epoch charts, ticked at whole epochs; the learning
// rate has its chart, thinned for long runs; a run without B_simple says why in its place;
// --batch-size auto draws B(t) and the gain as step functions and says the batch size was chosen;
// a run that stopped before its epochs says where and why. The drawing is checked in headless
// Chromium.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildReportPage, writeReport } from '../src/study/index.js';
import { train, type StepRecord } from '../src/train/index.js';
import { makeClassification, tempDir } from './helpers.js';
import { CHROMIUM, countPixels, noBrowser, xTicks } from './browser.helpers.js';

const noBrowserHere = noBrowser('the run report rendering tests');
const data = makeClassification(600, 8, 3);
/** 540 training samples at B = 32: 17 steps per epoch, on one thread (one gradient slot: no B_simple). */
const BASE = { model: 'mlp:8-16-3', batchSize: 32, lr: 0.05, seed: 1, engine: 'inline' } as const;

type Browser = import('playwright-core').Browser;
type Page = import('playwright-core').Page;

/** Chromium with the report test's flags; `use` gets it and it is closed after. */
async function withBrowser(use: (browser: Browser) => Promise<void>): Promise<void> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    await use(browser);
  } finally {
    await browser.close();
  }
}

/** The report of `dir`, written and opened, with its charts drawn and no console error. */
async function openReport(browser: Browser, dir: string, errors: string[]): Promise<Page> {
  const { file } = await writeReport(dir);
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
  page.on('pageerror', (e) => void errors.push(String(e)));
  await page.goto('file://' + file);
  await page.waitForSelector('body[data-charts-ready]', { timeout: 30_000 });
  return page;
}

const steps = (dir: string): StepRecord[] =>
  fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step');

test('a one-epoch run draws a point on each per-epoch chart, and the B_simple chart\'s place says why it is missing', { skip: noBrowserHere, timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-report-one-'), 'run');
  await train({ ...BASE, epochs: 1, out }, { data });
  const page = await buildReportPage(out);
  for (const id of ['epoch-loss', 'epoch-accuracy', 'throughput']) assert.deepEqual(page.charts.find((c) => c.id === id)?.x, [1], id);
  assert.equal(page.charts.find((c) => c.id === 'gns'), undefined);
  assert.deepEqual(page.absent?.map((a) => a.id), ['gns']);
  const why = page.absent![0].note;
  assert.match(why, /one gradient slot per step \(inline engine, 1 worker, no --reduce-chunks\).*train with --reduce-chunks 2 or more, or with 2 or more workers/);
  await withBrowser(async (browser) => {
    const errors: string[] = [];
    const tab = await openReport(browser, out, errors);
    const drawn = Object.fromEntries((await tab.evaluate(countPixels)).map((c) => [c.id, c.coloured]));
    // One value per series: only a marker can show it (a line needs two).
    for (const id of ['epoch-loss', 'epoch-accuracy', 'throughput']) assert.ok(drawn[id] > 30, `${id} shows its epoch (${drawn[id]} coloured pixels)`);
    // The epoch axis is ticked at whole epochs around the one point, not at 0.2, 0.4, ...
    const epochAxes = (await tab.evaluate(xTicks)).filter((c) => c.label === 'epoch');
    assert.deepEqual(epochAxes.map((c) => c.id), ['epoch-loss', 'epoch-accuracy', 'throughput']);
    for (const { id, ticks } of epochAxes) assert.ok(ticks.includes('1') && ticks.every((t) => /^\d+$/.test(t)), `${id}: whole epochs (${ticks.join(', ')})`);
    // The reason stands where the chart would be: after the last chart of the run.
    const placed = await tab.evaluate(`(() => { const s = document.getElementById('gns'); return { text: s.querySelector('p.absent').textContent, previous: s.previousElementSibling.id, visible: s.getBoundingClientRect().height > 20 }; })()`);
    assert.deepEqual(placed, { text: why, previous: 'throughput', visible: true });
    assert.deepEqual(errors, []);
  });
});

test('the learning-rate chart follows the step records: a warmup to the peak, then the cosine down', async () => {
  const out = path.join(tempDir('dptrain-report-lr-'), 'run');
  await train({ ...BASE, epochs: 2, lrSchedule: 'cosine', warmupEpochs: 0.5, out }, { data });
  const page = await buildReportPage(out);
  const lr = page.charts.find((c) => c.id === 'lr-vs-steps');
  assert.ok(lr, 'a learning-rate chart');
  assert.equal(page.charts.indexOf(lr), 2, 'after the loss curves');
  const records = steps(out);
  // A short run keeps every step: x is the 1-based step, y its lr.
  assert.deepEqual(lr.x, records.map((r) => r.step + 1));
  assert.deepEqual(lr.series[0].values, records.map((r) => r.lr));
  const values = lr.series[0].values as number[];
  const peak = values.indexOf(Math.max(...values));
  assert.ok(peak >= 7 && peak <= 9, `the warmup (half of 17 steps) ends at the peak (step ${peak + 1})`);
  assert.ok(values.slice(0, peak).every((v, i) => v < values[i + 1]), 'rising through the warmup');
  assert.ok(values.slice(peak).every((v, i, a) => i === 0 || v <= a[i - 1]), 'falling after it');
  assert.deepEqual(lr.yRange?.[0], 0, 'drawn from 0, so the schedule keeps its shape');
});

test('a long run\'s learning rate is thinned, and a step schedule keeps its drop where it happened', async () => {
  // metrics.jsonl of 200,000 steps written by hand: lr 0.1, then 0.01 from step 123,457 on.
  const dir = tempDir('dptrain-report-long-');
  const n = 200_000;
  const drop = 123_456;
  const lines: string[] = [];
  for (let step = 0; step < n; step++) lines.push(JSON.stringify({ type: 'step', epoch: 0, step, batchSize: 8, samples: 8 * (step + 1), loss: 1 / (1 + step), accuracy: null, lr: step < drop ? 0.1 : 0.01, ms: 1 }));
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  const lr = (await buildReportPage(dir)).charts.find((c) => c.id === 'lr-vs-steps')!;
  assert.ok(lr.x.length <= 2400, `${lr.x.length} points`);
  assert.deepEqual([lr.x[0], lr.x.at(-1)], [1, n], 'from the first step to the last');
  const v = lr.series[0].values;
  const at = v.findIndex((y) => y === 0.01);
  assert.equal(lr.x[at], drop + 1, 'the first step at the lower rate is kept');
  assert.equal(v[at - 1], 0.1);
  assert.ok(v.slice(0, at).every((y) => y === 0.1) && v.slice(at).every((y) => y === 0.01));
});

test('--batch-size auto: the header says the batch size was chosen, with its range, and B(t) and the gain are drawn as steps', { skip: noBrowserHere, timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-report-auto-'), 'run');
  // As train.adaptive-run.test.ts: B grows from 8, 2x per choice every 5 steps, by a given step-time model.
  await train({ model: 'mlp:8-16-3', batchSize: 'auto', baseBatchSize: 8, adaptEvery: 5, stepTimeModel: '1,0.01', epochs: 3, lr: 0.05, seed: 2, engine: 'inline', out }, { data });
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  const page = await buildReportPage(out);
  // The range of the batch sizes used: each epoch's last batch may be a partial one and is left out.
  const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const used = lines.filter((r, i) => r.type === 'step' && lines[i + 1]?.type !== 'epoch').map((r) => r.batchSize);
  const [lo, hi] = [Math.min(...used), Math.max(...used)];
  assert.ok(hi > lo);
  const setup = page.summary.find((p) => p.startsWith('mlp:8-16-3'))!;
  assert.ok(setup.includes(`batch size chosen while training (--batch-size auto): ${lo}–${hi} samples per step (an epoch's partial last batch aside) from B0 = 8, ${summary.steps} steps in all`), setup);
  assert.doesNotMatch(setup, /steps per epoch/);
  for (const id of ['adaptive-batch', 'adaptive-gain']) {
    const def = page.charts.find((c) => c.id === id)!;
    assert.equal(def.series[0].style, 'steps', id);
    assert.equal(def.xRange?.[1], summary.steps, `${id} runs to the last step`);
  }
  await withBrowser(async (browser) => {
    const errors: string[] = [];
    const tab = await openReport(browser, out, errors);
    // Halfway between two choices with different values, the blue series is at the earlier value
    // (a step), not between the two (a ramp).
    const probe = (id: string) => tab.evaluate(`(() => {
      const u = window.__charts.find((c) => c.id === '${id}').plot;
      const xs = u.data[0], ys = u.data[1];
      const i = xs.findIndex((x, k) => k + 1 < xs.length && ys[k] != null && ys[k + 1] != null && ys[k] !== ys[k + 1] && u.valToPos(xs[k + 1], 'x', true) - u.valToPos(x, 'x', true) > 12);
      const mid = (xs[i] + xs[i + 1]) / 2;
      const px = Math.round(u.valToPos(mid, 'x', true));
      const step = u.valToPos(ys[i], 'y', true);
      const ramp = (u.valToPos(ys[i], 'y', true) + u.valToPos(ys[i + 1], 'y', true)) / 2;
      const ctx = u.ctx, h = ctx.canvas.height, col = ctx.getImageData(px, 0, 1, h).data;
      const blue = [];
      for (let y = 0; y < h; y++) if (col[4 * y + 2] > 140 && col[4 * y] < 90 && col[4 * y + 3] > 128) blue.push(y);
      return { found: i >= 0, step, ramp, blue };
    })()`) as Promise<{ found: boolean; step: number; ramp: number; blue: number[] }>;
    for (const id of ['adaptive-batch', 'adaptive-gain']) {
      const { found, step, ramp, blue } = await probe(id);
      assert.ok(found, `${id} has two choices with different values`);
      assert.ok(Math.abs(step - ramp) > 8, `${id}: a step and a ramp are told apart`);
      assert.ok(blue.some((y) => Math.abs(y - step) <= 3), `${id}: drawn at the earlier value (y ${step.toFixed(0)}; blue at ${blue.join(', ')})`);
      assert.ok(!blue.some((y) => Math.abs(y - ramp) <= 3), `${id}: not on a ramp (y ${ramp.toFixed(0)})`);
    }
    assert.deepEqual(errors, []);
  });
});

test('a run stopped before its epochs says where and why: interrupted, --max-steps, early stopping', async () => {
  const root = tempDir('dptrain-report-stop-');
  const perEpoch = 17;
  // Interrupted (as Ctrl-C aborts the CLI's signal) after the 6th step of epoch 2.
  const abort = new AbortController();
  const interrupted = path.join(root, 'interrupted');
  await train({ ...BASE, epochs: 3, out: interrupted }, { data, signal: abort.signal, callbacks: [{ onStep: (r) => void (r.step === perEpoch + 5 && abort.abort()) }] });
  const maxSteps = path.join(root, 'max-steps');
  await train({ ...BASE, epochs: 3, maxSteps: perEpoch + 3, out: maxSteps }, { data });
  // Early stopping: no epoch improves on the first by 10, so --patience 1 stops after the second.
  const patience = path.join(root, 'patience');
  await train({ ...BASE, epochs: 5, patience: 1, minDelta: 10, out: patience }, { data });
  const finished = path.join(root, 'finished');
  await train({ ...BASE, epochs: 1, out: finished }, { data });

  const first = async (dir: string) => (await buildReportPage(dir)).summary[0];
  assert.equal(await first(interrupted), `Interrupted (Ctrl-C or SIGTERM) at epoch 2/3 step 6/${perEpoch} (run step ${perEpoch + 6}): the records, summary.json and final.safetensors end at that step.`);
  assert.equal(await first(maxSteps), `Stopped by --max-steps ${perEpoch + 3} at epoch 2/3 step 3/${perEpoch} (run step ${perEpoch + 3}).`);
  const best = JSON.parse(fs.readFileSync(path.join(patience, 'summary.json'), 'utf8')).best;
  assert.equal(best.epoch, 0);
  assert.equal(await first(patience), `Stopped early at the end of epoch 2/5 (run step ${2 * perEpoch}): valLoss did not improve for 1 epoch (--patience 1); best valLoss ${Number(best.value.toPrecision(4))} at epoch 1.`);
  assert.match(await first(finished), /^mlp:8-16-3 on /, 'a run that ran its epochs starts with its setup');
});
