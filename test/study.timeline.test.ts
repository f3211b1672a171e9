// The report's all-reduce charts for ws runs (issue 20: "so a user can see the overlap"): the
// collector's thinning and median step on made-up records, then a real run as a user starts it
// (`dptrain coordinator` and two `dptrain worker` processes on 127.0.0.1, default flags), its
// `dptrain report`, the charts' data against metrics.jsonl, and the page drawn in Chromium.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { buildReportPage, TimelineCollector, type ChartDef } from '../src/study/index.js';
import type { StepTiming } from '../src/train/index.js';
import { runCli, runCliAsync, tempDir } from './helpers.js';
import { CHROMIUM, countPixels, noBrowser } from './browser.helpers.js';
import { killAll, startCoordinator, startWorker, stepRecords } from './ws.helpers.js';

after(killAll);

/** A made-up two-worker timing: backward `compute` ms, one bucket all-reduced from `compute - 2` for `comm` ms. */
function timing(compute: number, comm: number): StepTiming {
  const worker = (name: string) => ({ worker: name, computeMs: compute, commMs: comm, hiddenMs: 2, buckets: [{ readyMs: compute - 3, startMs: compute - 2, endMs: compute - 2 + comm }] });
  return { computeMs: [compute, compute], reduceMs: 0, updateMs: 0, idleMs: 0, buckets: [worker('a'), worker('b')] };
}

test('the collector keeps evenly spaced steps within its bound and draws the median step', () => {
  const c = new TimelineCollector(10);
  for (let step = 0; step < 1000; step++) c.add(step, step === 0 ? 500 : 10 + (step % 7), timing(5, 8));
  const { points, median } = c.result();
  assert.ok(points.length <= 20 && points.length >= 10, `${points.length} points`);
  const gaps = new Set(points.slice(1).map((p, i) => p.step - points[i].step));
  assert.equal(gaps.size, 1, `evenly spaced: ${[...gaps]}`);
  assert.equal(points[0].step, 1);
  assert.deepEqual({ compute: points[1].computeMs, comm: points[1].commMs, exposed: points[1].exposedMs, overlap: points[1].overlap }, { compute: 5, comm: 8, exposed: 6, overlap: 0.25 });
  // Step 0 (start-up, 500 ms) is never the median; the median step's time is the kept steps' median.
  const times = points.slice(1).map((p) => p.stepMs).sort((a, b) => a - b);
  const [lo, hi] = [times[Math.floor((times.length - 1) / 2)], times[Math.ceil((times.length - 1) / 2)]];
  assert.ok(median && median.step !== 1 && median.stepMs >= lo && median.stepMs <= hi, `${JSON.stringify(median)} against ${times}`);
  assert.deepEqual(median.workers.map((w) => w.worker), ['a', 'b']);
  // Steps without bucket timings (other engines) give no points and no charts.
  const none = new TimelineCollector();
  none.add(0, 3, { computeMs: [1], reduceMs: 0, updateMs: 0, idleMs: 0 });
  assert.deepEqual(none.result(), { points: [], median: null });
});

