/**
 * `dptrain inspect FILE [--json]`: what a checkpoint or parameters file holds, verified (checksum,
 * meta fields, tensors against the model). A damaged file is one error line and exit 1, a file of
 * another kind (not safetensors at all) exit 2 (main.ts).
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError, DptrainError, FormatError } from '../errors.js';
import type { SafetensorsContents, TensorInfo } from '../train/index.js';
import { ABOUT_KEY, decodeModelAbout, type ModelAbout } from '../io/model-about.js';

/** Config values worth a glance, in this order, when the checkpoint's config has them. */
const KEY_CONFIG = [
  'batchSize', 'epochs', 'maxSteps', 'lr', 'lrSchedule', 'lrRule', 'momentum', 'weightDecay',
  'clipNorm', 'seed', 'valSplit', 'standardize', 'dropLast', 'reduceChunks', 'kernels',
];

export function registerInspectCommand(program: Command): Command {
  return program
    .command('inspect')
    .description('show what a checkpoint or .safetensors parameters file holds, and verify it')
    .argument('<file>', 'a ckpt-<step>.safetensors checkpoint or a final.safetensors')
    .option('--json', 'print one JSON object instead of text')
    .exitOverride()
    .action(async (file: string, options: { json?: boolean }) => void (await runInspect(file, options)));
}

export async function runInspect(file: string, options: { json?: boolean } = {}): Promise<SafetensorsContents> {
  checkInspectPath(file);
  const { inspectSafetensors, readSafetensorsFile } = await import('../train/checkpoint.js');
  let contents: SafetensorsContents;
  try {
    contents = inspectSafetensors(await readSafetensorsFile(file), file);
  } catch (error) {
    // Another kind of file (a run's summary.json, a CSV) is the wrong file given: exit 2 (main.ts), with the file to give.
    if (!(error instanceof DptrainError && error.code === 'dptrain.format.notSafetensors')) throw error;
    const pick = safetensorsIn(path.dirname(file));
    const fix = pick ? `give a .safetensors file, e.g. dptrain inspect ${path.join(path.dirname(file), pick)}` : 'give a checkpoint (ckpt-*.safetensors) or a final.safetensors';
    throw new FormatError('notSafetensors', `${error.message} — ${fix}`, { cause: error });
  }
  process.stdout.write(options.json ? JSON.stringify(asJson(file, contents), null, 2) + '\n' : asText(file, contents));
  return contents;
}


/**
 * A path that names no file is a mistake in the command (exit 2), not a damaged file (exit 1):
 * a directory is answered with the file in it to inspect.
 */
function checkInspectPath(file: string): void {
  const found = statSync(file, { throwIfNoEntry: false });
  if (found === undefined) {
    throw new ConfigError('inspectFileNotFound', `${file}: no such file (relative paths start at ${process.cwd()}) — give a checkpoint (ckpt-*.safetensors) or a final.safetensors`);
  }
  if (found.isDirectory()) {
    const pick = safetensorsIn(file);
    const hint = pick ? `give one of its files, e.g. dptrain inspect ${path.join(file, pick)}` : `give a file such as ${path.join(file, 'final.safetensors')} or a ckpt-<step>.safetensors (it holds no .safetensors file)`;
    throw new ConfigError('inspectNotAFile', `${file} is a directory — ${hint}`);
  }
}

/** The file of `dir` to inspect: its final.safetensors, else its last .safetensors by name (none in a directory it cannot list). */
function safetensorsIn(dir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.safetensors')).sort();
  } catch {
    return undefined;
  }
  return names.includes('final.safetensors') ? 'final.safetensors' : names.at(-1);
}

function asJson(file: string, contents: SafetensorsContents): object {
  if (contents.kind === 'parameters') {
    const { kind, model, numParams, numBuffers, metadata, tensors } = contents;
    return { file, kind, valid: true, finite: allFinite(tensors), model, numParams, numBuffers, metadata: { ...metadata }, tensors };
  }
  const { meta, optimizerState } = contents.checkpoint;
  return {
    file,
    kind: 'checkpoint',
    valid: true,
    finite: allFinite(contents.tensors),
    checksum: contents.checksum,
    meta,
    numBuffers: contents.checkpoint.buffers?.length ?? 0,
    optimizerState: Object.keys(optimizerState),
    ...(contents.checkpoint.about && { about: contents.checkpoint.about }),
    tensors: contents.tensors,
  };
}

const allFinite = (tensors: readonly TensorInfo[]): boolean => tensors.every((t) => t.nonFinite === 0);

