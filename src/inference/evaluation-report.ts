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

/** Points and the diagonal y = x in a square SVG. */
function scatterSvg(points: { truth: number; predicted: number }[]): string {
  if (points.length === 0) return '<p class="legend">no samples</p>';
  const size = 360;
  const pad = 30;
  const values = points.flatMap((p) => [p.truth, p.predicted]);
  let [lo, hi] = [Math.min(...values), Math.max(...values)];
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const at = (v: number) => pad + ((v - lo) / (hi - lo)) * (size - 2 * pad);
  const dots = points.map((p) => `<circle cx="${at(p.truth).toFixed(1)}" cy="${(size - at(p.predicted)).toFixed(1)}" r="2" fill="#1f5fbf" fill-opacity="0.5"/>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">
<rect x="${pad}" y="${pad}" width="${size - 2 * pad}" height="${size - 2 * pad}" fill="none" stroke="#bbb"/>
<line x1="${at(lo)}" y1="${size - at(lo)}" x2="${at(hi)}" y2="${size - at(hi)}" stroke="#e06c00"/>
${dots}
<text x="${size / 2}" y="${size - 6}" text-anchor="middle" font-size="12" fill="#666">true</text>
<text x="${pad}" y="${size - pad + 14}" text-anchor="middle" font-size="11" fill="#666">${lo.toPrecision(3)}</text>
<text x="${size - pad}" y="${size - pad + 14}" text-anchor="middle" font-size="11" fill="#666">${hi.toPrecision(3)}</text>
<text x="12" y="${size / 2}" text-anchor="middle" font-size="12" fill="#666" transform="rotate(-90 12 ${size / 2})">predicted</text>
</svg>`;
}
