/**
 * `dptrain evaluate MODEL [--dataset SPEC] [--part all|train|val] [--out DIR]`: the metrics of a
 * trained model on a dataset, as a table on stdout (docs/cli.md, "evaluate"). Without --dataset it
 * evaluates the held-out part of the data the model was trained on, as its file records it.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ConfigError, DataError, DptrainError } from '../errors.js';
import type { Evaluation, EvaluationPart, TrainedModel } from '../inference/index.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { makeOutputDir } from '../io/output-dir.js';
import { choices as trainChoices } from '../train/config.js';
import type { KernelsChoice } from '../kernels/index.js';
import { createLogger, logFormatOption, type LogFormat } from './logger.js';
import { parseInteger } from './parse.js';

interface EvaluateFlags {
  dataset?: string;
  part?: EvaluationPart;
  out?: string;
  engine: 'threads' | 'inline';
  workers?: string;
  kernels: KernelsChoice;
  json?: boolean;
  logFormat: LogFormat;
}

export function registerEvaluateCommand(program: Command): Command {
  return program
    .command('evaluate')
    .description("a trained model's loss, accuracy, per-class precision/recall/F1 and confusion matrix (or MSE, RMSE, MAE, R²) on a dataset")
    .argument('<model>', 'a final.safetensors (or a checkpoint) written by dptrain train')
    .option('--dataset <spec>', 'the data to evaluate on, e.g. csv:test.csv or idx:t10k-images-idx3-ubyte.gz (default: the held-out part of the data the model was trained on)')
    .addOption(new Option('--part <part>', 'all of the dataset, or the train / val part of the split the model was trained with (default: val without --dataset, all with it)').choices(['all', 'train', 'val']))
    .option('--out <dir>', 'also write evaluation.json and evaluation.html (the confusion matrix as a heat map) into DIR')
    .option('--json', 'print the evaluation as JSON instead of the table')
    .addOption(new Option('--engine <name>', 'threads (rows split over worker threads) | inline (this thread)').choices(['threads', 'inline']).default('threads'))
    .option('--workers <n>', "worker threads (default: the machine's available parallelism)")
    .addOption(new Option('--kernels <name>', 'auto | blas | wasm | js, as for train').choices([...trainChoices.kernels]).default('auto'))
    .addOption(logFormatOption())
    .exitOverride()
    .action(async (file: string, flags: EvaluateFlags) => void (await runEvaluate(file, flags)));
}

export async function runEvaluate(file: string, flags: EvaluateFlags): Promise<Evaluation> {
  const logger = createLogger(flags.logFormat, null);
  const workers = flags.workers === undefined ? undefined : parseInteger('--workers', flags.workers);
  if (workers !== undefined && workers < 1) throw new ConfigError('badOption', `--workers must be an integer ≥ 1 (got ${workers})`);
  if (flags.out !== undefined && flags.out.trim() === '') throw new ConfigError('badOption', '--out must be a directory, e.g. --out eval (got "")');
  // Before the evaluation: a --out that cannot be made is one line now, not after minutes of work.
  if (flags.out !== undefined) await makeOutputDir(flags.out, '--out');
  const [{ evaluationText }, { loadDataset }, { loadModel }] = await Promise.all([import('../inference/index.js'), import('../data/index.js'), import('../train/index.js')]);
  const model = await loadModel(file, { kernels: flags.kernels });
  for (const line of model.missing) logger.warn({ file }, line);
  const { spec, part } = datasetChoice(model, flags);
  // The label column and task the file records, where the CSV has it (an explicit ?label= or ?task= wins).
  const data = await loadDataset(spec, { labelColumn: model.metadata?.labelColumn?.name, task: model.metadata?.task }).catch((error: unknown) => {
    throw flags.dataset === undefined ? recordedDataMissing(error, spec, model) : error;
  });
  const { evaluation, outputs, targets } = await model.evaluateWithOutputs(data, { part, engine: flags.engine, workers, kernels: flags.kernels, onWarning: (message) => logger.warn({ dataset: spec }, message) });
  const title = titleOf(file, evaluation, data.n);
  process.stdout.write(flags.json ? JSON.stringify({ model: file, ...evaluation }, null, 2) + '\n' : evaluationText(evaluation, title));
  if (flags.out !== undefined) {
    await writeOutputs(flags.out, file, evaluation, title, model, scatterPoints(model, outputs, targets));
    logger.info({ out: flags.out }, `wrote ${path.join(flags.out, 'evaluation.json')} and ${path.join(flags.out, 'evaluation.html')}`);
  }
  return evaluation;
}

/**
 * A missing file of the dataset the model records: the spec is the training run's, with its paths
 * relative to where that run was started, so "check the path" alone misleads; --dataset is the fix.
 */
function recordedDataMissing(error: unknown, spec: string, model: TrainedModel): unknown {
  if (!(error instanceof DptrainError && error.code === 'dptrain.data.fileNotFound')) return error;
  const what = error.message.split(' — ')[0];
  const scheme = /^[a-z]+:/.exec(spec)?.[0] ?? '';
  return new DataError(
    'fileNotFound',
    `${what} — the dataset ${spec} is the one ${model.name} records from its training run (a relative path in it starts where that run was started; here it starts at ${process.cwd()}); give --dataset ${scheme}PATH with the data's path from here`,
    { cause: error },
  );
}

/** --dataset and --part, or the data the file records (its held-out part when it had one). */
function datasetChoice(model: TrainedModel, flags: EvaluateFlags): { spec: string; part: EvaluationPart } {
  if (flags.dataset !== undefined) return { spec: flags.dataset, part: flags.part ?? 'all' };
  const recorded = model.metadata?.dataset;
  if (!recorded) throw new ConfigError('missingOption', `${model.name} does not record the data it was trained on (an older file) — pass --dataset SPEC`);
  return { spec: recorded.spec, part: flags.part ?? (recorded.valSplit > 0 ? 'val' : 'all') };
}

function titleOf(file: string, e: Evaluation, total: number): string {
  const samples = e.samples.toLocaleString('en-US');
  const what = e.part === 'all' ? `${e.dataset} (${samples} samples)` : `the ${e.part === 'val' ? 'held-out' : 'training'} part of ${e.dataset} (${samples} of ${total.toLocaleString('en-US')} samples, the split the model was trained with)`;
  return `${file} on ${what}`;
}

/** evaluation.json and evaluation.html, each written atomically into `dir` (made before the evaluation). */
async function writeOutputs(dir: string, file: string, evaluation: Evaluation, title: string, model: TrainedModel, points: { truth: number; predicted: number }[]): Promise<void> {
  const json = { model: file, modelSpec: model.spec.text, ...evaluation };
  await writeFileAtomic(path.join(dir, 'evaluation.json'), new TextEncoder().encode(JSON.stringify(json, null, 2) + '\n'));
  const { evaluationHtml } = await import('../inference/index.js');
  await writeFileAtomic(path.join(dir, 'evaluation.html'), new TextEncoder().encode(evaluationHtml(evaluation, title, points)));
}

/** Regression: up to 2,000 (true, predicted) pairs of the first output, for the scatter plot; none for classification. */
function scatterPoints(model: TrainedModel, outputs: Float32Array, targets: Float32Array): { truth: number; predicted: number }[] {
  if (model.task !== 'regression') return [];
  const k = model.outputs;
  const n = Math.min(targets.length / k, 2000);
  return Array.from({ length: n }, (_, i) => ({ truth: targets[i * k], predicted: outputs[i * k] }));
}
