// What a new user's first `dptrain train` on their own data gets told, through the CLI: a model
// spec read as hidden widths, data no classifier fits, an image model without flatten, integer
// labels that look like a numeric target, schedule options the run is too short for, and a
// refused option before the dashboard listens. Tiny data, one or two epochs, runs in parallel.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { expectUsageError, runCliAsync, tempDir } from './helpers.js';

const QUICK = ['--engine', 'inline', '--epochs', '1'];
const SPIRALS = ['--dataset', 'synthetic:spirals?n=200&classes=3'];
const warnings = (stderr: string) => stderr.split('\n').filter((line) => / WARN: /.test(line)).map((line) => line.replace(/^.*WARN: /, ''));

let dir = '';
const csv = (name: string) => `csv:${path.join(dir, name)}`;

/** A CSV of two features and `label(i)` in a last column named `name`. */
function writeCsv(file: string, rows: number, name: string, label: (i: number) => string): void {
  const lines = Array.from({ length: rows }, (_, i) => `${((i * 7) % 13) / 13},${((i * 5) % 11) / 11},${label(i)}`);
  fs.writeFileSync(path.join(dir, file), [`x1,x2,${name}`, ...lines].join('\n') + '\n');
}

before(() => {
  dir = tempDir('dptrain-train-input-');
  writeCsv('one-class.csv', 40, 'label', () => 'cat');
  writeCsv('regression.csv', 40, 'y', (i) => (i * 0.37).toFixed(2));
  // House prices in thousands: 300 distinct whole numbers in 400 rows.
  writeCsv('houses.csv', 400, 'price', (i) => String(100 + (i % 300)));
  // Ages: 30 distinct whole numbers in 40 rows: not 2 rows a class.
  writeCsv('ages.csv', 40, 'age', (i) => String(i % 30));
  // Enough rows, but 20 values spread over 0..950: most of the "classes" never occur.
  writeCsv('sparse.csv', 400, 'size', (i) => String((i % 20) * 50));
  // 150 classes, each index present, over 2 rows each: class indices, trained as such.
  writeCsv('many.csv', 400, 'label', (i) => String(i % 150));
});

test('`--model mlp:784-128-10` on other data is read as hidden widths with one warning naming the model; two hidden widths are not warned about', async () => {
  const [full, hidden] = await Promise.all([
    runCliAsync(['train', ...SPIRALS, '--model', 'mlp:784-128-10', ...QUICK]),
    runCliAsync(['train', ...SPIRALS, '--model', 'mlp:32-16', ...QUICK]),
  ]);
  assert.equal(full.status, 0, full.stderr);
  assert.deepEqual(warnings(full.stderr), [
    "--model mlp:784-128-10 is read as hidden widths: the model is mlp:2-784-128-10-3 for this data's 2 inputs and 3 classes; a full spec must start with 2 or end with 3",
  ]);
  assert.match(full.stderr, /INFO: training mlp:2-784-128-10-3 /);
  assert.equal(hidden.status, 0, hidden.stderr);
  assert.deepEqual(warnings(hidden.stderr), []);
});