test('dptrain report of a ws run (default flags) shows each step\'s all-reduce against backward and the median step\'s timeline', { skip: noBrowser('the rendering check'), timeout: 180_000 }, async () => {
  const out = path.join(tempDir('dptrain-timeline-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '2', '--max-steps', '24', '--out', out]);
  const workers = [startWorker(coordinator.url, 'w1'), startWorker(coordinator.url, 'w2')];
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());

  // The page and the trace at once: both read the run, and each writes its files atomically.
  const traceFile = path.join(out, 'timeline.json');
  const [report, traced] = await Promise.all([runCliAsync(['report', out]), runCliAsync(['report', out, '--timeline', traceFile])]);
  assert.equal(report.status, 0, report.stderr);
  const page = await buildReportPage(out);
  assert.ok(page.summary.some((s) => /^All-reduce \(medians over 24 steps; .*overlap \(hidden \/ total\) (\d+%|none)\.$/.test(s)), page.summary.join('\n'));
  const records = stepRecords(out) as unknown as { step: number; ms: number; timing: Required<StepTiming> }[];
  const perStep = page.charts.find((c) => c.id === 'comm-per-step')!;
  // Every step but the first (start-up), the slowest worker's of each.
  const steady = records.slice(1);
  assert.deepEqual(perStep.x, steady.map((r) => r.step + 1));
  assert.deepEqual(perStep.series[0].values, steady.map((r) => r.ms));
  assert.deepEqual(perStep.series[1].values, steady.map((r) => Math.max(...r.timing.buckets.map((w) => w.computeMs))));
  assert.deepEqual(perStep.series[2].values, steady.map((r) => Math.max(...r.timing.buckets.map((w) => w.commMs))));
  assert.deepEqual(perStep.series[3].values, steady.map((r) => Math.max(...r.timing.buckets.map((w) => Math.max(0, w.commMs - w.hiddenMs)))));

  // The timeline: one row per worker; the bars are the chosen step's own timings.
  const timeline = page.charts.find((c) => c.id === 'step-timeline') as ChartDef;
  assert.deepEqual(timeline.rows, ['w1', 'w2']);
  const step = Number(/Timeline of step (\d+)/.exec(timeline.title)![1]);
  const record = records.find((r) => r.step + 1 === step)!;
  const [compute, comm, ready] = timeline.series;
  const bars = (s: typeof compute) => s.x!.flatMap((x, i) => (s.values[i] === null ? [] : [x]));
  assert.deepEqual(bars(compute), record.timing.buckets.flatMap((w) => [0, w.computeMs]));
  assert.deepEqual(bars(comm), record.timing.buckets.flatMap((w) => w.buckets.flatMap((b) => [b.startMs, b.endMs])));
  assert.deepEqual(ready.x, record.timing.buckets.flatMap((w) => w.buckets.map((b) => b.readyMs)));

  // The same steps as a trace for chrome://tracing: a process per worker, every step's bars.
  assert.equal(traced.status, 0, traced.stderr);
  assert.match(traced.stdout, /^wrote .*timeline\.json \(24 steps of 2 workers; open it in chrome:\/\/tracing or ui\.perfetto\.dev\)$/m);
  const events = (JSON.parse(fs.readFileSync(traceFile, 'utf8')) as { traceEvents: { name: string; ph: string; pid: number; tid?: number; ts: number; dur?: number; args: { step?: number; name?: string } }[] }).traceEvents;
  const names = events.filter((e) => e.name === 'process_name').map((e) => e.args.name);
  assert.deepEqual(names, ['steps (coordinator)', 'worker w1', 'worker w2']);
  const buckets = records[0].timing.buckets[0].buckets.length;
  assert.equal(events.filter((e) => e.ph === 'X').length, records.length * (1 + 2 * (1 + buckets)));
  let t0 = 0;
  for (const r of records) {
    const mine = events.filter((e) => e.args.step === r.step && e.ph === 'X');
    assert.equal(mine.find((e) => e.pid === 0)!.ts, t0, `step ${r.step} starts where the steps before it end`);
    r.timing.buckets.forEach((w, i) => {
      const bars = mine.filter((e) => e.pid === i + 1).map((e) => [e.name, e.ts - t0, e.dur]);
      const us = (ms: number) => Math.round(ms * 1000);
      assert.deepEqual(bars, [['forward + backward', 0, us(w.computeMs)], ...w.buckets.map((b, k) => [`bucket ${k} all-reduce`, us(b.startMs), us(b.endMs - b.startMs)])]);
    });
    t0 += Math.round(r.ms * 1000);
  }

  // Drawn: every chart inks its canvas in colour, no console error.
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const tab = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    tab.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    tab.on('pageerror', (e) => void errors.push(String(e)));
    await tab.goto('file://' + path.join(out, 'report.html'));
    await tab.waitForSelector('body[data-charts-ready]', { timeout: 30_000 });
    const charts = await tab.evaluate(countPixels);
    const drawn = Object.fromEntries(charts.map((c) => [c.id, c.coloured]));
    assert.ok(drawn['comm-per-step'] > 200 && drawn['step-timeline'] > 200, JSON.stringify(drawn));
    // The legend names the timeline's three series.
    const rows = await tab.evaluate(`[...document.querySelectorAll('#step-timeline .u-legend .u-label')].map((e) => e.textContent)`);
    assert.deepEqual(rows, ['forward + backward', 'bucket all-reduce', 'bucket final']);
    await tab.screenshot({ path: path.join(out, 'report.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('dptrain report --timeline of a run without bucket timings, or into a missing folder: one line, exit 2, nothing written', { timeout: 60_000 }, async () => {
  const root = tempDir('dptrain-timeline-bad-');
  const run = path.join(root, 'run');
  const trained = runCli(['train', '--max-steps', '3', '--out', run]);
  assert.equal(trained.status, 0, trained.stderr);
  const cases = [
    [path.join(root, 'trace.json'), 'dptrain.config.noTimeline', /has no bucket timings in its step records: only runs of `dptrain coordinator` \(the ws engine\) record them/],
    [path.join(root, 'missing', 'trace.json'), 'dptrain.config.badOption', /--timeline .*: the folder .*missing does not exist/],
  ] as const;
  // Both at once; what they left is checked once both have ended.
  const results = await Promise.all(cases.map(([file]) => runCliAsync(['report', run, '--timeline', file])));
  for (const [i, [file, code, pattern]] of cases.entries()) {
    const result = results[i];
    assert.equal(result.status, 2, result.stderr);
    const lines = result.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], pattern);
    assert.ok(lines[0].endsWith(`[${code}]`), lines[0]);
    assert.ok(!fs.existsSync(file), 'no trace written');
    assert.deepEqual(fs.readdirSync(path.dirname(run)).filter((f) => f.endsWith('.tmp')), []);
    assert.ok(!fs.existsSync(path.join(run, 'report.html')), 'no report written');
  }
});
