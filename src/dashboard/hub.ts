/**
 * What the dashboard shows, in memory and bounded: the run header and progress, chart series
 * (BoundedSeries), the step timeline of the last steps, the roster and membership events of a
 * coordinator, a sweep's table. The feeds (train-feed.ts, coordinator-feed.ts, sweep-feed.ts) write into it; the server (server.ts) sends
 * a browser the whole state once (`snapshot`) and then, once a second, what changed
 * (`delta`). Every part has a limit, so memory does not grow with the run's length.
 */
import type { ChartHeading, SeriesStyle } from '../study/index.js';
import { BoundedSeries, seriesLimits, type SeriesPoints } from './series.js';

export const hubLimits = Object.freeze({
  /** Steps in the timeline (the last ones). */
  timelineSteps: 200,
  /** Membership events kept (the last ones). */
  events: 200,
  /** Roster rows kept: members always, then the most recent of the departed. */
  rosterRows: 256,
  /** Series and charts a run may define (the generic series API included). */
  series: 64,
  charts: 32,
});

/** A chart of the page: its series are keys into the state's series. */
export interface ChartSpec extends ChartHeading {
  series: { key: string; label: string; style: SeriesStyle; color: number; smooth?: boolean }[];
  /** Where on the page: with the run's charts (default) or the sweep's. */
  group?: 'run' | 'sweep';
}

export interface Progress {
  state: 'starting' | 'training' | 'finished' | 'interrupted' | 'failed';
  step: number;
  totalSteps: number | null;
  epoch: number;
  epochs: number | null;
  samples: number;
  /**
   * Samples the whole run takes (epochs × training samples), set when progress is counted in
   * samples rather than steps: under `--batch-size auto` the steps per epoch change with B.
   */
  totalSamples: number | null;
  samplesPerSec: number | null;
  etaSeconds: number | null;
  /** Seconds since the dashboard started. */
  elapsedSeconds: number;
  /** A line under the progress bar (the sweep's current run, the end's reason). */
  message: string;
}

export interface TimelineStep {
  seq: number;
  step: number;
  ms: number;
  workers: string[];
  computeMs: number[];
  reduceMs: number;
  updateMs: number;
}

export interface RosterRow {
  name: string;
  host: string;
  threads: number;
  /** ready: connected and set up, waiting for the run's first step (the coordinator waits for --min-workers). */
  state: 'ready' | 'joined' | 'computing' | 'left' | 'dropped';
  joinedAtStep: number | null;
  lastStepMs: number | null;
  share: number | null;
  bytesSent: number | null;
  bytesReceived: number | null;
  reason: string;
}

export interface DashboardEvent {
  seq: number;
  time: number;
  step: number;
  kind: string;
  worker: string;
  text: string;
}

export interface SweepRow {
  id: string;
  batchSize: number;
  seed: number;
  lr: number | null;
  status: 'pending' | 'running' | 'reached' | 'not reached' | 'diverged' | 'interrupted' | 'not run';
  step: number;
  totalSteps: number | null;
  stepsToTarget: number | null;
  seconds: number | null;
  /** The scaling regime of B under the fit of steps to target, as the results table has it (null before a fit). */
  regime: string | null;
}

export interface DashboardSnapshot {
  type: 'snapshot';
  kind: 'train' | 'coordinator' | 'sweep';
  title: string;
  /** What to do once the run ended and this server is gone (a reload will not load): `dptrain report OUT`. */
  afterEnd: string;
  facts: [string, string][];
  progress: Progress;
  charts: ChartSpec[];
  captions: Record<string, string>;
  series: Record<string, SeriesPoints>;
  timeline: TimelineStep[];
  roster: RosterRow[] | null;
  events: DashboardEvent[];
  sweep: SweepRow[] | null;
  limits: { maxPoints: number; tail: number; timelineSteps: number; events: number };
}

export interface DashboardDelta {
  type: 'delta';
  facts?: [string, string][];
  progress: Progress;
  charts?: ChartSpec[];
  captions?: Record<string, string>;
  /** New points to append. */
  series: Record<string, SeriesPoints>;
  /** Series to replace wholesale (recomputed, or too many new points to send as a tail). */
  replaced: Record<string, SeriesPoints>;
  timeline: TimelineStep[];
  roster?: RosterRow[];
  events: DashboardEvent[];
  sweep?: SweepRow[];
}

/** A duration in ms rounded to whole microseconds. */
const micro = (ms: number): number => Math.round(ms * 1000) / 1000;

