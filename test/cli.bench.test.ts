// `dptrain bench SUITE [FLAGS]` runs the benchmark scripts of docs/benchmarks.md with their own flags.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './helpers.js';

test('dptrain bench engine runs the engine benchmark with the flags given and states the machine', () => {
  const r = runCli(['bench', 'engine', '--runs', '1', '--seconds', '0.2', '--warmup', '1', '--workloads', 'W3', '--workers', '1']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^machine: \d+ cores/m);
  assert.match(r.stdout, /^W3 logreg:784-10 batch 1024/m);
  assert.match(r.stdout, /^ {2}threads x1 +[\d,]+ /m);
});

test('dptrain bench with an unknown suite or flag, or with no suite, says so in one line and exits 2', () => {
  const suite = runCli(['bench', 'nope']);
  assert.equal(suite.status, 2);
  assert.equal(suite.stderr.trim(), 'dptrain: error: unknown benchmark suite "nope" — choose one of engine, kernels, transport, allreduce, peers [dptrain.config.badOption]');
  // A bare `dptrain bench` started the engine suite's minutes of runs (a user try); it names the suites.
  const bare = runCli(['bench']);
  assert.equal(bare.status, 2);
  assert.equal(bare.stderr.trim(), 'dptrain: error: choose a benchmark suite: dptrain bench engine|kernels|transport|allreduce|peers (dptrain bench --help says what each measures) [dptrain.cli.missingArgument]');
  assert.equal(bare.stdout, '');
  for (const s of ['engine', 'kernels', 'transport']) {
    const flag = runCli(['bench', s, '--bogus', '1']);
    assert.equal(flag.status, 2, s);
    assert.match(flag.stderr, /^unknown (argument|option) --bogus; this benchmark takes --(runs|frames) /);
    assert.doesNotMatch(flag.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('dptrain bench peers refuses an unknown flag and a directory without the PyTorch peer scripts in one line, exit 2', () => {
  const flag = runCli(['bench', 'peers', '--bogus', '1']);
  assert.equal(flag.status, 2);
  assert.match(flag.stderr, /^unknown argument --bogus; this benchmark takes --rounds \(default 3\)/);
  const dir = runCli(['bench', 'peers', '--peers', '/nonexistent-peers']);
  assert.equal(dir.status, 2);
  assert.equal(dir.stderr.trim(), '--peers /nonexistent-peers has no train_bench.py — pass the directory of the PyTorch peer scripts');
});

test('dptrain bench SUITE --help lists the suite\'s own flags (exit 0, nothing run); dptrain bench --help lists the suites', () => {
  const flags: Record<string, RegExp> = {
    engine: /^This benchmark takes --runs \(default 3\), --seconds \(default 5\), .*--workloads/,
    kernels: /^This benchmark takes --runs N \(default 3\), --seconds S/,
    transport: /^This benchmark takes --frames \(default 64\), --runs \(default 3\)/,
    allreduce: /^This benchmark takes --sections/,
    peers: /^This benchmark takes --rounds \(default 3\)/,
  };
  for (const [suite, pattern] of Object.entries(flags)) {
    const r = runCli(['bench', suite, '--help']);
    assert.equal(r.status, 0, `${suite}: ${r.stderr}`);
    assert.match(r.stdout, pattern, suite);
    assert.doesNotMatch(r.stdout, /^machine:/m, `${suite} ran nothing`);
  }
  const help = runCli(['bench', '--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: dptrain bench \[suite\] \[flags\.\.\.\]/);
  assert.match(help.stdout, /^Suites:\n {2}engine +samples\/s/m);
});
