/**
 * The live dashboard in a real browser (Debian's Chromium through playwright-core, as the report
 * test): a real `dptrain train --dashboard`, and a real `dptrain coordinator --dashboard` with two
 * `dptrain worker`s, one of which is killed. With DPTRAIN_DOCS_SCREENSHOTS=DIR the screenshots of
 * both pages are written there (docs/img for docs/dashboard.md).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startCli } from './process.helpers.js';
import { killAll, Proc, startWorker } from './ws.helpers.js';
import { tempDir } from './helpers.js';
import { CHROMIUM, countPixels, noBrowser } from './browser.helpers.js';

const noBrowserHere = noBrowser('the dashboard browser tests');
const SHOTS = process.env.DPTRAIN_DOCS_SCREENSHOTS;

let shared: Promise<Browser> | undefined;
after(async () => {
  await killAll();
  if (shared) await (await shared).close();
});

/** One Chromium for both tests, started by the first; each test closes the pages it opened. */
function launch(): Promise<Browser> {
  shared ??= import('playwright-core').then(({ chromium }) =>
    chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    }),
  );
  return shared;
}

/** Opens the page; collects console errors and any request that leaves the dashboard's origin. */
async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[]; foreign: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const errors: string[] = [];
  const foreign: string[] = [];
  const origin = new URL(url).origin;
  page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
  page.on('pageerror', (e) => void errors.push(String(e)));
  page.on('request', (r) => void (!r.url().startsWith(origin) && !r.url().startsWith(origin.replace('http', 'ws')) && foreign.push(r.url())));
  await page.goto(url);
  return { page, errors, foreign };
}

// Page code is passed as functions (run through the DevTools protocol, which the page's CSP
// allows; a string would be eval'd in the page, which the CSP forbids). The tests compile
// without the DOM's types, so the page's globals are declared loosely here.
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const step = (page: Page): Promise<number> => page.evaluate(() => Number(document.body.dataset.step || 0));
const lossPoints = (page: Page): Promise<number[]> => page.evaluate(() => (window.__dashboard()?.series.loss?.x ?? []) as number[]);
const drawnStep = (page: Page, id: string): Promise<number> => page.evaluate((i: string) => Number(document.getElementById(i).dataset.drawnStep ?? -1), id);
const text = (page: Page, id: string): Promise<string> => page.evaluate((i: string) => String(document.getElementById(i).textContent), id);
const rows = (page: Page, selector: string): Promise<string[][]> =>
  page.evaluate((sel: string) => [...document.querySelectorAll(sel)].map((tr: any) => [...tr.querySelectorAll('td')].map((td: any) => String(td.textContent))), selector);
const chartsAndStep = (page: Page, charts: number, above: number, timeout = 60_000) =>
  page.waitForFunction(([c, s]: number[]) => Number(document.body.dataset.charts || 0) >= c && Number(document.body.dataset.step || 0) > s, [charts, above], { timeout });

async function assertChartsDraw(page: Page, ids: string[]): Promise<void> {
  const drawn = await page.evaluate(countPixels);
  for (const id of ids) {
    const chart = drawn.find((c) => c.id === id);
    assert.ok(chart, `chart ${id} is on the page (${drawn.map((c) => c.id).join(', ')})`);
    assert.ok(chart.inked > 1000, `${id}: the canvas is not blank (${chart.inked} inked pixels)`);
    assert.ok(chart.coloured > 30, `${id}: the series drew (${chart.coloured} coloured pixels)`);
  }
}

