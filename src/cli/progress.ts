/**
 * A one-line progress bar on a terminal (epoch, step/steps, loss, samples/s, ETA), and before
 * the first step a status line, so a terminal is never silent while the run starts.
 * Drawn only when stderr is a terminal (src/cli/terminal.ts); log lines clear it first so the two
 * never mix. It uses no colour.
 */
import type { RunInfo, StepRecord } from '../train/index.js';
import { formatLoss } from '../util/index.js';

const REDRAW_MS = 100;
const BAR_WIDTH = 20;

export class ProgressBar {
  readonly #out: NodeJS.WriteStream;
  #info: RunInfo | null = null;
  #line = '';
  #lastDraw = 0;
  #started = 0;
  #samplesAtStart = 0;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
  }

  /** A transient status line until the first step ("loading the data…"); log lines clear it too. */
  status(text: string): void {
    this.#line = text;
    this.#draw();
  }

  begin(info: RunInfo): void {
    this.clear();
    this.#line = '';
    this.#info = info;
    this.#started = performance.now();
  }

  update(record: StepRecord): void {
    const info = this.#info;
    if (!info) return;
    const now = performance.now();
    if (now - this.#lastDraw < REDRAW_MS && record.step + 1 < info.totalSteps) return;
    this.#lastDraw = now;
    const stepInEpoch = record.step - record.epoch * info.stepsPerEpoch + 1;
    const done = (record.step + 1) / info.totalSteps;
    const filled = Math.round(done * BAR_WIDTH);
    const seconds = (now - this.#started) / 1000;
    const rate = (record.samples - this.#samplesAtStart) / Math.max(seconds, 1e-9);
    const eta = done > 0 ? (seconds / done) * (1 - done) : 0;
    this.#line =
      `epoch ${record.epoch + 1}/${info.epochs} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ` +
      `step ${stepInEpoch}/${info.stepsPerEpoch}  loss ${formatLoss(record.loss)}  ` +
      `${Math.round(rate).toLocaleString('en-US')} samples/s  ETA ${formatDuration(eta)}`;
    this.#draw();
  }

  /** Removes the bar (before a log line, or at the end). */
  clear(): void {
    if (this.#line) this.#out.write('\r\x1b[2K');
  }

  redraw(): void {
    if (this.#line) this.#draw();
  }

  end(): void {
    this.clear();
    this.#line = '';
    this.#info = null;
  }

  #draw(): void {
    // A pseudo-terminal without a size reports 0 columns.
    const width = this.#out.columns || 100;
    this.#out.write('\r\x1b[2K' + this.#line.slice(0, Math.max(10, width - 1)));
  }
}

/** `31 ms` under 0.1 s, `4.2 s` under a minute (a short run would read `0:00`), then `m:ss` and `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  if (seconds < 0.0995) return `${Math.round(Math.max(0, seconds) * 1000)} ms`; // not "0.0 s"
  if (seconds < 59.95) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}