export class DashboardHub {
  readonly kind: DashboardSnapshot['kind'];
  readonly title: string;
  /** The snapshot's afterEnd. */
  readonly afterEnd: string;
  readonly #started = performance.now();
  #facts: [string, string][] = [];
  #progress: Progress = { state: 'starting', step: 0, totalSteps: null, epoch: 0, epochs: null, samples: 0, totalSamples: null, samplesPerSec: null, etaSeconds: null, elapsedSeconds: 0, message: '' };
  readonly #charts: ChartSpec[] = [];
  readonly #captions: Record<string, string> = {};
  readonly #series = new Map<string, BoundedSeries>();
  readonly #timeline: TimelineStep[] = [];
  #roster: RosterRow[] | null = null;
  readonly #events: DashboardEvent[] = [];
  #sweep: SweepRow[] | null = null;
  #seq = 0;
  /** What the last delta covered. */
  readonly #sentX = new Map<string, number>();
  readonly #replaced = new Set<string>();
  #sentSeq = 0;
  #changed = { facts: false, charts: false, captions: false, roster: false, sweep: false, any: false };
  /** Set when the state was reset (a sweep's next run): the next delta is a snapshot. */
  #reset = false;
  /** The feeds' work that is done a few times a second rather than per step (throughput, captions). */
  readonly #refreshers: (() => void)[] = [];

  constructor(kind: DashboardSnapshot['kind'], title: string, afterEnd = '') {
    this.kind = kind;
    this.title = title;
    this.afterEnd = afterEnd;
  }

  /** Runs `refresh` before every snapshot and delta: per-step feeds keep their per-step work small. */
  onRefresh(refresh: () => void): void {
    this.#refreshers.push(refresh);
  }

  setFacts(facts: [string, string][]): void {
    this.#facts = facts.slice(0, 24);
    this.#mark('facts');
  }

