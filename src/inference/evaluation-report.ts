/**
 * An evaluation as text (the table `dptrain evaluate` prints) and as a small self-contained HTML
 * page (`--out DIR`): the metrics, the per-class table and the confusion matrix as a heat map
 * (cells shaded by the share of their true class), or the regression metrics and a scatter plot of
 * predicted against true values. No script, no external resource.
 */
import type { ClassificationMetrics, RegressionMetrics } from './metrics.js';
import type { Evaluation } from './trained-model.js';

/** Classes beyond this are left out of the printed confusion matrix (the JSON and HTML hold it all). */
const MAX_PRINTED_CLASSES = 20;

const fixed = (x: number, digits = 4): string => x.toFixed(digits);
const percent = (x: number): string => `${(x * 100).toFixed(2)}%`;
const count = (x: number): string => x.toLocaleString('en-US');

/** The table `dptrain evaluate` prints; `title` is its first line. */
export function evaluationText(evaluation: Evaluation, title: string): string {
  const lines = [title];
  if (evaluation.task === 'regression') {
    const m = evaluation;
    lines.push(`  loss      ${fixed(m.loss, 6)}  (mean squared error, as training reports it)`);
    lines.push(`  mse       ${fixed(m.mse, 6)}`, `  rmse      ${fixed(m.rmse, 6)}`, `  mae       ${fixed(m.mae, 6)}`, `  r2        ${fixed(m.r2, 6)}`);
    if (m.outputs.length > 1) {
      lines.push('', table(['output', 'mse', 'rmse', 'mae', 'r2'], m.outputs.map((o) => [o.name, fixed(o.mse), fixed(o.rmse), fixed(o.mae), fixed(o.r2)])));
    }
    return lines.join('\n') + '\n';
  }
  const m = evaluation;
  lines.push(`  loss      ${fixed(m.loss, 6)}`, `  accuracy  ${percent(m.accuracy)}  (${count(m.correct)} of ${count(m.samples)})`, '');
  const rows = m.classes.map((c) => [c.name, fixed(c.precision), fixed(c.recall), fixed(c.f1), String(c.support)]);
  rows.push(['macro avg', fixed(m.macro.precision), fixed(m.macro.recall), fixed(m.macro.f1), String(m.samples)]);
  rows.push(['weighted avg', fixed(m.weighted.precision), fixed(m.weighted.recall), fixed(m.weighted.f1), String(m.samples)]);
  lines.push(table(['class', 'precision', 'recall', 'f1', 'support'], rows), '');
  lines.push(...confusionText(m));
  return lines.join('\n') + '\n';
}

function confusionText(m: ClassificationMetrics): string[] {
  const k = m.classes.length;
  if (k > MAX_PRINTED_CLASSES) return [`confusion matrix: ${k} classes, too many to print — see evaluation.json or evaluation.html (--out DIR)`];
  const names = m.classes.map((c) => c.name);
  const rows = m.confusion.map((row, t) => [names[t], ...row.map(String)]);
  return ['confusion matrix (rows: true class, columns: predicted class)', table(['', ...names], rows)];
}

/** Columns padded to their widest cell; the first left-aligned, the others right-aligned. */
function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, j) => Math.max(...all.map((r) => r[j].length)));
  return all.map((r) => '  ' + r.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join('  ')).join('\n');
}

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The HTML page of `--out DIR` (evaluation.html). `points`: up to a few thousand (true, predicted) pairs for regression. */
export function evaluationHtml(evaluation: Evaluation, title: string, points: { truth: number; predicted: number }[] = []): string {
  const body = evaluation.task === 'classification' ? classificationHtml(evaluation) : regressionHtml(evaluation, points);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:18px} h2{font-size:15px;margin-top:24px}
