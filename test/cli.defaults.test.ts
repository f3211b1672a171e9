// Defaults never conflict with an option the user gave, and a given option without effect is
// warned about once (docs/cli.md, "Defaults and explicit options"): each checked through the CLI
// the way a user types it first. --max-steps keeps the mnist runs to a second or two.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runCli, tempDir } from './helpers.js';
import { killAll, startCoordinator, startWorker } from './ws.helpers.js';

after(killAll);

const SHORT = ['--max-steps', '30'];
const warnings = (stderr: string) => stderr.split('\n').filter((line) => / WARN: /.test(line));
const startLine = (stderr: string) => stderr.split('\n').find((line) => / INFO: training /.test(line)) ?? '';

for (const optimizer of ['adam', 'adamw']) {
  test(`\`dptrain train --optimizer ${optimizer}\` trains with Adam's default learning rate and no momentum, and says so`, () => {
    const out = path.join(tempDir(), optimizer);
    const result = runCli(['train', '--optimizer', optimizer, ...SHORT, '--out', out]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(startLine(result.stderr), /lr 0\.001 \(Adam's default; --lr sets it\)/);
    assert.deepEqual(warnings(result.stderr), []);
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(config.lr, 0.001);
    assert.equal(config.momentum, 0);
    // torch.optim.AdamW decays by 0.01 unless told; Adam (L2) and SGD by nothing.
    assert.equal(config.weightDecay, optimizer === 'adamw' ? 0.01 : 0);
  });
}

test('`dptrain train --model cnn-mnist` trains with its preset\'s batch and the default rate for it, lenet5 with its preset\'s rate; a given --lr or another optimizer wins', () => {
  const cases: [string, string[], number, number][] = [
    ['cnn-mnist', [], 0.0354, 32],
    ['cnn-mnist', ['--lr', '0.02'], 0.02, 32],
    ['cnn-mnist', ['--optimizer', 'adam'], 0.001, 32],
    ['lenet5', [], 0.05, 64],
  ];
  for (const [model, extra, lr, batch] of cases) {
    const out = path.join(tempDir(), 'cnn');
    const result = runCli(['train', '--model', model, '--max-steps', '2', ...extra, '--out', out]);
    assert.equal(result.status, 0, result.stderr);
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.deepEqual([config.lr, config.batchSize], [lr, batch], `${model} ${extra.join(' ')}`);
  }
});

test('`dptrain train --optimizer adam --lr 0.01` keeps the given rate; `--momentum` with adam is warned about once, not refused', () => {
  const given = runCli(['train', '--optimizer', 'adam', '--lr', '0.01', ...SHORT]);
  assert.equal(given.status, 0, given.stderr);
  assert.match(startLine(given.stderr), /lr 0\.01 \(given\)/);
  const momentum = runCli(['train', '--optimizer', 'adam', '--momentum', '0.5', ...SHORT]);
  assert.equal(momentum.status, 0, momentum.stderr);
  assert.deepEqual(warnings(momentum.stderr).map((line) => line.replace(/^.*WARN: /, '')), [
    '--momentum 0.5 has no effect and is ignored: it applies to --optimizer sgd (this run: adam, whose momentum is --beta1)',
  ]);
});

test('`dptrain train --engine inline` runs one worker in the main thread', () => {
  const result = runCli(['train', '--engine', 'inline', ...SHORT]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(startLine(result.stderr), /inline engine, 1 worker,/);
  assert.deepEqual(warnings(result.stderr), []);
});

test('`dptrain train --engine inline --workers 2` warns once that --workers has no effect, and trains', () => {
  const result = runCli(['train', '--engine', 'inline', '--workers', '2', ...SHORT]);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(warnings(result.stderr).length, 1, result.stderr);
  assert.match(warnings(result.stderr)[0], /--workers 2 has no effect and is ignored: the inline engine runs one worker/);
});

test('`dptrain train --lr-schedule constant --gamma 0.5` warns once that --gamma has no effect; --warmup-epochs applies to every schedule', () => {
  const result = runCli(['train', '--lr-schedule', 'constant', '--gamma', '0.5', '--warmup-epochs', '0.1', ...SHORT]);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(warnings(result.stderr).map((line) => line.replace(/^.*WARN: /, '')), [
    '--gamma 0.5 has no effect and is ignored: it applies to --lr-schedule step (this run: constant)',
  ]);
});

test('`dptrain train --patience 1 --val-split 0` stops early on the training loss (the default --monitor follows --val-split); an explicit val monitor is warned about', () => {
  const train = runCli(['train', '--patience', '1', '--val-split', '0', '--min-delta', '10', '--max-steps', '600', '--out', path.join(tempDir(), 'p')]);
  assert.equal(train.status, 0, train.stderr);
  assert.deepEqual(warnings(train.stderr), []);
  assert.match(train.stderr, /INFO: early stopping/);
  const val = runCli(['train', '--patience', '2', '--val-split', '0', '--monitor', 'valLoss', ...SHORT]);
  assert.equal(val.status, 0, val.stderr);
  assert.equal(warnings(val.stderr).length, 1, val.stderr);
  assert.match(warnings(val.stderr)[0], /--patience 2 has no effect and is ignored: there is no validation set to monitor/);
});

test('`dptrain train --dataset synthetic:blobs?n=50` picks a model that fits the data and a batch no larger than it; `--max-steps` runs as many epochs as it needs', () => {
  const small = runCli(['train', '--dataset', 'synthetic:blobs?n=50&d=3&classes=3', '--epochs', '2']);
  assert.equal(small.status, 0, small.stderr);
  assert.match(startLine(small.stderr), /training mlp:3-128-3 .* on 45 samples .*; batch 45, 1 step per epoch/);
  const steps = runCli(['train', '--dataset', 'synthetic:teacher?n=300&d=4', '--max-steps', '40']);
  assert.equal(steps.status, 0, steps.stderr);
  assert.match(startLine(steps.stderr), /training linreg:4-1 /);
  assert.match(steps.stderr, /done: 8 epochs, 40 steps/);
});

test('`dptrain train --init FILE` trains the model FILE was saved for, not the default one, and says it starts from FILE (BatchNorm statistics fresh)', () => {
  const out = path.join(tempDir(), 'first');
  const data = ['--dataset', 'synthetic:blobs?n=300&d=3&classes=3', '--epochs', '1'];
  assert.equal(runCli(['train', ...data, '--model', 'mlp:3-8-3', '--out', out]).status, 0);
  const file = path.join(out, 'final.safetensors');
  const init = runCli(['train', ...data, '--init', file]);
  assert.equal(init.status, 0, init.stderr);
  assert.match(startLine(init.stderr), /training mlp:3-8-3 /);
  assert.ok(init.stderr.includes(`INFO: starting from the parameters of ${file}\n`), init.stderr);
  const bn = path.join(tempDir(), 'bn');
  assert.equal(runCli(['train', ...data, '--model', 'cnn:3 dense8 bn relu dense3', '--out', bn]).status, 0);
  const fromBn = runCli(['train', ...data, '--init', path.join(bn, 'final.safetensors')]);
  assert.equal(fromBn.status, 0, fromBn.stderr);
  assert.match(fromBn.stderr, /INFO: starting from the parameters of .*bn\/final\.safetensors \(its BatchNorm running statistics are not loaded: they start fresh\)\n/);
});

test('`dptrain train --workers N` with N above the machine\'s cores warns once that the run will be slower, and trains', () => {
  const cores = os.availableParallelism();
  const result = runCli(['train', '--workers', String(cores + 1), ...SHORT]);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(warnings(result.stderr).map((line) => line.replace(/^.*WARN: /, '')), [
    `--workers ${cores + 1} is more than this machine's ${cores} cores: the threads share them and each step waits for the slowest, so this run is slower than with --workers ${cores} or auto (the model is the same up to float rounding)`,
  ]);
});

test('`dptrain train --eval-every N` that validates at no step within an epoch warns once and says which numbers do', () => {
  const inert = (every: string) => {
    const result = runCli(['train', '--epochs', '2', '--eval-every', every]);
    assert.equal(result.status, 0, result.stderr);
    return warnings(result.stderr).map((line) => line.replace(/^.*WARN: /, ''));
  };
  assert.deepEqual(inert('500'), ['--eval-every 500 has no effect: the run has 282 steps, so it validates at epoch ends only; give a number below 141']);
  assert.deepEqual(inert('141'), ['--eval-every 141 has no effect: 141 steps are a whole number of epochs (141 steps each), whose ends validate anyway; give a number below 141']);
  const out = path.join(tempDir(), 'eval-every');
  const within = runCli(['train', '--epochs', '2', '--eval-every', '100', '--out', out]);
  assert.deepEqual(warnings(within.stderr), []);
  const evals = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n').filter((line) => line.includes('"type":"eval"'));
  assert.equal(evals.length, 2, 'steps 100 and 200 validate');
});

test('`dptrain train --micro-batch 8` with a BatchNorm model warns once that training steps ignore it (validation still uses it), and trains', () => {
  const bn = ['train', '--model', 'cnn:1x28x28 flatten dense16 bn relu dense10', '--batch-size', '16', '--micro-batch', '8', '--max-steps', '1', '--engine', 'inline'];
  const inert = (args: string[]) => {
    const result = runCli([...bn, ...args]);
    assert.equal(result.status, 0, result.stderr);
    return warnings(result.stderr).map((line) => line.replace(/^.*WARN: /, ''));
  };
  const why = "a model with BatchNorm computes each worker's part of a training batch in one pass, as BatchNorm's statistics must cover all of its samples";
  const fix = 'to bound training memory, give a smaller --batch-size';
  assert.deepEqual(inert([]), [`--micro-batch 8 has no effect on training steps: ${why}; only validation is computed 8 samples at a time — ${fix}`]);
  assert.deepEqual(inert(['--val-split', '0']), [`--micro-batch 8 has no effect and is ignored: ${why}, and this run evaluates nothing (--val-split 0) — ${fix}`]);
});

test('the default `dptrain train` warns about nothing', () => {
  const result = runCli(['train', ...SHORT]);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(warnings(result.stderr), []);
  assert.match(startLine(result.stderr), /batch 64, 141 steps per epoch, lr 0\.05 \(default; --lr sets it\)/);
});

test('`dptrain train --batch-size 1` learns (its default rate is scaled down for the small batch) instead of sitting at chance', () => {
  const out = path.join(tempDir(), 'b1');
  const result = runCli(['train', '--batch-size', '1', '--max-steps', '1000', '--out', out]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(startLine(result.stderr), /lr 0\.00625 \(default for batch 1: 0\.05·√\(1\/64\)/);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  // Chance is 10%; the old default (lr 0.05, momentum 0.9) ended 1,000 steps at 9-13%.
  assert.ok(summary.final.valAccuracy > 0.5, `validation accuracy ${summary.final.valAccuracy} after 1,000 steps at B = 1`);
});

test('`dptrain train --out DIR` twice: the second is refused naming the run; --overwrite replaces it and says what it removed', () => {
  const out = path.join(tempDir(), 'run');
  const args = ['train', '--dataset', 'synthetic:blobs?n=300&d=3&classes=3', '--model', 'mlp:3-8-3', '--epochs', '1', '--out', out];
  assert.equal(runCli(args).status, 0);
  const again = runCli(args);
  assert.equal(again.status, 2, again.stderr);
  assert.equal(
    again.stderr,
    `dptrain: error: --out ${out} already holds a run (config.json, metrics.jsonl, summary.json, final.safetensors) — choose another directory, pass --overwrite to replace that run's files, or continue it with --resume CHECKPOINT_DIR [dptrain.config.outDirInUse]\n`,
  );
  const overwritten = runCli([...args, '--overwrite', '--seed', '3']);
  assert.equal(overwritten.status, 0, overwritten.stderr);
  assert.match(overwritten.stderr, /WARN: --overwrite: removed the earlier run's config\.json, metrics\.jsonl, summary\.json, final\.safetensors from /);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).seed, 3);
  // An existing empty directory is fine.
  const empty = tempDir();
  assert.equal(runCli([...args.slice(0, -1), empty]).status, 0);
});

test('`dptrain sweep --out DIR` twice: the second is refused; --resume reads the runs back; --overwrite starts afresh', () => {
  const out = path.join(tempDir(), 'sweep');
  const args = ['sweep', '--batch-sizes', '32,full', '--target', 'train_loss=0.05', '--max-epochs', '5', '--gns-samples', '0',
    '--dataset', 'synthetic:teacher?n=300&d=4&noise=0', '--model', 'linreg:4-1', '--gamma', '0.5', '--out', out];
  // A given option without effect is warned about once for the whole sweep, not once per run.
  const first = runCli(args);
  assert.equal(first.status, 0, first.stderr);
  assert.deepEqual(warnings(first.stderr).filter((line) => / has no effect /.test(line)).map((line) => line.replace(/^.*WARN: /, '')), ['--gamma 0.5 has no effect and is ignored: it applies to --lr-schedule step (this run: constant)']);
  const again = runCli(args);
  assert.equal(again.status, 2, again.stderr);
  assert.match(again.stderr, /^dptrain: error: --out \S+ already holds a sweep \(sweep\.json, results\.json, results\.csv, runs\) — continue it with --resume .*\[dptrain\.config\.outDirInUse\]\n$/);
  const resumed = runCli([...args, '--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(resumed.stderr.match(/\[done earlier\]/g)?.length, 2, resumed.stderr);
  const overwritten = runCli([...args, '--overwrite']);
  assert.equal(overwritten.status, 0, overwritten.stderr);
  assert.match(overwritten.stderr, /--overwrite: removed the earlier sweep's sweep\.json, results\.json, results\.csv, runs\/ from /);
  assert.equal(overwritten.stderr.match(/\[done earlier\]/g), null);
});

test('`dptrain train --restore-best --val-split 0` (with or without --patience) watches trainLoss, the default --monitor without a validation set; a typed `--monitor valLoss` is still refused', () => {
  for (const extra of [[], ['--patience', '1']]) {
    const out = path.join(tempDir(), 'best');
    const result = runCli(['train', '--restore-best', '--val-split', '0', ...extra, ...SHORT, '--out', out]);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(warnings(result.stderr), []);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.equal(summary.best.monitor, 'trainLoss', extra.join(' '));
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).monitor, 'trainLoss');
  }
  const typed = runCli(['train', '--restore-best', '--val-split', '0', '--monitor', 'valLoss', ...SHORT]);
  assert.equal(typed.status, 2, typed.stderr);
  assert.match(typed.stderr, /^dptrain: error: --restore-best keeps the best epoch by --monitor valLoss, which needs a validation set, but --val-split is 0 — use --val-split > 0, or --monitor trainLoss \[dptrain\.config\.badOption\]\n$/);
});

test('`dptrain coordinator --optimizer adam` trains with Adam\'s default rate, and warns once about an inert option', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir(), 'ws');
  const coordinator = await startCoordinator(['--optimizer', 'adam', '--gamma', '0.5', '--dataset', 'synthetic:blobs?n=300&d=3&classes=3', '--model', 'mlp:3-8-3', '--max-steps', '5', '--out', out]);
  const worker = startWorker(coordinator.url, 'w1');
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await worker.exited, 0);
  assert.equal(coordinator.messages(/ has no effect /).length, 1);
  assert.match(coordinator.messages(/^training /)[0], /lr 0\.001 \(Adam's default; --lr sets it\)/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).momentum, 0);
});
