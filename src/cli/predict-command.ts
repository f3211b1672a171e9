/**
 * `dptrain predict MODEL --input FILE|- [--output FILE] [--on-bad-row stop|skip]`: predictions as
 * CSV, streamed (docs/cli.md, "predict"): CSV or IDX images (gzip or not), from a file or stdin.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Option, type Command } from 'commander';
import { ConfigError, DataError } from '../errors.js';
import type { OnBadRow, PredictSummary } from '../inference/index.js';
import { outputFileProblem, sameFile } from '../io/output-dir.js';
import { choices as trainChoices } from '../train/config.js';
import type { KernelsChoice } from '../kernels/index.js';
import { plural } from '../util/index.js';
import { createLogger, logFormatOption, type LogFormat } from './logger.js';

interface PredictFlags {
  input: string;
  output?: string;
  onBadRow: OnBadRow;
  kernels: KernelsChoice;
  logFormat: LogFormat;
}

/** Skipped rows named one by one before the rest are only counted. */
const NAMED_SKIPS = 10;

export function registerPredictCommand(program: Command): Command {
  return program
    .command('predict')
    .description('predict with a trained model: CSV of class, index and probabilities (or the regression outputs), one line per input row')
    .argument('<model>', 'a final.safetensors (or a checkpoint) written by dptrain train')
    .requiredOption('--input <file>', 'rows to predict: a CSV file or an IDX images file (gzip or not), or - to read either from stdin')
    .option('--output <file>', 'write the predictions to FILE instead of stdout')
    .addOption(new Option('--on-bad-row <action>', 'a row that does not parse: stop (exit 2 naming its line) or skip it (each named on stderr)').choices(['stop', 'skip']).default('stop'))
    .addOption(new Option('--kernels <name>', 'auto | blas | wasm | js, as for train').choices([...trainChoices.kernels]).default('auto'))
    .addOption(logFormatOption())
    .exitOverride()
    .action(async (file: string, flags: PredictFlags) => void (await runPredict(file, flags)));
}

export async function runPredict(file: string, flags: PredictFlags): Promise<PredictSummary> {
  const logger = createLogger(flags.logFormat, null);
  if (flags.output !== undefined && flags.output.trim() === '') throw new ConfigError('badOption', '--output must be a file name, e.g. --output predictions.csv (got "")');
  const problem = flags.output === undefined ? null : outputFileProblem(flags.output);
  if (problem !== null) throw new ConfigError('badOption', `--output ${flags.output}: ${problem}`);
  for (const [what, given] of [['--input', flags.input], ['the model', file]] as const) {
    if (flags.output !== undefined && sameFile(flags.output, given)) {
      throw new ConfigError('badOption', `--output ${flags.output} is ${what} ${given}, which the predictions would replace — write them to another file`);
    }
  }
  const [{ predictStream }, { loadModel }] = await Promise.all([import('../inference/index.js'), import('../train/index.js')]);
  const model = await loadModel(file, { kernels: flags.kernels });
  for (const line of model.missing) logger.warn({ file }, line);
  const source = flags.input === '-' ? 'stdin' : flags.input;
  const input = flags.input === '-' ? process.stdin : await openInput(flags.input);
  const output = flags.output === undefined ? null : await openOutput(flags.output);
  let skipped = 0;
  try {
    const summary = await predictStream(model, input, source, output?.stream ?? process.stdout, {
      onBadRow: flags.onBadRow,
      onSkip: (line, reason) => {
        skipped++;
        if (skipped <= NAMED_SKIPS) logger.warn({ line, reason }, `${source} line ${line} skipped: ${reason}`);
      },
      onWarning: (message) => logger.warn({}, message),
    });
    await output?.commit();
    if (summary.skipped > NAMED_SKIPS) logger.warn({ skipped: summary.skipped }, `${plural(summary.skipped, 'row')} skipped in all (the first ${NAMED_SKIPS} named above)`);
    logger.info({ ...summary, output: flags.output ?? 'stdout' }, `predicted ${plural(summary.rows, 'row')} of ${source}${summary.skipped > 0 ? ` (${summary.skipped} skipped)` : ''}${flags.output ? `; wrote ${flags.output}` : ''}`);
    return summary;
  } catch (error) {
    await output?.abandon();
    throw error;
  } finally {
    if (input !== process.stdin) input.destroy();
  }
}

/** The input file, opened before reading so that a missing one is one clear line. */
async function openInput(file: string): Promise<Readable> {
  try {
    const handle = await fs.promises.open(file, 'r');
    if ((await handle.stat()).isDirectory()) {
      await handle.close();
      throw new DataError('fileNotFound', `--input ${file} is a directory — pass a CSV or IDX file, or - for stdin`);
    }
    return handle.createReadStream({ highWaterMark: 1 << 18 });
  } catch (cause) {
    if (cause instanceof DataError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    throw new DataError('fileNotFound', code === 'ENOENT' ? `--input ${file}: no such file (relative paths start at ${process.cwd()})` : `--input ${file} cannot be read (${code ?? String(cause)})`, { cause });
  }
}

/** --output FILE: written to a temp file in the same directory, renamed over FILE when complete. */
async function openOutput(file: string): Promise<{ stream: Writable; commit(): Promise<void>; abandon(): Promise<void> }> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  let stream: fs.WriteStream;
  try {
    await fs.promises.writeFile(temp, '');
    stream = fs.createWriteStream(temp);
  } catch (cause) {
    throw new ConfigError('badOption', `--output ${file} cannot be written (${(cause as NodeJS.ErrnoException).code ?? String(cause)}) — choose a writable path`, { cause });
  }
  const closed = () => new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return {
    stream,
    async commit() {
      await closed();
      await fs.promises.rename(temp, file);
    },
    async abandon() {
      stream.on('error', () => {}); // writes still in flight fail once destroyed; the temp file goes anyway
      stream.destroy();
      await fs.promises.rm(temp, { force: true });
    },
  };
}
