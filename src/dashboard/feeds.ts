/**
 * The feeds: what a run reports, written into the DashboardHub. TrainFeed is a training-loop
 * Callback (per step: a few numbers pushed, no more; throughput and captions are worked out a
 * few times a second in the hub's refresh); CoordinatorFeed turns the ws engine's status and
 * membership events into the roster; SweepFeed the sweep's hooks into its table and chart.
 */
import type { CoordinatorStatus, MembershipEvent } from '../engine/index.js';
import { classifyRegime, fitScaling, predictSteps, type PlannedRun, type RunOutcome, type SweepHooks } from '../study/index.js';
import type { Callback, EpochRecord, EvalRecord, RunInfo, RunSummary, StepRecord } from '../train/index.js';
import { hubLimits, type ChartSpec, type DashboardHub, type RosterRow, type SweepRow } from './hub.js';

/** The run's charts: every series key the train feed writes. */
export const RUN_CHARTS: readonly ChartSpec[] = [
  {
    id: 'loss', title: 'Loss', note: 'Training loss of every step (thin), smoothed (exponential moving average, weight 0.9, as TensorBoard), and the validation loss at each evaluation (points).',
    xLabel: 'step', yLabel: 'loss', xLog: false, yLog: false,
    series: [{ key: 'loss', label: 'train (batch mean)', style: 'line', color: 0, smooth: true }, { key: 'valLoss', label: 'validation', style: 'points', color: 1 }],
  },
  {
    id: 'accuracy', title: 'Accuracy', note: 'Training accuracy of every step (thin) and smoothed, and the validation accuracy at each evaluation (points); fraction correct, 0 to 1.',
    xLabel: 'step', yLabel: 'accuracy (fraction)', xLog: false, yLog: false,
    series: [{ key: 'accuracy', label: 'train (batch)', style: 'line', color: 0, smooth: true }, { key: 'valAccuracy', label: 'validation', style: 'points', color: 1 }],
  },
  {
    id: 'lr', title: 'Learning rate', note: 'The rate the schedule gave each step (warmup, step or cosine decay).',
    xLabel: 'step', yLabel: 'learning rate', xLog: false, yLog: false,
    series: [{ key: 'lr', label: 'learning rate', style: 'line', color: 2 }],
  },
  {
    id: 'gns', title: 'Gradient noise scale B_simple vs the batch size B', note: 'B_simple = tr(Σ)/|G|² from the shard gradients (moving averages), in samples, against the global batch size used. B well below B_simple: perfect scaling (a larger B saves steps in proportion); far above it: diminishing returns (docs/batch-size.md).',
    xLabel: 'step', yLabel: 'samples (log scale)', xLog: false, yLog: true,
    series: [{ key: 'bSimple', label: 'B_simple', style: 'line', color: 3 }, { key: 'batchSize', label: 'batch size B', style: 'dashed', color: 8 }],
  },
];

export const SWEEP_CHART: ChartSpec = {
  id: 'sweep-steps', title: 'Steps to target vs batch size', note: 'One point per finished run that reached the target. Dashed: perfect scaling from the smallest batch size (steps halve when B doubles); line: the fit S_min + E_min/B once two batch sizes reached it.',
  xLabel: 'batch size B (log scale)', yLabel: 'steps to target (log scale)', xLog: true, yLog: true, group: 'sweep',
  series: [
    { key: 'sweep.steps', label: 'measured', style: 'points', color: 0 },
    { key: 'sweep.perfect', label: 'perfect scaling', style: 'dashed', color: 8 },
    { key: 'sweep.fit', label: 'fit S_min + E_min/B', style: 'line', color: 1 },
  ],
};

/** Throughput is measured over about this window, s. */
const RATE_WINDOW_S = 5;

const fmt = (v: number) => String(Number(v.toPrecision(3)));

export class TrainFeed implements Callback {
  readonly #hub: DashboardHub;
  #info: RunInfo | null = null;
  /** Worker names in worker order: the coordinator's members, else `worker 1`, `worker 2`, ... */
  #names: string[] = [];
  #named = false;
  #step = 0;
  #last: StepRecord | null = null;
  /** (time s, samples, step) marks, about one a second, for throughput and ETA. */
  readonly #marks: [number, number, number][] = [];

