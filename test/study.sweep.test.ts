import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { parseModelSpec } from '../src/model/index.js';
import {
  lrGrid,
  parseTarget,
  resolveSweepOptions,
  summarize,
  sweep,
  type RunOutcome,
  type SweepOptions,
} from '../src/study/index.js';
import { resultsTable } from '../src/cli/sweep-command.js';
import { tempDir } from './helpers.js';

/** Noiseless linear regression, 900 training rows: every run takes well under a second. */
const TRAIN = { dataset: 'synthetic:teacher?n=1000&d=8&noise=0', model: 'linreg:8-1', lr: 0.05, momentum: 0, baseBatchSize: 32 };

function options(out: string, extra: Partial<SweepOptions> = {}): SweepOptions {
  return { batchSizes: [4, 32, 'full'], target: 'train_loss=0.01', maxEpochs: 30, lrRule: 'sqrt', out, train: { ...TRAIN }, ...extra };
}

test('a small sweep writes results.json and results.csv with steps, epochs, samples and seconds to the target per batch size', async () => {
  const out = tempDir('dptrain-sweep-');
  const results = await sweep(options(out));
  assert.deepEqual(results.batchSizes.map((r) => r.resolvedBatchSize), [4, 32, 900]);
  for (const row of results.batchSizes) {
    assert.equal(row.reached, true, `B=${row.batchSize} reached the target`);
    assert.ok(row.stepsToTarget! > 0 && Number.isInteger(row.stepsToTarget));
    // Checked at epoch ends: a whole number of epochs, samples = epochs × N.
    assert.ok(Number.isInteger(row.epochsToTarget));
    assert.equal(row.samplesToTarget, row.epochsToTarget! * 900);
    assert.equal(row.stepsToTarget, row.epochsToTarget! * row.stepsPerEpoch);
    assert.ok(row.secondsToTarget! > 0);
    assert.ok(row.final.trainLoss! <= 0.01);
    assert.ok(row.bSimpleStart! > 5 && row.bSimpleStart! < 15, `B_simple at the start ${row.bSimpleStart} (d + 1 = 9)`);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'runs', row.runs[0], 'summary.json'), 'utf8'));
    assert.ok(Math.abs(row.samplesPerSec! - summary.samplesPerSec) <= 1e-6 * summary.samplesPerSec, `throughput ${row.samplesPerSec} vs summary ${summary.samplesPerSec}`);
    assert.ok(row.regime !== null);
  }
  const steps = results.batchSizes.map((r) => r.stepsToTarget!);
  assert.ok(steps[0] > steps[1] && steps[1] > steps[2], `steps fall with B: ${steps}`);
  assert.ok(results.fit && results.fit.sMin > 0 && results.fit.eMin > 0, 'a fit');
  assert.equal(results.batchSizes[0].efficiency, 1);

  const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
  assert.equal(json.format, 'dptrain-sweep-results-v1');
  assert.deepEqual(json.batchSizes.map((r: { stepsToTarget: number }) => r.stepsToTarget), steps);
  const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 4);
  assert.match(csv[0], /^batch_size,resolved_batch_size,steps_per_epoch,lr,seeds,reached_seeds,steps_to_target,epochs_to_target,samples_to_target,seconds_to_target,/);
  assert.match(csv[3], /^full,900,1,/);
  for (const run of results.runs) {
    for (const file of ['config.json', 'metrics.jsonl', 'summary.json', 'final.safetensors', 'outcome.json']) {
      assert.ok(fs.existsSync(path.join(out, 'runs', run.id, file)), `${run.id}/${file}`);
    }
  }
});