function asText(file: string, contents: SafetensorsContents): string {
  const lines: string[] = [];
  const row = (label: string, value: string): number => lines.push(`  ${label.padEnd(13)}${value}`);
  if (contents.kind === 'parameters') {
    lines.push(`${file}: parameters only (not a checkpoint)`);
    if (contents.model !== null) row('model', `${contents.model} (the tensors match it)`);
    row('parameters', countText(contents.numParams, contents.numBuffers));
    // dptrain.about is JSON (long with --standardize): summarized on its own line.
    const metadata = Object.keys(contents.metadata).sort().filter((key) => key !== ABOUT_KEY).map((key) => `${key}=${contents.metadata[key]}`);
    row('metadata', metadata.length > 0 ? metadata.join(', ') : 'none');
    const about = contents.metadata[ABOUT_KEY];
    if (about !== undefined) row('about', describeAbout(decodeModelAbout(about, file)));
    tensorRows(contents.tensors, lines);
    return lines.join('\n') + '\n';
  }

  const { meta } = contents.checkpoint;
  lines.push(`${file}: dptrain checkpoint, format version ${meta.formatVersion}`);
  row('model', `${meta.model}, ${countText(meta.numParams, contents.checkpoint.buffers?.length ?? 0, ' parameters')}`);
  row('dataset', meta.dataset);
  row('dataset hash', meta.datasetHash);
  row('optimizer', `${meta.optimizer}${describeState(Object.keys(contents.checkpoint.optimizerState))}`);
  row('next step', `${meta.step} (epoch ${meta.epoch + 1} counted from 1, step ${meta.position} of the epoch); ${meta.samples} samples so far`);
  row('rng', `${meta.rng.algorithm}, seed ${meta.rng.seed}, epoch ${meta.rng.epoch}`);
  row('saved by', `${meta.engine} engine, ${meta.workers} worker${meta.workers === 1 ? '' : 's'}`);
  const config = KEY_CONFIG.filter((key) => Object.hasOwn(meta.config, key)).map((key) => `${key}=${JSON.stringify(meta.config[key])}`);
  row('config', config.length > 0 ? config.join(', ') : '(none of the usual keys)');
  if (contents.checkpoint.about) row('about', describeAbout(contents.checkpoint.about));
  tensorRows(contents.tensors, lines);
  lines.push(`checksum ok (${contents.checksum})`);
  return lines.join('\n') + '\n';
}

/** `classification of 4 inputs into 3 classes (setosa, …); features sepal_length, …; standardized; trained on csv:iris.csv (150 samples, --val-split 0.1, seed 0)`. */
function describeAbout(about: ModelAbout): string {
  const short = (names: string[]) => (names.length > 4 ? `${names.slice(0, 4).join(', ')}, …` : names.join(', '));
  const outputs = about.task === 'classification' ? `${about.outputs} classes${about.classNames ? ` (${short(about.classNames)})` : ''}` : `${about.outputs} target${about.outputs === 1 ? '' : 's'}`;
  const parts = [`${about.task} of ${about.inputShape.join('x')} inputs into ${outputs}`];
  if (about.featureNames) parts.push(`features ${short(about.featureNames)}`);
  if (about.preprocessing.standardize) parts.push('standardized');
  const scale = about.preprocessing.pixelScale;
  if (scale) parts.push(`pixels / ${scale.divideBy}${scale.roundTo !== null ? ` (${scale.roundTo} decimals)` : ''}`);
  const d = about.dataset;
  parts.push(`trained on ${d.spec} (${d.samples} samples, --val-split ${d.valSplit}, seed ${d.seed})`);
  return parts.join('; ');
}

/**
 * `26,746 (+ 50 BatchNorm buffer values)`: parameters as training counts them (its start-up line),
 * the running statistics apart (they are state, not trained).
 */
function countText(params: number, buffers: number, unit = ''): string {
  const extra = buffers > 0 ? ` (+ ${buffers.toLocaleString('en-US')} BatchNorm buffer value${buffers === 1 ? '' : 's'})` : '';
  return `${params.toLocaleString('en-US')}${unit}${extra}`;
}

function describeState(names: string[]): string {
  return names.length === 0 ? ' (no state)' : ` (state: ${names.join(', ')})`;
}

function tensorRows(tensors: readonly TensorInfo[], lines: string[]): void {
  lines.push(`  tensors      ${tensors.length}`);
  const width = Math.max(...tensors.map((t) => t.name.length), 0);
  for (const t of tensors) {
    const flag = t.nonFinite > 0 ? `  NON-FINITE: ${t.nonFinite} NaN/Inf` : '';
    lines.push(`    ${t.name.padEnd(width)}  ${t.dtype.padEnd(3)}  [${t.shape.join(', ')}]${flag}`);
  }
  const nonFinite = tensors.reduce((sum, t) => sum + t.nonFinite, 0);
  if (nonFinite > 0) {
    const where = tensors.filter((t) => t.nonFinite > 0).length;
    lines.push(`  warning      ${nonFinite} non-finite value${nonFinite === 1 ? '' : 's'} (NaN or ±Infinity) in ${where} tensor${where === 1 ? '' : 's'}: --init and --resume refuse this file`);
  }
}
