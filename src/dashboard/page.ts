/**
 * The dashboard page and its assets, served from memory: the HTML skeleton, uPlot, the chart
 * script shared with `dptrain report` (study/charts.ts), the dashboard's own script
 * (page-script.ts) and one stylesheet. No inline script or style, so the CSP can forbid both.
 */
import { CHART_CSS, CHART_SCRIPT, uplotAssets } from '../study/index.js';
import { PAGE_SCRIPT } from './page-script.js';

export interface Asset {
  type: string;
  body: Buffer;
}

const DASHBOARD_CSS = `
body { max-width: 1040px; }
header h1 { margin-bottom: 0.2em; }
#status { font-weight: 600; }
#status.live { color: #2ca02c; } #status.ended { color: #555; } #status.lost { color: #d62728; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0.6em 0; font-size: 14px; }
dl.facts dt { color: #555; } dl.facts dd { margin: 0; }
.progress { display: flex; align-items: center; gap: 12px; font-size: 14px; margin: 0.4em 0 1em; }
.progress .bar { width: 260px; height: 12px; background: #e6e6e6; border-radius: 6px; overflow: hidden; }
#progress-fill { height: 100%; width: 0; background: #1f77b4; }
#progress-text { font-variant-numeric: tabular-nums; }
#charts { display: grid; grid-template-columns: 1fr 1fr; gap: 0 24px; }
#charts section.chart, #sweep-charts section.chart { min-width: 0; }
/* One column when two would squeeze a chart below ~400 px; tables and the header wrap or scroll in their box, never the page. */
@media (max-width: 900px) { #charts { grid-template-columns: minmax(0, 1fr); } }
.progress { flex-wrap: wrap; }
dl.facts dd { overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; }
.u-legend { overflow-wrap: anywhere; }
p.caption { font-size: 14px; margin: 0.3em 0 0; color: #333; }
canvas#timeline-canvas { display: block; border: 1px solid #ddd; max-width: 100%; height: auto; }
td.state-computing { color: #2ca02c; font-weight: 600; } td.state-joined, td.state-ready { color: #1f77b4; }
td.state-dropped { color: #d62728; font-weight: 600; } td.state-left { color: #777; }
td.left, th.left { text-align: left; }
ul#events { font-size: 13px; padding-left: 1.2em; max-height: 260px; overflow-y: auto; }
ul#events li.drop, ul#events li.lost { color: #b00; }
.hidden { display: none; }
`;

function html(title: string): string {
  const safe = title.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${safe}</title>
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
<header>
<h1 id="title">${safe}</h1>
<div class="progress"><span id="status">connecting…</span><div class="bar"><div id="progress-fill"></div></div><span id="progress-text"></span></div>
<p class="caption" id="progress-message"></p>
<dl class="facts" id="facts"></dl>
</header>
<section id="sweep" class="hidden">
<h2>Sweep: runs</h2>
<p class="note">One row per planned run; steps to target fill in as runs finish. Regime: of B under the fit of steps to target S_min + E_min/B (B ≤ B_crit: perfect scaling; ≥ 10 B_crit: maximal data parallelism; between: diminishing returns), once two batch sizes reached the target, as the results table and dptrain report.</p>
<div class="scroll"><table id="sweep-table"><thead><tr><th class="left">run</th><th>B</th><th>seed</th><th>lr</th><th class="left">status</th><th>steps run</th><th>steps to target</th><th>seconds to target</th><th class="left">regime (fit)</th></tr></thead><tbody></tbody></table></div>
<div id="sweep-charts"></div>
</section>
<div id="charts"></div>
<section class="chart" id="timeline">
<h2>Step timeline: the last steps, one row per worker</h2>
<p class="note">Each bar is one step, as wide as its wall time: the worker's compute (blue), waiting for the slowest worker and other idle time (grey), the all-reduce (orange) and the update (green). Time runs left to right; the newest step is on the right.</p>
<canvas id="timeline-canvas" width="960" height="120"></canvas>
<p class="caption" id="timeline-caption"></p>
</section>
<section id="roster-section" class="hidden">
<h2>Workers</h2>
<p class="note">Members compute; a ready worker waits for the first step, a joined one for the next step boundary; one that left (Ctrl-C) or was dropped is named with the reason. Last step: from sending the step to its result; share: of the step's gradient phase.</p>
<div class="scroll"><table id="roster"><thead><tr><th class="left">worker</th><th class="left">host</th><th>threads</th><th class="left">state</th><th>joined at step</th><th>last step (ms)</th><th>share of step</th><th>sent</th><th>received</th><th class="left">reason</th></tr></thead><tbody></tbody></table></div>
<h2>Membership events</h2>
<ul id="events"></ul>
</section>
<footer>dptrain dashboard: <span id="footer-state">live</span>, read-only. Charts: uPlot (MIT). How to read them: docs/dashboard.md; the finished run's page: dptrain report DIR.</footer>
<script src="/assets/uplot.js"></script>
<script src="/assets/charts.js"></script>
<script src="/assets/dashboard.js"></script>
</body>
</html>
`;
}

/** Path -> asset, built once when the server starts. */
export function pageAssets(kind: string, title: string): Map<string, Asset> {
  const { js, css } = uplotAssets();
  const text = (type: string, body: string): Asset => ({ type, body: Buffer.from(body, 'utf8') });
  const page = text('text/html; charset=utf-8', html(`dptrain ${kind}: ${title}`));
  return new Map([
    ['/', page],
    ['/index.html', page],
    ['/assets/uplot.js', text('text/javascript; charset=utf-8', js)],
    ['/assets/charts.js', text('text/javascript; charset=utf-8', CHART_SCRIPT)],
    ['/assets/dashboard.js', text('text/javascript; charset=utf-8', PAGE_SCRIPT)],
    ['/assets/style.css', text('text/css; charset=utf-8', css + CHART_CSS + DASHBOARD_CSS)],
  ]);
}
