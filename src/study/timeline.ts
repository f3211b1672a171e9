/**
 * The all-reduce timeline of a ws run, read back from the step records' `timing.buckets`
 * (docs/formats.md): per step, the slowest worker's backward, its bucket all-reduces and the part
 * of them left after backward (exposed); and one whole step drawn as a timeline per worker, as
 * Horovod's timeline and PyTorch's profiler show a step, so that a user sees what overlap hid.
 * Runs of the other engines have no buckets, and the report has no such charts for them.
 */
import type { StepTiming } from '../train/index.js';
import { median } from '../util/index.js';
import type { ChartDef } from './report-page.js';

type WorkerBuckets = NonNullable<StepTiming['buckets']>[number];

/** One step's split, the slowest worker's of each (as `npm run bench:lan` reads them). */
export interface CommPoint {
  step: number;
  stepMs: number;
  computeMs: number;
  commMs: number;
  exposedMs: number;
  /** The workers' hidden communication over their total, 0..1 (null when nothing was all-reduced). */
  overlap: number | null;
}

/** A step drawn whole: its index, time, and each worker's buckets. */
export interface TimelineStep {
  step: number;
  stepMs: number;
  workers: WorkerBuckets[];
}

export interface RunTimeline {
  /** Per step, thinned evenly to at most `maxPoints` steps (the stride doubles as the run grows). */
  points: CommPoint[];
  /** The step whose time is the median of the kept steps after the first (start-up). */
  median: TimelineStep | null;
}

/**
 * Collects the timelines of the step records as metrics.jsonl is read: every `stride`-th step is
 * kept, and when more than 2·maxPoints are kept every other one goes and the stride doubles, so a
 * run of any length costs the same memory and the kept steps stay evenly spread.
 */
export class TimelineCollector {
  readonly #maxPoints: number;
  #stride = 1;
  #kept: { point: CommPoint; workers: WorkerBuckets[] }[] = [];

  constructor(maxPoints = 300) {
    this.#maxPoints = maxPoints;
  }