test('a sweep is resumable: finished runs are read back, new ones trained, harder targets re-run', async () => {
  const out = tempDir('dptrain-sweep-');
  const first = await sweep(options(out));
  assert.ok(first.runs.every((r) => !r.resumed));

  const again = await sweep(options(out, { resume: true }));
  assert.ok(again.runs.every((r) => r.resumed), 'nothing trained a second time');
  assert.deepEqual(again.batchSizes.map((r) => r.stepsToTarget), first.batchSizes.map((r) => r.stepsToTarget));
  assert.deepEqual(again.fit, first.fit);

  // One more batch size: only its run is trained.
  const more = await sweep(options(out, { batchSizes: [4, 32, 128, 'full'], resume: true }));
  assert.deepEqual(more.runs.map((r) => r.resumed), [true, true, false, true]);

  // A changed training option is a different run.
  const changed = await sweep(options(out, { train: { ...TRAIN, lr: 0.04 }, resume: true }));
  assert.ok(changed.runs.every((r) => !r.resumed));

  // A run stopped at train_loss=0.01 knows nothing about 0.001 unless its last epoch already met
  // it: the full-batch run (which stops just below 0.01) is trained again. An easier target is
  // answered from the records.
  const harder = await sweep(options(out, { target: 'train_loss=0.001', train: { ...TRAIN, lr: 0.04 }, resume: true }));
  const full = changed.runs.find((r) => r.batchSize === 'full')!;
  assert.ok(full.final.trainLoss! > 0.001, `the full-batch run stopped at train loss ${full.final.trainLoss}`);
  assert.equal(harder.runs.find((r) => r.batchSize === 'full')!.resumed, false);
  for (const r of harder.runs.filter((r) => r.resumed)) assert.ok(r.final.trainLoss! <= 0.001);
  const easier = await sweep(options(out, { target: 'train_loss=0.05', train: { ...TRAIN, lr: 0.04 }, resume: true }));
  assert.ok(easier.runs.every((r) => r.resumed));
  assert.ok(easier.batchSizes.every((r, i) => r.stepsToTarget! <= harder.batchSizes[i].stepsToTarget!));

  // An interrupted run (no outcome.json) is trained again.
  fs.rmSync(path.join(out, 'runs', easier.runs[0].id, 'outcome.json'));
  const resumed = await sweep(options(out, { target: 'train_loss=0.05', train: { ...TRAIN, lr: 0.04 }, resume: true }));
  assert.deepEqual(resumed.runs.map((r) => r.resumed), [false, true, true]);
});

test('a diverged run is not reached, says "diverged" with the advice to lower --lr, and is not trained again on resume', async () => {
  const out = tempDir('dptrain-sweep-');
  const opts = options(out, { batchSizes: [4, 32], lrRule: 'none', maxEpochs: 5, train: { ...TRAIN, lr: 50 } });
  const results = await sweep(opts);
  assert.deepEqual(results.runs.map((r) => r.status), ['diverged', 'diverged']);
  assert.ok(results.runs.every((r) => r.stepsRun > 0 && r.stoppedBy === 'nonFinite'), 'the steps taken before the loss became NaN');
  assert.ok(results.batchSizes.every((r) => !r.reached && r.stepsToTarget === null && r.outcome === 'diverged'));
  assert.equal(results.fit, null);
  assert.ok(results.warnings.some((w) => /^diverged .* at batch size\(s\) 4, 32 — lower --lr/.test(w)), results.warnings.join('\n'));
  assert.ok(!results.warnings.some((w) => /not reached within/.test(w)), results.warnings.join('\n'));
  const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n');
  assert.match(csv[1], /^4,4,225,50,1,0,diverged,diverged,diverged,diverged,/);
  const again = await sweep({ ...opts, resume: true });
  assert.ok(again.runs.every((r) => r.resumed && r.status === 'diverged'));
  assert.deepEqual(again.runs.map((r) => r.stepsRun), results.runs.map((r) => r.stepsRun));
});

test('tuned: the same number of rates for every batch size, centred between the linear and square-root predictions', async () => {
  const grid = lrGrid(0.1, 1024, 256, 5, 2);
  assert.equal(grid.length, 5);
  const centre = 0.1 * Math.pow(4, 0.75);
  assert.ok(Math.abs(grid[2] - centre) / centre < 1e-3);
  assert.ok(grid[0] <= 0.1 * Math.sqrt(4) && grid[4] >= 0.1 * 4, 'spans sqrt and linear');

  const out = tempDir('dptrain-sweep-');
  const results = await sweep(options(out, { batchSizes: [8, 'full'], lrRule: 'tuned', lrTrials: 3, lrFactor: 2 }));
  assert.equal(results.runs.length, 6);
  for (const row of results.batchSizes) {
    assert.equal(row.lrGrid!.length, 3);
    assert.ok(row.lrGrid!.includes(row.lr!), 'the chosen rate is on the grid');
    const trials = results.runs.filter((r) => r.batchSize === row.batchSize);
    const best = Math.min(...trials.map((r) => r.stepsToTarget ?? Infinity));
    assert.equal(row.stepsToTarget, best, 'the fewest steps to target wins');
  }
});

