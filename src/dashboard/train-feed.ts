/**
 * The training loop's feed: a Callback that writes each step into the DashboardHub (a few numbers
 * pushed, no more); throughput, ETA and captions are worked out a few times a second, in the
 * hub's refresh, and only while a browser is connected.
 */
import { classifyRegime } from '../study/index.js';
import type { Callback, EpochRecord, EvalRecord, RunInfo, RunSummary, StepRecord } from '../train/index.js';
import { plural } from '../util/index.js';
import type { ChartSpec, DashboardHub, Progress } from './hub.js';

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
    id: 'gns', title: 'Gradient noise scale B_simple vs the batch size B', note: 'B_simple = tr(Σ)/|G|² from the shard gradients (moving averages), in samples, against the global batch size used (not an epoch\'s partial last batch). B well below B_simple: perfect scaling (a larger B saves steps in proportion); far above it: diminishing returns (docs/batch-size.md).',
    xLabel: 'step', yLabel: 'samples (log scale)', xLog: false, yLog: true,
    series: [{ key: 'bSimple', label: 'B_simple', style: 'line', color: 3 }, { key: 'batchSize', label: 'batch size B', style: 'dashed', color: 8 }],
  },
];


/** Throughput is measured over about this window, s. */
const RATE_WINDOW_S = 5;

const fmt = (v: number) => String(Number(v.toPrecision(3)));
const int = (v: number) => Math.round(v).toLocaleString('en-US');

/** The regime B is in under a fit of steps to target (a sweep's, once two batch sizes reached it). */
export interface RegimeFit {
  bCrit: number | null;
}

export class TrainFeed implements Callback {
  readonly #hub: DashboardHub;
  #info: RunInfo | null = null;
  /** Worker names in worker order: the coordinator's members, else `worker 1`, `worker 2`, ... */
  #names: string[] = [];
  #named = false;
  #step = 0;
  #last: StepRecord | null = null;
  /** The batch size last plotted (a full batch; the partial last batch of an epoch is left out). */
  #batch = 0;
  /**
   * `--batch-size auto`: B and so the steps per epoch change while training, so the header shows
   * B and the learning rate now, and progress counts samples. Told by the CLI, or seen when B changes.
   */
  #adaptive: boolean;
  readonly #adaptiveGiven: boolean;
  /** The smallest and largest full batch so far (adaptive runs). */
  #range: [number, number] | null = null;
  /** The last B_simple measured, and its step: said while the estimate is undefined. */
  #lastBSimple: [number, number] | null = null;
  /** (time s, samples, step) marks, about one a second, for throughput and ETA. */
  readonly #marks: [number, number, number][] = [];
  /** A sweep's fit of steps to target: where there is one, the regime is B's under it (as the results table). */
  regimeFit: RegimeFit | null = null;

  constructor(hub: DashboardHub, options: { adaptive?: boolean } = {}) {
    this.#hub = hub;
    this.#adaptiveGiven = this.#adaptive = options.adaptive ?? false;
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
    this.#adaptive = this.#adaptiveGiven;
    this.#batch = 0;
    this.#range = null;
    this.#lastBSimple = null;
    this.#marks.length = 0;
    this.#hub.setFacts([
      ['model', `${info.model} (${info.numParams.toLocaleString('en-US')} parameters)`],
      ['dataset', `${info.dataset}: ${info.trainSamples.toLocaleString('en-US')} training, ${info.valSamples.toLocaleString('en-US')} validation samples`],
      ['batch size B', this.#batchFact()],
      ['learning rate', this.#lrFact(info.lr)],
      ['engine', `${info.engine}, ${plural(info.workers, 'worker')}`],
      ['kernels', info.kernels ?? '—'],
    ]);
    this.#hub.setProgress({ state: 'training', step: this.#step, epochs: info.epochs, ...this.#totals() });
  }