  add(step: number, stepMs: number, timing: StepTiming | undefined): void {
    const workers = timing?.buckets;
    if (!workers || workers.length === 0 || step % this.#stride !== 0) return;
    const comm = workers.reduce((a, w) => a + w.commMs, 0);
    const hidden = workers.reduce((a, w) => a + w.hiddenMs, 0);
    const point: CommPoint = {
      step: step + 1,
      stepMs,
      computeMs: Math.max(...workers.map((w) => w.computeMs)),
      commMs: Math.max(...workers.map((w) => w.commMs)),
      exposedMs: Math.max(...workers.map((w) => Math.max(0, w.commMs - w.hiddenMs))),
      overlap: comm > 0 ? hidden / comm : null,
    };
    this.#kept.push({ point, workers });
    if (this.#kept.length > 2 * this.#maxPoints) {
      this.#stride *= 2;
      this.#kept = this.#kept.filter((k) => (k.point.step - 1) % this.#stride === 0);
    }
  }

  result(): RunTimeline {
    const points = this.#kept.map((k) => k.point);
    const candidates = this.#kept.length > 1 ? this.#kept.slice(1) : this.#kept;
    if (candidates.length === 0) return { points, median: null };
    const mid = median(candidates.map((k) => k.point.stepMs));
    const pick = candidates.reduce((best, k) => (Math.abs(k.point.stepMs - mid) < Math.abs(best.point.stepMs - mid) ? k : best));
    return { points, median: { step: pick.point.step, stepMs: pick.point.stepMs, workers: pick.workers } };
  }
}

const ms = (v: number) => `${v.toFixed(1)} ms`;

/** The summary line of the report: medians of the split over the kept steps. */
export function timelineSummary(t: RunTimeline): string | null {
  if (t.points.length === 0) return null;
  const m = (f: (p: CommPoint) => number) => median(t.points.map(f));
  const step = m((p) => p.stepMs);
  const exposed = m((p) => p.exposedMs);
  const overlaps = t.points.flatMap((p) => (p.overlap === null ? [] : [p.overlap]));
  const overlap = overlaps.length > 0 ? `${Math.round(100 * median(overlaps))}%` : 'none';
  return `All-reduce (medians over ${t.points.length === 1 ? 'one step' : `${t.points.length} steps`}; the slowest worker's of each): step ${ms(step)}, backward ${ms(m((p) => p.computeMs))}, bucket all-reduces ${ms(m((p) => p.commMs))}, of which ${ms(exposed)} after backward (exposed, ${Math.round((100 * exposed) / step)}% of the step); overlap (hidden / total) ${overlap}.`;
}

/** The per-step chart and the median step's timeline; none for a run without bucket timings. */
export function timelineCharts(t: RunTimeline): ChartDef[] {
  if (t.points.length === 0) return [];
  // The first step carries the run's start-up (tens of times a step): left out, as is the rare
  // step beyond 1.2x the 99th percentile, so that the axis shows the steady state.
  const points = t.points.length > 1 ? t.points.slice(1) : t.points;
  const times = points.map((p) => p.stepMs).sort((a, b) => a - b);
  const top = 1.2 * times[Math.min(times.length - 1, Math.floor(0.99 * times.length))];
  const charts: ChartDef[] = [
    {
      id: 'comm-per-step',
      title: 'Backward and all-reduce per step',
      note: 'Per step, the slowest worker\'s: forward + backward, its bucket all-reduces (the time some bucket was travelling) and the part of them after backward ended, which the step waits for (exposed); overlap hid the difference between the two all-reduce lines. The first step (start-up) is left out.',
      xLabel: 'step',
      yLabel: 'ms',
      xLog: false,
      yLog: false,
      x: points.map((p) => p.step),
      series: [
        { label: 'step time', style: 'line', color: 8, values: points.map((p) => p.stepMs), width: 1 },
        { label: 'forward + backward', style: 'line', color: 0, values: points.map((p) => p.computeMs) },
        { label: 'all-reduce, total', style: 'line', color: 1, values: points.map((p) => p.commMs) },
        { label: 'all-reduce after backward (exposed)', style: 'dashed', color: 1, values: points.map((p) => p.exposedMs) },
      ],
      yRange: [0, Math.max(top, 1)],
    },
  ];
  if (t.median) charts.push(stepTimelineChart(t.median));
  return charts;
}

/**
 * One step as bars per worker (a row each, the first at the bottom): forward + backward from 0 to
 * computeMs, each bucket's all-reduce from startMs to endMs (successive buckets on alternate
 * lanes, since a bucket's ring starts while the previous one's all-gather travels), and a dot where
 * backward had finished the bucket (readyMs).
 */
function stepTimelineChart(s: TimelineStep): ChartDef {
  const compute = { x: [] as number[], y: [] as (number | null)[] };
  const comm = { x: [] as number[], y: [] as (number | null)[] };
  const ready = { x: [] as number[], y: [] as (number | null)[] };
  const bar = (to: { x: number[]; y: (number | null)[] }, from: number, end: number, y: number) => {
    // A null between bars lifts the pen (charts.ts draws xy series as broken polylines).
    if (to.x.length > 0) (to.x.push(from), to.y.push(null));
    to.x.push(from, end);
    to.y.push(y, y);
  };
  let end = 0;
  s.workers.forEach((w, i) => {
    const row = i + 1;
    bar(compute, 0, w.computeMs, row + 0.18);
    w.buckets.forEach((b, k) => {
      const lane = row - 0.08 - 0.18 * (k % 2);
      bar(comm, b.startMs, b.endMs, lane);
      ready.x.push(b.readyMs);
      ready.y.push(lane);
      end = Math.max(end, b.endMs);
    });
    end = Math.max(end, w.computeMs);
  });
  const buckets = s.workers[0]?.buckets.length ?? 0;
  return {
    id: 'step-timeline',
    title: `Timeline of step ${s.step} (its time ${ms(s.stepMs)}, the median step)`,
    note: `Per worker, ms from the start of its compute: forward + backward, then each of the ${buckets === 1 ? 'one bucket\'s all-reduce' : `${buckets} buckets' all-reduces (in backward order, on alternate lanes)`}, with a dot where backward had finished the bucket. The part of an all-reduce bar left of the end of its worker's forward + backward bar travelled while backward went on (hidden); the step waited for the rest (exposed).`,
    xLabel: 'ms from the start of the worker\'s compute',
    yLabel: 'worker',
    xLog: false,
    yLog: false,
    x: [],
    layout: 'xy',
    series: [
      { label: 'forward + backward', style: 'line', color: 0, x: compute.x, values: compute.y, width: 10 },
      { label: 'bucket all-reduce', style: 'line', color: 1, x: comm.x, values: comm.y, width: 8 },
      { label: 'bucket final', style: 'points', color: 2, x: ready.x, values: ready.y },
    ],
    xRange: [0, Math.max(1, end) * 1.03],
    yRange: [0.5, s.workers.length + 0.5],
    rows: s.workers.map((w) => w.worker),
    height: 140 + 60 * s.workers.length,
  };
}