test('dptrain train --dashboard: charts and timeline draw, step and loss advance, a reload gets the history', { skip: noBrowserHere, timeout: 120_000 }, async () => {
  // The default run, made long enough to watch; Ctrl-C ends it.
  const run = startCli(['train', '--dashboard', '--epochs', '100']);
  let stopped = false;
  const browser = await launch();
  try {
    await run.waitFor(/dashboard at http:\/\/127\.0\.0\.1:\d+\//);
    const url = /dashboard at (http:\/\/\S+)/.exec(run.output())![1];
    assert.equal(run.output().match(/dashboard at/g)!.length, 1, 'the URL is printed once');
    const { page, errors, foreign } = await openPage(browser, url);
    await chartsAndStep(page, 3, 20);
    const step1 = await step(page);
    const loss1 = await lossPoints(page);
    await chartsAndStep(page, 3, step1 + 20, 30_000);
    // body[data-step] is set when the page paints, the series when an update arrives: the step
    // shown can catch up with points the page already had, so the next update is waited for.
    await page.waitForFunction((x: number) => (window.__dashboard()?.series.loss?.x ?? []).at(-1) > x, loss1.at(-1)!, { timeout: 30_000 });
    const loss2 = await lossPoints(page);
    assert.ok(loss2.at(-1)! > loss1.at(-1)!, `the loss series advanced (${loss1.at(-1)} -> ${loss2.at(-1)})`);
    await page.waitForTimeout(400); // a redraw with the new points
    await assertChartsDraw(page, ['loss', 'accuracy', 'lr', 'timeline']);

    // Off screen (below the 900 px viewport), the timeline is not redrawn while the charts on
    // screen are; scrolled into view, it draws the newest steps at once.
    const timelineBefore = await drawnStep(page, 'timeline');
    const lossBefore = await drawnStep(page, 'loss');
    await page.waitForFunction((s: number) => Number(document.getElementById('loss').dataset.drawnStep) > s, lossBefore, { timeout: 30_000 });
    assert.equal(await drawnStep(page, 'timeline'), timelineBefore, 'the off-screen timeline was not redrawn');
    const now = await step(page);
    assert.ok(now > timelineBefore, `steps went on (${timelineBefore} -> ${now})`);
    await page.evaluate(() => document.getElementById('timeline').scrollIntoView());
    await page.waitForFunction((s: number) => Number(document.getElementById('timeline').dataset.drawnStep) >= s, now, { timeout: 10_000 });
    const bars = (await page.evaluate(countPixels)).find((c) => c.id === 'timeline')!;
    assert.ok(bars.coloured > 3000, `the timeline drew its bars, not only its legend (${bars.coloured} coloured pixels)`);
    await page.evaluate(() => window.scrollTo(0, 0));
    const header = await text(page, 'progress-text');
    assert.match(header, /step [\d,]+ \/ [\d,]+ .* samples\/s .*ETA/);
    const facts = await text(page, 'facts');
    assert.match(facts, /mlp:784-128-10.*mnist.*batch size B64/s);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'dashboard-train.png'), fullPage: true });

    // A reload mid-run: the history from the first step comes back, then live updates.
    const before = await lossPoints(page);
    await page.reload();
    await chartsAndStep(page, 3, 0, 30_000);
    const history = await lossPoints(page);
    assert.ok(history[0] < 50, `from the first steps (${history[0]})`);
    assert.ok(history.at(-1)! >= before.at(-1)!, 'up to now');
    assert.ok(history.length >= Math.min(before.length, 2000) * 0.5, `${history.length} points after the reload, ${before.length} before`);
    assert.deepEqual(errors, [], 'no console error');
    assert.deepEqual(foreign, [], 'nothing fetched from elsewhere');

    // 480 px wide: one column, each chart as wide as it, and nothing makes the page scroll sideways.
    await page.setViewportSize({ width: 480, height: 900 });
    await page.waitForTimeout(600);
    const narrow = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth, canvases: [...document.querySelectorAll('#charts canvas')].map((c: any) => c.getBoundingClientRect().right) })); // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.ok(narrow.page <= narrow.view, `no sideways scroll at 480 px (${narrow.page} > ${narrow.view})`);
    assert.ok(narrow.canvases.length >= 3 && narrow.canvases.every((right: number) => right <= narrow.view), `every chart inside the window: ${narrow.canvases.join(', ')}`);

    // The run ends: the page says so, that a reload will not work, and what does.
    stopped = run.child.kill('SIGINT');
    await page.waitForFunction(() => document.getElementById('status').textContent === 'ended', null, { timeout: 30_000 });
    assert.match(await text(page, 'progress-message'), /a reload will not load it; without --out the run kept no files to draw/);
    assert.match(await page.evaluate(() => String(document.querySelector('footer').textContent)), /^dptrain dashboard: ended, no longer served/);
  } finally {
    for (const context of browser.contexts()) await context.close();
    if (!stopped) run.child.kill('SIGINT'); // a second Ctrl-C would end it at once
  }
  const exit = await run.exited;
  assert.equal(exit.code, 130, run.output());
  assert.match(run.output(), /dashboard at \S+ closed \(the run ended\): reloading the page will not work/);
});