  /** Sets one fact of the header (added at the end when new); nothing is sent when it is unchanged. */
  setFact(label: string, value: string): void {
    const at = this.#facts.findIndex(([l]) => l === label);
    if (at >= 0 && this.#facts[at][1] === value) return;
    this.#facts = at >= 0 ? this.#facts.map((f, i): [string, string] => (i === at ? [label, value] : f)) : [...this.#facts, [label, value]].slice(0, 24) as [string, string][];
    this.#mark('facts');
  }

  get facts(): readonly (readonly [string, string])[] {
    return this.#facts;
  }

  /** Updates the progress fields given (throughput and ETA are the feed's to compute). */
  setProgress(update: Partial<Progress>): void {
    Object.assign(this.#progress, update);
    this.#changed.any = true;
  }

  get progress(): Readonly<Progress> {
    return this.#progress;
  }

  /** Adds a chart (or replaces the one with the same id); the generic series API for other modules. */
  defineChart(spec: ChartSpec): void {
    const at = this.#charts.findIndex((c) => c.id === spec.id);
    if (at >= 0) this.#charts[at] = spec;
    else if (this.#charts.length < hubLimits.charts) this.#charts.push(spec);
    else return;
    for (const s of spec.series) this.#seriesOf(s.key);
    this.#mark('charts');
  }

  /** A caption under a chart (the regime the noise scale implies, the slowest worker). */
  setCaption(chartId: string, text: string): void {
    if (this.#captions[chartId] === text) return;
    this.#captions[chartId] = text;
    this.#mark('captions');
  }

  /** Appends a point to series `key` (x must not decrease). Unknown keys beyond the limit are ignored. */
  point(key: string, x: number, y: number): void {
    this.#seriesOf(key)?.push(x, y);
    this.#changed.any = true;
  }

  /** Replaces series `key` wholesale. */
  setSeries(key: string, points: SeriesPoints): void {
    const series = this.#seriesOf(key);
    if (!series) return;
    series.replace(points);
    this.#replaced.add(key);
    this.#changed.any = true;
  }

  addTimelineStep(step: Omit<TimelineStep, 'seq'>): void {
    // Microseconds are plenty for a bar; full doubles (4.191675000000032) send digits no bar shows.
    const { step: at, ms, workers, computeMs, reduceMs, updateMs } = step;
    this.#timeline.push({ step: at, ms: micro(ms), workers, computeMs: computeMs.map(micro), reduceMs: micro(reduceMs), updateMs: micro(updateMs), seq: ++this.#seq });
    if (this.#timeline.length > hubLimits.timelineSteps) this.#timeline.shift();
    this.#changed.any = true;
  }

  /** The timeline's steps, oldest first (read-only). */
  get timeline(): readonly TimelineStep[] {
    return this.#timeline;
  }

  setRoster(rows: RosterRow[]): void {
    this.#roster = rows.slice(0, hubLimits.rosterRows);
    this.#mark('roster');
  }

  addEvent(event: Omit<DashboardEvent, 'seq' | 'time'>): void {
    this.#events.push({ ...event, seq: ++this.#seq, time: Date.now() });
    if (this.#events.length > hubLimits.events) this.#events.shift();
    this.#changed.any = true;
  }

  setSweep(rows: SweepRow[]): void {
    this.#sweep = rows;
    this.#mark('sweep');
  }

  /** Clears the run's series, captions and timeline (a sweep's next run); browsers get a fresh snapshot. */
  resetRun(): void {
    for (const chart of this.#charts) {
      if (chart.group === 'sweep') continue;
      for (const s of chart.series) this.#series.set(s.key, new BoundedSeries());
    }
    for (const key of Object.keys(this.#captions)) delete this.#captions[key];
    this.#timeline.length = 0;
    this.#reset = true;
  }

  snapshot(): DashboardSnapshot {
    for (const refresh of this.#refreshers) refresh();
    this.#progress.elapsedSeconds = (performance.now() - this.#started) / 1000;
    return {
      type: 'snapshot',
      kind: this.kind,
      title: this.title,
      afterEnd: this.afterEnd,
      facts: this.#facts,
      progress: { ...this.#progress },
      charts: this.#charts,
      captions: { ...this.#captions },
      series: Object.fromEntries([...this.#series].map(([key, s]) => [key, s.points()])),
      timeline: this.#timeline.slice(),
      roster: this.#roster,
      events: this.#events.slice(),
      sweep: this.#sweep,
      limits: { maxPoints: seriesLimits.maxPoints, tail: seriesLimits.tail, timelineSteps: hubLimits.timelineSteps, events: hubLimits.events },
    };
  }

  /**
   * What changed since the last call, or null when nothing did; a snapshot after a reset. Either
   * way the state it covers counts as sent.
   */
  takeDelta(): DashboardDelta | DashboardSnapshot | null {
    for (const refresh of this.#refreshers) refresh();
    if (this.#reset) {
      this.#reset = false;
      this.#markAllSent();
      return this.snapshot();
    }
    if (!this.#changed.any) return null;
    this.#progress.elapsedSeconds = (performance.now() - this.#started) / 1000;
    const delta: DashboardDelta = { type: 'delta', progress: { ...this.#progress }, series: {}, replaced: {}, timeline: [], events: [] };
    for (const [key, series] of this.#series) {
      const sent = this.#sentX.get(key) ?? Number.NEGATIVE_INFINITY;
      if (this.#replaced.has(key)) delta.replaced[key] = series.points();
      else if (series.lastX > sent) {
        const fresh = series.since(sent);
        if (fresh) delta.series[key] = fresh;
        else delta.replaced[key] = series.points();
      }
      this.#sentX.set(key, series.lastX);
    }
    this.#replaced.clear();
    delta.timeline = this.#timeline.filter((t) => t.seq > this.#sentSeq);
    delta.events = this.#events.filter((e) => e.seq > this.#sentSeq);
    this.#sentSeq = this.#seq;
    if (this.#changed.facts) delta.facts = this.#facts;
    if (this.#changed.charts) delta.charts = this.#charts;
    if (this.#changed.captions) delta.captions = { ...this.#captions };
    if (this.#changed.roster && this.#roster) delta.roster = this.#roster;
    if (this.#changed.sweep && this.#sweep) delta.sweep = this.#sweep;
    this.#changed = { facts: false, charts: false, captions: false, roster: false, sweep: false, any: false };
    return delta;
  }

  #markAllSent(): void {
    for (const [key, series] of this.#series) this.#sentX.set(key, series.lastX);
    this.#replaced.clear();
    this.#sentSeq = this.#seq;
    this.#changed = { facts: false, charts: false, captions: false, roster: false, sweep: false, any: false };
  }

  #mark(part: 'facts' | 'charts' | 'captions' | 'roster' | 'sweep'): void {
    this.#changed[part] = true;
    this.#changed.any = true;
  }

  #seriesOf(key: string): BoundedSeries | undefined {
    let series = this.#series.get(key);
    if (!series && this.#series.size < hubLimits.series) {
      series = new BoundedSeries();
      this.#series.set(key, series);
    }
    return series;
  }
}
