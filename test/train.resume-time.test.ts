// The time and throughput of a resumed run (docs/formats.md, metrics.jsonl and summary.json): the
// epoch record of an epoch that spans a resume counts its time in both sessions, and summary.json's
// totals count every session (as PyTorch Lightning's Timer does), with `session` for this process.
// Each step is made to take at least STEP_MS by a callback, so the figures have lower bounds.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { train, type Callback } from '../src/train/index.js';
import { makeClassification, tempDir } from './helpers.js';

const STEP_MS = 2;
const data = makeClassification(600, 5, 3);
// 540 training samples in batches of 6: 90 steps per epoch.
const options = { model: 'mlp:5-8-3', batchSize: 6, epochs: 2, engine: 'inline', seed: 2 } as const;

/** Sleeps STEP_MS after each step: its time counts in the next step's `ms` (the steps' ms add up to the time spent training). */
const slow: Callback = { onStep: () => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, STEP_MS) };

test('after an interrupt mid-epoch and --resume, the epoch record, summary.json and `session` count the time each covers', async () => {
  const root = tempDir();
  const [out, ckpt] = ['run', 'ckpt'].map((name) => path.join(root, name));
  const controller = new AbortController();
  const stopAt: Callback = { onStep: (r) => void (r.step === 44 && controller.abort()) };
  const first = await train({ ...options, out, checkpointDir: ckpt }, { data, signal: controller.signal, callbacks: [slow, stopAt] });
  assert.deepEqual([first.summary.stopReason, first.summary.steps], ['interrupted', 45]);

  const resumed = await train({ resume: ckpt, out }, { data, callbacks: [slow] });
  const { summary, history } = resumed;
  // Epoch 1 ran 45 steps in each session; at least 88 of its 90 steps waited STEP_MS (the first of each session did not).
  const epochMs = 88 * STEP_MS;
  assert.ok(history[0].ms >= epochMs, `epoch 1 took ${history[0].ms} ms, less than its steps' ${epochMs} ms`);
  assert.ok(history[0].samplesPerSec <= 540 / (epochMs / 1000), `epoch 1: ${history[0].samplesPerSec} samples/s, more than 540 samples in ${epochMs} ms`);
  // The whole run: 180 steps, at least 178 of which waited; this session: 135 steps, 134 waited.
  const runMs = 178 * STEP_MS;
  assert.deepEqual([summary.steps, summary.samples], [180, 1080]);
  assert.ok(summary.seconds * 1000 >= runMs, `summary.seconds ${summary.seconds}`);
  assert.ok(summary.samplesPerSec <= 1080 / (runMs / 1000), `summary.samplesPerSec ${summary.samplesPerSec}`);
  assert.deepEqual([summary.session.fromStep, summary.session.steps, summary.session.samples], [45, 135, 810]);
  assert.ok(summary.session.seconds * 1000 >= 134 * STEP_MS && summary.session.seconds < summary.seconds, JSON.stringify(summary.session));
  assert.ok(summary.session.samplesPerSec <= 810 / ((134 * STEP_MS) / 1000), JSON.stringify(summary.session));
  // summary.json says the same.
  const written = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.deepEqual([written.seconds, written.samplesPerSec, written.session], [summary.seconds, summary.samplesPerSec, summary.session]);
});
