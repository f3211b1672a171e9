/** docs/library.md's example runs verbatim, and the Python side reads the model file without dptrain. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parsePredictions, writeFlowersCsv } from './use.helpers.js';
import { repoRoot, runCli, tempDir } from './helpers.js';

test('docs/library.md: the example (train, save, load, predict, evaluate) runs verbatim and prints what it says', () => {
  const page = fs.readFileSync(path.join(repoRoot, 'docs', 'library.md'), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(page)?.[1];
  assert.ok(code, 'a js block');
  // In the package (so that `from 'dptrain'` resolves to it), run from an empty directory.
  const script = path.join(repoRoot, 'dist', `library-example-${process.pid}.mjs`);
  fs.writeFileSync(script, code);
  try {
    const cwd = tempDir('dptrain-library-');
    const result = spawnSync(process.execPath, [script], { cwd, encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.match(lines[0], /^validation accuracy (0\.9\d*|1)$/);
    assert.equal(lines[1], "[ 'sepal_length', 'sepal_width' ] [ 'setosa', 'virginica' ]");
    assert.equal(lines[2], "[ 'setosa', 'virginica' ]");
    assert.match(lines[3], /^Float32Array\(4\) \[/);
    assert.ok(lines.includes('true'), result.stdout);
    assert.match(result.stdout, /^true \[ \[ \d+, \d+ \], \[ \d+, \d+ \] \]$/m);
    assert.ok(fs.existsSync(path.join(cwd, 'runs', 'flowers', 'final.safetensors')));
  } finally {
    fs.rmSync(script, { force: true });
  }
});

const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const noNumpy = (() => {
  const probe = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8', timeout: 60_000 });
  return probe.status === 0 ? false : `numpy is not installed for ${PYTHON} (apt-get install python3-numpy)`;
})();

test('Python reads final.safetensors by its layout and metadata (numpy by the spec; torch where installed): the same predictions', { skip: noNumpy }, () => {
  const dir = tempDir('dptrain-python-');
  const csv = writeFlowersCsv(dir, 240, 5);
  const out = path.join(dir, 'run');
  const trained = runCli(['train', '--dataset', `csv:${csv}`, '--model', 'mlp:4-16-8-3', '--standardize', '--epochs', '6', '--out', out, '--engine', 'inline']);
  assert.equal(trained.status, 0, trained.stderr);
  const model = path.join(out, 'final.safetensors');
  const ours = parsePredictions(runCli(['predict', model, '--input', csv]).stdout).rows;
  const python = spawnSync(PYTHON, [path.join(repoRoot, 'test', 'fixtures', 'use_predict.py'), model, csv], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(python.status, 0, python.stderr);
  const theirs = JSON.parse(python.stdout) as { numpy: string[]; probabilities: number[][]; torch: string[] | null };
  assert.deepEqual(theirs.numpy, ours.map((r) => r.name));
  ours.forEach((r, i) => r.p.forEach((p, k) => assert.ok(Math.abs(p - theirs.probabilities[i][k]) < 1e-4, `row ${i} class ${k}: ${p} vs ${theirs.probabilities[i][k]}`)));
  // torch where installed (python3-torch); null means numpy only.
  if (theirs.torch !== null) assert.deepEqual(theirs.torch, ours.map((r) => r.name));
});
