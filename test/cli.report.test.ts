// `dptrain report DIR` of something that is not a run or sweep directory says what it got and
// what it expected, in one line with exit 2 (issue 12, item 8).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from './helpers.js';

function expectOneLine(args: string[], pattern: RegExp, code: string): void {
  const result = runCli(args);
  assert.equal(result.status, 2, result.stderr);
  const lines = result.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], pattern);
  assert.ok(lines[0].endsWith(`[${code}]`), lines[0]);
}

test('dptrain report of a directory that does not exist says so', () => {
  const missing = path.join(tempDir(), 'runs', 'mnist');
  expectOneLine(['report', missing], new RegExp(`^dptrain: error: ${missing} does not exist .*— dptrain report takes the --out directory of \`dptrain train --out DIR\``), 'dptrain.config.reportDirNotFound');
});

test('dptrain report of a file says it is a file, not a directory', () => {
  const file = path.join(tempDir(), 'final.safetensors');
  fs.writeFileSync(file, 'x');
  expectOneLine(['report', file], /is a file, not a directory \(for a parameters file use dptrain inspect\) — dptrain report takes/, 'dptrain.config.notAReportDir');
});

test('dptrain report of a directory without a run or sweep says what it expected', () => {
  expectOneLine(['report', tempDir()], /holds neither results\.json \(a sweep\) nor metrics\.jsonl \(a run\)/, 'dptrain.config.notAReportDir');
});

test('dptrain report --out naming a missing folder or a directory is one line and exit 2, before any page is written', () => {
  const root = tempDir();
  const run = path.join(root, 'run');
  const trained = runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'logreg:4-3', '--epochs', '1', '--out', run]);
  assert.equal(trained.status, 0, trained.stderr);
  const missing = path.join(root, 'nowhere', 'r.html');
  expectOneLine(['report', run, '--out', missing], new RegExp(`^dptrain: error: --out ${missing}: the folder ${path.dirname(missing)} does not exist — create it, or write the file elsewhere`), 'dptrain.config.badOption');
  expectOneLine(['report', run, '--out', root], new RegExp(`^dptrain: error: --out ${root}: ${root} is a directory — give a file name`), 'dptrain.config.badOption');
  assert.deepEqual(fs.readdirSync(root).sort(), ['run']);
});

test('dptrain report of a sweep whose results.json is damaged: one line saying so and how to write it again (exit 1: the data, not the command)', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'results.json'), 'garbage\n');
  const result = runCli(['report', dir]);
  assert.equal(result.status, 1, result.stderr);
  assert.equal(result.stderr, `dptrain: error: ${path.join(dir, 'results.json')} is not valid JSON: it was damaged or edited — the same dptrain sweep command with --resume writes it again from its runs [dptrain.study.badJson]\n`);
});
