/**
 * pino logging for the CLI: readable lines on a terminal (pino-pretty, fields hidden because the
 * messages carry the numbers; coloured only on a terminal without NO_COLOR), or one JSON object per
 * line with `--log-format json`.
 * Logs go to stderr so that stdout stays free for results; a progress bar shares stderr politely.
 */
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { Option } from 'commander';
import type { Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { ProgressBar } from './progress.js';
import { colorEnabled } from './terminal.js';
import { exitIfBrokenPipe } from './broken-pipe.js';

export type LogFormat = 'pretty' | 'json';

/** `--log-format`, as every command that logs takes it. */
export function logFormatOption(): Option {
  return new Option('--log-format <format>', 'pretty (terminal) | json (one object per line)').choices(['pretty', 'json']).default('pretty');
}

/**
 * pino and pino-pretty (CommonJS) are required at the first logger, not imported at start-up:
 * `dptrain --help`, `--version` and a mistyped flag never log, and the two take ~45 ms to load.
 */
const require = createRequire(import.meta.url);
let loaded: { pino: typeof import('pino').pino; pretty: typeof PinoPretty } | null = null;
function pinoModules(): NonNullable<typeof loaded> {
  loaded ??= { pino: (require('pino') as typeof import('pino')).pino, pretty: require('pino-pretty') as typeof PinoPretty };
  return loaded;
}

export function createLogger(format: LogFormat, progress: ProgressBar | null): Logger {
  const { pino, pretty } = pinoModules();
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
function stderrDestination(): ReturnType<typeof import('pino').pino.destination> {
  const destination = pinoModules().pino.destination({ fd: 2, sync: true });
  destination.on('error', exitIfBrokenPipe);
  return destination;
}
