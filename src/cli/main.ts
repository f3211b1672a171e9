/**
 * The `dptrain` command. The only place that exits the process: DptrainErrors and commander's
 * parse errors become one readable line (a JSON line with --log-format json) and an exit code
 * (2 for a mistake in the command, 1 otherwise), never a stack trace; anything else is a bug and
 * keeps its stack (src/cli/error-output.ts). A closed stdout or stderr ends the process quietly.
 */
import { Command } from 'commander';
import { exitQuietlyOnBrokenPipe } from './broken-pipe.js';
import { logFormatOf, reportError, usageErrorFrom } from './error-output.js';
import { packageVersion } from './version.js';
import { runTrain } from './train-command.js';
import { registerSweepCommand } from './sweep-command.js';
import { registerReportCommand } from './report-command.js';
import { registerCoordinatorCommand } from './coordinator-command.js';
import { registerWorkerCommand } from './worker-command.js';
import { registerInspectCommand } from './inspect-command.js';
import { registerBenchCommand } from './bench-command.js';
import { registerTokenCommand } from './token-command.js';
import { registerDataCommand } from './data-command.js';
import { registerEvaluateCommand } from './evaluate-command.js';
import { registerPredictCommand } from './predict-command.js';
import { logFormatOption } from './logger.js';
import { addTrainFlags, batchSizeHelp } from './train-options.js';
import { addDashboardFlags } from './dashboard-flags.js';
import { EXIT_INTERRUPTED, interruptReceived } from './interrupt.js';

export { EXIT_USAGE, EXIT_FAILURE } from './error-output.js';

export function buildProgram(): Command {
  const program = new Command('dptrain')
    .description('Data-parallel neural-network training for Node.js')
    .version(packageVersion())
    // Errors are reported by main() in dptrain's one-line form; help still goes where commander puts it.
    .configureOutput({ outputError: () => {} });

  const trainCommand = program
    .command('train')
    .description('train a model (default: an MLP on the bundled MNIST digits)')
    .addOption(logFormatOption())
    .addHelpText('after', batchSizeHelp)
    .exitOverride()
    .action(async (options: Record<string, unknown>, command: Command) => void (await runTrain(options, command)));
  addTrainFlags(trainCommand);
  addDashboardFlags(trainCommand, true);
  registerSweepCommand(program);
  registerReportCommand(program);
  registerCoordinatorCommand(program);
  registerWorkerCommand(program);
  registerInspectCommand(program);
  registerBenchCommand(program);
  registerTokenCommand(program);
  registerDataCommand(program);
  registerEvaluateCommand(program);
  registerPredictCommand(program);
  for (const command of [program, ...program.commands]) {
    command.exitOverride((error) => {
      throw usageErrorFrom(error, command);
    });
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  exitQuietlyOnBrokenPipe();
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.exitCode = reportError(error, logFormatOf(argv));
  }
  // Ctrl-C or SIGTERM during train, sweep or coordinator: the outputs are written, the exit says so.
  if (interruptReceived() !== null) process.exitCode = EXIT_INTERRUPTED;
}