function outcome(batchSize: number, gridLr: number, steps: number | null): RunOutcome {
  return {
    id: `b${batchSize}-seed0-lr${gridLr}`, dir: '', batchSize, resolvedBatchSize: batchSize, seed: 0, lr: gridLr, gridLr,
    status: steps === null ? 'not reached' : 'reached', stoppedBy: steps === null ? 'maxEpochs' : 'target', stepsToTarget: steps, epochsToTarget: steps === null ? null : 1,
    samplesToTarget: steps === null ? null : steps * batchSize, secondsToTarget: steps === null ? null : 1, stepsRun: steps ?? 100, epochsRun: 1,
    final: { trainLoss: 0.1, trainAccuracy: null, valLoss: null, valAccuracy: null }, samplesPerSec: 1000, meanStepMs: 1,
    targetAt: steps === null ? null : 'epoch',
    bSimpleStart: null, bSimpleEnd: null, bSimpleLogged: null, gnsLogged: [], resumed: false, error: null,
    gnsSetup: { engine: 'inline', workers: 1, reduceChunks: 0, slots: 1 },
  };
}

test('tuned: a warning names the batch size whose best rate is on the edge of the grid', () => {
  const opts = resolveSweepOptions({ batchSizes: [16, 64], target: 'train_loss=0.1', maxEpochs: 5, lrRule: 'tuned', lrTrials: 3, out: '/tmp/unused', train: { ...TRAIN } });
  const runs = [
    outcome(16, 0.1, 50), outcome(16, 0.2, 40), outcome(16, 0.4, 45), // best in the middle
    outcome(64, 0.1, 30), outcome(64, 0.2, 20), outcome(64, 0.4, 12), // best on the top edge
  ];
  const results = summarize(opts, runs, { trainSamples: 1024, spec: parseModelSpec('linreg:8-1') });
  assert.equal(results.batchSizes[0].lr, 0.2);
  assert.equal(results.batchSizes[1].lr, 0.4);
  const edge = results.warnings.filter((w) => /on the grid/.test(w));
  assert.equal(edge.length, 1);
  assert.match(edge[0], /^B=64: the best learning rate 0\.4 is the largest on the grid \(0\.1 … 0\.4\)/);
});

test('tuned: between rates with equal steps the one nearer the middle of the grid wins, without an edge warning', () => {
  const opts = resolveSweepOptions({ batchSizes: [16], target: 'train_loss=0.1', maxEpochs: 5, lrRule: 'tuned', lrTrials: 3, out: '/tmp/unused', train: { ...TRAIN } });
  const runs = [outcome(16, 0.1, 40), outcome(16, 0.2, 40), outcome(16, 0.4, 45)];
  const results = summarize(opts, runs, { trainSamples: 1024, spec: parseModelSpec('linreg:8-1') });
  assert.equal(results.batchSizes[0].lr, 0.2);
  assert.equal(results.warnings.filter((w) => /on the grid/.test(w)).length, 0);
});

test('tuned: ties in steps go to the rate nearer the middle of the grid, then to the smaller rate, whatever the order of the runs', () => {
  // 4 rates: the middle two are equally near the centre (up to the grid's rounding to 4 digits).
  const grid = lrGrid(0.05, 16, 32, 4, 2);
  const opts = resolveSweepOptions({ batchSizes: [16], target: 'train_loss=0.1', maxEpochs: 5, lrRule: 'tuned', lrTrials: 4, out: '/tmp/unused', train: { ...TRAIN } });
  const context = { trainSamples: 1024, spec: parseModelSpec('linreg:8-1') };
  const middleTie = grid.map((lr, i) => outcome(16, lr, i === 1 || i === 2 ? 40 : 60));
  const allTie = grid.map((lr) => outcome(16, lr, 40));
  for (const runs of [middleTie, allTie]) {
    for (const order of [runs, [...runs].reverse(), [runs[2], runs[0], runs[3], runs[1]]]) {
      assert.equal(summarize(opts, order, context).batchSizes[0].lr, grid[1], `rates in the order ${order.map((o) => o.gridLr).join(', ')}`);
    }
  }
});

