// The library side of the one rule (docs/cli.md, "Defaults and explicit options"): the keys
// present in train()'s options object are the given ones; defaults follow them, and each given
// option without effect is warned about exactly once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { train, type TrainConfig } from '../src/index.js';
import { resolveTrainOptions, trainNoEffectRules } from '../src/train/index.js';
import { makeClassification, tempDir } from './helpers.js';

const data = makeClassification(200, 5, 3);
const SMALL: Partial<TrainConfig> = { model: 'mlp:5-6-3', epochs: 1, batchSize: 20 };

function collect(): { warnings: string[]; starts: string[]; logger: { info(f: object, m: string): void; warn(f: object, m: string): void } } {
  const warnings: string[] = [];
  const starts: string[] = [];
  return { warnings, starts, logger: { info: (_f, m) => void (m.startsWith('training ') && starts.push(m)), warn: (_f, m) => void warnings.push(m) } };
}

test("train({ optimizer: 'adam' }) trains with lr 0.001 and no momentum; adamw too", async () => {
  for (const optimizer of ['adam', 'adamw'] as const) {
    const log = collect();
    const result = await train({ ...SMALL, optimizer }, { data, logger: log.logger });
    assert.equal(result.config.lr, 0.001);
    assert.equal(result.config.momentum, 0);
    assert.deepEqual(log.warnings, []);
    assert.match(log.starts[0], /lr 0\.001 \(Adam's default; --lr sets it\)/);
  }
  const given = await train({ ...SMALL, optimizer: 'adam', lr: 0.01 }, { data });
  assert.equal(given.config.lr, 0.01);
});

test("train({ engine: 'inline' }) runs one worker", async () => {
  const log = collect();
  const result = await train({ ...SMALL, engine: 'inline' }, { data, logger: log.logger });
  assert.equal(result.summary.workers, 1);
  assert.equal(result.config.workers, 1);
  assert.deepEqual(log.warnings, []);
});

test('sgd below a batch of 64 defaults to 0.05·√(B/64) unless --lr or --lr-rule is given', () => {
  assert.equal(resolveTrainOptions({ batchSize: 1 }).config.lr, 0.00625);
  assert.equal(resolveTrainOptions({ batchSize: 16 }).config.lr, 0.025);
  assert.equal(resolveTrainOptions({ batchSize: 64 }).config.lr, 0.05);
  assert.equal(resolveTrainOptions({ batchSize: 'full' }).config.lr, 0.05);
  assert.equal(resolveTrainOptions({ batchSize: 1, lr: 0.05 }).config.lr, 0.05);
  assert.equal(resolveTrainOptions({ batchSize: 1, lrRule: 'sqrt' }).config.lr, 0.05, 'the rate at --base-batch-size, scaled by the rule');
  assert.equal(resolveTrainOptions({ batchSize: 1, optimizer: 'adam' }).config.lr, 0.001);
});

/** For every rule of the table: options that make it inert, with a non-default value. */
const inertCases: Record<string, Partial<TrainConfig>> = {
  momentum: { optimizer: 'adam', momentum: 0.5 },
  nesterov: { momentum: 0, nesterov: true },
  beta1: { beta1: 0.8 },
  beta2: { beta2: 0.99 },
  eps: { eps: 1e-6 },
  stepEpochs: { stepEpochs: 2 },
  gamma: { gamma: 0.5 },
  // A step schedule that decays within the 1-epoch run (else --lr-schedule step is warned about too).
  minLr: { lrSchedule: 'step', stepEpochs: 0.5, minLr: 0.001 },
  baseBatchSize: { baseBatchSize: 32 },
  dropLast: { batchSize: 'full', dropLast: true },
  workers: { engine: 'inline', workers: 2 },
  blasLibrary: { kernels: 'js', blasLibrary: 'libopenblas.so.0' },
  evalEvery: { valSplit: 0, evalEvery: 3 },
  patience: { valSplit: 0, patience: 2, monitor: 'valLoss' },
  monitor: { monitor: 'trainLoss' },
  minDelta: { minDelta: 0.01 },
  checkpointEvery: { checkpointEvery: '5steps' },
  keep: { keep: 5 },
  maxNonfiniteInRow: { maxNonfiniteInRow: 3 },
  overwrite: { overwrite: true },
  batchnorm: { batchnorm: 'local' },
  // BatchNorm computes a training call in one pass; with nothing to evaluate it splits nothing.
  microBatch: { model: 'cnn:5 dense6 bn relu dense3', valSplit: 0, microBatch: 8 },
};

test('the rule table and this test name the same options', () => {
  assert.deepEqual(Object.keys(inertCases).sort(), trainNoEffectRules.map((r) => r.option).sort());
});

for (const [option, given] of Object.entries(inertCases)) {
  test(`a given ${option} that has no effect is warned about exactly once, and the run goes on`, async () => {
    const log = collect();
    await train({ ...SMALL, ...given }, { data, logger: log.logger });
    assert.equal(log.warnings.length, 1, log.warnings.join('\n'));
    const flag = '--' + option.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    assert.ok(log.warnings[0].startsWith(`${flag} `), log.warnings[0]);
    assert.match(log.warnings[0], / has no effect and is ignored: /);
  });
}

test('no default triggers a warning, and a resolved config passed back (as the sweep and coordinator do) warns about nothing new', async () => {
  const log = collect();
  const result = await train({ ...SMALL }, { data, logger: log.logger });
  assert.deepEqual(log.warnings, []);
  for (const options of [{}, { optimizer: 'adam' as const }, { engine: 'inline' as const }, { batchSize: 1 }, { valSplit: 0 }, { lrSchedule: 'cosine' as const }]) {
    const { config, warnings } = resolveTrainOptions(options);
    assert.deepEqual(warnings, [], JSON.stringify(options));
    assert.deepEqual(resolveTrainOptions(config).warnings, [], `round trip of ${JSON.stringify(options)}`);
    assert.deepEqual(resolveTrainOptions(config).config, config);
  }
  assert.deepEqual(resolveTrainOptions(result.config).warnings, []);
});

test('train({ out }) twice: the second is refused with outDirInUse; overwrite replaces the run; other files do not count as a run', async () => {
  const out = path.join(tempDir(), 'run');
  await train({ ...SMALL, out }, { data });
  await assert.rejects(train({ ...SMALL, out }, { data }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'dptrain.config.outDirInUse');
    assert.match(error.message, /already holds a run \(config\.json, metrics\.jsonl, summary\.json, final\.safetensors\)/);
    return true;
  });
  const log = collect();
  await train({ ...SMALL, out, overwrite: true, seed: 4 }, { data, logger: log.logger });
  assert.deepEqual(log.warnings, [`--overwrite: removed the earlier run's config.json, metrics.jsonl, summary.json, final.safetensors from ${out}`]);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).seed, 4);
  // Other files in the directory do not make it a run.
  const other = tempDir();
  fs.writeFileSync(path.join(other, 'notes.txt'), 'mine');
  await train({ ...SMALL, out: other }, { data });
  assert.equal(fs.readFileSync(path.join(other, 'notes.txt'), 'utf8'), 'mine');
});

