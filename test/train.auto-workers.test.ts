// --workers auto (the default with --engine threads): the decision on synthetic step costs (no
// timing asserted), and the CLI with default flags, an explicit --workers, and a resume.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { chooseWorkers, threadsToTry, THREADS_MIN_SPEEDUP, unprobedChoice } from '../src/train/auto-workers.js';
import { runCli, tempDir } from './helpers.js';

test('chooseWorkers: threads only when the probe measured them at least 1.1x faster than inline', () => {
  // A fixed-cost step (B = 1): dispatch and barriers cost more than the threads save.
  const small = chooseWorkers({ inlineMs: 0.09, threadsMs: 0.3, workers: 2 });
  assert.deepEqual([small.engine, small.workers], ['inline', 1]);
  assert.match(small.reason, /inline engine: a step took 0\.090 ms inline and 0\.300 ms on 2 worker threads \(dispatch and barriers cost more/);
  // A compute-bound step divides.
  const large = chooseWorkers({ inlineMs: 150, threadsMs: 85, workers: 2 });
  assert.deepEqual([large.engine, large.workers], ['threads', 2]);
  assert.match(large.reason, /chose 2 worker threads: a step took 150 ms inline and 85 ms on 2 worker threads \(1\.76x\)/);
  // A near tie keeps one thread.
  const tie = chooseWorkers({ inlineMs: 10, threadsMs: 10 / (THREADS_MIN_SPEEDUP - 0.01), workers: 4 });
  assert.equal(tie.engine, 'inline');
  assert.match(tie.reason, /less than 1\.1x faster/);
  assert.equal(chooseWorkers({ inlineMs: 10, threadsMs: 10 / THREADS_MIN_SPEEDUP, workers: 4 }).workers, 4);
  assert.deepEqual(large.probe, { inlineMs: 150, threadsMs: 85, workers: 2 });
});

test('threadsToTry and unprobedChoice: one core or a batch of one is inline without a probe', () => {
  assert.equal(threadsToTry(2, 64), 2);
  assert.equal(threadsToTry(8, 3), 3);
  assert.equal(threadsToTry(1, 64), 1);
  assert.equal(threadsToTry(4, 1), 1);
  assert.match(unprobedChoice(1, 64).reason, /one core/);
  assert.match(unprobedChoice(2, 1).reason, /a batch of 1 cannot be split/);
  assert.equal(unprobedChoice(2, 1).probe, null);
});

const startLine = (stderr: string) => stderr.split('\n').find((line) => / INFO: training /.test(line)) ?? '';
const summaryOf = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));

test('`dptrain train` (defaults) probes and says which engine it chose and why, in the start-up line and summary.json', () => {
  const out = path.join(tempDir(), 'run');
  const result = runCli(['train', '--max-steps', '30', '--out', out]);
  assert.equal(result.status, 0, result.stderr);
  const summary = summaryOf(out);
  const choice = summary.workersChoice;
  assert.ok(choice, 'summary.json has workersChoice');
  assert.ok(choice.engine === 'inline' || choice.engine === 'threads', choice.engine);
  assert.equal(summary.engine, choice.engine);
  assert.equal(summary.workers, choice.workers);
  if (summary.cores >= 2) {
    assert.ok(choice.probe.inlineMs > 0 && choice.probe.threadsMs > 0, JSON.stringify(choice.probe));
    assert.equal(choice.probe.workers, Math.min(summary.cores, summary.batchSize));
  }
  assert.ok(startLine(result.stderr).endsWith(`; ${choice.reason}`), startLine(result.stderr));
  assert.match(choice.reason, /^--workers auto chose (the inline engine|\d+ worker threads): /);
});

test('`dptrain train --workers 2` keeps its meaning: two worker threads, no probe', () => {
  const out = path.join(tempDir(), 'run');
  const result = runCli(['train', '--max-steps', '10', '--workers', '2', '--out', out]);
  assert.equal(result.status, 0, result.stderr);
  const summary = summaryOf(out);
  assert.deepEqual([summary.engine, summary.workers, summary.workersChoice], ['threads', 2, null]);
  assert.match(startLine(result.stderr), /threads engine, 2 workers, /);
});

test('`--workers auto` resumed: the run keeps the engine of its checkpoint', () => {
  const dir = tempDir();
  const ckpt = path.join(dir, 'ckpt');
  const first = runCli(['train', '--max-steps', '20', '--checkpoint-dir', ckpt, '--checkpoint-every', '10', '--out', path.join(dir, 'a')]);
  assert.equal(first.status, 0, first.stderr);
  const chosen = summaryOf(path.join(dir, 'a'));
  const resumed = runCli(['train', '--resume', ckpt, '--max-steps', '30', '--out', path.join(dir, 'b')]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const summary = summaryOf(path.join(dir, 'b'));
  assert.deepEqual([summary.engine, summary.workers], [chosen.engine, chosen.workers]);
  assert.match(summary.workersChoice.reason, /kept the checkpoint's/);
  assert.equal(summary.workersChoice.probe, null);
});

test('`--workers 0` and `--workers many` are refused with one line and exit 2', () => {
  for (const bad of ['0', 'many']) {
    const result = runCli(['train', '--workers', bad]);
    assert.equal(result.status, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /--workers/);
  }
});
