// Every bad input gets one clear line, a non-zero exit and no stack trace (issue: foundation).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from './helpers.js';

const fast = ['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'logreg:4-3', '--epochs', '1'];

function expectUsageError(args: string[], pattern: RegExp, code?: string): void {
  const result = runCli(args);
  assert.equal(result.status, 2, `exit status for ${args.join(' ')}: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  if (code) assert.ok(result.stderr.includes(`[${code}]`), result.stderr);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

test('an unknown model spec names the spec and the valid forms', () => {
  expectUsageError([...fast, '--model', 'rnn:3x3'], /unknown model spec "rnn:3x3".*mlp:/, 'dptrain.model.unknownSpec');
});

test('a model whose input width does not match the dataset names both widths', () => {
  expectUsageError([...fast, '--model', 'logreg:784-3'], /784 inputs.*4 features/, 'dptrain.model.inputMismatch');
});

test('a missing IDX file names the path', () => {
  expectUsageError([...fast, '--dataset', 'idx:/nonexistent/train-images-idx3-ubyte', '--model', 'logreg:784-10'], /\/nonexistent\/train-images-idx3-ubyte/, 'dptrain.data.fileNotFound');
});

test('a malformed IDX file is rejected by its magic number', () => {
  const dir = tempDir();
  const file = path.join(dir, 'train-images-idx3-ubyte');
  fs.writeFileSync(file, Buffer.from('this is not an idx file at all'));
  expectUsageError([...fast, '--dataset', `idx:${file}`, '--model', 'logreg:784-10'], /magic/i, 'dptrain.data.badIdxMagic');
});

test('a missing CSV file names the path', () => {
  expectUsageError([...fast, '--dataset', 'csv:/nonexistent/data.csv'], /\/nonexistent\/data\.csv/, 'dptrain.data.fileNotFound');
});

test('a malformed CSV row names the line', () => {
  const dir = tempDir();
  const file = path.join(dir, 'bad.csv');
  fs.writeFileSync(file, 'a,b,label\n1,2,0\n3,oops,1\n');
  expectUsageError([...fast, '--dataset', `csv:${file}`, '--model', 'logreg:2-2'], /line 3/, 'dptrain.data.badCsvRow');
});

test('a non-positive batch size is refused', () => {
  expectUsageError([...fast, '--batch-size', '0'], /--batch-size must be a positive integer, "full" or "auto" \(got 0\)/, 'dptrain.config.badOption');
  expectUsageError([...fast, '--batch-size', '-3'], /--batch-size must be a positive integer, "full" or "auto"/, 'dptrain.config.badOption');
});

test('a batch size above the number of training samples is refused', () => {
  expectUsageError([...fast, '--batch-size', '5000'], /5000.*180/);
});

test('a NaN learning rate is refused', () => {
  expectUsageError([...fast, '--lr', 'NaN'], /--lr must be a finite number \(got "NaN"\)/, 'dptrain.config.badOption');
});

test('an unknown flag is refused by name', () => {
  const result = runCli(['train', '--bacth-size', '4']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /unknown option '--bacth-size'/);
  assert.match(result.stderr, /--batch-size/);
});

test('an unknown choice lists the valid ones', () => {
  expectUsageError([...fast, '--optimizer', 'lion'], /--optimizer must be one of sgd, adam, adamw \(got "lion"\)/);
});

test('--help explains batch size, epoch and iteration with the N = 1050, B = 100 example', () => {
  const result = runCli(['train', '--help']);
  assert.equal(result.status, 0);
  assert.match(result.stdout, /N = 1050 samples, B = 100: each epoch has 11 steps/);
  assert.match(result.stdout, /--batch-size <n\|full\|auto>/);
  assert.match(result.stdout, /--micro-batch/);
});

test('--engine ws on `dptrain train` points to `dptrain coordinator`', () => {
  expectUsageError([...fast, '--engine', 'ws'], /--engine ws runs under `dptrain coordinator`.*`dptrain train` takes --engine threads or inline/, 'dptrain.config.badOption');
  expectUsageError([...fast, '--engine', 'gpu'], /--engine must be one of threads, inline \(got "gpu"\)/, 'dptrain.config.badOption');
});
