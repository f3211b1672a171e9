// The README's first command: `npm ci && npm start` trains through the local bin (no npx lookup
// in the registry), and says so at once (issue 12, item 9).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers.js';

test('the README starts with `npm ci && npm start`, and never sends a user to npx', () => {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const firstCommand = /```sh\n([^\n]*)/.exec(readme)?.[1] ?? '';
  assert.match(firstCommand, /^npm ci && npm start\b/);
  assert.doesNotMatch(readme, /^\s*npx dptrain/m);
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, 'node bin/dptrain.js train');
  assert.equal(pkg.scripts.dptrain, 'node bin/dptrain.js');
});

test('`npm start -- FLAGS` trains with those flags and its first dptrain line comes within seconds', () => {
  const start = performance.now();
  const result = spawnSync('npm', ['start', '--silent', '--', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'logreg:4-3', '--epochs', '1', '--log-format', 'json'], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const seconds = (performance.now() - start) / 1000;
  assert.equal(result.status, 0, result.stderr);
  const lines = result.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg: string });
  assert.match(lines[0].msg, /^training logreg:4-3 .* on 180 samples of synthetic:blobs/);
  assert.match(lines.at(-1)!.msg, /^done: 1 epoch, /);
  console.log(`# npm start -- (1 epoch of 180 samples) took ${seconds.toFixed(1)} s`);
  assert.ok(seconds < 30, `npm start took ${seconds.toFixed(1)} s`);
});

test('the bin in a clone that was never built says to run npm ci, in one line', () => {
  const clone = fs.mkdtempSync(path.join(os.tmpdir(), 'dptrain-unbuilt-'));
  fs.cpSync(path.join(repoRoot, 'bin'), path.join(clone, 'bin'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(clone, 'package.json'));
  const result = spawnSync(process.execPath, [path.join(clone, 'bin', 'dptrain.js'), 'train'], { encoding: 'utf8' });
  fs.rmSync(clone, { recursive: true, force: true });
  assert.equal(result.status, 2, result.stderr);
  assert.equal(result.stderr, 'dptrain: error: dptrain is not built yet (dist/ is missing) — run npm ci, or npm run build [dptrain.cli.notBuilt]\n');
});