test('tuned: where no rate reached the target there is no best rate, and a warning names the closest when it is on the grid edge', () => {
  const opts = resolveSweepOptions({ batchSizes: [16, 64], target: 'train_loss=0.01', maxEpochs: 5, lrRule: 'tuned', lrTrials: 3, out: '/tmp/unused', train: { ...TRAIN } });
  const missed = (b: number, lr: number, loss: number) => ({ ...outcome(b, lr, null), final: { trainLoss: loss, trainAccuracy: null, valLoss: null, valAccuracy: null } });
  const runs = [
    missed(16, 0.1, 0.5), missed(16, 0.2, 0.3), missed(16, 0.4, 0.4), // the closest in the middle
    missed(64, 0.1, 2.0), missed(64, 0.2, 8.3), missed(64, 0.4, 4.3), // the closest on the bottom edge
  ];
  const results = summarize(opts, runs, { trainSamples: 1024, spec: parseModelSpec('linreg:8-1') });
  assert.deepEqual(results.batchSizes.map((r) => r.lr), [null, null]);
  assert.deepEqual(results.batchSizes.map((r) => r.outcome), ['not reached', 'not reached']);
  assert.deepEqual(results.batchSizes[1].lrGrid, [0.1, 0.2, 0.4]);
  const edge = results.warnings.filter((w) => /no rate on the grid/.test(w));
  assert.deepEqual(edge, ['B=64: no rate on the grid (0.1 … 0.4) reached train_loss=0.01; the closest (train_loss 2) was the smallest, 0.1 — the optimum may lie beyond the grid: widen it with --lr-trials or --lr-factor, or move it with --lr']);
  assert.match(resultsTable(results), /\n *64 +- +not reached /);
});

test('a sweep interrupted before any run finished says B_simple was not measured, and the table header says in plain words where the target is checked', async () => {
  const out = tempDir('dptrain-sweep-');
  const results = await sweep(options(out), { signal: AbortSignal.abort() });
  assert.deepEqual(results.runs, []);
  assert.match(results.bSimpleSource, /^not measured: no run finished/);
  assert.doesNotMatch(results.bSimpleSource, /\(\)/);
  const table = resultsTable(results);
  assert.match(table, /\nB_simple: not measured \(no run finished\)\n/);
  assert.match(table, /^\nsteps to train_loss=0\.01 \(the target is checked at every epoch end\)\n/);
});

test('with several seeds, steps-to-target is the median and a seed that missed counts as slowest', () => {
  const opts = resolveSweepOptions({ batchSizes: [16], target: 'train_loss=0.1', maxEpochs: 5, seeds: 3, out: '/tmp/unused', train: { ...TRAIN } });
  const runs = [outcome(16, 0.1, 40), outcome(16, 0.1, null), outcome(16, 0.1, 30)].map((o, seed) => ({ ...o, gridLr: null, seed }));
  const row = summarize(opts, runs, { trainSamples: 1024, spec: parseModelSpec('linreg:8-1') }).batchSizes[0];
  assert.equal(row.stepsToTarget, 40);
  assert.equal(row.reachedSeeds, 2);
  assert.deepEqual(row.stepsRange, [30, 40]);
  const missed = [outcome(16, 0.1, 40), outcome(16, 0.1, null), outcome(16, 0.1, null)].map((o, seed) => ({ ...o, gridLr: null, seed }));
  const none = summarize(opts, missed, { trainSamples: 1024, spec: parseModelSpec('linreg:8-1') }).batchSizes[0];
  assert.equal(none.reached, false);
  assert.equal(none.stepsToTarget, null);
});

