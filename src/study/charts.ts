/**
 * The chart code that `dptrain report` (an offline file) and the live dashboard (src/dashboard/)
 * share, so that both pages look alike: uPlot's assets from node_modules, the page CSS, and one
 * browser script that defines `window.dptrainCharts` (palette, tick labels, the x axis, and
 * `draw(def, box, width)`, which turns a ChartDef into a uPlot chart). The script runs in the
 * page, so it is plain ES5 in a string; it writes text only with textContent (never HTML).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** uPlot (MIT, ~50 kB) and its CSS, read from node_modules: nothing is fetched from the internet. */
export function uplotAssets(): { js: string; css: string } {
  const js = fs.readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  return { js, css };
}

/** The pages' own CSS (report and dashboard). */
export const CHART_CSS = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; padding: 0 16px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin: 1.6em 0 0.2em; }
p.note { color: #555; margin: 0 0 0.5em; }
table { border-collapse: collapse; font-size: 13px; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; } th { background: #f4f4f4; }
ul.warnings li { color: #9a5b00; }
p.absent { color: #555; border: 1px dashed #bbb; padding: 14px 16px; margin: 0.5em 0; }
footer { color: #777; font-size: 12px; margin-top: 3em; }
.u-legend th, .u-legend td { border: none; background: none; padding: 1px 4px; }
`;

/** Defines window.dptrainCharts; load it after uPlot. */
export const CHART_SCRIPT = `
(function () {
  var palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
  function tick(v) {
    if (v == null) return '';
    var a = Math.abs(v);
    if (a === 0) return '0';
    // Three significant digits in exponent form too: 110000 is 1.1e5, not a second "1e5".
    if (a >= 1e5 || a < 1e-3) return Number(v.toPrecision(3)).toExponential().replace('e+', 'e');
    return String(Number(v.toPrecision(3)));
  }
  function ticks(u, vals) { return vals.map(tick); }
  // uPlot's steps between ticks without the fractional ones: 1, 2, 5, 10, 20, 25, 50, ... It takes
  // the first that leaves its minimum space between labels, so a long run's axis is not crowded.
  var WHOLE_INCRS = [];
  for (var p10 = 1; p10 <= 1e15; p10 *= 10) [1, 2, 2.5, 5].forEach(function (m) { if (m * p10 % 1 === 0) WHOLE_INCRS.push(m * p10); });
  function whole(v) { return typeof v === 'number' && v % 1 === 0; }
  // An x of whole numbers only (epochs, steps, batch sizes) is ticked at whole numbers: no epoch 1.5.
  function xAxis(def) {
    var axis = { label: def.xLabel, values: ticks };
    if (def.layout !== 'xy' && !def.xLog && def.x.length > 0 && def.x.every(whole)) axis.incrs = WHOLE_INCRS;
    return axis;
  }
  function fixed(range) { return range ? function () { return range; } : undefined; }
  // xy charts: a polyline in data order, broken where a value is null; points as small discs.
  function xyPath(points) {
    return function (u, si) {
      var d = u.data[si], xs = d[0], ys = d[1], path = new Path2D(), pen = false, r = 4.5 * devicePixelRatio;
      for (var i = 0; i < xs.length; i++) {
        if (xs[i] == null || ys[i] == null) { pen = false; continue; }
        var px = u.valToPos(xs[i], 'x', true), py = u.valToPos(ys[i], 'y', true);
        if (points) { path.moveTo(px + r, py); path.arc(px, py, r, 0, 2 * Math.PI); }
        else if (pen) path.lineTo(px, py);
        else { path.moveTo(px, py); pen = true; }
      }
      return { stroke: path, fill: points ? path : null, clip: null, band: null, gaps: null, flags: 0 };
    };
  }
  // A chart's section: its title and how to read it, then the box uPlot draws in (returned). An
  // absent chart (a report's AbsentChart) has its title and why it is not drawn, and no box.
  function section(root, def, absent) {
    var el = document.createElement('section');
    el.className = absent ? 'chart-absent' : 'chart';
    el.id = def.id;
    var h = document.createElement('h2');
    h.textContent = def.title;
    var p = document.createElement('p');
    p.className = absent ? 'absent' : 'note';
    p.textContent = def.note;
    el.appendChild(h); el.appendChild(p);
    root.appendChild(el);
    if (absent) return null;
    var box = document.createElement('div');
    el.appendChild(box);
    return box;
  }
  // uPlot's data for a ChartDef: aligned ([x, y1, y2, ...]) or xy ([null, [x1, y1], ...]).
  function data(def) {
    return def.layout === 'xy'
      ? [null].concat(def.series.map(function (s) { return [s.x, s.values]; }))
      : [def.x].concat(def.series.map(function (s) { return s.values; }));
  }
  // A chart of rows labels y = 1, 2, ... with the rows' names and nothing between them.
  function yAxis(def) {
    if (!def.rows) return { label: def.yLabel, size: 64, values: ticks };
    var rows = def.rows;
    return {
      label: def.yLabel,
      size: 64,
      splits: function () { return rows.map(function (_, i) { return i + 1; }); },
      values: function (u, vals) { return vals.map(function (v) { return rows[v - 1] == null ? '' : rows[v - 1]; }); }
    };
  }
  // A line through this few values also marks them: one value draws no line at all (one epoch).
  var FEW_POINTS = 40;
  function defined(values) { return values.filter(function (v) { return v != null; }).length; }
  function draw(def, box, width) {
    var xy = def.layout === 'xy';
    var series = [xy ? {} : { label: def.xLabel }].concat(def.series.map(function (s) {
      var c = palette[s.color % palette.length];
      var o = { label: s.label, stroke: s.faint ? c + '59' : c, width: s.style === 'points' ? 0 : (s.width || 2), spanGaps: !xy };
      if (xy) o.facets = [{ scale: 'x', auto: !def.xRange }, { scale: 'y', auto: !def.yRange }];
      if (s.style === 'dashed') o.dash = [6, 4];
      if (xy) { o.paths = xyPath(s.style === 'points'); o.points = { show: false }; if (s.style === 'points') { o.fill = c; o.width = 1; } }
      else if (s.style === 'points') { o.paths = function () { return null; }; o.points = { show: true, size: 9, fill: c, stroke: c }; }
      else o.points = defined(s.values) <= FEW_POINTS ? { show: true, size: 7, fill: c, stroke: c } : { show: false };
      // Each value holds until the next x, and the last one to the plot's right edge.
      if (!xy && s.style === 'steps') o.paths = uPlot.paths.stepped({ align: 1, extend: true });
      return o;
    }));
    var height = def.height || 360;
    if (def.square && def.xRange && def.yRange) {
      // One unit as long on both axes: size the plot to the ranges (axes take about 80 px).
      var ratio = (def.yRange[1] - def.yRange[0]) / (def.xRange[1] - def.xRange[0]);
      height = Math.round((width - 80) * ratio + 80);
    }
    return new uPlot({
      mode: xy ? 2 : 1,
      width: width,
      height: height,
      legend: { show: true, live: !xy },
      cursor: xy ? { show: false } : { drag: { x: false, y: false } },
      scales: {
        x: { time: false, distr: def.xLog ? 3 : 1, log: 10, auto: !def.xRange, range: fixed(def.xRange) },
        y: { distr: def.yLog ? 3 : 1, log: 10, auto: !def.yRange, range: fixed(def.yRange) }
      },
      axes: [xAxis(def), yAxis(def)],
      series: series
    }, data(def), box);
  }
  window.dptrainCharts = { palette: palette, tick: tick, xAxis: xAxis, section: section, data: data, draw: draw };
})();
`;
