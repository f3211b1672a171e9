/**
 * The `dptrain train` flags, one table: the flag, its help, and how its string becomes a
 * TrainConfig value. Defaults and range checks live in train/config.ts so the library call
 * validates the same way.
 */
import type { Command } from 'commander';
import { defaultTrainConfig, choices as trainChoices, type TrainConfig } from '../train/config.js';
import { ConfigError } from '../errors.js';
import { parseBatchSize, parseChoice, parseInteger, parseNumber, parseTrainBatchSize } from './parse.js';

interface FlagSpec {
  key: keyof TrainConfig;
  flag: string;
  help: string;
  parse?: (flag: string, raw: string) => TrainConfig[keyof TrainConfig];
  /** The default as help shows it, where it depends on other options. */
  shownDefault?: string;
}

const number = parseNumber;
const integer = parseInteger;
const choice =
  <K extends keyof typeof trainChoices>(key: K) =>
  (flag: string, raw: string) =>
    parseChoice(flag, raw, trainChoices[key]) as TrainConfig[K];

/** The engines `dptrain train` runs itself; the ws engine lives in `dptrain coordinator`. */
function parseLocalEngine(flag: string, raw: string): TrainConfig['engine'] {
  if (raw === 'ws') throw new ConfigError('badOption', `${flag} ws runs under \`dptrain coordinator\` (workers join it with \`dptrain worker\`; docs/cluster.md) — \`dptrain train\` takes ${flag} threads or inline`);
  return parseChoice(flag, raw, trainChoices.engine.filter((e) => e !== 'ws'));
}