// One test per option: the error is a ConfigError whose message names the flag.
const base = (): SweepOptions => ({ batchSizes: [4, 'full'], target: 'val_acc=0.9', maxEpochs: 3, out: '/tmp/x', train: {} });
const optionErrors: [string, Partial<SweepOptions> | ((o: SweepOptions) => SweepOptions), RegExp][] = [
  ['--batch-sizes empty', { batchSizes: [] }, /^--batch-sizes must be a comma-separated list/],
  ['--batch-sizes zero', { batchSizes: [0] }, /^--batch-sizes must be positive integers or "full" \(got 0\)/],
  ['--batch-sizes repeated', { batchSizes: [4, 4] }, /^--batch-sizes lists a batch size twice/],
  ['--target metric', { target: 'val_f1=0.9' }, /^--target must be METRIC=VALUE with METRIC one of val_acc, val_loss, train_loss, train_acc/],
  ['--target accuracy above 1', { target: 'val_acc=95' }, /^--target val_acc must be an accuracy in \(0, 1\] \(got "95"\)/],
  ['--target loss not a number', { target: 'train_loss=low' }, /^--target train_loss must be a loss > 0/],
  ['--max-epochs', { maxEpochs: 0 }, /^--max-epochs must be a positive integer \(got 0\)/],
  ['--lr-rule', { lrRule: 'cubic' as never }, /^--lr-rule must be one of none, linear, sqrt, tuned \(got "cubic"\)/],
  ['--seeds', { seeds: 0 }, /^--seeds must be an integer from 1 to 1000/],
  ['--out', { out: '' }, /^--out must be a directory for the sweep/],
  ['--lr-trials', { lrRule: 'tuned', lrTrials: 1 }, /^--lr-trials must be an integer from 2 to 50 \(got 1\)/],
  ['--lr-factor', { lrRule: 'tuned', lrFactor: 1 }, /^--lr-factor must be a number in \(1, 100\] \(got 1\)/],
  ['--resume with --overwrite', { resume: true, overwrite: true }, /^--resume continues the sweep in --out, --overwrite deletes it — give one of them/],
  ['--gns-samples', { gnsSamples: -1 }, /^--gns-samples must be an integer ≥ 0/],
  ['a batch size among the training options', { train: { batchSize: 8 } }, /sets the training option "batchSize" itself from --batch-sizes/],
  ['a validation target without validation data', { train: { valSplit: 0 } }, /^--target val_acc=0\.9 needs a validation set, but --val-split is 0/],
  ['a training option', { train: { lr: -1 } }, /^--lr must be a finite number > 0/],
];
for (const [name, change, message] of optionErrors) {
  test(`sweep options: ${name} is rejected with a message naming it`, () => {
    const o = typeof change === 'function' ? change(base()) : { ...base(), ...change };
    assert.throws(() => resolveSweepOptions(o), (error: unknown) => {
      assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
      assert.match(error.code, /^dptrain\.config\./);
      assert.match(error.message, message);
      return true;
    });
  });
}

test('sweep options checked against the data: accuracy targets need a classifier, batch sizes fit the training set', async () => {
  const out = tempDir('dptrain-sweep-');
  await assert.rejects(sweep({ ...options(out), target: 'val_acc=0.9' }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /^--target val_acc=0\.9 needs a classification dataset, but synthetic:teacher\?n=1000&d=8&noise=0 is regression/);
    return true;
  });
  await assert.rejects(sweep({ ...options(out), batchSizes: [4, 5000] }), /--batch-sizes lists 5000, more than the 900 training samples/);
  await assert.rejects(sweep({ ...options(out), batchSizes: [900, 'full'] }), /--batch-sizes lists 900 and full, which are the same batch size \(900\) here/);
});

test('targets parse from METRIC=VALUE', () => {
  assert.deepEqual(parseTarget('val_acc=0.95'), { metric: 'valAccuracy', value: 0.95, text: 'val_acc=0.95' });
  assert.deepEqual(parseTarget('train_loss=0.1'), { metric: 'trainLoss', value: 0.1, text: 'train_loss=0.1' });
  assert.equal(parseTarget('val_loss = 0.3').metric, 'valLoss');
});