test('a CSV whose labels are one class is refused naming the column, whatever the model; mlp or logreg on a regression CSV names the task, not a derived spec', async () => {
  await Promise.all([
    expectUsageError(['train', '--dataset', csv('one-class.csv'), ...QUICK], /has one class: every label in column "label" is "cat", and a classifier needs at least 2 classes — check the label column/, 'dptrain.data.oneClass'),
    expectUsageError(['train', '--dataset', csv('one-class.csv'), '--model', 'logreg', ...QUICK], /has one class/, 'dptrain.data.oneClass'),
    expectUsageError(['train', '--dataset', csv('regression.csv'), '--model', 'mlp', ...QUICK], /is a regression task \(its label column "y" holds numbers, not class indices\) but mlp is a classifier — use --model linreg, or 'cnn:2 dense128 relu dense1 mse'/, 'dptrain.model.taskMismatch'),
    expectUsageError(['train', '--dataset', csv('regression.csv'), '--model', 'logreg', ...QUICK], /but logreg is a classifier — use --model linreg/, 'dptrain.model.taskMismatch'),
    // Synthetic data takes no ?task=: it is not suggested.
    expectUsageError(['train', '--dataset', 'synthetic:teacher?n=200&d=20', '--model', 'mlp', ...QUICK], /but mlp is a classifier — use --model linreg, or 'cnn:20 dense128 relu dense1 mse' for hidden layers \[/, 'dptrain.model.taskMismatch'),
  ]);
});

test('a layer model with mse on classes is told to drop mse; an image model on flat regression data names models that train on it', async () => {
  const flat = "--model 'cnn:20 dense64 relu dense1 mse'";
  await Promise.all([
    expectUsageError(['train', '--model', 'cnn:1x28x28 conv8k3 flatten dense10 mse', '--max-steps', '1'], /dataset mnist is a classification task \(10 classes\) but .* is a regression model — drop mse, as a classifier trains with cross-entropy, the default loss: --model 'cnn:1x28x28 conv8k3 flatten dense10'/, 'dptrain.model.taskMismatch'),
    expectUsageError(['train', '--dataset', 'synthetic:teacher?n=200&d=20', '--model', 'cnn:1x28x28 conv8k3 flatten dense1 mse', ...QUICK], new RegExp(`these samples are 20 flat features: use a model for flat data \\(leave --model out for the default, linreg:20-1, or for hidden layers ${flat}\\)`), 'dptrain.model.inputMismatch'),
  ]);
  // What the message suggests trains.
  const suggested = await runCliAsync(['train', '--dataset', 'synthetic:teacher?n=200&d=20', '--model', 'cnn:20 dense64 relu dense1 mse', ...QUICK]);
  assert.equal(suggested.status, 0, suggested.stderr);
});

test('a flat layer model on images is refused with the spec that flattens them first; an image model on flat features points to mlp', async () => {
  await Promise.all([
    expectUsageError(['train', '--model', 'cnn:784 dense64 relu dense10', '--max-steps', '1'], /dataset mnist has samples of shape 1x28x28 — its dense layers need a flat input, so flatten the images first: --model 'cnn:1x28x28 flatten dense64 relu dense10'/, 'dptrain.model.inputMismatch'),
    expectUsageError(['train', ...SPIRALS, '--model', 'cnn-mnist', '--max-steps', '1'], /these samples are 2 flat features: use a model for flat data \(--model mlp/, 'dptrain.model.inputMismatch'),
  ]);
});

test('whole-number labels that leave most classes empty, or give fewer than 2 rows a class, are refused until ?task= says which; a model\'s task decides for the files it is evaluated on', async () => {
  const run = path.join(dir, 'houses-run');
  const [, , , regression, many] = await Promise.all([
    expectUsageError(['train', '--dataset', csv('houses.csv'), ...QUICK], /the labels in column "price" \(3\) are whole numbers, which as class indices make 400 classes \(300 distinct values in 400 rows\) — to predict the number, add \?task=regression/, 'dptrain.data.ambiguousTask'),
    expectUsageError(['train', '--dataset', csv('ages.csv'), ...QUICK], /make 30 classes \(30 distinct values in 40 rows\)/, 'dptrain.data.ambiguousTask'),
    expectUsageError(['train', '--dataset', csv('sparse.csv'), ...QUICK], /make 951 classes \(20 distinct values in 400 rows\)/, 'dptrain.data.ambiguousTask'),
    runCliAsync(['train', '--dataset', `${csv('houses.csv')}?task=regression`, '--out', run, ...QUICK]),
    runCliAsync(['train', '--dataset', csv('many.csv'), ...QUICK]),
  ]);
  assert.equal(regression.status, 0, regression.stderr);
  assert.match(regression.stderr, /INFO: training linreg:2-1 /);
  assert.equal(many.status, 0, many.stderr);
  assert.match(many.stderr, /INFO: training mlp:2-128-150 /);
  // The file without ?task=: the regression model reads its prices as targets, not as 400 classes.
  const evaluated = await runCliAsync(['evaluate', path.join(run, 'final.safetensors'), '--dataset', csv('houses.csv')]);
  assert.equal(evaluated.status, 0, evaluated.stderr);
  assert.match(evaluated.stdout, /^  rmse +\d/m);
});

test('schedule options the run is too short for are warned about once each, naming the bound', async () => {
  const train = (...args: string[]) => runCliAsync(['train', ...SPIRALS, '--engine', 'inline', '--epochs', '2', ...args]);
  const [step, stepAlone, warmup, minLr, fits] = await Promise.all([
    train('--lr-schedule', 'step', '--step-epochs', '3'),
    train('--lr-schedule', 'step', '--epochs', '10'),
    train('--lr-schedule', 'cosine', '--warmup-epochs', '3'),
    train('--lr-schedule', 'cosine', '--lr', '0.05', '--min-lr', '0.1'),
    train('--lr-schedule', 'step', '--step-epochs', '1', '--warmup-epochs', '0.5', '--min-lr', '0.01', '--lr-schedule', 'cosine'),
  ]);
  for (const r of [step, stepAlone, warmup, minLr, fits]) assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(warnings(step.stderr), ['--step-epochs 3 has no effect and is ignored: the rate would first drop after 9 steps and the run has 6; give --step-epochs below 2']);
  // --step-epochs' default (10) is --epochs' default: the step schedule alone never decays.
  assert.deepEqual(warnings(stepAlone.stderr), ['--lr-schedule step has no effect and is ignored: the rate would first drop after 30 steps and the run has 30; give --step-epochs below 10']);
  assert.deepEqual(warnings(warmup.stderr), ['--warmup-epochs 3 lasts the whole run: the warmup takes 9 steps and the run has 6, so the rate only rises, to 0.0333 of the peak 0.05 at the last step, and --lr-schedule cosine never starts — give --warmup-epochs below 2']);
  assert.deepEqual(warnings(minLr.stderr), ['--min-lr 0.1 is not below the peak learning rate 0.05: the cosine schedule raises the rate towards 0.1 instead of lowering it — give --min-lr below 0.05']);
  // Only the existing rule: --step-epochs applies to the step schedule.
  assert.deepEqual(warnings(fits.stderr), ['--step-epochs 1 has no effect and is ignored: it applies to --lr-schedule step (this run: cosine)']);
});

test('`dptrain train --dashboard --lr -1` refuses the option before the dashboard listens: no URL is printed', async () => {
  const r = await runCliAsync(['train', '--dashboard', '--lr', '-1', '--max-steps', '1']);
  assert.equal(r.status, 2, r.stderr);
  assert.doesNotMatch(r.stderr + r.stdout, /dashboard at http/);
  assert.match(r.stderr, /^dptrain: error: --lr must be a finite number > 0 \(got -1\) \[dptrain\.config\.badOption\]\n$/);
});
