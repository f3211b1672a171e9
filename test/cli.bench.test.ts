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

test('dptrain bench with an unknown suite or flag says so in one line and exits 2', () => {
  const suite = runCli(['bench', 'nope']);
  assert.equal(suite.status, 2);
  assert.equal(suite.stderr.trim(), 'dptrain: error: unknown benchmark suite "nope" — choose one of engine, kernels, transport, allreduce, peers [dptrain.config.badOption]');
  for (const s of ['engine', 'kernels']) {
    const flag = runCli(['bench', s, '--bogus', '1']);
    assert.equal(flag.status, 2, s);
    assert.match(flag.stderr, /^unknown (argument|option) --bogus; this benchmark takes --runs/);
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
