/**
 * --eval-every N (validation at step boundaries, `eval` records in metrics.jsonl, onEval with a
 * stop) and the sweep's use of it (--evals-per-epoch, steps-to-target between epoch ends), and the
 * sweep's use of the B_simple series the training loop logs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { evalInterval, resolveSweepOptions, sweep, targetCheck, type SweepOptions } from '../src/study/index.js';
import { EarlyStopping, train, type EvalRecord } from '../src/train/index.js';
import { runCli, tempDir } from './helpers.js';

/** Noiseless linear regression: 900 training rows, 100 held out. */
const TRAIN = { dataset: 'synthetic:teacher?n=1000&d=8&noise=0', model: 'linreg:8-1', lr: 0.05, momentum: 0, baseBatchSize: 32, engine: 'inline' as const, workers: 1 };

function readRecords(dir: string): { type: string; step?: number; epoch: number; samples: number; steps?: number; valLoss?: number | null }[] {
  return fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
}

test('--eval-every N validates after every N-th step of the run, not where an epoch ends, and does not change training', async () => {
  const dir = tempDir('dptrain-eval-');
  // 900 rows, B = 100: 9 steps per epoch. Every 4 steps: after 4, 8 | 12, 16 | 20, 24 (27 ends epoch 2).
  const withEvals = await train({ ...TRAIN, batchSize: 100, epochs: 3, evalEvery: 4, out: path.join(dir, 'a') });
  const records = readRecords(path.join(dir, 'a'));
  const evals = records.filter((r) => r.type === 'eval') as unknown as EvalRecord[];
  assert.deepEqual(evals.map((e) => e.step), [4, 8, 12, 16, 20, 24]);
  assert.deepEqual(evals.map((e) => e.epoch), [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(evals.map((e) => e.samples), evals.map((e) => e.step * 100));
  for (const e of evals) {
    assert.deepEqual(Object.keys(e), ['type', 'epoch', 'step', 'samples', 'valLoss', 'valAccuracy']);
    assert.ok(Number.isFinite(e.valLoss) && e.valLoss > 0);
    assert.equal(e.valAccuracy, null, 'regression has no accuracy');
  }
  // Each eval record follows the step record of its last step.
  for (const e of evals) {
    const i = records.findIndex((r) => r.type === 'eval' && r.step === e.step);
    assert.equal(records[i - 1].type, 'step');
    assert.equal(records[i - 1].step, e.step - 1);
  }
  // An eval record that coincides with an epoch end would duplicate the epoch's validation: none.
  assert.ok(evals.every((e) => e.step % 9 !== 0));

  const without = await train({ ...TRAIN, batchSize: 100, epochs: 3, out: path.join(dir, 'b') });
  assert.deepEqual(withEvals.params, without.params, 'validation does not touch training: bit-identical parameters');
  assert.deepEqual(withEvals.history.map((e) => e.valLoss), without.history.map((e) => e.valLoss));
  assert.equal(readRecords(path.join(dir, 'b')).filter((r) => r.type === 'eval').length, 0, 'the default 0 writes no eval record');

  // The validation at a step equals an epoch-end validation at the same parameters: a run of 4 steps.
  const short = await train({ ...TRAIN, batchSize: 100, epochs: 1, maxSteps: 4 });
  assert.equal(evals[0].valLoss, short.history[0].valLoss);
});

test('onEval sees every eval record, and its stop ends the run at once with a partial epoch record', async () => {
  const seen: EvalRecord[] = [];
  const dir = tempDir('dptrain-eval-stop-');
  const result = await train(
    { ...TRAIN, batchSize: 100, epochs: 5, evalEvery: 3, out: dir },
    { callbacks: [{ onEval: (record, control) => { seen.push(record); if (record.step === 12) control.stop('enough'); } }] },
  );
  assert.deepEqual(seen.map((e) => e.step), [3, 6, 12]); // 9 ends epoch 0: its record validates instead
  assert.equal(result.summary.steps, 12);
  assert.equal(result.summary.samples, 1200);
  assert.deepEqual([result.summary.stopReason, result.summary.stopMessage], ['callback', 'enough']);
  assert.deepEqual(result.history.map((e) => e.steps), [9, 3], 'the second epoch stopped after 3 of its 9 steps');
  const records = readRecords(dir);
  assert.equal(records.at(-1)!.type, 'epoch');
  assert.equal(records.filter((r) => r.type === 'step').length, 12);
});

test('a callback\'s control.stop(reason) ends with stopReason "callback" and its reason as stopMessage; EarlyStopping and --patience with "earlyStopping"; a resume names which', async () => {
  const dir = tempDir('dptrain-callback-stop-');
  const ckpt = path.join(dir, 'ckpt');
  const mine = await train(
    { ...TRAIN, batchSize: 300, epochs: 5, out: path.join(dir, 'mine'), checkpointDir: ckpt },
    { callbacks: [{ onEpochEnd: (record, control) => void (record.epoch === 1 && control.stop('enough')) }] },
  );
  assert.deepEqual([mine.summary.stopReason, mine.summary.stopMessage, mine.summary.epochs], ['callback', 'enough', 2]);
  const written = JSON.parse(fs.readFileSync(path.join(dir, 'mine', 'summary.json'), 'utf8'));
  assert.deepEqual([written.stopReason, written.stopMessage], ['callback', 'enough']);
  const warnings: string[] = [];
  const again = await train({ resume: ckpt }, { logger: { info() {}, warn: (_fields: object, message: string) => void warnings.push(message) } });
  assert.equal(again.alreadyFinished, true);
  assert.deepEqual([again.summary.stopReason, again.summary.stopMessage], ['callback', 'enough']);
  assert.match(warnings.join('\n'), /had already finished at step 6 \(a callback stopped it \(enough\)\)/);

  // Early stopping, as a callback or as the option: no epoch improves on the first by 10.
  const callback = await train({ ...TRAIN, batchSize: 300, epochs: 5 }, { callbacks: [new EarlyStopping('valLoss', 1, 10)] });
  const option = await train({ ...TRAIN, batchSize: 300, epochs: 5, patience: 1, minDelta: 10 });
  for (const { summary } of [callback, option]) {
    assert.deepEqual([summary.stopReason, summary.epochs], ['earlyStopping', 2]);
    assert.match(summary.stopMessage ?? '', /^valLoss did not improve for 1 epoch/);
  }
  assert.equal((await train({ ...TRAIN, batchSize: 300, epochs: 1 })).summary.stopMessage, null);
});

test('--eval-every is validated and parsed like every training flag', async () => {
  for (const [value, message] of [
    [-1, /^--eval-every must be an integer ≥ 0 \(got -1\)/],
    [2.5, /^--eval-every must be an integer ≥ 0 \(got 2\.5\)/],
  ] as const) {
    await assert.rejects(train({ ...TRAIN, evalEvery: value }), (error: unknown) => error instanceof ConfigError && message.test(error.message));
  }
  // Without a validation set --eval-every has nothing to do: a warning, not an error (docs/cli.md).
  const warnings: string[] = [];
  await train({ ...TRAIN, evalEvery: 10, valSplit: 0, epochs: 1 }, { logger: { info() {}, warn: (_f, m) => void warnings.push(m) } });
  assert.deepEqual(warnings.filter((w) => w.startsWith('--eval-every')), ['--eval-every 10 has no effect and is ignored: there is no validation set (--val-split 0); give --val-split above 0']);
  const cli = runCli(['train', '--eval-every', 'often']);
  assert.equal(cli.status, 2);
  assert.match(cli.stderr, /--eval-every must be an integer \(got "often"\)/);
  const help = runCli(['train', '--help']);
  assert.match(help.stdout, /--eval-every <n>\s+also validate after every n steps within an epoch/);
});

test('--evals-per-epoch K gives each batch size a validation every ceil(steps per epoch / K) steps', () => {
  assert.equal(evalInterval(900, 10), 90);
  assert.equal(evalInterval(225, 10), 23);
  assert.equal(evalInterval(29, 10), 3);
  assert.equal(evalInterval(8, 10), 1);
  assert.equal(evalInterval(1, 10), 0, 'full batch: one step per epoch, validated at its end');
  const opts = resolveSweepOptions({ batchSizes: [1, 100, 'full'], target: 'val_loss=0.01', maxEpochs: 3, evalsPerEpoch: 10, out: '/tmp/unused', train: { ...TRAIN } });
  assert.match(targetCheck(opts), /^about 10 times per epoch and at every epoch end; --evals-per-epoch 10 validates every/);
  const base = (): SweepOptions => ({ batchSizes: [4, 'full'], target: 'val_loss=0.01', maxEpochs: 3, out: '/tmp/x', train: { ...TRAIN } });
  for (const [change, message] of [
    [{ evalsPerEpoch: -1 }, /^--evals-per-epoch must be an integer from 0 to 10000 \(got -1\)/],
    [{ evalsPerEpoch: 5, train: { ...TRAIN, evalEvery: 7 } }, /^--evals-per-epoch 5 and --eval-every 7 both set the validation cadence — give one of them/],
  ] as const) {
    assert.throws(() => resolveSweepOptions({ ...base(), ...change }), (error: unknown) => error instanceof ConfigError && message.test(error.message));
  }
  // A training target is checked at epoch ends only: --evals-per-epoch has no effect there, and is warned about.
  const trainTarget = resolveSweepOptions({ ...base(), evalsPerEpoch: 5, target: 'train_loss=0.01' });
  assert.equal(trainTarget.evalsPerEpoch, 0);
  assert.deepEqual(trainTarget.warnings.filter((w) => w.option === 'evalsPerEpoch').map((w) => w.message), ['--evals-per-epoch 5 has no effect and is ignored: --target train_loss=0.01 is a training metric (an epoch mean), checked at epoch ends only']);
});

test('a sweep with validations within epochs stops each run at the first one that meets the target, between epoch ends', async () => {
  const out = tempDir('dptrain-sweep-eval-');
  const options: SweepOptions = { batchSizes: [4, 32, 'full'], target: 'val_loss=0.01', maxEpochs: 30, lrRule: 'sqrt', out, gnsSamples: 0, train: { ...TRAIN } };
  const coarse = await sweep({ ...options, out: path.join(out, 'coarse') });
  const fine = await sweep({ ...options, out: path.join(out, 'fine'), evalsPerEpoch: 10 });
  assert.match(fine.targetCheck, /about 10 times per epoch/);
  for (const [i, row] of fine.batchSizes.entries()) {
    const before = coarse.batchSizes[i];
    assert.ok(row.reached && before.reached);
    const stepsPerEpoch = row.stepsPerEpoch;
    const every = evalInterval(stepsPerEpoch, 10);
    const run = fine.runs.find((r) => r.id === row.runs[0])!;
    // The run stopped where it met the target: no step beyond it.
    assert.equal(run.stepsRun, run.stepsToTarget, `B=${row.batchSize} stopped at the target`);
    // Same training, finer checks: never later than the epoch-end answer, and less than an epoch earlier.
    assert.ok(row.stepsToTarget! <= before.stepsToTarget!, `B=${row.batchSize}: ${row.stepsToTarget} ≤ ${before.stepsToTarget}`);
    assert.ok(row.stepsToTarget! > before.stepsToTarget! - stepsPerEpoch);
    if (every > 0) {
      assert.ok(row.stepsToTarget! % every === 0 || row.stepsToTarget! % stepsPerEpoch === 0, `B=${row.batchSize}: ${row.stepsToTarget} is a validation step`);
    } else {
      assert.equal(row.stepsToTarget, before.stepsToTarget, 'full batch validates at every step anyway');
    }
    assert.equal(row.samplesToTarget, run.samplesToTarget);
    assert.ok(Math.abs(row.epochsToTarget! - row.samplesToTarget! / 900) < 1e-12, 'epochs = samples / N, fractional');
    assert.ok(row.secondsToTarget! > 0);
  }
  const small = fine.runs.find((r) => r.batchSize === 4)!;
  assert.equal(small.targetAt, 'eval');
  assert.ok(!Number.isInteger(small.epochsToTarget), `B=4 met the target within an epoch (${small.epochsToTarget} epochs)`);
  assert.ok(small.final.valLoss! <= 0.01);
});

test('the sweep reports the B_simple series the loop logs, names the engine that measured it, and says "not measurable" at B = 1', async () => {
  const out = tempDir('dptrain-sweep-gns-');
  const results = await sweep({
    batchSizes: [1, 32, 'full'],
    target: 'train_loss=0.01',
    maxEpochs: 20,
    lrRule: 'sqrt',
    out,
    train: { ...TRAIN, engine: 'threads', workers: 2 },
  });
  assert.deepEqual(results.gns, { engine: 'threads', workers: 2, reduceChunks: 0, beta: 0.99 });
  assert.match(results.bSimpleSource, /^logged by the training loop at every step .* measured with the threads engine, 2 workers, --reduce-chunks 0: one slot per worker per step/);
  assert.match(results.bSimpleSource, /not measurable at B = 1: a step there has one gradient slot holding samples/);
  const [one, mid, full] = results.batchSizes;
  assert.equal(one.gnsSlots, 1);
  assert.equal(one.bSimpleLogged, null, 'no value invented for B = 1');
  assert.equal(results.runs.find((r) => r.batchSize === 1)!.gnsLogged.length, 0);
  for (const row of [mid, full]) {
    assert.equal(row.gnsSlots, 2);
    // Noiseless linear regression with d = 8 Gaussian inputs: B_simple = d + 1 = 9 (noisy with 2 slots).
    assert.ok(row.bSimpleLogged! > 2 && row.bSimpleLogged! < 40, `B=${row.batchSize}: B_simple ${row.bSimpleLogged}`);
    const series = results.runs.find((r) => r.id === row.runs[0])!.gnsLogged;
    assert.ok(series.length > 1, 'a series along the run');
  }
  const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n');
  const header = csv[0].split(',');
  const column = (row: number, name: string) => csv[row].split(',')[header.indexOf(name)];
  assert.equal(column(1, 'b_simple_logged'), 'not measurable');
  assert.equal(column(1, 'gns_slots'), '1');
  assert.ok(Number(column(2, 'b_simple_logged')) > 0);

  const cli = runCli(['report', out]);
  assert.equal(cli.status, 0, cli.stderr);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.match(html, /measured with the threads engine, 2 worker\(s\), --reduce-chunks 0\. Not measurable at B=1: a step there has one gradient slot holding samples\./);
  assert.match(html, /<td>not measurable<\/td>/);
});
