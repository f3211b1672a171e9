// Output paths as a user types them (a user try): a single output file (predict --output, token
// --out, evaluate --out) whose folder is missing or that names a directory is one line naming the
// fix, before any work (report --out in a folder that takes no files: one line too); an output file that
// would replace the input, the model or a run's own files is refused (a user try: predict --output
// over its --input, report --out over metrics.jsonl); an output directory that cannot be made (under /proc, where Node's
// recursive mkdir loops forever, or below a file) is one line and exit 2, never a hang.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { oneErrorLine, runCli, tempDir } from './helpers.js';

const blobs = ['--dataset', 'synthetic:blobs?n=200&d=4&classes=3'];
let dir = '';
let model = '';
let csv = '';
before(() => {
  dir = tempDir('dptrain-output-paths-');
  const trained = runCli(['train', ...blobs, '--model', 'logreg:4-3', '--epochs', '1', '--out', path.join(dir, 'run')]);
  assert.equal(trained.status, 0, trained.stderr);
  model = path.join(dir, 'run', 'final.safetensors');
  csv = path.join(dir, 'rows.csv');
  fs.writeFileSync(csv, '1,2,3,4\n0.5,0.1,0.2,0.3\n');
  fs.mkdirSync(path.join(dir, 'a-dir'));
  fs.writeFileSync(path.join(dir, 'a-file'), '');
});

const oneLine = oneErrorLine;