  constructor(hub: DashboardHub) {
    this.#hub = hub;
    for (const chart of RUN_CHARTS) hub.defineChart(chart);
    hub.onRefresh(() => this.#refresh());
  }

  /** The coordinator's member names, in worker order (set at every status). */
  set workerNames(names: string[]) {
    this.#names = names;
    this.#named = true;
  }

  onTrainBegin(info: RunInfo): void {
    this.#info = info;
    this.#marks.length = 0;
    const schedule = `${info.lrSchedule ?? 'constant'}${info.warmupEpochs ? `, warmup ${fmt(info.warmupEpochs)} epochs` : ''}`;
    this.#hub.setFacts([
      ['model', `${info.model} (${info.numParams.toLocaleString('en-US')} parameters)`],
      ['dataset', `${info.dataset}: ${info.trainSamples.toLocaleString('en-US')} training, ${info.valSamples.toLocaleString('en-US')} validation samples`],
      ['batch size B', `${info.batchSize} (${info.stepsPerEpoch} steps per epoch)`],
      ['learning rate', `${info.lr} peak, ${schedule}${info.optimizer ? `; ${info.optimizer}` : ''}`],
      ['engine', `${info.engine}, ${info.workers} worker${info.workers === 1 ? '' : 's'}`],
      ['kernels', info.kernels ?? '—'],
    ]);
    this.#hub.setProgress({ state: 'training', totalSteps: info.totalSteps, epochs: info.epochs, step: this.#step });
  }

  onStep(record: StepRecord): void {
    const hub = this.#hub;
    const x = record.step + 1; // updates applied so far
    this.#step = x;
    this.#last = record;
    hub.point('loss', x, record.loss);
    if (record.accuracy !== null) hub.point('accuracy', x, record.accuracy);
    hub.point('lr', x, record.lr);
    // B every step, so that a batch size that changes during the run (B(t)) shows beside B_simple.
    hub.point('batchSize', x, record.batchSize);
    if (record.gns && record.gns.bSimple !== null) hub.point('bSimple', x, record.gns.bSimple);
    const { timing } = record;
    if (!this.#named || this.#names.length !== timing.computeMs.length) this.#names = timing.computeMs.map((_, i) => (this.#info?.engine === 'inline' ? 'inline' : `worker ${i + 1}`));
    hub.addTimelineStep({ step: x, ms: record.ms, workers: this.#names, computeMs: timing.computeMs, reduceMs: timing.reduceMs, updateMs: timing.updateMs });
    hub.setProgress({ step: x, epoch: record.epoch, samples: record.samples });
  }

  onEval(record: EvalRecord): void {
    this.#hub.point('valLoss', record.step, record.valLoss);
    if (record.valAccuracy !== null) this.#hub.point('valAccuracy', record.step, record.valAccuracy);
  }

  onEpochEnd(record: EpochRecord): void {
    if (record.valLoss !== null) this.#hub.point('valLoss', this.#step, record.valLoss);
    if (record.valAccuracy !== null) this.#hub.point('valAccuracy', this.#step, record.valAccuracy);
    this.#hub.setProgress({ epoch: record.epoch + 1 });
  }

  onTrainEnd(summary: RunSummary): void {
    const interrupted = summary.stopReason === 'interrupted';
    this.#refresh();
    this.#hub.setProgress({
      state: interrupted ? 'interrupted' : 'finished',
      etaSeconds: null,
      samplesPerSec: summary.samplesPerSec,
      message: `${interrupted ? 'interrupted' : 'finished'} (${summary.stopReason}) after ${summary.steps} steps in ${summary.seconds.toFixed(1)} s`,
    });
  }

  /** Throughput, ETA and captions, a few times a second. */
  #refresh(): void {
    const progress = this.#hub.progress;
    if (progress.state !== 'training' || !this.#last) return;
    const now = performance.now() / 1000;
    const marks = this.#marks;
    if (marks.length === 0 || now - marks[marks.length - 1][0] >= 1) marks.push([now, progress.samples, progress.step]);
    while (marks.length > 2 && now - marks[1][0] > RATE_WINDOW_S) marks.shift();
    const [t0, samples0, step0] = marks[0];
    const dt = now - t0;
    if (dt > 0.2 && progress.step > step0) {
      const stepsPerSec = (progress.step - step0) / dt;
      const left = progress.totalSteps === null ? null : Math.max(0, progress.totalSteps - progress.step);
      this.#hub.setProgress({ samplesPerSec: (progress.samples - samples0) / dt, etaSeconds: left === null ? null : left / stepsPerSec });
    }
    const gns = this.#last.gns;
    if (gns && gns.bSimple !== null && Number.isFinite(gns.bSimple) && gns.bSimple > 0) {
      const B = this.#last.batchSize;
      this.#hub.setCaption('gns', `Now: B = ${B}, B_simple ≈ ${fmt(gns.bSimple)} (B/B_simple = ${fmt(B / gns.bSimple)}): taking B_simple as the critical batch size, B is in the ${classifyRegime(B, gns.bSimple)} regime.`);
    } else {
      this.#hub.setCaption('gns', 'Not measured now: B_simple needs two or more gradient slots holding samples per step (2+ workers, or --reduce-chunks 2+).');
    }
    this.#hub.setCaption('timeline', slowestText(this.#hub));
  }
}

