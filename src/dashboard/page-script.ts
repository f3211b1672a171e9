/**
 * The dashboard's browser script (plain ES5 in a string, served as /assets/dashboard.js): it
 * takes the server's snapshot and deltas over the WebSocket, keeps the series bounded as the
 * server does (series.ts), and redraws the header and progress, the charts (the shared chart
 * script, study/charts.ts), the step timeline on a canvas, the roster and events of a
 * coordinator, a sweep's table. Text is set with textContent only.
 *
 * What it costs the browser (docs/dashboard.md, "Cost"): all DOM writes of an update happen in
 * one animation frame, at most one a second; text is written only when it changed; a chart or the
 * timeline is redrawn at most every two seconds, only when its data changed and it is on screen
 * (an IntersectionObserver; drawn once when created, redrawn when scrolled into view); a hidden
 * tab draws nothing.
 * For tests: body[data-step], body[data-state], body[data-charts], data-drawn-step on each chart
 * section and the timeline (the step it last drew), and window.__dashboard().
 */
export const PAGE_SCRIPT = `
(function () {
  'use strict';
  var C = window.dptrainCharts;
  var S = null;
  var plots = {};
  var dirty = false;
  var endedNote = '';
  // What changed since the last redraw: the rest of the page is left alone.
  var changed = { facts: true, roster: true, sweep: true };
  // Series keys with new points since the charts last drew, and whether the timeline has new steps.
  var freshKeys = {}, timelineFresh = true;
  // Sections on screen (IntersectionObserver); off-screen ones are not redrawn.
  var onScreen = {};
  var COLORS = { compute: '#1f77b4', idle: '#c7c7c7', reduce: '#ff7f0e', update: '#2ca02c' };

  function $(id) { return document.getElementById(id); }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
  // Writes only when the text changed: an unchanged write still costs a layout and a repaint.
  function setText(el, text) { if (el.__text !== text) { el.__text = text; el.textContent = text; } }
  function cell(tr, text, cls) { var td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
  // One formatter: Number#toLocaleString builds a new one per call (measured: the header's main cost).
  var integers = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  function int(v) { return integers.format(Math.round(v)); }
  function num(v, d) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    return Math.abs(v) >= 1e5 ? int(v) : String(Number(v.toPrecision(d || 4)));
  }
  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return '—';
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
    return (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (x < 10 ? '0' : '') + x;
  }
  // HH:MM:SS on a 24-hour clock, as the log lines.
  function clock(ms) {
    var d = new Date(ms), two = function (v) { return (v < 10 ? '0' : '') + v; };
    return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
  }
  function bytes(n) {
    if (n === null || n === undefined) return '—';
    var units = ['B', 'kB', 'MB', 'GB', 'TB'], i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
  }

  // ---- state: the snapshot, then deltas; series bounded as on the server (series.ts) ----
  function makeSeries(p) {
    var from = p.tailFrom || 0;
    return { bx: p.x.slice(0, from), by: p.y.slice(0, from), stride: p.stride || 1, px: 0, py: 0, pn: 0, tx: p.x.slice(from), ty: p.y.slice(from) };
  }
  function toBucket(s, x, y) {
    s.px += x; s.py += y; s.pn += 1;
    if (s.pn < s.stride) return;
    s.bx.push(s.px / s.pn); s.by.push(s.py / s.pn);
    s.px = s.py = s.pn = 0;
    if (s.bx.length <= S.limits.maxPoints - 2 * S.limits.tail - 1) return;
    var bx = [], by = [], pairs = Math.floor(s.bx.length / 2), odd = s.bx.length % 2 === 1;
    for (var i = 0; i < pairs; i++) { bx.push((s.bx[2 * i] + s.bx[2 * i + 1]) / 2); by.push((s.by[2 * i] + s.by[2 * i + 1]) / 2); }
    if (odd) { s.px = s.bx[s.bx.length - 1] * s.stride; s.py = s.by[s.by.length - 1] * s.stride; s.pn = s.stride; }
    s.bx = bx; s.by = by; s.stride *= 2;
  }
  function lastX(s) {
    if (s.tx.length) return s.tx[s.tx.length - 1];
    if (s.pn) return s.px / s.pn;
    return s.bx.length ? s.bx[s.bx.length - 1] : -Infinity;
  }
  function append(key, pts) {
    var s = S.series[key] || (S.series[key] = makeSeries({ x: [], y: [] }));
    var last = lastX(s), tail = S.limits.tail;
    for (var i = 0; i < pts.x.length; i++) {
      if (!(pts.x[i] > last)) continue;
      s.tx.push(pts.x[i]); s.ty.push(pts.y[i]);
      if (s.tx.length >= 2 * tail) {
        var n = s.tx.length - tail;
        for (var j = 0; j < n; j++) toBucket(s, s.tx[j], s.ty[j]);
        s.tx = s.tx.slice(n); s.ty = s.ty.slice(n);
      }
    }
  }
  function flat(s) {
    var x = s.bx.slice(), y = s.by.slice();
    if (s.pn) { x.push(s.px / s.pn); y.push(s.py / s.pn); }
    return { x: x.concat(s.tx), y: y.concat(s.ty) };
  }
  function appendBySeq(list, fresh, limit) {
    var last = list.length ? list[list.length - 1].seq : 0;
    fresh.forEach(function (item) { if (item.seq > last) list.push(item); });
    return list.length > limit ? list.slice(list.length - limit) : list;
  }
  function applySnapshot(m) {
    S = m;
    changed = { facts: true, roster: true, sweep: true };
    Object.keys(m.series).forEach(function (k) { S.series[k] = makeSeries(m.series[k]); });
    Object.keys(plots).forEach(function (id) {
      if (plots[id].plot) plots[id].plot.destroy();
      if (observer) observer.unobserve(plots[id].box.parentNode);
    });
    plots = {};
    freshKeys = {};
    timelineFresh = true;
    clear($('charts'));
    clear($('sweep-charts'));
  }
  function applyDelta(d) {
    if (!S) return;
    S.progress = d.progress;
    if (d.facts) { S.facts = d.facts; changed.facts = true; }
    if (d.charts) S.charts = d.charts;
    if (d.roster) { S.roster = d.roster; changed.roster = true; }
    if (d.events.length) changed.roster = true;
    if (d.sweep) { S.sweep = d.sweep; changed.sweep = true; }
    Object.keys(d.series).forEach(function (k) { append(k, d.series[k]); freshKeys[k] = true; });
    Object.keys(d.replaced).forEach(function (k) { S.series[k] = makeSeries(d.replaced[k]); freshKeys[k] = true; });
    if (d.charts) freshKeys['*'] = true;
    if (d.captions) {
      Object.keys(d.captions).forEach(function (id) { if (d.captions[id] !== S.captions[id]) freshKeys['caption:' + id] = true; });
      if (freshKeys['caption:timeline']) timelineFresh = true;
    }
    if (d.timeline.length) timelineFresh = true;
    if (d.captions) S.captions = d.captions;
    S.timeline = appendBySeq(S.timeline, d.timeline, S.limits.timelineSteps);
    S.events = appendBySeq(S.events, d.events, S.limits.events);
  }

  // ---- header ----
  function renderHeader() {
    var p = S.progress, facts = $('facts');
    if (changed.facts) {
      changed.facts = false;
      clear(facts);
      S.facts.forEach(function (f) {
        var dt = document.createElement('dt'), dd = document.createElement('dd');
        dt.textContent = f[0]; dd.textContent = f[1];
        facts.appendChild(dt); facts.appendChild(dd);
      });
    }
    var parts = [];
    if (S.kind === 'sweep' && S.sweep) {
      var done = S.sweep.filter(function (r) { return r.status === 'reached' || r.status === 'not reached' || r.status === 'diverged'; }).length;
      parts.push('runs ' + done + ' / ' + S.sweep.length);
    }
    // Under --batch-size auto the steps per epoch change with B: progress counts samples (and epochs).
    var fraction = p.totalSamples ? p.samples / p.totalSamples : p.totalSteps ? p.step / p.totalSteps : 0;
    if (p.state === 'finished') fraction = 1; // ended early by a target or --patience: done all the same
    if (p.totalSamples) {
      if (p.epochs) parts.push('epoch ' + Math.min(p.epoch + 1, p.epochs) + ' / ' + p.epochs);
      parts.push('samples ' + int(p.samples) + ' / ' + int(p.totalSamples) + ' (' + (100 * p.samples / p.totalSamples).toFixed(1) + '%)');
      parts.push('step ' + int(p.step));
    } else {
      parts.push('step ' + int(p.step) + (p.totalSteps ? ' / ' + int(p.totalSteps) + ' (' + (100 * p.step / p.totalSteps).toFixed(1) + '%)' : ''));
      if (p.epochs) parts.push('epoch ' + Math.min(p.epoch + 1, p.epochs) + ' / ' + p.epochs);
    }
    parts.push((p.samplesPerSec === null ? '—' : int(p.samplesPerSec)) + ' samples/s');
    parts.push('elapsed ' + duration(p.elapsedSeconds));
    if (p.state === 'training') parts.push('ETA ' + duration(p.etaSeconds));
    setText($('progress-text'), parts.join(' · '));
    // A plain bar: Chromium's <progress> keeps repainting (measured: ~1% of a core).
    var fill = $('progress-fill'), width = Math.min(100, 100 * fraction).toFixed(1) + '%';
    if (fill.__width !== width) { fill.__width = width; fill.style.width = width; }
    setText($('progress-message'), [p.message, endedNote].filter(Boolean).join(' — '));
    document.body.setAttribute('data-step', String(p.step));
    document.body.setAttribute('data-state', p.state);
  }

  // ---- charts ----
  function smooth(y) {
    var out = new Array(y.length), m = 0, w = 0;
    for (var i = 0; i < y.length; i++) { m = 0.9 * m + 0.1 * y[i]; w = 0.9 * w + 0.1; out[i] = m / w; }
    return out;
  }
  // The sorted union of the traces' x (each ascending): merged, not concatenated and sorted.
  function union(traces, xLog) {
    var xs = [];
    traces.forEach(function (t) {
      if (xs === t.x || !t.x.length) return;
      var out = [], i = 0, j = 0, a = xs, b = t.x;
      while (i < a.length || j < b.length) {
        var v = j >= b.length || (i < a.length && a[i] <= b[j]) ? a[i++] : b[j++];
        if ((!xLog || v > 0) && (!out.length || v !== out[out.length - 1])) out.push(v);
      }
      xs = out;
    });
    return xs;
  }
  function aligned(xs, t, yLog) {
    var values = new Array(xs.length), j = 0;
    for (var i = 0; i < xs.length; i++) {
      while (j < t.x.length && t.x[j] < xs[i]) j++;
      var y = j < t.x.length && t.x[j] === xs[i] ? t.y[j] : null;
      values[i] = y === null || (yLog && !(y > 0)) ? null : y;
    }
    return values;
  }
  // As wide as its grid column (one column on a narrow window, two on a wide one; CSS decides).
  function chartWidth(box, sweep) {
    var w = Math.floor(box.parentNode.clientWidth || box.clientWidth || 460);
    return Math.max(200, sweep ? Math.min(960, w) : w);
  }
  function chartDef(spec) {
    var traces = [];
    spec.series.forEach(function (s) {
      var pts = S.series[s.key] && flat(S.series[s.key]);
      if (!pts || !pts.x.length) return;
      if (s.smooth) {
        traces.push({ label: s.label + ', raw', style: 'line', color: s.color, width: 1, faint: true, x: pts.x, y: pts.y });
        traces.push({ label: s.label + ', smoothed', style: 'line', color: s.color, width: 2, x: pts.x, y: smooth(pts.y) });
      } else traces.push({ label: s.label, style: s.style, color: s.color, x: pts.x, y: pts.y });
    });
    if (!traces.length) return null;
    var xs = union(traces, spec.xLog);
    var series = traces.map(function (t) { return { label: t.label, style: t.style, color: t.color, width: t.width, faint: t.faint, values: aligned(xs, t, spec.yLog) }; });
    return {
      key: traces.map(function (t) { return t.label; }).join('|'),
      def: { id: spec.id, title: spec.title, note: spec.note, xLabel: spec.xLabel, yLabel: spec.yLabel, xLog: spec.xLog, yLog: spec.yLog, x: xs, series: series, height: spec.group === 'sweep' ? 320 : 260 }
    };
  }
  function chartFresh(spec) {
    if (freshKeys['*'] || freshKeys['caption:' + spec.id]) return true;
    for (var i = 0; i < spec.series.length; i++) if (freshKeys[spec.series[i].key]) return true;
    return false;
  }
  // Draws a chart when it is new; redraws it when its data changed and it is on screen. Returns
  // whether a chart with new data was left undrawn (off screen).
  function renderCharts() {
    var drawn = 0, skipped = false;
    S.charts.forEach(function (spec) {
      var p = plots[spec.id];
      if (p && p.plot) {
        drawn++;
        if (!p.stale && !chartFresh(spec)) return;
        if (!onScreen[spec.id]) { p.stale = true; skipped = true; return; }
      }
      var sweep = spec.group === 'sweep';
      var root = sweep ? $('sweep-charts') : $('charts');
      var built = chartDef(spec);
      if (!built) return;
      if (!p) {
        var box = C.section(root, built.def);
        var caption = document.createElement('p');
        caption.className = 'caption';
        box.parentNode.appendChild(caption);
        p = plots[spec.id] = { box: box, caption: caption, plot: null, key: '', stale: false };
        if (observer) observer.observe(box.parentNode); else onScreen[spec.id] = true;
      }
      if (!p.plot) drawn++;
      if (p.plot && p.key !== built.key) { p.plot.destroy(); p.plot = null; }
      if (!p.plot) { p.plot = C.draw(built.def, p.box, chartWidth(p.box, sweep)); p.key = built.key; p.width = chartWidth(p.box, sweep); }
      else p.plot.setData(C.data(built.def));
      p.stale = false;
      setText(p.caption, S.captions[spec.id] || '');
      p.box.parentNode.setAttribute('data-drawn-step', String(S.progress.step));
    });
    freshKeys = {};
    document.body.setAttribute('data-charts', String(drawn));
    return skipped;
  }

  // ---- the step timeline ----
  function niceStep(range, ticks) {
    var raw = range / ticks, p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }
  // Returns whether new steps were left undrawn (the timeline is off screen).
  function renderTimeline() {
    var section = $('timeline');
    if (section.hasAttribute('data-drawn-step') && !timelineFresh) return false;
    if (section.hasAttribute('data-drawn-step') && !onScreen.timeline) return true;
    timelineFresh = false;
    section.setAttribute('data-drawn-step', String(S.progress.step));
    var steps = S.timeline, canvas = $('timeline-canvas');
    var names = [];
    steps.forEach(function (t) { t.workers.forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); }); });
    var rowH = 26, top = 8, left = 130, right = 20, axisH = 44, legendH = 26;
    if ((canvas.parentNode.clientWidth || 960) < 600) { left = 80; right = 8; legendH = 46; }
    var cssW = Math.max(300, Math.min(1000, canvas.parentNode.clientWidth || 960));
    var cssH = top + Math.max(1, names.length) * rowH + axisH + legendH;
    var dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr); canvas.height = Math.round(cssH * dpr);
      canvas.style.width = cssW + 'px'; // the height follows (CSS: at most the column's width, the aspect kept)
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    ctx.font = '13px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    var total = 0;
    steps.forEach(function (t) { total += t.ms; });
    var plotW = cssW - left - right, scale = total > 0 ? plotW / total : 0;
    names.forEach(function (n, r) {
      ctx.fillStyle = '#222'; ctx.textAlign = 'right';
      ctx.fillText(n.length > 16 ? n.slice(0, 15) + '…' : n, left - 8, top + r * rowH + rowH / 2);
    });
    var x = left;
    steps.forEach(function (t) {
      var w = t.ms * scale;
      t.workers.forEach(function (n, i) {
        var y = top + names.indexOf(n) * rowH + 3, h = rowH - 6;
        var c = t.computeMs[i] || 0, idle = Math.max(0, t.ms - c - t.reduceMs - t.updateMs);
        var segs = [[c, COLORS.compute], [idle, COLORS.idle], [t.reduceMs, COLORS.reduce], [t.updateMs, COLORS.update]], xx = x;
        segs.forEach(function (s) { var sw = s[0] * scale; if (sw > 0) { ctx.fillStyle = s[1]; ctx.fillRect(xx, y, sw, h); } xx += sw; });
      });
      if (w >= 4) { ctx.fillStyle = '#fff'; ctx.fillRect(x + w - 1, top, 1, names.length * rowH); }
      x += w;
    });
    // Time axis: ms (or s) over the window, the first and last step named.
    var axisY = top + Math.max(1, names.length) * rowH + 2;
    ctx.strokeStyle = '#888'; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(left, axisY + 0.5); ctx.lineTo(left + plotW, axisY + 0.5); ctx.stroke();
    ctx.fillStyle = '#444'; ctx.textAlign = 'center';
    if (total > 0) {
      var seconds = total >= 5000, unit = seconds ? 1000 : 1, step = niceStep(total / unit, 6);
      for (var v = 0; v <= total / unit + 1e-9; v += step) {
        var px = left + v * unit * scale;
        ctx.beginPath(); ctx.moveTo(px + 0.5, axisY); ctx.lineTo(px + 0.5, axisY + 5); ctx.stroke();
        ctx.fillText(String(Number(v.toPrecision(3))), px, axisY + 14);
      }
      ctx.fillText('time over the last ' + steps.length + ' steps (' + (seconds ? 's' : 'ms') + '), steps ' + steps[0].step + '–' + steps[steps.length - 1].step, left + plotW / 2, axisY + 32);
    } else ctx.fillText('no step yet', left + plotW / 2, axisY + 14);
    // Legend.
    var ly = axisY + axisH + 6, lx = left;
    [['compute', COLORS.compute], ['waiting / idle', COLORS.idle], ['all-reduce', COLORS.reduce], ['update', COLORS.update]].forEach(function (l) {
      if (lx > left && lx + 20 + ctx.measureText(l[0]).width > cssW) { lx = left; ly += 20; } // a narrow window: the next line
      ctx.fillStyle = l[1]; ctx.fillRect(lx, ly - 6, 14, 12);
      ctx.fillStyle = '#222'; ctx.textAlign = 'left'; ctx.fillText(l[0], lx + 20, ly);
      lx += 40 + ctx.measureText(l[0]).width;
    });
    setText($('timeline-caption'), S.captions.timeline || '');
    return false;
  }

  // ---- coordinator: roster and events ----
  function renderRoster() {
    if (!S.roster || !changed.roster) return;
    changed.roster = false;
    $('roster-section').className = '';
    var body = $('roster').tBodies[0];
    clear(body);
    S.roster.forEach(function (r) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-worker', r.name);
      tr.setAttribute('data-state', r.state);
      cell(tr, r.name, 'left'); cell(tr, r.host, 'left'); cell(tr, String(r.threads));
      cell(tr, r.state, 'left state-' + r.state);
      cell(tr, r.joinedAtStep === null || r.joinedAtStep < 0 ? '—' : String(r.joinedAtStep));
      cell(tr, num(r.lastStepMs, 3)); cell(tr, r.share === null ? '—' : Math.round(100 * r.share) + '%');
      cell(tr, bytes(r.bytesSent)); cell(tr, bytes(r.bytesReceived)); cell(tr, r.reason, 'left');
      body.appendChild(tr);
    });
    var list = $('events');
    clear(list);
    S.events.slice().reverse().forEach(function (e) {
      var li = document.createElement('li');
      li.className = e.kind;
      li.textContent = clock(e.time) + ' · ' + e.text;
      list.appendChild(li);
    });
  }

  // ---- sweep ----
  function renderSweep() {
    if (!S.sweep || !changed.sweep) return;
    changed.sweep = false;
    $('sweep').className = '';
    var body = $('sweep-table').tBodies[0];
    clear(body);
    S.sweep.forEach(function (r) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-status', r.status);
      cell(tr, r.id, 'left'); cell(tr, String(r.batchSize)); cell(tr, String(r.seed)); cell(tr, num(r.lr));
      cell(tr, r.status, 'left');
      cell(tr, r.status === 'pending' || r.status === 'not run' ? '—' : int(r.step) + (r.totalSteps && r.status === 'running' ? ' / ' + int(r.totalSteps) : ''));
      cell(tr, num(r.stepsToTarget)); cell(tr, num(r.seconds, 3));
      cell(tr, r.regime || '—', 'left');
      body.appendChild(tr);
    });
  }

  // One paint per update (the server sends one a second), in an animation frame: text that
  // changed, and every two seconds the charts and timeline on screen whose data changed. Nothing
  // while the tab is hidden (no frames then); a section scrolled into view is brought up to date.
  var HEAVY_MS = 2000;
  var lastHeavy = 0, heavyNow = false, timer = 0, timerDue = 0, frame = 0;
  function schedule(delay) {
    if (frame || document.hidden) return;
    var due = Date.now() + (delay || 0);
    if (timer && timerDue <= due) return;
    clearTimeout(timer);
    timerDue = due;
    timer = setTimeout(function () { timer = 0; frame = requestAnimationFrame(paint); }, delay || 0);
  }
  function paint() {
    frame = 0;
    if (!S) return;
    if (dirty) {
      dirty = false;
      renderHeader();
      renderSweep();
      renderRoster();
    }
    // Every second update draws (updates come once a second); without updates (the run ended
    // or paused), a timer brings the last data in.
    var now = Date.now(), wait = lastHeavy + HEAVY_MS - now;
    if (heavyNow || wait <= 700) {
      heavyNow = false;
      lastHeavy = now;
      var behind = renderCharts();
      behind = renderTimeline() || behind;
      offscreenBehind = behind;
    } else if (timelineFresh || Object.keys(freshKeys).length) schedule(wait + 1100);
  }
  var offscreenBehind = false;
  var observer = typeof IntersectionObserver === 'function' ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) { onScreen[e.target.id] = e.isIntersecting; });
    if (offscreenBehind) { heavyNow = true; schedule(); }
  }, { rootMargin: '100px' }) : null;
  if (observer) observer.observe($('timeline')); else onScreen.timeline = true;
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { heavyNow = true; schedule(); } });
  // A window resized (or a phone turned): the charts and the timeline take their new column width.
  var resizeTimer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      Object.keys(plots).forEach(function (id) {
        var p = plots[id], w = p.plot && chartWidth(p.box, p.box.parentNode.parentNode.id === 'sweep-charts');
        if (p.plot && w !== p.width) { p.width = w; p.plot.setSize({ width: w, height: p.plot.height }); }
      });
      timelineFresh = true; heavyNow = true; schedule();
    }, 150);
  });

  function setStatus(text, cls) { var el = $('status'); el.textContent = text; el.className = cls; }

  function connect() {
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    ws.onopen = function () { setStatus('live', 'live'); document.body.setAttribute('data-connected', '1'); };
    ws.onmessage = function (e) {
      var m = JSON.parse(e.data);
      if (m.type === 'snapshot') { applySnapshot(m); heavyNow = true; } else applyDelta(m);
      dirty = true;
      schedule();
    };
    ws.onclose = function (e) {
      document.body.setAttribute('data-connected', '0');
      var state = S ? S.progress.state : 'starting';
      if (e.code === 1001 || state === 'finished' || state === 'interrupted' || state === 'failed') {
        setStatus('ended', 'ended');
        setText($('footer-state'), 'ended, no longer served');
        // The process exits with the run: the server is gone, so a reload finds nothing.
        endedNote = 'the run ended and its dashboard stopped: this page keeps its last state, and a reload will not load it' + (S && S.afterEnd ? '; ' + S.afterEnd + '.' : '.');
        dirty = true;
        heavyNow = true; // the last points, drawn now rather than in two seconds
        schedule();
        return;
      }
      setStatus('disconnected — retrying', 'lost');
      setTimeout(connect, 2000);
    };
  }
  // For tests: the state, its series flattened.
  window.__dashboard = function () {
    if (!S) return null;
    var series = {};
    Object.keys(S.series).forEach(function (k) { series[k] = flat(S.series[k]); });
    return { kind: S.kind, progress: S.progress, series: series, timeline: S.timeline, roster: S.roster, events: S.events, sweep: S.sweep };
  };
  connect();
})();
`;
