// The command line as a user types it: commander's parse errors in dptrain's one-line form,
// errors as JSON lines with --log-format json, --version from package.json, each default in
// --help printed once, counts in the right number (issue 12, item 7).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot, runCli, tempDir } from './helpers.js';
import { formatDuration } from '../src/cli/progress.js';
import { formatLoss } from '../src/util/index.js';

const fast = ['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'logreg:4-3', '--epochs', '1'];

/** One stderr line `dptrain: error: … [code]`, exit 2, no stack trace. */
function expectOneLine(args: string[], pattern: RegExp, code: string): void {
  const result = runCli(args);
  assert.equal(result.status, 2, `exit status of dptrain ${args.join(' ')}: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout');
  const lines = result.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line:\n${result.stderr}`);
  assert.match(lines[0], /^dptrain: error: /);
  assert.ok(lines[0].endsWith(` [${code}]`), lines[0]);
  assert.match(lines[0], pattern);
}

test('an unknown option is one dptrain error line that suggests the right flag and names --help', () => {
  expectOneLine(['train', '--bacth-size', '4'], /unknown option '--bacth-size' \(did you mean --batch-size\?\) — see dptrain train --help/, 'dptrain.cli.unknownOption');
});

test('an unknown command, a missing argument, a missing value, a bad choice and an extra argument are each one line with exit 2', () => {
  expectOneLine(['trian'], /unknown command 'trian' \(did you mean train\?\) — see dptrain --help/, 'dptrain.cli.unknownCommand');
  expectOneLine(['report'], /missing required argument 'dir' — see dptrain report --help/, 'dptrain.cli.missingArgument');
  // A subcommand's help is named with its parent (it said `dptrain fetch --help`, a user try).
  expectOneLine(['data', 'fetch'], /missing required argument 'name' — see dptrain data fetch --help/, 'dptrain.cli.missingArgument');
  expectOneLine(['train', '--optimizer'], /option '--optimizer <name>' argument missing/, 'dptrain.cli.missingValue');
  expectOneLine(['train', '--log-format', 'xml'], /argument 'xml' is invalid\. Allowed choices are pretty, json — see dptrain train --help/, 'dptrain.cli.badChoice');
  expectOneLine(['report', 'a', 'b'], /too many arguments for 'report'/, 'dptrain.cli.tooManyArguments');
});

test('with --log-format json every error is one JSON line: commander\'s, dptrain\'s and a bad --connect', () => {
  const cases: [string[], string, RegExp][] = [
    [[...fast, '--log-format', 'json', '--bogus'], 'dptrain.cli.unknownOption', /unknown option '--bogus'/],
    [[...fast, '--log-format=json', '--optimizer', 'lion'], 'dptrain.config.badOption', /--optimizer must be one of sgd, adam, adamw/],
    [[...fast, '--log-format', 'json', '--dataset', 'csv:/nonexistent/data.csv'], 'dptrain.data.fileNotFound', /\/nonexistent\/data\.csv/],
    [['worker', '--log-format', 'json', '--connect', 'http://x'], 'dptrain.config.badOption', /--connect must be/],
  ];
  for (const [args, code, pattern] of cases) {
    const result = runCli(args);
    assert.equal(result.status, 2, result.stderr);
    const lines = result.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, result.stderr);
    const line = JSON.parse(lines[0]) as { level: number; time: string; code: string; msg: string };
    assert.equal(line.level, 50);
    assert.equal(line.code, code);
    assert.match(line.msg, pattern);
    assert.ok(!Number.isNaN(Date.parse(line.time)), line.time);
  }
});

test('--version prints the version in package.json, whatever it is', () => {
  const result = runCli(['--version']);
  assert.equal(result.status, 0);
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  assert.equal(result.stdout.trim(), pkg.version);

  // A copy of the CLI whose package.json says another version prints that one (outside npm, so
  // npm_package_version cannot be where it came from).
  const copy = tempDir('dptrain-version-');
  fs.cpSync(path.join(repoRoot, 'dist', 'src'), path.join(copy, 'dist', 'src'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'bin'), path.join(copy, 'bin'), { recursive: true });
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(copy, 'node_modules'));
  fs.writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ ...pkg, version: '7.8.9-test' }));
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('npm_')));
  const copied = spawnSync(process.execPath, [path.join(copy, 'bin', 'dptrain.js'), '--version'], { encoding: 'utf8', env });
  assert.equal(copied.status, 0, copied.stderr);
  assert.equal(copied.stdout.trim(), '7.8.9-test');
  fs.rmSync(copy, { recursive: true, force: true });
});

test('every command\'s --help states each option\'s default at most once', () => {
  for (const command of ['train', 'sweep', 'report', 'coordinator', 'worker', 'inspect', 'bench']) {
    const result = runCli([command, '--help']);
    assert.equal(result.status, 0, result.stderr);
    // One entry per option: its first line starts with "  -", continuation lines are indented.
    const entries = result.stdout.split(/\n(?=\s{2}-)/);
    for (const entry of entries) {
      const defaults = entry.match(/\bdefault:/g) ?? [];
      assert.ok(defaults.length <= 1, `dptrain ${command} --help states a default twice:\n${entry}`);
    }
  }
});

test('the last line of a one-epoch run says "1 epoch", not "1 epochs"', () => {
  const result = runCli([...fast, '--batch-size', 'full', '--engine', 'inline', '--workers', '1']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /done: 1 epoch, 1 step in /);
  const two = runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'logreg:4-3', '--epochs', '2', '--batch-size', '90', '--engine', 'inline', '--workers', '1']);
  assert.equal(two.status, 0, two.stderr);
  assert.match(two.stderr, /done: 2 epochs, 4 steps in (\d+\.\d s|\d+ ms),/, 'a run shorter than a minute reads in seconds (milliseconds under 0.1 s), not 0:00');
});

test('losses read with four decimals where that shows them, else four significant digits (a regression\'s 6.8e-13 is not 0.0000)', () => {
  assert.deepEqual([2.29141, 0.03213, 0, 6.8e-13, 0.00035612, 2.062879e20, -1.5, NaN, Infinity].map(formatLoss), ['2.2914', '0.0321', '0.0000', '6.800e-13', '0.0003561', '2.063e+20', '-1.5000', 'NaN', 'Infinity']);
});

test('durations read in seconds under a minute, then m:ss and h:mm:ss', () => {
  assert.equal(formatDuration(0.34), '0.3 s');
  assert.equal(formatDuration(42.04), '42.0 s');
  assert.equal(formatDuration(59.96), '1:00');
  assert.equal(formatDuration(754), '12:34');
  assert.equal(formatDuration(3 * 3600 + 5 * 60 + 7), '3:05:07');
  assert.equal(formatDuration(0.0312), '31 ms');
  assert.equal(formatDuration(0.0996), '0.1 s');
  assert.equal(formatDuration(-1), '0 ms');
});