  onStep(record: StepRecord): void {
    const hub = this.#hub;
    const x = record.step + 1; // updates applied so far
    this.#step = x;
    this.#last = record;
    hub.point('loss', x, record.loss);
    if (record.accuracy !== null) hub.point('accuracy', x, record.accuracy);
    hub.point('lr', x, record.lr);
    // B every step, so that a batch size that changes during the run (B(t)) shows beside B_simple;
    // not an epoch's partial last batch (the samples so far then end a whole epoch).
    const partial = record.batchSize < this.#batch && this.#info !== null && record.samples % this.#info.trainSamples === 0;
    if (!partial) {
      hub.point('batchSize', x, record.batchSize);
      this.#batch = record.batchSize;
      const r = this.#range;
      this.#range = r ? [Math.min(r[0], record.batchSize), Math.max(r[1], record.batchSize)] : [record.batchSize, record.batchSize];
      // A library caller's adaptive run (the CLI says so at start): a full batch other than the first.
      if (!this.#adaptive && this.#info && record.batchSize !== this.#info.batchSize && record.samples % this.#info.trainSamples !== 0) {
        this.#adaptive = true;
        hub.setProgress(this.#totals());
      }
    }
    if (record.gns && record.gns.bSimple !== null) {
      hub.point('bSimple', x, record.gns.bSimple);
      this.#lastBSimple = [record.gns.bSimple, x];
    }
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
      message: `${interrupted ? 'interrupted' : `finished (${summary.stopReason}${summary.stopReason === 'callback' && summary.stopMessage ? `: ${summary.stopMessage}` : ''})`} after ${plural(summary.steps, 'step')} in ${summary.seconds.toFixed(1)} s`,
    });
  }

  /** What progress counts to: steps, or under an adaptive B the samples of every epoch. */
  #totals(): Pick<Progress, 'totalSteps' | 'totalSamples'> {
    const info = this.#info;
    if (!info) return { totalSteps: null, totalSamples: null };
    return this.#adaptive ? { totalSteps: null, totalSamples: info.epochs * info.trainSamples } : { totalSteps: info.totalSteps, totalSamples: null };
  }

  /** `64 (141 steps per epoch)`, or under an adaptive B: `512 now (64–512 so far; --batch-size auto)`. */
  #batchFact(): string {
    const info = this.#info!;
    if (!this.#adaptive) return `${info.batchSize} (${plural(info.stepsPerEpoch, 'step')} per epoch)`;
    const [low, high] = this.#range ?? [info.batchSize, info.batchSize];
    return `${this.#batch || info.batchSize} now (${low === high ? `${low} so far` : `${low}–${high} so far`}; chosen while training, --batch-size auto)`;
  }

  /** `0.05 peak, constant; sgd`, or under an adaptive B the rate of the last step: the schedule's times B's gain. */
  #lrFact(lr: number): string {
    const info = this.#info!;
    const schedule = `${info.lrSchedule ?? 'constant'}${info.warmupEpochs ? `, warmup ${fmt(info.warmupEpochs)} epochs` : ''}`;
    const optimizer = info.optimizer ? `; ${info.optimizer}` : '';
    if (!this.#adaptive) return `${info.lr} peak, ${schedule}${optimizer}`;
    return `${fmt(lr)} now (--lr ${info.lr} × the gain of the current B; ${schedule}${optimizer})`;
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
      const samplesPerSec = (progress.samples - samples0) / dt;
      const stepsPerSec = (progress.step - step0) / dt;
      // Adaptive B: steps vary in size, so the samples left at the recent sample rate.
      const eta = progress.totalSamples !== null ? Math.max(0, progress.totalSamples - progress.samples) / samplesPerSec : progress.totalSteps === null ? null : Math.max(0, progress.totalSteps - progress.step) / stepsPerSec;
      this.#hub.setProgress({ samplesPerSec, etaSeconds: eta });
    }
    if (this.#adaptive && this.#info) {
      this.#hub.setFact('batch size B', this.#batchFact());
      this.#hub.setFact('learning rate', this.#lrFact(this.#last.lr));
    }
    this.#hub.setCaption('gns', this.#gnsCaption(this.#last.gns));
    this.#hub.setCaption('timeline', slowestText(this.#hub));
  }

  /** The regime now, or why B_simple is not drawn now: no two gradient slots, or an estimate with no meaning yet. */
  #gnsCaption(gns: StepRecord['gns']): string {
    const B = this.#batch || this.#last!.batchSize;
    if (gns === null) return 'Not measured: B_simple needs two or more gradient slots holding samples per step (2+ workers, or --reduce-chunks 2+), and this step had fewer.';
    if (gns.bSimple === null || !Number.isFinite(gns.bSimple) || gns.bSimple <= 0) {
      const last = this.#lastBSimple ? ` Last defined: B_simple ≈ ${fmt(this.#lastBSimple[0])} at step ${int(this.#lastBSimple[1])}.` : '';
      return `Undefined at the moment: the moving average of |G|² is ${fmt(gns.gradSq)} (≤ 0: the gradient's noise hides its mean), so tr(Σ)/|G|² has no meaning until it turns positive; the gradient slots are there.${last}`;
    }
    const ratio = `B = ${B}, B_simple ≈ ${fmt(gns.bSimple)} (B/B_simple = ${fmt(B / gns.bSimple)})`;
    if (this.regimeFit) {
      const bCrit = this.regimeFit.bCrit;
      return `Now: ${ratio}. By the sweep's fit of steps to target (${bCrit === null ? 'no B_crit within the batch sizes measured' : `B_crit ≈ ${fmt(bCrit)}`}), the rule of the runs table and the results table, B is in the ${classifyRegime(B, bCrit)} regime.`;
    }
    return `Now: ${ratio}: taking B_simple as the critical batch size (no fit of steps to target here), B is in the ${classifyRegime(B, gns.bSimple)} regime.`;
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
