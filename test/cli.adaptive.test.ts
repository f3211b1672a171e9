// `dptrain train --batch-size auto` as a person types it (issue 19): it trains, chooses batch sizes
// and logs why; bad bounds are one line and exit 2; kill -9 and --resume are byte-identical.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { binPath, repoRoot, runCli, tempDir } from './helpers.js';

const lines = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; batchSize?: number; reason?: string; predictedGain?: number | null });

test('`dptrain train --batch-size auto` trains the default mnist model, starting at 64, probing 128 and 256 and choosing by goodput', { timeout: 120_000 }, () => {
  const out = path.join(tempDir(), 'run');
  const result = runCli(['train', '--batch-size', 'auto', '--epochs', '2', '--out', out]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /batch 64, .*lr 0\.05 at batch 64 \(default 0\.05\), times the AdaScale gain/);
  assert.match(result.stderr, /--batch-size auto: starts at 64, chooses in \[64, 9000\]/);
  const records = lines(out);
  const adapts = records.filter((r) => r.type === 'adapt');
  // The start-up probe; a refresh probe may follow once B has stayed 120 steps at one size.
  assert.deepEqual(adapts.filter((r) => r.reason === 'probe').map((r) => r.batchSize).slice(0, 2), [128, 256]);
  // After the probe the choice is the model's: a move predicts at least 2% more goodput than staying.
  for (const r of adapts.filter((a) => a.reason === 'goodput')) assert.ok(r.predictedGain! >= 0.02, JSON.stringify(r));
  const steps = records.filter((r) => r.type === 'step');
  assert.equal(steps[0].batchSize, 64);
  assert.ok(steps.some((s) => s.batchSize! > 64), 'the probe trained at larger batches');
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { samples: number; epochs: number };
  assert.deepEqual([summary.epochs, summary.samples], [2, 18_000]);
});

for (const [name, args, message] of [
  ['min above max', ['--batch-size', 'auto', '--min-batch-size', '512', '--max-batch-size', '128'], /^dptrain: error: --min-batch-size 512 is above --max-batch-size 128 — give a range with min ≤ max \[dptrain\.config\.badBatchRange\]\n$/],
  ['--adapt-every 0', ['--batch-size', 'auto', '--adapt-every', '0'], /^dptrain: error: --adapt-every must be a positive number of steps \(got 0\); leave it out to choose each epoch, at most every 50 steps \[dptrain\.config\.badOption\]\n$/],
  ['an auto bound with --batch-size full', ['--batch-size', 'full', '--max-batch-size', '512'], /^dptrain: error: --max-batch-size applies to --batch-size auto, but this run has the fixed --batch-size full — give --batch-size auto, or leave it out \[dptrain\.config\.badBatchRange\]\n$/],
  ['--max-batch-size above the training samples', ['--batch-size', 'auto', '--max-batch-size', '20000'], /^dptrain: error: --max-batch-size 20000 is larger than the 9000 training samples — use at most 9000, or "full" \[dptrain\.config\.badBatchRange\]\n$/],
  ['a malformed --step-time-model', ['--batch-size', 'auto', '--step-time-model', '2ms'], /^dptrain: error: --step-time-model must be FIXED_MS,PER_SAMPLE_MS .*\(got "2ms"\) \[dptrain\.config\.badOption\]\n$/],
] as const) {
  test(`--batch-size auto, bad input (${name}): one line, exit 2`, () => {
    const result = runCli(['train', ...args, '--epochs', '1']);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, message);
  });
}

/** Spawns `dptrain train ...args` and kills it with SIGKILL once a log line matches `when`. */
function killWhen(args: string[], when: RegExp): Promise<{ signal: NodeJS.Signals | null; log: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args, '--log-format', 'json'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      log += chunk;
      if (when.test(log) && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve({ signal, log }));
  });
}

// The given step-time model makes the choices a function of the seed: the run is reproducible.
// The kernel set is given too: --kernels auto could choose differently in two processes under load.
const cliRun = ['train', '--dataset', 'synthetic:blobs?n=3000&d=20&classes=4&seed=1', '--model', 'mlp:20-64-4', '--batch-size', 'auto', '--base-batch-size', '16', '--adapt-every', '10', '--step-time-model', '1,0.004', '--epochs', '8', '--engine', 'threads', '--workers', '2', '--kernels', 'wasm', '--seed', '7'];

test('kill -9 of an auto run, then --resume: final.safetensors and the batch sizes byte-identical to the uninterrupted run', { timeout: 120_000 }, async () => {
  const root = tempDir();
  const full = runCli([...cliRun, '--out', path.join(root, 'full')]);
  assert.equal(full.status, 0, full.stderr);
  const ckpt = path.join(root, 'ckpt');
  const killed = await killWhen([...cliRun, '--out', path.join(root, 'run'), '--checkpoint-dir', ckpt, '--checkpoint-every', '20steps'], /"step":60\b/);
  assert.equal(killed.signal, 'SIGKILL', 'the run must still be going when killed');
  const resumed = runCli(['train', '--resume', ckpt, '--log-format', 'json']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from .*ckpt-0000000[6-9]0\.safetensors/);
  assert.ok(fs.readFileSync(path.join(root, 'run', 'final.safetensors')).equals(fs.readFileSync(path.join(root, 'full', 'final.safetensors'))));
  const sizes = (dir: string) => lines(dir).filter((r) => r.type === 'step').map((r) => r.batchSize);
  assert.deepEqual(sizes(path.join(root, 'run')), sizes(path.join(root, 'full')));
  assert.ok(new Set(sizes(path.join(root, 'full'))).size >= 3, 'B changed during the run');
});

test('--batch-size auto --max-steps 60: 60 steps; summary.json, config.json and the done line say which batch sizes were used', () => {
  const out = path.join(tempDir(), 'run');
  const args = cliRun.filter((a, i) => a !== '--epochs' && cliRun[i - 1] !== '--epochs');
  const result = runCli([...args, '--max-steps', '60', '--out', out]);
  assert.equal(result.status, 0, result.stderr);
  const read = (file: string) => JSON.parse(fs.readFileSync(path.join(out, file), 'utf8'));
  const summary = read('summary.json') as { steps: number; samples: number; trainSamples: number; stopReason: string; batchSize: number; stepsPerEpoch: number; batchSizes: { min: number; max: number; last: number; mean: number } };
  assert.deepEqual([summary.steps, summary.stopReason], [60, 'maxSteps']);
  const sizes = lines(out).filter((r) => r.type === 'step').map((r) => r.batchSize!);
  const { min, max, last, mean } = summary.batchSizes;
  assert.deepEqual([min, max, last, mean], [Math.min(...sizes), Math.max(...sizes), summary.batchSize, summary.samples / 60]);
  assert.ok(min < max, `${min}–${max}`);
  assert.equal(summary.stepsPerEpoch, Math.ceil(summary.trainSamples / mean), 'the run\'s average steps per epoch');
  const resolved = read('config.json').resolved as { stepsPerEpoch: number | null; totalSteps: number | null };
  assert.deepEqual([resolved.stepsPerEpoch, resolved.totalSteps], [null, 60]);
  assert.match(result.stderr, new RegExp(`done: \\d+ epochs?, 60 steps in [^,]+, batch size ${min}–${max} \\(${Math.round(mean)} per step on average, ${last} at the end\\)`));
});