export const trainFlags: FlagSpec[] = [
  { key: 'dataset', flag: '--dataset <spec>', help: 'mnist | synthetic:blobs|spirals|teacher?k=v | idx:PATH | csv:PATH?label=NAME' },
  { key: 'model', flag: '--model <spec>', help: 'mlp:784-256-128-10[:tanh] | logreg:IN-CLASSES | linreg:IN-OUT | cnn:1x28x28 conv32k3p1 relu maxpool2 flatten dense10 | lenet5 | cnn-mnist | ./net.json (docs/models.md)', shownDefault: 'mlp:IN-128-CLASSES (linreg:IN-OUT for regression) fitting --dataset' },
  { key: 'batchSize', flag: '--batch-size <n|full|auto>', help: 'global batch size B: samples per update, summed over all workers; "full" = the whole training set (gradient descent), 1 = SGD; "auto" = chosen while training to maximize goodput (docs/batch-size.md)', parse: parseTrainBatchSize, shownDefault: '64, at most the training split' },
  { key: 'epochs', flag: '--epochs <n>', help: 'passes over the training set', parse: integer, shownDefault: '10; with --max-steps, as many as it needs' },
  { key: 'maxSteps', flag: '--max-steps <n>', help: 'stop after this many steps (0 = no limit)', parse: integer },
  { key: 'lr', flag: '--lr <rate>', help: 'learning rate (at --base-batch-size when --lr-rule scales it)', parse: number, shownDefault: '0.05 for sgd (0.05·√(B/64) below batch 64), 0.001 for adam and adamw' },
  { key: 'optimizer', flag: '--optimizer <name>', help: 'sgd | adam | adamw (PyTorch semantics)', parse: choice('optimizer') },
  { key: 'momentum', flag: '--momentum <m>', help: 'SGD momentum in [0, 1)', parse: number, shownDefault: '0.9 for sgd; adam and adamw use --beta1' },
  { key: 'nesterov', flag: '--nesterov', help: 'Nesterov momentum (SGD)' },
  { key: 'weightDecay', flag: '--weight-decay <w>', help: 'L2 penalty (sgd, adam; default 0) or decoupled decay (adamw; default 0.01, as PyTorch\'s AdamW)', parse: number },
  { key: 'beta1', flag: '--beta1 <b>', help: 'Adam first-moment decay', parse: number },
  { key: 'beta2', flag: '--beta2 <b>', help: 'Adam second-moment decay', parse: number },
  { key: 'eps', flag: '--eps <e>', help: 'Adam denominator term', parse: number },
  { key: 'clipNorm', flag: '--clip-norm <c>', help: 'clip the global gradient norm to c (0 = off)', parse: number },
  { key: 'lrSchedule', flag: '--lr-schedule <name>', help: 'constant | step | cosine', parse: choice('lrSchedule') },
  { key: 'warmupEpochs', flag: '--warmup-epochs <k>', help: 'linear warmup from 0 over k epochs (may be fractional)', parse: number },
  { key: 'stepEpochs', flag: '--step-epochs <k>', help: 'step schedule: multiply the rate by --gamma every k epochs', parse: number },
  { key: 'gamma', flag: '--gamma <g>', help: 'step schedule decay factor in (0, 1]', parse: number },
  { key: 'minLr', flag: '--min-lr <rate>', help: 'cosine schedule: final learning rate', parse: number },
  { key: 'lrRule', flag: '--lr-rule <rule>', help: 'scale --lr with the batch size: none | linear (lr·B/B0, Goyal et al. 2017) | sqrt (lr·√(B/B0)) | adascale (lr·(B/B0)(φ+B0)/(φ+B), φ the noise scale; Johnson et al. 2020)', parse: choice('lrRule'), shownDefault: 'none; adascale with --batch-size auto' },
  { key: 'baseBatchSize', flag: '--base-batch-size <b0>', help: 'the batch size B0 at which --lr is given', parse: integer, shownDefault: '256; 64 with --batch-size auto' },
  { key: 'microBatch', flag: '--micro-batch <m>', help: 'compute at most m samples at once (bounds memory; same result); 0 = automatic', parse: integer },
  { key: 'dropLast', flag: '--drop-last', help: 'drop the partial last batch of each epoch' },
  { key: 'valSplit', flag: '--val-split <f>', help: 'fraction of samples held out for validation (seeded)', parse: number },
  { key: 'standardize', flag: '--standardize', help: 'scale features to mean 0, std 1 (statistics from the training split)' },
  { key: 'seed', flag: '--seed <s>', help: 'seed of init, split and shuffles; same seed, same run', parse: integer },
  { key: 'engine', flag: '--engine <name>', help: 'threads (a worker-thread pool, shared memory) | inline (one thread, the reference)', parse: parseLocalEngine },
  { key: 'workers', flag: '--workers <n|auto>', help: 'data-parallel workers; auto = the inline engine or one thread per core, whichever a probe of the first step measures faster', parse: (flag, raw) => (raw.trim().toLowerCase() === 'auto' ? 'auto' : integer(flag, raw)), shownDefault: 'auto with --engine threads, 1 with inline' },
  { key: 'reduceChunks', flag: '--reduce-chunks <k>', help: 'split each batch into k fixed chunks reduced in chunk order: bit-identical at every worker count ≤ k, at the cost of k gradient buffers (0 = one per worker)', parse: integer, shownDefault: '0; 2 with --batch-size auto and one worker' },
  { key: 'kernels', flag: '--kernels <name>', help: 'auto (blas where a fast BLAS library passes its self-test, else wasm) | blas (system BLAS for the matrix products) | wasm (SIMD kernels) | js (plain TypeScript, the reference)', parse: choice('kernels') },
  { key: 'blasLibrary', flag: '--blas-library <path>', help: 'the BLAS library for blas/auto, e.g. libopenblas.so.0 (default: $DPTRAIN_BLAS, else OpenBLAS, MKL, Accelerate, libblas.so.3)' },
  { key: 'evalEvery', flag: '--eval-every <n>', help: 'also validate after every n steps within an epoch: an "eval" record in metrics.jsonl (0 = at epoch ends only)', parse: integer },
  { key: 'patience', flag: '--patience <epochs>', help: 'early stopping: stop after this many epochs without improvement (0 = off)', parse: integer },
  { key: 'monitor', flag: '--monitor <metric>', help: 'early stopping metric: valLoss | valAccuracy | trainLoss | trainAccuracy', parse: choice('monitor'), shownDefault: 'valLoss; trainLoss with --val-split 0' },
  { key: 'minDelta', flag: '--min-delta <d>', help: 'early stopping: smallest change that counts as improvement', parse: number },
  { key: 'restoreBest', flag: '--restore-best', help: 'end with the weights of the best epoch by --monitor (final.safetensors), as Keras restore_best_weights' },
  { key: 'logEvery', flag: '--log-every <n>', help: 'a step record in metrics.jsonl every n steps; epoch and eval records always (0 = auto: every step up to 10,000 steps, else at most ~10,000 records)', parse: integer },
  { key: 'out', flag: '--out <dir>', help: 'write config.json, metrics.jsonl, summary.json, final.safetensors here (a directory that holds a run is refused)' },
  { key: 'overwrite', flag: '--overwrite', help: "delete an earlier run's files in --out (config.json, metrics.jsonl, summary.json, final.safetensors) and its checkpoints in --checkpoint-dir, then train" },
  { key: 'init', flag: '--init <file>', help: 'start from the parameters in this .safetensors file' },
  { key: 'checkpointDir', flag: '--checkpoint-dir <dir>', help: 'write checkpoints (parameters, optimizer state, position) here, atomically' },
  { key: 'checkpointEvery', flag: '--checkpoint-every <n>', help: 'checkpoint every N steps or epochs: 500steps | 2epochs | 500 (steps); and at the run\'s end' },
  { key: 'keep', flag: '--keep <k>', help: 'checkpoints kept in --checkpoint-dir (older ones are deleted)', parse: integer },
  { key: 'resume', flag: '--resume <dir>', help: 'continue the run checkpointed in DIR from its latest valid checkpoint (exactly: same result as an uninterrupted run)' },
  { key: 'onNonfinite', flag: '--on-nonfinite <policy>', help: 'a NaN or Inf loss or gradient: stop (name step and worker) | skip (drop the step on every replica)', parse: choice('onNonfinite') },
  { key: 'maxNonfiniteInRow', flag: '--max-nonfinite-in-row <n>', help: 'with --on-nonfinite skip: stop after this many skipped steps in a row', parse: integer },
  { key: 'minBatchSize', flag: '--min-batch-size <n>', help: '--batch-size auto: the smallest batch size to choose', parse: integer, shownDefault: '--base-batch-size' },
  { key: 'maxBatchSize', flag: '--max-batch-size <n|full>', help: '--batch-size auto: the largest batch size to choose', parse: parseBatchSize, shownDefault: 'full, the training split' },
  { key: 'adaptEvery', flag: '--adapt-every <steps>', help: '--batch-size auto: steps between choices of the batch size', parse: integer, shownDefault: 'each epoch, at most every 50 steps' },
  { key: 'stepTimeModel', flag: '--step-time-model <ms,ms>', help: '--batch-size auto: FIXED,PER_SAMPLE: use T(B) = FIXED + PER_SAMPLE·B ms instead of measured step times, e.g. 2,0.015 (reproducible choices: same seed, same batch sizes)' },
  { key: 'batchnorm', flag: '--batchnorm <mode>', help: 'BatchNorm statistics in training: sync (whole global batch, same at any worker count) | local (each worker\'s shard, as DDP) | ghost:G (groups of G samples)' },
  { key: 'dataDir', flag: '--data-dir <dir>', help: 'cache of downloaded datasets (mnist-full, fashion-mnist, cifar10)', shownDefault: '$DPTRAIN_DATA_DIR, else $XDG_CACHE_HOME/dptrain or ~/.cache/dptrain' },
  { key: 'dataMirror', flag: '--data-mirror <url>', help: 'mirror(s), comma-separated, tried before the published ones when a dataset is downloaded', shownDefault: '$DPTRAIN_DATA_MIRROR' },
  { key: 'test', flag: '--test <spec>', help: 'a test set (e.g. idx:t10k-images-idx3-ubyte.gz, csv:test.csv, fashion-mnist?split=test) evaluated at the end into summary.json' },
  { key: 'evalOn', flag: '--eval-on <set>', help: "val | test: also evaluate the test set (--test, or a downloaded dataset's official test split) at every validation", parse: choice('evalOn') },
];