/** `slowest: w2, computing 12.3 ms per step on average (the fastest: 8.1 ms); ...`, over the timeline. */
export function slowestText(hub: DashboardHub): string {
  const sums = new Map<string, { ms: number; n: number }>();
  let stepMs = 0;
  let waitMs = 0;
  for (const t of hub.timeline) {
    const slowest = Math.max(...t.computeMs);
    stepMs += t.ms;
    t.workers.forEach((name, i) => {
      const s = sums.get(name) ?? { ms: 0, n: 0 };
      s.ms += t.computeMs[i] ?? 0;
      s.n += 1;
      sums.set(name, s);
      waitMs += (slowest - (t.computeMs[i] ?? 0)) / t.workers.length;
    });
  }
  const means = [...sums].map(([name, s]) => ({ name, ms: s.ms / s.n }));
  if (means.length < 2) return means.length === 1 ? `One worker (${means[0].name}): compute ${means[0].ms.toFixed(2)} ms per step on average.` : '';
  means.sort((a, b) => b.ms - a.ms);
  const [slow, fast] = [means[0], means[means.length - 1]];
  const share = stepMs > 0 ? Math.round((100 * waitMs) / stepMs) : 0;
  return `Slowest worker: ${slow.name}, computing ${slow.ms.toFixed(2)} ms per step on average (fastest: ${fast.name}, ${fast.ms.toFixed(2)} ms); the others wait for it ${share}% of the step time.`;
}

/** The ws coordinator's roster: members from its status, the departed from membership events. */
export class CoordinatorFeed {
  readonly #hub: DashboardHub;
  readonly #train: TrainFeed;
  readonly #rows = new Map<string, RosterRow>();
  #status: CoordinatorStatus | null = null;
  #dirty = false;

  constructor(hub: DashboardHub, train: TrainFeed) {
    this.#hub = hub;
    this.#train = train;
    hub.onRefresh(() => this.#refresh());
  }

  onStatus(status: CoordinatorStatus): void {
    this.#status = status;
    this.#train.workerNames = status.workers.map((w) => w.name);
    this.#dirty = true;
  }

  onMembership(event: MembershipEvent): void {
    const row = this.#row(event.worker, event.host, event.threads);
    const verb = { join: 'joined', leave: 'left', drop: 'dropped', lost: 'dropped (connection lost)' }[event.kind];
    row.state = event.kind === 'join' ? 'computing' : event.kind === 'leave' ? 'left' : 'dropped';
    row.reason = event.kind === 'join' ? '' : event.reason;
    if (event.kind === 'join') row.joinedAtStep = event.step;
    this.#hub.addEvent({ step: event.step, kind: event.kind, worker: event.worker, text: `${event.worker} (${event.host}, ${event.threads} thread${event.threads === 1 ? '' : 's'}) ${verb} at step ${event.step}: ${event.reason}` });
    this.#dirty = true;
  }

  #row(name: string, host: string, threads: number): RosterRow {
    let row = this.#rows.get(name);
    if (!row) {
      row = { name, host, threads, state: 'joined', joinedAtStep: null, lastStepMs: null, share: null, bytesSent: null, bytesReceived: null, reason: '' };
      this.#rows.set(name, row);
      // Bounded: forget the oldest departed worker.
      if (this.#rows.size > hubLimits.rosterRows) {
        const gone = [...this.#rows.values()].find((r) => r.state === 'left' || r.state === 'dropped');
        if (gone) this.#rows.delete(gone.name);
      }
    }
    return row;
  }

  #refresh(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    const status = this.#status;
    if (status) {
      for (const w of status.workers) {
        const row = this.#row(w.name, w.host, w.threads);
        if (row.state !== 'dropped' && row.state !== 'left') row.state = 'computing';
        row.joinedAtStep = w.joinedAtStep;
        row.lastStepMs = w.responseMs ?? w.lastComputeMs;
        row.share = w.share ?? null;
        row.bytesSent = w.bytesSent ?? null;
        row.bytesReceived = w.bytesReceived ?? null;
      }
      for (const name of status.waiting) {
        const row = this.#rows.get(name);
        if (!row || row.state === 'dropped' || row.state === 'left') {
          const fresh = this.#row(name, row?.host ?? '', row?.threads ?? 0);
          fresh.state = 'joined';
          fresh.reason = 'waits for the next step boundary';
        }
      }
    }
    this.#hub.setRoster([...this.#rows.values()]);
  }
}

