/**
 * Ctrl-C (SIGINT) and SIGTERM for the commands that train (`train`, `sweep`, `coordinator`; a `worker` leaves the run at once).
 * The first signal aborts an AbortSignal that train() checks at every step boundary: the step in
 * progress finishes, the outputs and a checkpoint are written, and the command exits 130. A second
 * signal exits 130 at once (outputs may then be incomplete; checkpoints are written atomically, so
 * the latest complete one still resumes). docs/cli.md, "Interrupts (Ctrl-C, SIGTERM)".
 */
import type { Logger } from 'pino';
import type { ProgressBar } from './progress.js';

/** The exit code after an interrupt: 128 + SIGINT, as shells report a Ctrl-C'd command. */
export const EXIT_INTERRUPTED = 130;

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Whether this process received SIGINT or SIGTERM while a command watched for them. */
let received: NodeJS.Signals | null = null;

/** The signal received while watching, or null: main() exits 130 when there was one. */
export function interruptReceived(): NodeJS.Signals | null {
  return received;
}

export interface InterruptWatch {
  /** Aborted at the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** Stops watching (the default signal behaviour returns). */
  dispose(): void;
}

/** What a command says at each signal (through its logger, so that JSON logs stay JSON). */
export interface InterruptReport {
  /** The first signal: end the progress line, say that the run stops after the current step. */
  first(signal: NodeJS.Signals): void;
  /** The second: one line, written synchronously, before the process exits 130. */
  second(signal: NodeJS.Signals): void;
}

/** Watches for SIGINT and SIGTERM until dispose(): the first aborts `signal`, the second exits at once. */
export function watchInterrupts(report: InterruptReport): InterruptWatch {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received !== null) {
      report.second(signal);
      process.exit(EXIT_INTERRUPTED);
    }
    received = signal;
    report.first(signal);
    controller.abort(new Error(`${signal} received`));
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const s of SIGNALS) process.off(s, onSignal);
    },
  };
}

/** A training command's report: end the progress line, say what happens next, and what the second signal does. */
/** `what`: what the run stops after, when the signal comes (a coordinator may not have run a step yet). */
export function watchRunInterrupts(logger: Logger, progress: ProgressBar | null, what: string | (() => string) = 'the current step'): InterruptWatch {
  return watchInterrupts({
    first: (signal) => {
      progress?.end();
      logger.warn({ signal }, `${signal}: stopping ${typeof what === 'string' ? `after ${what}` : what()} and writing the outputs (press Ctrl-C again to exit at once)`);
    },
    second: (signal) => logger.warn({ signal }, `${signal} again: exiting at once, without waiting for the step (checkpoints already written stay whole)`),
  });
}