test('defaults that follow the data: a model that fits it, a batch no larger than the training split, epochs enough for maxSteps', async () => {
  const blobs = makeClassification(30, 4, 2);
  const small = await train({ epochs: 1 }, { data: blobs });
  assert.equal(small.config.model, 'mlp:4-128-2');
  assert.equal(small.summary.batchSize, 27);
  assert.equal(small.config.lr, 0.0325, '0.05·√(27/64), 3 significant digits');
  const steps = await train({ model: 'mlp:5-6-3', maxSteps: 25 }, { data });
  assert.equal(steps.summary.steps, 25);
  assert.equal(steps.config.epochs, 9, '25 steps at 3 per epoch (180 samples, batch 64)');
  assert.equal(steps.summary.stopReason, 'maxSteps');
  const whole = await train({ model: 'mlp:5-6-3', maxSteps: 27 }, { data });
  assert.deepEqual([whole.config.epochs, whole.summary.steps, whole.summary.stopReason], [9, 27, 'maxSteps'], 'a whole number of epochs still stops at --max-steps');
  const both = await train({ model: 'mlp:5-6-3', maxSteps: 25, epochs: 1 }, { data });
  assert.equal(both.summary.steps, 3, 'an explicit --epochs still bounds the run');
});

test('--init without --model trains the model the file was saved for', async () => {
  const out = path.join(tempDir(), 'first');
  await train({ ...SMALL, model: 'mlp:5-7-3', out }, { data });
  const again = await train({ epochs: 1, init: path.join(out, 'final.safetensors') }, { data });
  assert.equal(again.config.model, 'mlp:5-7-3');
});

test('overwrite also replaces an earlier run\'s checkpoints in --checkpoint-dir, and says so', async () => {
  const root = tempDir();
  const options = { ...SMALL, epochs: 2, out: path.join(root, 'out'), checkpointDir: path.join(root, 'ckpt'), checkpointEvery: '1epoch', keep: 5 };
  await train(options, { data });
  assert.deepEqual(fs.readdirSync(options.checkpointDir).filter((f) => f.startsWith('ckpt-')).length, 2);
  const log = collect();
  await train({ ...options, epochs: 1, overwrite: true }, { data, logger: log.logger });
  assert.deepEqual(log.warnings, [
    `--overwrite: removed the earlier run's 2 checkpoint(s) from ${options.checkpointDir}`,
    `--overwrite: removed the earlier run's config.json, metrics.jsonl, summary.json, final.safetensors from ${options.out}`,
  ]);
  assert.deepEqual(fs.readdirSync(options.checkpointDir).filter((f) => f.startsWith('ckpt-')), ['ckpt-000000009.safetensors']);
});