/** A sweep: its table of runs, the steps-to-target chart, and the current run's charts (TrainFeed). */
export class SweepFeed {
  readonly #hub: DashboardHub;
  readonly #train: TrainFeed;
  #rows: SweepRow[] = [];
  #runStarted = false;
  /** The running row's step moved since the table was last sent. */
  #rowsMoved = false;
  readonly #reached: { batchSize: number; steps: number }[] = [];

  constructor(hub: DashboardHub, train: TrainFeed) {
    this.#hub = hub;
    this.#train = train;
    hub.defineChart(SWEEP_CHART);
    hub.onRefresh(() => {
      if (this.#rowsMoved) this.#hub.setSweep(this.#rows);
      this.#rowsMoved = false;
    });
  }

  /** The sweep's hooks, each calling `also`'s first (the CLI's progress bar). */
  hooks(also: SweepHooks = {}): SweepHooks {
    return {
      ...also,
      onPlan: (runs) => {
        also.onPlan?.(runs);
        this.#plan(runs);
      },
      onRunStart: (run, index, total) => {
        also.onRunStart?.(run, index, total);
        this.#start(run, index, total);
      },
      onStep: (record, run, info) => {
        also.onStep?.(record, run, info);
        if (!this.#runStarted) {
          this.#runStarted = true;
          this.#train.onTrainBegin(info);
        }
        this.#train.onStep(record);
        const row = this.#rows.find((r) => r.id === run.id);
        if (row) {
          row.step = record.step + 1;
          row.totalSteps = info.totalSteps;
          this.#rowsMoved = true;
        }
      },
      onRunEnd: (outcome, index, total) => {
        also.onRunEnd?.(outcome, index, total);
        this.#end(outcome, index, total);
      },
    };
  }

  #plan(runs: readonly PlannedRun[]): void {
    this.#rows = runs.map((r) => ({ id: r.id, batchSize: r.resolvedBatchSize, seed: r.seed, lr: r.gridLr, status: 'pending', step: 0, totalSteps: null, stepsToTarget: null, seconds: null }));
    this.#hub.setSweep(this.#rows);
    this.#hub.setProgress({ state: 'training', step: 0, totalSteps: runs.length, message: `${runs.length} runs planned` });
  }

  #start(run: PlannedRun, index: number, total: number): void {
    this.#hub.resetRun();
    this.#runStarted = false;
    const row = this.#rows.find((r) => r.id === run.id);
    if (row) row.status = 'running';
    this.#hub.setSweep(this.#rows);
    this.#hub.setProgress({ message: `run ${index + 1} of ${total}: ${run.id}` });
  }

  #end(outcome: RunOutcome, index: number, total: number): void {
    const row = this.#rows.find((r) => r.id === outcome.id);
    if (row) {
      row.status = outcome.status;
      row.lr = outcome.lr;
      row.step = outcome.stepsRun;
      row.stepsToTarget = outcome.stepsToTarget;
      row.seconds = outcome.secondsToTarget;
    }
    this.#hub.setSweep(this.#rows);
    this.#hub.setProgress({ message: `${index + 1} of ${total} runs finished`, ...(index + 1 === total && { state: 'finished' as const }) });
    if (outcome.stepsToTarget !== null) this.#reached.push({ batchSize: outcome.resolvedBatchSize, steps: outcome.stepsToTarget });
    this.#drawSteps();
  }

  #drawSteps(): void {
    const points = [...this.#reached].sort((a, b) => a.batchSize - b.batchSize);
    this.#hub.setSeries('sweep.steps', { x: points.map((p) => p.batchSize), y: points.map((p) => p.steps) });
    if (points.length === 0) return;
    const bs = [...new Set(points.map((p) => p.batchSize))];
    const ref = points[0];
    this.#hub.setSeries('sweep.perfect', { x: bs, y: bs.map((b) => (ref.steps * ref.batchSize) / b) });
    if (bs.length >= 2) {
      const fit = fitScaling(points);
      this.#hub.setSeries('sweep.fit', { x: bs, y: bs.map((b) => predictSteps(fit, b)) });
    }
  }
}
