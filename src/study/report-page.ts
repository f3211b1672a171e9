/**
 * The report's page model and the helpers that build its charts: ReportPage (title, text, table,
 * charts) and ChartDef (x values and aligned series, or xy paths) as `dptrain report` embeds them
 * for uPlot; alignTraces and chart, which turn traces with their own x values into one chart;
 * logSpace for reference lines; fmt for the numbers in the text and tables. The sweep page
 * (report-sweep.ts), the run page (report-run.ts) and the timeline charts (timeline.ts) use them.
 */

/** 'steps': a step function, each value holding until the next x (a batch size chosen "from then on"). */
export type SeriesStyle = 'line' | 'points' | 'dashed' | 'steps';

export interface ChartSeries {
  label: string;
  style: SeriesStyle;
  /** Index into the page's palette, so that a batch size keeps its colour across charts. */
  color: number;
  /** y values: aligned with the chart's `x`, or (xy charts) with this series' own `x`. */
  values: (number | null)[];
  /** xy charts only: this series' x values, in drawing order (a path, closed contours); a null y breaks the line. */
  x?: number[];
  /** Stroke width in CSS pixels (default 2). */
  width?: number;
  /** Drawn see-through (the raw series under a smoothed one). */
  faint?: boolean;
}

/** What every chart has, on a report page and on the live dashboard: its heading and axes. */
export interface ChartHeading {
  id: string;
  title: string;
  /** How to read it, one or two sentences under the title. */
  note: string;
  xLabel: string;
  yLabel: string;
  xLog: boolean;
  yLog: boolean;
}

export interface ChartDef extends ChartHeading {
  /** The shared x values (aligned charts); empty for xy charts. */
  x: number[];
  series: ChartSeries[];
  /**
   * 'xy': every series has its own x values and is drawn in order (uPlot mode 2), for paths in a
   * parameter plane; with `square`, one unit has the same length on both axes. Default: aligned.
   */
  layout?: 'aligned' | 'xy';
  square?: boolean;
  /** Axis ranges [min, max] (default: from the data). */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Plot height in pixels (default 360). */
  height?: number;
  /** A chart of rows (a timeline): y = 1, 2, … is row k, labelled rows[k - 1] on the y axis. */
  rows?: string[];
}

/** A chart the page cannot draw: its heading and one sentence saying why, where the chart would be. */
export interface AbsentChart {
  id: string;
  title: string;
  /** Why it is not drawn. */
  note: string;
  /** Its place: before charts[before] (charts.length: after the last chart). */
  before: number;
}

export interface ReportPage {
  kind: 'sweep' | 'run';
  title: string;
  /** Paragraphs of plain text above the charts. */
  summary: string[];
  /** A table (header row first), or null. */
  table: string[][] | null;
  warnings: string[];
  charts: ChartDef[];
  /** Charts left out, each said why in its place (none when absent). */
  absent?: AbsentChart[];
}

/** A page's charts in order: drawn (ChartDef), explained instead of drawn (`absent`), or left out (null). */
export type PageItem = ChartDef | { absent: Omit<AbsentChart, 'before'> } | null;

/** Splits the items into the charts to draw and the absent ones, each placed before the chart that follows it. */
export function layOut(items: PageItem[]): { charts: ChartDef[]; absent: AbsentChart[] } {
  const charts: ChartDef[] = [];
  const absent: AbsentChart[] = [];
  for (const item of items) {
    if (item === null) continue;
    if ('absent' in item) absent.push({ ...item.absent, before: charts.length });
    else charts.push(item);
  }
  return { charts, absent };
}

/** One line or set of points with its own x values, before alignTraces puts it on a chart's x axis. */
export interface Trace {
  label: string;
  style: SeriesStyle;
  color: number;
  points: { x: number; y: number | null }[];
}

/** Puts traces with different x values on one sorted x axis (null where a trace has no value). */
export function alignTraces(traces: Trace[], xLog: boolean, yLog: boolean): { x: number[]; series: ChartSeries[] } {
  const ok = (v: number | null, log: boolean): v is number => v !== null && Number.isFinite(v) && (!log || v > 0);
  const xs = [...new Set(traces.flatMap((t) => t.points.filter((p) => ok(p.x, xLog)).map((p) => p.x)))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const series = traces.map((t) => {
    const values: (number | null)[] = new Array(xs.length).fill(null);
    for (const p of t.points) {
      const i = at.get(p.x);
      if (i !== undefined && ok(p.y, yLog)) values[i] = p.y;
    }
    return { label: t.label, style: t.style, color: t.color, values };
  });
  return { x: xs, series };
}

/** An aligned chart of the traces, or null when none of them has a value to draw. */
export function chart(def: Omit<ChartDef, 'x' | 'series'>, traces: Trace[]): ChartDef | null {
  const { x, series } = alignTraces(traces, def.xLog, def.yLog);
  const kept = series.filter((s) => s.values.some((v) => v !== null));
  if (x.length === 0 || kept.length === 0) return null;
  return { ...def, x, series: kept };
}

/** n log-spaced values from lo to hi. */
export function logSpace(lo: number, hi: number, n: number): number[] {
  if (!(lo > 0 && hi > lo)) return [lo];
  return Array.from({ length: n }, (_, i) => lo * Math.pow(hi / lo, i / (n - 1)));
}

/** A number for the page's text and tables: 4 significant digits, grouped when ≥ 1e5, — when missing. */
export const fmt = (v: number | null | undefined, digits = 4): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : Math.abs(v) >= 1e5 ? Math.round(v).toLocaleString('en-US') : String(Number(v.toPrecision(digits)));
