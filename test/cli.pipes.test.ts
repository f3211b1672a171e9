// `dptrain … | head` ends quietly: no EPIPE stack trace when the reader of stdout or stderr goes
// away, exit 141 at once as a tool killed by SIGPIPE (issue 12, item 7).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { binPath, repoRoot } from './helpers.js';

const EXIT_BROKEN_PIPE = 141;

/** Runs a bash pipeline with pipefail; dptrain's stderr (when not piped) goes to a file we read. */
function pipeline(command: string): { status: number | null; stdout: string; stderr: string; ms: number } {
  const start = performance.now();
  const result = spawnSync('bash', ['-c', `set -o pipefail; ${command}`], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000, env: { ...process.env, DPTRAIN: `${process.execPath} ${binPath}` } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, ms: performance.now() - start };
}

test('`dptrain train --help | head -n 0` ends quietly with exit 141', () => {
  // head -n 0 exits before dptrain has started, so every write of the help finds the pipe closed.
  const result = pipeline('$DPTRAIN train --help | head -n 0');
  assert.equal(result.stderr, '', 'no stack trace, no error line');
  assert.equal(result.status, EXIT_BROKEN_PIPE);
});

test('`dptrain train --help | head -1` prints the first line and nothing else', () => {
  const result = pipeline('$DPTRAIN train --help | head -1');
  assert.equal(result.stdout, 'Usage: dptrain train [options]\n');
  assert.equal(result.stderr, '');
  assert.ok(result.status === 0 || result.status === EXIT_BROKEN_PIPE, `status ${result.status}`);
});

// A run of about 1,000 epochs of one step: far longer than the test if it did not stop at the pipe.
const longRun = '--dataset "synthetic:blobs?n=100&d=2&classes=2" --model logreg:2-2 --batch-size full --epochs 100000 --engine inline --workers 1';

for (const format of ['pretty', 'json']) {
  test(`\`dptrain train 2>&1 | head -n 2\` (--log-format ${format}) stops training at the next log line, quietly, with exit 141`, () => {
    const result = pipeline(`$DPTRAIN train ${longRun} --log-format ${format} 2>&1 | head -n 2`);
    assert.equal(result.status, EXIT_BROKEN_PIPE, result.stdout + result.stderr);
    assert.equal(result.stdout.split('\n').filter(Boolean).length, 2, result.stdout);
    assert.doesNotMatch(result.stdout + result.stderr, /EPIPE|\n\s+at /);
    assert.ok(result.ms < 60_000, `ended after ${result.ms} ms`);
  });
}

test('`dptrain --version | head -n 0` ends quietly when stdout closes', () => {
  const result = pipeline('$DPTRAIN --version | head -n 0');
  assert.equal(result.stderr, '');
  assert.equal(result.status, EXIT_BROKEN_PIPE);
});