describe('an output file whose folder is missing or that is a directory', () => {
  test('predict --output DIR and --output nodir/FILE: one line, exit 2, no stack trace', () => {
    const cases: [string, RegExp][] = [
      ['a-dir', /^dptrain: error: --output a-dir: a-dir is a directory — give a file name, e.g. a-dir\/out \[/],
      ['nodir/p.csv', /^dptrain: error: --output nodir\/p\.csv: the folder .*nodir does not exist — create it, or write the file elsewhere \[/],
    ];
    for (const [output, pattern] of cases) {
      const r = runCli(['predict', model, '--input', csv, '--output', output], { cwd: dir });
      assert.match(oneLine(r, 2, 'dptrain.config.badOption'), pattern);
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(fs.readdirSync(path.join(dir, 'a-dir')), [], 'no temp file is left');
  });

  test('token --out nodir/FILE, --out "", --out DIR (with or without --force): one line naming the fix, exit 2', () => {
    const cases: [string[], RegExp][] = [
      [['--out', 'nodir/tok'], /^dptrain: error: --out nodir\/tok: the folder .*nodir does not exist — create it, or write the file elsewhere \[/],
      [['--out', ''], /^dptrain: error: --out must be a file name, e\.g\. --out dptrain\.token \(got ""\) \[/],
      [['--out', 'a-dir', '--force'], /^dptrain: error: --out a-dir: a-dir is a directory — give a file name, e\.g\. a-dir\/out \[/],
      [['--out', 'a-dir'], /^dptrain: error: --out a-dir: a-dir is a directory — give a file name/],
    ];
    for (const [args, pattern] of cases) {
      const r = runCli(['token', ...args], { cwd: dir });
      assert.match(oneLine(r, 2, 'dptrain.config.badOption'), pattern);
      assert.equal(r.stdout, '', 'no token is printed');
    }
  });

  test('evaluate --out FILE (an existing file) is refused before the evaluation: nothing on stdout', () => {
    const r = runCli(['evaluate', model, '--out', 'a-file'], { cwd: dir });
    assert.match(oneLine(r, 2, 'dptrain.config.badOutDir'), /^dptrain: error: --out a-file cannot be created: .*a-file is a file, not a directory \(ENOTDIR\) — choose a writable directory/);
    assert.equal(r.stdout, '', 'the evaluation did not run');
  });
});

describe('an output file that would replace the input, the model or a run\'s own files', () => {
  test('predict --output naming --input (or a link to it) or the model: one line, exit 2, both files intact', () => {
    const input = path.join(dir, 'same.csv');
    fs.writeFileSync(input, '1,2,3,4\n');
    fs.symlinkSync(input, path.join(dir, 'link.csv'));
    const before = fs.readFileSync(model);
    const cases: [string, RegExp][] = [
      ['same.csv', /^dptrain: error: --output same\.csv is --input same\.csv, which the predictions would replace — write them to another file \[/],
      ['link.csv', /^dptrain: error: --output link\.csv is --input same\.csv, which/],
      [model, /^dptrain: error: --output .*final\.safetensors is the model .*final\.safetensors, which the predictions would replace/],
    ];
    for (const [output, pattern] of cases) {
      const r = runCli(['predict', model, '--input', 'same.csv', '--output', output], { cwd: dir });
      assert.match(oneLine(r, 2, 'dptrain.config.badOption'), pattern);
    }
    assert.equal(fs.readFileSync(input, 'utf8'), '1,2,3,4\n');
    assert.deepEqual(fs.readFileSync(model), before);
  });

  test('report --out or --timeline naming a file that is not an earlier page or trace (the run\'s metrics.jsonl, its model): refused; an earlier page is replaced', () => {
    const run = path.join(dir, 'run');
    const metrics = fs.readFileSync(path.join(run, 'metrics.jsonl'));
    for (const [flag, file] of [['--out', 'metrics.jsonl'], ['--out', 'final.safetensors'], ['--timeline', 'summary.json']]) {
      const r = runCli(['report', 'run', flag, path.join('run', file)], { cwd: dir });
      assert.match(oneLine(r, 2, 'dptrain.config.badOption'), new RegExp(`^dptrain: error: ${flag} run/${file.replace('.', '\\.')}: run/${file.replace('.', '\\.')} exists and is not an? (HTML page|trace written by --timeline), which would replace it — choose another file name, or remove it first \\[`));
    }
    assert.deepEqual(fs.readFileSync(path.join(run, 'metrics.jsonl')), metrics);
    for (let i = 0; i < 2; i++) {
      const r = runCli(['report', 'run', '--out', 'page.html'], { cwd: dir });
      assert.equal(r.status, 0, r.stderr);
    }
    assert.match(fs.readFileSync(path.join(dir, 'page.html'), 'utf8'), /^<!doctype html>/);
  });
});

describe('an output directory that cannot be created', () => {
  test('--out below a file names the file (ENOTDIR), for train, before training', () => {
    const r = runCli(['train', ...blobs, '--epochs', '1', '--out', 'a-file/run'], { cwd: dir, timeoutMs: 30_000 });
    assert.match(oneLine(r, 2, 'dptrain.config.badOutDir'), /^dptrain: error: --out a-file\/run cannot be created: .*a-file is a file, not a directory \(ENOTDIR\)/);
    assert.equal(r.stdout, '');
  });

  // Node's fs.mkdir(dir, { recursive: true }) loops at 100 % CPU here: mkdir("/proc/x") is ENOENT,
  // mkdir("/proc") EEXIST. The timeout turns a hang into a failure (status null).
  const procfs = process.platform === 'linux' && fs.existsSync('/proc/self');
  const nope = '/proc/dptrain-nope';
  const cases: [string, string[], string, string][] = [
    ['train --out', ['train', ...blobs, '--epochs', '1', '--out', nope], '--out', 'dptrain.config.badOutDir'],
    ['train --checkpoint-dir', ['train', ...blobs, '--epochs', '1', '--checkpoint-dir', `${nope}/ckpt`], '--checkpoint-dir', 'dptrain.config.badCheckpointDir'],
    ['evaluate --out', ['evaluate', 'MODEL', '--out', nope], '--out', 'dptrain.config.badOutDir'],
    ['sweep --out', ['sweep', ...blobs, '--batch-sizes', '16,32', '--max-epochs', '1', '--target', 'val_acc=0.5', '--out', nope], '--out', 'dptrain.config.badOutDir'],
    ['train --data-dir (a download cache)', ['train', '--dataset', 'mnist-full', '--data-dir', nope, '--epochs', '1'], '--data-dir \\(the download cache\\)', 'dptrain.config.badOption'],
  ];
  test(`report --out /proc/report.html (a folder that takes no files): one line, exit 2, no stack trace`, { skip: procfs ? false : 'needs Linux procfs' }, () => {
    const r = runCli(['report', path.join(dir, 'run'), '--out', '/proc/report.html'], { timeoutMs: 30_000 });
    assert.match(oneLine(r, 2, 'dptrain.config.badOption'), /^dptrain: error: --out \/proc\/report\.html cannot be written \(ENOENT\) — choose a writable path with --out FILE/);
  });

  for (const [name, args, flag, code] of cases) {
    test(`${name} ${nope}: one line naming the directory and the reason, exit 2, no hang`, { skip: procfs ? false : 'needs Linux procfs', timeout: 60_000 }, () => {
      const r = runCli(args.map((a) => (a === 'MODEL' ? model : a)), { timeoutMs: 30_000 });
      const line = oneLine(r, 2, code);
      assert.match(line, new RegExp(`^dptrain: error: ${flag} ${nope}(/ckpt|/mnist-full)? cannot be created: /proc does not accept new directories \\(ENOENT\\) — choose a writable directory`));
      assert.equal(r.stdout, '');
    });
  }
});
