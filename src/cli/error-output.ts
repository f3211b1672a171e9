/**
 * How the CLI reports a failure: one line on stderr, `dptrain: error: <message> [<code>]`, or with
 * `--log-format json` one JSON object in the logger's shape (level 50, time, code, msg), for
 * dptrain's own errors and commander's parse errors alike (docs/errors.md).
 */
import { CommanderError, type Command } from 'commander';
import { DptrainError, UsageError } from '../errors.js';
import type { LogFormat } from './logger.js';

/** Exit status for a mistake in the command (usage, option, model, dataset, token file). */
export const EXIT_USAGE = 2;
/** Exit status for a failure while running (a diverged loss, a lost coordinator). */
export const EXIT_FAILURE = 1;

/** commander's error codes and the code each becomes (full codes, so docs/errors.md's test sees them). */
const USAGE_CODES: Record<string, string> = {
  'commander.unknownOption': 'dptrain.cli.unknownOption',
  'commander.unknownCommand': 'dptrain.cli.unknownCommand',
  'commander.missingArgument': 'dptrain.cli.missingArgument',
  'commander.optionMissingArgument': 'dptrain.cli.missingValue',
  'commander.invalidArgument': 'dptrain.cli.badChoice',
  'commander.excessArguments': 'dptrain.cli.tooManyArguments',
  'commander.conflictingOption': 'dptrain.cli.conflictingOptions',
  'commander.missingMandatoryOptionValue': 'dptrain.cli.missingOption',
};

/**
 * The `--log-format` the command line asks for, read from argv itself so that errors found while
 * parsing it (an unknown option before it, say) are reported in the same format. The last one wins.
 */
export function logFormatOf(argv: readonly string[]): LogFormat {
  let format: LogFormat = 'pretty';
  for (let i = 2; i < argv.length && argv[i] !== '--'; i++) {
    const value = argv[i] === '--log-format' ? argv[i + 1] : argv[i].startsWith('--log-format=') ? argv[i].slice('--log-format='.length) : undefined;
    if (value === 'json' || value === 'pretty') format = value;
  }
  return format;
}

/**
 * commander's parse error as a UsageError that names the command's --help (commander's
 * "(Did you mean …?)" suggestion joins the same line); help and version pass through.
 */
export function usageErrorFrom(error: CommanderError, command: Command): Error {
  if (error.exitCode === 0 || error.code === 'commander.help') return error;
  const problem = (USAGE_CODES[error.code] ?? 'dptrain.cli.badCommandLine').slice('dptrain.cli.'.length);
  const text = error.message.replace(/^error: /, '').replace(/\.\s*$/, '').replace(/\s*\n\s*/g, ' ').replace(/\(Did you mean/, '(did you mean').trim();
  return new UsageError(problem, `${text} — see ${commandPath(command)} --help`, { cause: error });
}

/** `dptrain data fetch` for the fetch subcommand: every level's name, root first. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return ['dptrain', ...names].join(' ');
}

/** Writes one error line in the given format. */
export function writeErrorLine(format: LogFormat, message: string, fields: { code?: string; stack?: string } = {}): void {
  if (format === 'json') {
    process.stderr.write(JSON.stringify({ level: 50, time: new Date().toISOString(), ...fields, msg: message }) + '\n');
  } else {
    process.stderr.write(`dptrain: error: ${message}${fields.code ? ` [${fields.code}]` : ''}\n`);
  }
}

/** Codes of other areas that are a mistake in the command: a bad token file; a file of another kind given as safetensors (`inspect summary.json`). */
const USAGE_ELSEWHERE = new Set(['dptrain.transport.tokenFile', 'dptrain.format.notSafetensors']);

/** Reports an error that ended a command; returns the exit code (2: a mistake in the command). */
export function reportError(error: unknown, format: LogFormat): number {
  if (error instanceof CommanderError) {
    // Help, version, or help shown for a bare `dptrain`: commander has printed it.
    return error.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (error instanceof DptrainError) {
    writeErrorLine(format, error.message, { code: error.code });
    return /^dptrain\.(cli|config|model|data)\./.test(error.code) || USAGE_ELSEWHERE.has(error.code) ? EXIT_USAGE : EXIT_FAILURE;
  }
  // Anything else is a bug: keep its stack.
  const stack = (error as Error)?.stack ?? String(error);
  if (format === 'json') writeErrorLine(format, `internal error (please report it): ${(error as Error)?.message ?? String(error)}`, { stack });
  else process.stderr.write(`dptrain: internal error (please report it): ${stack}\n`);
  return EXIT_FAILURE;
}
