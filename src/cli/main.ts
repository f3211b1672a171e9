/**
 * The `dptrain` command. The only place that exits the process: DptrainErrors become one
 * readable line and an exit code (2 for a usage or config mistake, 1 otherwise), never a stack
 * trace; anything else is a bug and keeps its stack.
 */
import { Command, CommanderError } from 'commander';
import { DptrainError } from '../errors.js';
import { runTrain } from './train-command.js';
import { registerSweepCommand } from './sweep-command.js';
import { registerReportCommand } from './report-command.js';
import { registerCoordinatorCommand } from './coordinator-command.js';
import { registerWorkerCommand } from './worker-command.js';
import { registerInspectCommand } from './inspect-command.js';
import { registerBenchCommand } from './bench-command.js';
import { logFormatOption } from './logger.js';
import { addTrainFlags, batchSizeHelp } from './train-options.js';
import { EXIT_INTERRUPTED, interruptReceived } from './interrupt.js';

export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

export function buildProgram(): Command {
  const program = new Command('dptrain')
    .description('Data-parallel neural-network training for Node.js')
    .version(process.env.npm_package_version ?? '0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  const trainCommand = program
    .command('train')
    .description('train a model (default: an MLP on the bundled MNIST digits)')
    .addOption(logFormatOption())
    .addHelpText('after', batchSizeHelp)
    .exitOverride()
    .action(async (options: Record<string, unknown>) => void (await runTrain(options)));
  addTrainFlags(trainCommand);
  registerSweepCommand(program);
  registerReportCommand(program);
  registerCoordinatorCommand(program);
  registerWorkerCommand(program);
  registerInspectCommand(program);
  registerBenchCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.exitCode = exitCodeFor(error);
  }
  // Ctrl-C or SIGTERM during train, sweep or coordinator: the outputs are written, the exit says so.
  if (interruptReceived() !== null) process.exitCode = EXIT_INTERRUPTED;
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // commander has printed its message already; help and version exit 0.
    return error.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (error instanceof DptrainError) {
    process.stderr.write(`dptrain: error: ${error.message} [${error.code}]\n`);
    return error.code.startsWith('dptrain.config.') ||
      error.code.startsWith('dptrain.model.') ||
      error.code.startsWith('dptrain.data.')
      ? EXIT_USAGE
      : EXIT_FAILURE;
  }
  process.stderr.write(`dptrain: internal error (please report it): ${(error as Error)?.stack ?? String(error)}\n`);
  return EXIT_FAILURE;
}