test('dptrain coordinator --dashboard with 2 workers: the first ready one while it waits, the roster shows both, then the killed one dropped with its reason', { skip: noBrowserHere, timeout: 120_000 }, async () => {
  const out = tempDir('dptrain-dash-coord-');
  const coordinator = new Proc(['coordinator', '--listen', '127.0.0.1:0', '--log-format', 'json', '--dashboard', '--min-workers', '2', '--epochs', '1000', '--out', out]);
  const browser = await launch();
  try {
    const listening = await coordinator.waitFor(/^coordinator at ws:\/\//, 60_000);
    const wsUrl = /ws:\/\/[^/\s]+\//.exec(listening.msg)![0];
    const url = /http:\/\/\S+/.exec((await coordinator.waitFor(/^dashboard at /)).msg)![0];
    const workers = [startWorker(wsUrl, 'w1')];
    const { page, errors, foreign } = await openPage(browser, url);
    // Before the first step: how many are ready of how many needed, and who.
    await page.waitForFunction(() => document.body.innerText.includes('waiting for workers: 1 of 2 ready') && document.querySelector('#roster tr[data-worker="w1"]')?.getAttribute('data-state') === 'ready', null, { timeout: 60_000 });
    workers.push(startWorker(wsUrl, 'w2'));
    await page.waitForFunction(() => document.querySelectorAll('#roster tr[data-state="computing"]').length === 2 && Number(document.body.dataset.step || 0) > 10, null, { timeout: 60_000 });
    const roster = await rows(page, '#roster tbody tr');
    assert.deepEqual(roster.map((r) => [r[0], r[3]]), [['w1', 'computing'], ['w2', 'computing']]);
    assert.ok(roster.every((r) => /\d+(\.\d)? (B|kB|MB|GB)/.test(r[7]) && /\d/.test(r[8])), `bytes sent and received: ${JSON.stringify(roster)}`);

    workers[1].kill('SIGKILL');
    await page.waitForFunction(() => document.querySelector('#roster tr[data-worker="w2"]')?.getAttribute('data-state') === 'dropped', null, { timeout: 60_000 });
    const [dropped] = await rows(page, '#roster tr[data-worker="w2"]');
    assert.ok(dropped[9].length > 5, `a reason: ${dropped[9]}`);
    const events = await text(page, 'events');
    assert.match(events, /w2 \(.*\) dropped/);
    assert.match(events, /^\d\d:\d\d:\d\d · /, 'a 24-hour clock, as the log lines');
    assert.match(await text(page, 'facts'), /ws, 1 worker/, 'the header counts the members now');
    // Training goes on with w1.
    const at = await step(page);
    await chartsAndStep(page, 1, at + 5);
    await page.waitForTimeout(400);
    await assertChartsDraw(page, ['loss', 'timeline']);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'dashboard-coordinator.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no console error');
    assert.deepEqual(foreign, [], 'nothing fetched from elsewhere');
  } finally {
    for (const context of browser.contexts()) await context.close();
    await killAll();
  }
});
