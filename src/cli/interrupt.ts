/**
 * Ctrl-C (SIGINT) and SIGTERM for the commands that train (`train`, `sweep`, `coordinator`).
 * The first signal aborts an AbortSignal that train() checks at every step boundary: the step in
 * progress finishes, the outputs and a checkpoint are written, and the command exits 130. A second
 * signal exits 130 at once (outputs may then be incomplete; checkpoints are written atomically, so
 * the latest complete one still resumes). docs/cli.md, "Exit codes and interrupts".
 */

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

/**
 * Watches for SIGINT and SIGTERM until dispose(). `onFirst` runs at the first signal (end the
 * progress line, log what will happen); the second signal writes one line and exits at once.
 */
export function watchInterrupts(onFirst: (signal: NodeJS.Signals) => void): InterruptWatch {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received !== null) {
      process.stderr.write(`\ndptrain: ${signal} again: exiting at once (the last checkpoint written is intact)\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    received = signal;
    onFirst(signal);
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