export function addTrainFlags(command: Command): Command {
  for (const spec of trainFlags) {
    const fallback = defaultTrainConfig[spec.key];
    const shownDefault = spec.shownDefault ?? (typeof fallback === 'boolean' || fallback === null ? undefined : String(fallback));
    // A help text that describes its default itself keeps only that.
    const describesDefault = /\bdefault\b/.test(spec.help);
    command.option(spec.flag, spec.help + (shownDefault !== undefined && !describesDefault ? ` (default: ${shownDefault})` : ''));
  }
  return command;
}

/**
 * Turns commander's raw option values into TrainConfig fields; unset flags stay undefined, so that
 * train() knows which options were given (pass explicitOptions(command)).
 */
export function trainConfigFromFlags(raw: Record<string, unknown>): Partial<TrainConfig> {
  const config: Partial<Record<keyof TrainConfig, unknown>> = {};
  for (const spec of trainFlags) {
    const value = raw[spec.key];
    if (value === undefined) continue;
    const flag = spec.flag.split(' ')[0];
    config[spec.key] = spec.parse && typeof value === 'string' ? spec.parse(flag, value) : value;
  }
  return config as Partial<TrainConfig>;
}

export const batchSizeHelp = `
Batch size, epoch and iteration
  sample      one training example
  batch size  B: the samples whose mean-loss gradient makes one update. --batch-size is
              global: with several workers each computes a shard of the batch.
  step        = iteration: one parameter update.
  epoch       one pass over the N training samples = ceil(N / B) steps.

  Example: N = 1050 samples, B = 100: each epoch has 11 steps; the first 10 use 100
  samples, the last uses the remaining 50 (--drop-last skips it: 10 steps). Each step
  applies one update with the mean gradient over its own batch.
  B = 1 is stochastic gradient descent (1050 steps per epoch); --batch-size full is
  full-batch gradient descent (1 step per epoch).

Examples
  dptrain train                                   # an MLP on the bundled MNIST digits
  dptrain train --batch-size 256 --lr 0.1 --lr-rule linear --base-batch-size 64
  dptrain train --batch-size auto                  # B chosen while training (goodput), lr by AdaScale
  dptrain train --dataset csv:houses.csv?label=price --model linreg:13-1 --standardize
  dptrain train --out runs/a --epochs 10           # config, metrics.jsonl, final.safetensors
`;
