/**
 * `dptrain … | head`: when the reader of stdout or stderr goes away, end at once and quietly with
 * exit 141, as a Unix tool killed by SIGPIPE does (Node ignores SIGPIPE and reports EPIPE as an
 * 'error' event instead, which would otherwise crash with a stack trace).
 */

/** 128 + SIGPIPE (13): the status a shell reports for a writer whose pipe closed. */
export const EXIT_BROKEN_PIPE = 141;

/** Installs the handler on stdout and stderr (once per process). */
export function exitQuietlyOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listeners('error').includes(onStreamError)) continue;
    stream.on('error', onStreamError);
  }
}

function onStreamError(error: NodeJS.ErrnoException): void {
  exitIfBrokenPipe(error);
  throw error;
}

/**
 * Ends the process when `error` is EPIPE. For streams that handle their other errors themselves,
 * such as pino's stderr destination (which would otherwise drop the lines and go on silently).
 */
export function exitIfBrokenPipe(error: NodeJS.ErrnoException): void {
  if (error.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
}
