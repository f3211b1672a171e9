/**
 * `dptrain report DIR`: one self-contained HTML page for a sweep directory (results.json) or a
 * run directory (metrics.jsonl). Charts are uPlot (MIT, ~50 kB, inlined with its CSS from
 * node_modules), the data are embedded as JSON, and nothing is fetched: the page opens offline.
 *
 * The charts are built as plain definitions (x values and aligned series; report-page.ts), so the
 * page's script only hands them to uPlot, and tests can check the definitions without a browser.
 * This module picks the page (report-sweep.ts or report-run.ts), renders it as HTML and writes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, DptrainError } from '../errors.js';
import { writeFileAtomic } from '../io/index.js';
import { CHART_CSS, CHART_SCRIPT, uplotAssets } from './charts.js';
import { readJson } from './metrics.js';
import type { ReportPage } from './report-page.js';
import { runPage } from './report-run.js';
import { sweepPage } from './report-sweep.js';
import type { SweepResults } from './sweep-types.js';

/** The page definition for DIR: a sweep (results.json) or a run (metrics.jsonl). */
export async function buildReportPage(dir: string): Promise<ReportPage> {
  const results = await readJson<SweepResults>(path.join(dir, 'results.json'));
  if (results) {
    if (results.format !== 'dptrain-sweep-results-v1') {
      throw new DptrainError('dptrain.study.badResults', `${path.join(dir, 'results.json')} is not a dptrain sweep result (format ${JSON.stringify(results.format)})`);
    }
    return sweepPage(dir, results);
  }
  if (fs.existsSync(path.join(dir, 'metrics.jsonl'))) return runPage(dir);
  throw new ConfigError('notAReportDir', `${dir} holds neither results.json (a sweep) nor metrics.jsonl (a run) — pass the --out directory of \`dptrain sweep\` or \`dptrain train\``);
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * Draws every chart of the page's data with the shared chart script (charts.ts), and puts each
 * absent chart's heading and reason where it would be; runs in the page. window.__charts holds
 * each chart's uPlot for tests.
 */
const PAGE_SCRIPT = `
(function () {
  var page = JSON.parse(document.getElementById('report-data').textContent);
  var charts = window.dptrainCharts;
  var root = document.getElementById('charts');
  var absent = page.absent || [];
  function explain(before) {
    absent.filter(function (a) { return a.before === before; }).forEach(function (a) { charts.section(root, a, true); });
  }
  window.__charts = [];
  page.charts.forEach(function (def, i) {
    explain(i);
    var box = charts.section(root, def);
    var plot = charts.draw(def, box, Math.max(480, Math.min(960, root.clientWidth || 900)));
    window.__charts.push({ id: def.id, plot: plot, points: def.series.map(function (s) { return s.values.filter(function (v) { return v !== null; }).length; }) });
  });
  explain(page.charts.length);
  document.body.setAttribute('data-charts-ready', String(page.charts.length));
})();
`;

/** The whole page as one HTML string. */
export function renderHtml(page: ReportPage): string {
  const { js, css } = uplotAssets();
  const table = page.table
    ? `<table><thead><tr>${page.table[0].map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${page.table
        .slice(1)
        .map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`
    : '';
  const warnings = page.warnings.length ? `<ul class="warnings">${page.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>${css}</style>
<style>${CHART_CSS}</style>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
${page.summary.map((s) => `<p>${escapeHtml(s)}</p>`).join('\n')}
${warnings}
${table}
<div id="charts"></div>
<footer>Written by dptrain report. Charts: uPlot (MIT). Terms and how to read each chart: docs/batch-size.md.</footer>
<script id="report-data" type="application/json">${scriptJson(page)}</script>
<script>${js}</script>
<script>${CHART_SCRIPT}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** Writes the report of DIR to `outFile` (default DIR/report.html) and returns its path. */
export async function writeReport(dir: string, outFile?: string): Promise<{ file: string; page: ReportPage }> {
  const page = await buildReportPage(dir);
  const file = outFile ?? path.join(dir, 'report.html');
  try {
    await writeFileAtomic(file, new TextEncoder().encode(renderHtml(page)));
  } catch (cause) {
    // A folder that takes no files (read-only, another user's, /proc): one line, as a missing folder is.
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === undefined || !['EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR'].includes(code)) throw cause;
    const what = outFile === undefined ? `${file} (the default of --out)` : `--out ${file}`;
    throw new ConfigError('badOption', `${what} cannot be written (${code}) — choose a writable path with --out FILE`, { cause });
  }
  return { file, page };
}