table{border-collapse:collapse} td,th{padding:3px 8px;text-align:right;font-variant-numeric:tabular-nums}
th{font-weight:600} td:first-child,th:first-child{text-align:left}
table.metrics td,table.metrics th{border-bottom:1px solid #ddd}
table.confusion td{border:1px solid #fff;min-width:28px;text-align:center}
table.confusion th.axis{font-weight:400;color:#666}
.legend{color:#666;font-size:12px}
</style></head><body>
<h1>${escape(title)}</h1>
${body}
</body></html>
`;
}

function classificationHtml(m: ClassificationMetrics & Evaluation): string {
  const rows = m.classes
    .map((c) => `<tr><td>${escape(c.name)}</td><td>${fixed(c.precision)}</td><td>${fixed(c.recall)}</td><td>${fixed(c.f1)}</td><td>${c.support}</td></tr>`)
    .join('\n');
  const avg = (label: string, a: { precision: number; recall: number; f1: number }) => `<tr><th>${label}</th><td>${fixed(a.precision)}</td><td>${fixed(a.recall)}</td><td>${fixed(a.f1)}</td><td>${m.samples}</td></tr>`;
  return `<p>loss <b>${fixed(m.loss, 6)}</b> · accuracy <b>${percent(m.accuracy)}</b> (${count(m.correct)} of ${count(m.samples)}) · ${escape(m.engine)} engine, ${m.workers} worker${m.workers === 1 ? '' : 's'}</p>
<h2>Confusion matrix</h2>
<p class="legend">rows: true class · columns: predicted class · shade: share of the true class's samples</p>
${confusionHtml(m)}
<h2>Per class</h2>
<table class="metrics"><tr><th>class</th><th>precision</th><th>recall</th><th>f1</th><th>support</th></tr>
${rows}
${avg('macro avg', m.macro)}
${avg('weighted avg', m.weighted)}
</table>`;
}

/** The heat map: white to dark blue by the row share; text turns white on dark cells. */
function confusionHtml(m: ClassificationMetrics): string {
  const names = m.classes.map((c) => escape(c.name));
  const head = `<tr><th class="axis">true \\ predicted</th>${names.map((n) => `<th>${n}</th>`).join('')}</tr>`;
  const rows = m.confusion.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((value, p) => {
      const share = total > 0 ? value / total : 0;
      const [r, g, b] = [255 - Math.round(share * 247), 255 - Math.round(share * 207), 255 - Math.round(share * 148)];
      const ink = share > 0.5 ? '#fff' : '#222';
      return `<td style="background:rgb(${r},${g},${b});color:${ink}" title="${names[t]} predicted as ${names[p]}: ${value}">${value}</td>`;
    });
    return `<tr><th>${names[t]}</th>${cells.join('')}</tr>`;
  });
  return `<table class="confusion">${head}\n${rows.join('\n')}</table>`;
}

function regressionHtml(m: RegressionMetrics & Evaluation, points: { truth: number; predicted: number }[]): string {
  const rows = m.outputs.map((o) => `<tr><td>${escape(o.name)}</td><td>${fixed(o.mse)}</td><td>${fixed(o.rmse)}</td><td>${fixed(o.mae)}</td><td>${fixed(o.r2)}</td></tr>`).join('\n');
  return `<p>loss <b>${fixed(m.loss, 6)}</b> · MSE ${fixed(m.mse, 6)} · RMSE ${fixed(m.rmse, 6)} · MAE ${fixed(m.mae, 6)} · R² <b>${fixed(m.r2, 6)}</b> · ${count(m.samples)} samples</p>
<table class="metrics"><tr><th>output</th><th>mse</th><th>rmse</th><th>mae</th><th>r2</th></tr>
${rows}
</table>
<h2>Predicted against true${m.outputs.length > 1 ? ` (${escape(m.outputs[0].name)})` : ''}</h2>
${scatterSvg(points)}`;
}

/** Axis ticks at 1, 2 or 5 times a power of ten, about `count` of them, and the range they span (d3's nice()). */
function niceTicks(lo: number, hi: number, count = 5): { lo: number; hi: number; step: number; ticks: number[] } {
  const raw = (hi - lo) / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  // Multiples of the step computed from integers, so that 0.1 + 0.2 never shows as 0.30000000000000004.
  const ticks = Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toPrecision(12)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], step, ticks };
}

/** A tick label: the step's decimals (0.25 → 2), exponent form for very large or small values. */
function tickLabel(v: number, step: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1e6 || step < 1e-4) return v.toExponential(2).replace('e+', 'e');
  return v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

/** Points and the diagonal y = x on square axes with the same ticks on both, and a light grid at each. */
function scatterSvg(points: { truth: number; predicted: number }[]): string {
  if (points.length === 0) return '<p class="legend">no samples</p>';
  // Room for the y labels and title on the left and the x labels and title below.
  const [left, right, top, bottom] = [64, 16, 12, 48];
  const side = 320;
  const values = points.flatMap((p) => [p.truth, p.predicted]);
  let [min, max] = [Math.min(...values), Math.max(...values)];
  if (max === min) [min, max] = [min - 1, max + 1];
  const { lo, hi, step, ticks } = niceTicks(min, max);
  const x = (v: number) => left + ((v - lo) / (hi - lo)) * side;
  const y = (v: number) => top + side - ((v - lo) / (hi - lo)) * side;
  const f = (v: number) => v.toFixed(1);
  const grid = ticks.map((t) => `<line x1="${f(x(t))}" y1="${top}" x2="${f(x(t))}" y2="${top + side}"/><line x1="${left}" y1="${f(y(t))}" x2="${left + side}" y2="${f(y(t))}"/>`).join('');
  const xTicks = ticks.map((t) => `<text x="${f(x(t))}" y="${top + side + 16}" text-anchor="middle">${tickLabel(t, step)}</text>`).join('');
  const yTicks = ticks.map((t) => `<text x="${left - 6}" y="${f(y(t) + 4)}" text-anchor="end">${tickLabel(t, step)}</text>`).join('');
  const dots = points.map((p) => `<circle cx="${f(x(p.truth))}" cy="${f(y(p.predicted))}" r="2" fill="#1f5fbf" fill-opacity="0.5"/>`).join('');
  const [width, height] = [left + side + right, top + side + bottom];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
<g class="grid" stroke="#eee">${grid}</g>
<rect x="${left}" y="${top}" width="${side}" height="${side}" fill="none" stroke="#bbb"/>
<line x1="${x(lo)}" y1="${y(lo)}" x2="${x(hi)}" y2="${y(hi)}" stroke="#e06c00"/>
${dots}
<g class="x-ticks" font-size="11" fill="#444">${xTicks}</g>
<g class="y-ticks" font-size="11" fill="#444">${yTicks}</g>
<text x="${left + side / 2}" y="${height - 6}" text-anchor="middle" font-size="12" fill="#666">true</text>
<text x="14" y="${top + side / 2}" text-anchor="middle" font-size="12" fill="#666" transform="rotate(-90 14 ${top + side / 2})">predicted</text>
</svg>`;
}
