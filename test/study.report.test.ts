import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import vm from 'node:vm';
import { buildReportPage, CHART_SCRIPT, renderHtml, sweep, writeReport, type ChartDef, type ReportPage } from '../src/study/index.js';
import { train } from '../src/train/index.js';
import { tempDir } from './helpers.js';
import { CHROMIUM, countPixels, noBrowser, xTicks } from './browser.helpers.js';

const noBrowserHere = noBrowser('the report rendering test');

const TRAIN = { dataset: 'synthetic:teacher?n=1000&d=8&noise=0', model: 'linreg:8-1', lr: 0.05, momentum: 0, baseBatchSize: 32 };

let sweepDir: Promise<string> | undefined;
/** One small sweep, shared by the tests below: each reads it or writes its report.html. */
function smallSweep(): Promise<string> {
  sweepDir ??= (async () => {
    const out = tempDir('dptrain-report-');
    await sweep({ batchSizes: [4, 32, 'full'], target: 'train_loss=0.01', maxEpochs: 30, lrRule: 'tuned', lrTrials: 3, out, train: TRAIN });
    return out;
  })();
  return sweepDir;
}

const SWEEP_CHARTS = ['steps-vs-batch', 'epochs-vs-batch', 'loss-vs-steps', 'loss-vs-samples', 'gns', 'lr-vs-batch', 'throughput-vs-batch'];

test('a sweep report defines every chart the issue lists, with data in each', async () => {
  const dir = await smallSweep();
  const page = await buildReportPage(dir);
  assert.equal(page.kind, 'sweep');
  assert.deepEqual(page.charts.map((c) => c.id), SWEEP_CHARTS);
  for (const chart of page.charts) {
    assert.ok(chart.x.length > 0, `${chart.id} has x values`);
    for (const s of chart.series) {
      assert.equal(s.values.length, chart.x.length, `${chart.id}/${s.label} is aligned`);
      assert.ok(s.values.some((v) => v !== null), `${chart.id}/${s.label} has data`);
      if (chart.yLog) assert.ok(s.values.every((v) => v === null || v > 0), `${chart.id}/${s.label} is positive on a log axis`);
    }
  }
  const steps = page.charts[0];
  assert.deepEqual(steps.series.map((s) => s.label.split(' (')[0]), ['measured', 'perfect scaling', 'fit S_min + E_min/B', 'S_min']);
  const lr = page.charts.find((c) => c.id === 'lr-vs-batch')!;
  assert.deepEqual(lr.series.map((s) => s.label), ['best rate', 'linear', 'square root']);
});

