// BatchNorm through the CLI, the way a user types it first, and its bad input (one line, exit 2).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { decodeSafetensors } from '../src/index.js';
import { spawn } from 'node:child_process';
import { binPath, expectUsageError, repoRoot, runCli, runCliAsync, tempDir } from './helpers.js';

const tiny = ['train', '--dataset', 'mnist', '--max-steps', '2', '--batch-size', '16', '--workers', '2'];

test("dptrain train --model 'cnn:1x28x28 conv8k3p1 bn relu maxpool2 flatten dense10' trains and saves PyTorch's BatchNorm names", { timeout: 300_000 }, () => {
  const out = path.join(tempDir(), 'run');
  // The user's first command, bounded to 40 steps so that the test stays short.
  const result = runCli(['train', '--model', 'cnn:1x28x28 conv8k3p1 bn relu maxpool2 flatten dense10', '--max-steps', '40', '--out', out]);
  assert.equal(result.status, 0, result.stderr);
  const { tensors } = decodeSafetensors(fs.readFileSync(path.join(out, 'final.safetensors')));
  assert.deepEqual(tensors.get('layers.1.weight')!.shape, [8]);
  assert.deepEqual(tensors.get('layers.1.running_mean')!.shape, [8]);
  assert.equal(tensors.get('layers.1.num_batches_tracked')!.dtype, 'I64');
  assert.equal((tensors.get('layers.1.num_batches_tracked')!.data as BigInt64Array)[0], 40n);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.ok(summary.final.valAccuracy > 0.5, `validation accuracy ${summary.final.valAccuracy} (evaluated with the running statistics)`);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(JSON.stringify(config).includes('"batchnorm":"sync"'), true, 'sync is the default');
});

test('a bad --batchnorm, ghost:0, a ghost batch that does not divide the batch, and a BatchNorm1d over one sample (the epoch\'s partial last batch too) are refused in one line', async () => {
  const model = ['--model', 'cnn:1x28x28 conv4k3s2 bn relu flatten dense10'];
  await Promise.all([
    expectUsageError([...tiny, ...model, '--batchnorm', 'global'], /--batchnorm must be local, sync or ghost:G .*got "global"/, 'dptrain.config.badOption'),
    expectUsageError([...tiny, ...model, '--batchnorm', 'ghost:0'], /--batchnorm must be local, sync or ghost:G/, 'dptrain.config.badOption'),
    expectUsageError([...tiny, ...model, '--batchnorm', 'ghost:5'], /ghost:5 needs ghost batches that divide the global batch of 16 samples .*ghost:4/, 'dptrain.config.badOption'),
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 flatten dense16 bn relu dense10', '--batch-size', '1'], /BatchNorm1d layer layers\.2 .* a batch of 1 sample.*at least 2 values per channel/, 'dptrain.config.badOption'),
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 flatten dense16 bn relu dense10', '--batchnorm', 'local', '--batch-size', '3', '--workers', '2', '--engine', 'threads'], /a shard of 1 sample/, 'dptrain.config.badOption'),
    // 8,961 training samples: the batch of 16 is fine, the epoch's last batch holds one sample.
    expectUsageError(
      [...tiny, '--model', 'cnn:1x28x28 flatten dense16 bn relu dense10', '--val-split', '0.1039'],
      /layers\.2 .* would normalize the last batch of each epoch, which is partial: 8961 training samples mod batch size 16 = 1 sample\(s\); .* — give --drop-last to leave that batch out, or another --batch-size \(e\.g\. 15\)/,
      'dptrain.config.badOption',
    ),
  ]);
});

test('kill -9 of `dptrain train` with BatchNorm mid-run, then --resume: final.safetensors byte-identical (running statistics included)', { timeout: 300_000 }, async () => {
  const root = tempDir();
  // --kernels given: auto could choose differently in the two processes under load.
  const run = ['train', '--dataset', 'mnist', '--model', 'cnn:1x28x28 conv2k5s3 bn relu flatten dense10', '--batch-size', '16', '--max-steps', '240', '--engine', 'threads', '--workers', '2', '--kernels', 'wasm', '--seed', '3'];
  const ckpt = path.join(root, 'ckpt');
  const killed = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...run, '--out', path.join(root, 'run'), '--checkpoint-dir', ckpt, '--checkpoint-every', '30steps', '--log-format', 'json'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      log += chunk;
      if (/checkpoint [^"]*ckpt-000000090/.test(log) && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve(signal));
  });
  assert.equal(killed, 'SIGKILL', 'the run must still be going when killed');
  // The resumed and the uninterrupted run at once: both have their engine and kernels fixed.
  const [resumed, full] = await Promise.all([runCliAsync(['train', '--resume', ckpt]), runCliAsync([...run, '--out', path.join(root, 'full')])]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(full.status, 0, full.stderr);
  assert.ok(fs.readFileSync(path.join(root, 'run', 'final.safetensors')).equals(fs.readFileSync(path.join(root, 'full', 'final.safetensors'))));
});
