/**
 * pino logging for the CLI: readable lines on a terminal (pino-pretty, fields hidden because the
 * messages carry the numbers; coloured only on a terminal without NO_COLOR), or one JSON object per
 * line with `--log-format json`.
 * Logs go to stderr so that stdout stays free for results; a progress bar shares stderr politely.
 */
import { Writable } from 'node:stream';
import { Option } from 'commander';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { ProgressBar } from './progress.js';
import { colorEnabled } from './terminal.js';
import { exitIfBrokenPipe } from './broken-pipe.js';

export type LogFormat = 'pretty' | 'json';

/** `--log-format`, as every command that logs takes it. */
export function logFormatOption(): Option {
  return new Option('--log-format <format>', 'pretty (terminal) | json (one object per line)').choices(['pretty', 'json']).default('pretty');
}

export function createLogger(format: LogFormat, progress: ProgressBar | null): Logger {
  if (format === 'json') {
    return pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, stderrDestination());
  }
  const destination = stderrDestination();
  const stderr = new Writable({
    write(chunk, _encoding, done) {
      progress?.clear();
      destination.write(String(chunk));
      progress?.redraw();
      done();
    },
  });
  return pino(
    { base: undefined },
    pretty({
      destination: stderr,
      sync: true,
      colorize: colorEnabled(process.stderr),
      hideObject: true,
      translateTime: 'HH:MM:ss',
      ignore: 'pid,hostname',
    }),
  );
}

/**
 * fd 2, written synchronously. A closed pipe (`dptrain train 2>&1 | head`) raises EPIPE at the
 * write itself, so the process ends at that line even inside a loop that never yields to the
 * event loop (process.stderr would report it only on a later tick).
 */
function stderrDestination(): ReturnType<typeof pino.destination> {
  const destination = pino.destination({ fd: 2, sync: true });
  destination.on('error', exitIfBrokenPipe);
  return destination;
}
