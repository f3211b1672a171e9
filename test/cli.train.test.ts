import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from './helpers.js';

test('the default `dptrain train` reaches at least 90% validation accuracy on the mnist digits', () => {
  const out = path.join(tempDir(), 'default');
  const result = runCli(['train', '--log-format', 'json', '--out', out], { timeoutMs: 300_000 });
  assert.equal(result.status, 0, result.stderr);
  const lines = result.stderr.trim().split('\n').map((line) => JSON.parse(line));
  assert.ok(lines.every((line) => typeof line.msg === 'string' && typeof line.level === 'number'), 'every log line is JSON');
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.dataset, 'mnist');
  assert.ok(summary.final.valAccuracy >= 0.9, `validation accuracy ${summary.final.valAccuracy}`);
  const done = lines.find((line) => line.msg.startsWith('done:'));
  assert.ok(done, 'a final summary line');
  assert.match(done.msg, /val accuracy \d+\.\d+%/);
});

test('pretty logs are readable lines without a progress bar when stderr is not a terminal', () => {
  const result = runCli(['train', '--dataset', 'synthetic:blobs?n=300&d=3&classes=3', '--model', 'mlp:3-8-3', '--epochs', '2']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /epoch 2\/2: train loss \d/);
  assert.doesNotMatch(result.stderr, /\r/);
  assert.doesNotMatch(result.stderr, /ETA/);
});