test('the report is one self-contained file: uPlot and the data inline, nothing fetched', async () => {
  const dir = await smallSweep();
  const { file } = await writeReport(dir);
  assert.equal(file, path.join(dir, 'report.html'));
  const html = fs.readFileSync(file, 'utf8');
  assert.match(html, /<script id="report-data" type="application\/json">/);
  assert.match(html, /uPlot/);
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|url\(/, 'no external script, stylesheet or resource');
  // The one URL is in uPlot's licence comment.
  assert.deepEqual([...new Set(html.match(/https?:\/\/[^\s"')]+/g))], ['https://github.com/leeoniya/uPlot']);
});

/** An xy chart (uPlot mode 2), as scripts/claims.ts draws the loss contours: a closed curve, a gap, a path, a point. */
function xyPage(): ReportPage {
  const ring = Array.from({ length: 41 }, (_, k) => (2 * Math.PI * k) / 40);
  return {
    kind: 'run',
    title: 'xy',
    summary: [],
    table: null,
    warnings: [],
    charts: [{
      id: 'xy', title: 'contours and a path', note: 'test', xLabel: 'w', yLabel: 'b', xLog: false, yLog: false, x: [],
      layout: 'xy', square: true, xRange: [-2, 2], yRange: [-1.5, 1.5],
      series: [
        { label: 'contours', style: 'line', color: 8, width: 1, x: [...ring.map(Math.cos), 0, ...ring.map((t) => 0.5 * Math.cos(t))], values: [...ring.map((t) => Math.sin(t)), null, ...ring.map((t) => 0.5 * Math.sin(t))] },
        { label: 'path', style: 'line', color: 1, x: [-1.8, 0.5, -0.3, 0.1, 0], values: [1.2, 0.2, -0.4, 0.1, 0] },
        { label: 'minimum', style: 'points', color: 4, x: [0], values: [0] },
      ],
    }],
  };
}

/** The loss per epoch of a short and a long run, as the run page draws it. */
function epochsPage(): ReportPage {
  const epochs = (id: string, n: number): ChartDef => {
    const x = Array.from({ length: n }, (_, i) => i + 1);
    return { id, title: `${n} epochs`, note: 'test', xLabel: 'epoch', yLabel: 'loss', xLog: false, yLog: false, x, series: [{ label: 'train', style: 'line', color: 0, values: x.map((e) => 1 / e) }] };
  };
  return { kind: 'run', title: 'epochs', summary: [], table: null, warnings: [], charts: [epochs('two-epochs', 2), epochs('fifty-epochs', 50)] };
}

test('an x axis of whole numbers (epochs, steps) steps by whole numbers only; fractional, log and xy axes keep uPlot\'s steps', () => {
  const context: { window: { dptrainCharts?: { xAxis(def: Partial<ChartDef>): { incrs?: number[] } } } } = { window: {} };
  vm.runInNewContext(CHART_SCRIPT, context);
  const axis = (def: Partial<ChartDef>) => context.window.dptrainCharts!.xAxis({ xLabel: 'epoch', xLog: false, ...def }).incrs;
  // Copied out of the script's realm, whose arrays have their own prototype.
  const incrs = Array.from(axis({ x: [1, 2, 3] })!);
  assert.deepEqual(incrs.slice(0, 8), [1, 2, 5, 10, 20, 25, 50, 100]);
  assert.ok(incrs.every(Number.isInteger) && incrs.at(-1)! >= 1e15, 'whole steps, up to any run length');
  assert.deepEqual(Array.from(axis({ x: [1] })!), incrs, 'one epoch');
  assert.equal(axis({ x: [0.5, 1] }), undefined, 'fractional x');
  assert.equal(axis({ x: [1, 10], xLog: true }), undefined, 'log axis');
  assert.equal(axis({ x: [], layout: 'xy' }), undefined, 'xy chart');
});

test('the sweep and run reports render in headless Chromium: every chart draws, no console error', { skip: noBrowserHere, timeout: 120_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const dir = await smallSweep();
  const runDir = path.join(tempDir('dptrain-report-run-'), 'run');
  // Two worker threads give two gradient slots, so the run logs B_simple; --eval-every adds the
  // validation-vs-steps chart: 7 charts with the learning rate's.
  await train({ ...TRAIN, batchSize: 32, epochs: 3, evalEvery: 10, out: runDir, engine: 'threads', workers: 2 });
  const xyFile = path.join(tempDir('dptrain-report-xy-'), 'xy.html');
  fs.writeFileSync(xyFile, renderHtml(xyPage()));
  const epochsFile = path.join(tempDir('dptrain-report-epochs-'), 'epochs.html');
  fs.writeFileSync(epochsFile, renderHtml(epochsPage()));
  const pages = [
    { file: (await writeReport(dir)).file, charts: SWEEP_CHARTS.length },
    { file: (await writeReport(runDir)).file, charts: 7 },
    { file: xyFile, charts: 1 },
    { file: epochsFile, charts: 2 },
  ];
  const epochTicks = new Map<string, string[]>();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    for (const { file, charts } of pages) {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
      page.on('pageerror', (e) => void errors.push(String(e)));
      page.on('request', (r) => void (!r.url().startsWith('file://') && requests.push(r.url())));
      await page.goto('file://' + file);
      await page.waitForSelector('body[data-charts-ready]', { timeout: 30_000 });
      const shot = file.replace(/\.html$/, '.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(fs.statSync(shot).size > 10_000, 'a screenshot');
      const drawn = await page.evaluate(countPixels);
      assert.equal(drawn.length, charts, `${charts} charts in ${file}`);
      for (const chart of drawn) {
        assert.ok(chart.inked > 1000, `${chart.id}: the canvas is not blank (${chart.inked} inked pixels)`);
        assert.ok(chart.coloured > 30, `${chart.id}: the series drew (${chart.coloured} coloured pixels)`);
      }
      assert.deepEqual(errors, [], 'no console error');
      assert.deepEqual(requests, [], 'no request leaves the file');
      for (const { id, label, ticks } of await page.evaluate(xTicks)) if (label === 'epoch') epochTicks.set(id, ticks);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  // Epochs are whole: every epoch axis is labelled at whole epochs (3 in the run), a few apart on a long run.
  assert.deepEqual([...epochTicks.keys()], ['epoch-loss', 'throughput', 'two-epochs', 'fifty-epochs']);
  assert.deepEqual(epochTicks.get('epoch-loss'), ['1', '2', '3']);
  assert.deepEqual(epochTicks.get('two-epochs'), ['1', '2']);
  const long = epochTicks.get('fifty-epochs')!;
  assert.ok(long.length >= 4 && long.length <= 12 && long.every((t) => /^\d+$/.test(t)), `50 epochs: ${long.join(', ')}`);
});

test('an interrupted sweep says so first, names the batch sizes without a result and how to finish them', async () => {
  const out = tempDir('dptrain-report-interrupted-');
  // As Ctrl-C does in the CLI: the signal aborts while the second batch size's run starts.
  const abort = new AbortController();
  const results = await sweep(
    { batchSizes: [4, 32], target: 'train_loss=0.01', maxEpochs: 5, out, train: TRAIN },
    { signal: abort.signal, onRunStart: (run) => void (run.batchSize === 32 && abort.abort()) },
  );
  assert.deepEqual(results.interrupted, { run: results.interrupted?.run, finished: [4], unfinished: [32] });
  assert.ok(results.interrupted?.run, 'stopped during a run');
  const page = await buildReportPage(out);
  const said = `Interrupted (Ctrl-C) during run ${results.interrupted!.run}: no result for B=32; the page shows B=4, whose runs all finished. The same dptrain sweep command with --resume (and --out ${out}) trains what is missing; finished runs are read back, not trained again.`;
  assert.equal(page.summary[0], said);
  assert.deepEqual(page.table!.map((row) => row[0]), ['B', '4', '32']);
  assert.deepEqual(page.table!.at(-1)!.slice(0, 3), ['32', '—', 'no result (interrupted)']);
  assert.equal(page.table!.at(-1)!.length, page.table![0].length);
  assert.ok(renderHtml(page).includes(`<p>${said}</p>`), 'in the page, first under the title');
});
