// --batch-size auto in the training loop (issue 19): the sampler continues from the next unseen
// sample when B changes mid-epoch, metrics.jsonl records each step's batch size and each choice,
// the learning rate carries the AdaScale gain, and checkpoints hold the adaptive state so that a
// resumed run is byte-identical (with --step-time-model, whose choices depend on the seed only).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { train, type StepRecord } from '../src/index.js';
import { AdaptiveBatch, adaScaleGain, analyticOptimum, freshAdaptiveState, PROBE_STEPS, REFRESH_SHARE, type AdaptRecord, type AdaptiveSettings, type AdaptiveState } from '../src/train/adaptive/index.js';
import { makeClassification, tempDir } from './helpers.js';
import { buildReportPage } from '../src/study/index.js';
import { describeChoice } from '../src/train/adaptive-step.js';

const data = makeClassification(600, 8, 3);
// 540 training samples; B starts at B0 = 8 and the given model T(B) = 1 + 0.01·B ms puts the best
// B at 10·√φ, so it grows (2x per choice, every 5 steps) within the first epochs.
const options = {
  model: 'mlp:8-16-3',
  batchSize: 'auto',
  baseBatchSize: 8,
  adaptEvery: 5,
  stepTimeModel: '1,0.01',
  epochs: 4,
  lr: 0.05,
  seed: 2,
  engine: 'inline',
} as const;

type Line = StepRecord | AdaptRecord | { type: 'epoch'; epoch: number; samples: number; steps: number };
const records = (dir: string): Line[] => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('the sampler takes each epoch\'s rows in order across batch-size changes: every epoch is one pass over the 540 samples', () => {
  const settings: AdaptiveSettings = { baseBatchSize: 64, min: 16, max: 540, adaptEvery: 5, trainSamples: 540, dropLast: false, lrRule: 'adascale', fixedModel: null, choose: true };
  const batches = new AdaptiveBatch(settings);
  const state = freshAdaptiveState(settings, 2);
  const sizes = [64, 100, 17, 300, 64];
  const taken: number[] = [];
  for (let i = 0; !batches.epochDone(state); i++) {
    state.batchSize = sizes[i % sizes.length];
    const { start, end } = batches.take(state);
    assert.equal(start, taken.length ? taken.at(-1) : 0, 'each step starts at the next unseen row');
    taken.push(end);
  }
  assert.deepEqual(taken, [64, 164, 181, 481, 540]);
  batches.endEpoch(state);
  assert.deepEqual(batches.take(state), { start: 0, end: 64 });
  // --drop-last: an epoch ends when fewer rows than B are left.
  const dropping = new AdaptiveBatch({ ...settings, dropLast: true });
  const s = { ...freshAdaptiveState(settings, 2), epochOffset: 500, batchSize: 64 };
  assert.equal(dropping.epochDone(s), true);
});

test('an auto run changes B mid-epoch, passes over every sample once per epoch, and logs batchSize, lr and each choice', async () => {
  const out = path.join(tempDir(), 'run');
  const result = await train({ ...options, out }, { data });
  const lines = records(out);
  const steps = lines.filter((r): r is StepRecord => r.type === 'step');
  const choices = lines.filter((r): r is AdaptRecord => r.type === 'adapt');
  for (const epoch of result.history) {
    const inEpoch = steps.filter((s) => s.epoch === epoch.epoch);
    assert.equal(inEpoch.reduce((sum, s) => sum + s.batchSize, 0), 540, `epoch ${epoch.epoch}: one pass`);
    assert.equal(epoch.samples, 540);
    assert.equal(epoch.steps, inEpoch.length);
  }
  const sizes = [...new Set(steps.map((s) => s.batchSize))];
  assert.ok(sizes.length >= 3, `batch sizes ${sizes}`);
  assert.ok(steps.some((s, i) => i > 0 && s.epoch === steps[i - 1].epoch && s.batchSize !== steps[i - 1].batchSize && s.epoch === 0), 'B changed within the first epoch');
  assert.equal(steps[0].batchSize, 8, 'B starts at B0');
  // Choices every 5 steps, 2x at most, with the noise scale, the given model and the gain that the next step's lr carries.
  assert.ok(choices.length >= 5);
  for (const c of choices) {
    assert.ok(c.batchSize <= 2 * c.previous && 2 * c.batchSize >= c.previous, `${c.previous} -> ${c.batchSize}`);
    assert.ok(['goodput', 'limited', 'keep', 'noNoiseScale'].includes(c.reason), c.reason);
    assert.deepEqual(c.fit && [c.fit.fixedMs, c.fit.perSampleMs, c.fit.given], [1, 0.01, true]);
    const next = steps.find((s) => s.step === c.step)!;
    assert.equal(next.batchSize, Math.min(c.batchSize, next.batchSize), 'the step after a choice uses its B (or the rows left)');
    if (c.phi !== null) {
      assert.ok(Math.abs(c.gain - adaScaleGain(c.batchSize, c.phi, 8)) < 1e-12);
      assert.ok(Math.abs(next.lr - 0.05 * c.gain) < 1e-12, `lr ${next.lr} = 0.05 × gain ${c.gain}`);
      // The model's speed-up over B0: goodput of the new B over B0's under T(B) = 1 + 0.01·B ms.
      const goodputAt = (b: number) => (b / (1 + 0.01 * b)) * ((c.phi! + 8) / (c.phi! + b));
      assert.ok(Math.abs(c.overBase! / (goodputAt(c.batchSize) / goodputAt(8)) - 1) < 1e-9, `overBase ${c.overBase}`);
    } else {
      assert.equal(c.overBase, null);
    }
  }
  assert.ok(choices.some((c) => c.reason === 'goodput' || c.reason === 'limited'));
  assert.equal(result.summary.batchSize, choices.at(-1)!.batchSize, 'summary.json: the batch size the run ended with');
});

const bytes = (file: string) => fs.readFileSync(file);
const checkpoints = (dir: string) => fs.readdirSync(dir).filter((f) => /^ckpt-\d+\.safetensors$/.test(f)).sort();

test('resuming an auto run from any of its checkpoints ends byte-identical, with the same batch sizes and choices', async () => {
  const root = tempDir();
  const full = path.join(root, 'full');
  await train({ ...options, out: full, checkpointDir: path.join(full, 'ckpt'), checkpointEvery: '7steps', keep: 100 }, { data });
  // The last is the run's end, which a resume finds finished (cli.resume-continue).
  const saved = checkpoints(path.join(full, 'ckpt')).slice(0, -1);
  assert.ok(saved.length >= 4, saved.join(', '));
  const pick = (rs: Line[]) => rs.map((r) => (r.type === 'step' ? ['step', r.step, r.batchSize, r.lr, r.loss] : r.type === 'adapt' ? ['adapt', r.step, r.batchSize, r.reason, r.phi] : [r.type]));
  for (const file of [saved[0], saved[Math.floor(saved.length / 2)], saved.at(-1)!]) {
    const dir = path.join(root, `resume-${file}`);
    fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
    for (const earlier of saved.slice(0, saved.indexOf(file) + 1)) fs.copyFileSync(path.join(full, 'ckpt', earlier), path.join(dir, 'ckpt', earlier));
    fs.copyFileSync(path.join(full, 'metrics.jsonl'), path.join(dir, 'metrics.jsonl'));
    await train({ resume: path.join(dir, 'ckpt'), out: dir }, { data });
    assert.ok(bytes(path.join(dir, 'final.safetensors')).equals(bytes(path.join(full, 'final.safetensors'))), `resumed from ${file}: final.safetensors differs`);
    assert.deepEqual(pick(records(dir)), pick(records(full)), `resumed from ${file}: metrics.jsonl differs`);
  }
});

test('with measured step times the run probes B0, 2·B0 and 4·B0 and then chooses from the fitted T(B) (threads engine, 2 workers)', async () => {
  const out = path.join(tempDir(), 'run');
  const { stepTimeModel: _, ...measured } = options;
  await train({ ...measured, engine: 'threads', workers: 2, epochs: 3, out }, { data });
  const choices = records(out).filter((r): r is AdaptRecord => r.type === 'adapt');
  assert.deepEqual(choices.filter((c) => c.reason === 'probe').map((c) => c.batchSize), [16, 32]);
  const first = choices.find((c) => c.reason !== 'probe')!;
  assert.ok(first.fit && !first.fit.given && first.fit.batchSizes === 3 && first.fit.workers === 2, JSON.stringify(first));
  assert.ok(first.fit.fixedMs >= 0 && first.fit.perSampleMs >= 0);
});

test('--lr-rule adascale at a fixed batch size: ceil(N/B) steps per epoch, each at --lr times a gain between B/B0 and 1', async () => {
  const lrs: number[] = [];
  const sizes: number[] = [];
  const result = await train({ model: 'mlp:8-16-3', batchSize: 128, lrRule: 'adascale', baseBatchSize: 256, epochs: 2, lr: 0.05, seed: 2, engine: 'threads', workers: 2 }, { data, callbacks: [{ onStep: (r) => void (lrs.push(r.lr), sizes.push(r.batchSize)) }] });
  assert.deepEqual(sizes, [128, 128, 128, 128, 28, 128, 128, 128, 128, 28]);
  assert.equal(result.history.length, 2);
  assert.equal(lrs[0], 0.05, 'gain 1 before the noise scale is measured');
  for (const lr of lrs.slice(1)) assert.ok(lr >= 0.05 * (128 / 256) - 1e-12 && lr <= 0.05 + 1e-12, `lr ${lr}`);
  assert.ok(lrs.some((lr) => lr < 0.05), 'the gain below 1 at B < B0 shows');
});

test('the run report of an auto run draws B(t) with φ(t), the predicted goodput and the learning-rate gain', async () => {
  const out = path.join(tempDir(), 'run');
  await train({ ...options, epochs: 2, out }, { data });
  const page = await buildReportPage(out);
  const charts = new Map(page.charts.map((c) => [c.id, c]));
  for (const id of ['adaptive-batch', 'adaptive-goodput', 'adaptive-gain']) assert.ok(charts.has(id), `chart ${id}`);
  const batch = charts.get('adaptive-batch')!;
  assert.deepEqual(batch.series.map((s) => s.label), ['batch size B', 'φ (B_simple)', 'best B of the model']);
  const choices = records(out).filter((r): r is AdaptRecord => r.type === 'adapt');
  assert.deepEqual(batch.series[0].values.filter((v) => v !== null), choices.map((c) => c.batchSize));
  // Beside the predicted goodput, B0's under the same φ and fit: their ratio is `overBase`.
  const goodput = charts.get('adaptive-goodput')!;
  assert.deepEqual(goodput.series.map((s) => s.label), ['predicted goodput', 'at B0']);
  const [atB, atB0] = goodput.series.map((s) => s.values);
  const predicted = choices.filter((c) => c.goodput !== null);
  assert.ok(predicted.length > 0);
  const ratios = atB0.flatMap((v, i) => (v !== null && atB[i] !== null ? [atB[i]! / v] : []));
  assert.equal(ratios.length, predicted.length);
  ratios.forEach((r, i) => assert.ok(Math.abs(r - predicted[i].overBase!) < 1e-9, `${r} vs ${predicted[i].overBase}`));
});

test('without a measured noise scale a choice moves B back toward B0, at most 2x at a time', () => {
  const settings: AdaptiveSettings = { baseBatchSize: 64, min: 16, max: 540, adaptEvery: 1, trainSamples: 540, dropLast: false, lrRule: 'adascale', fixedModel: { fixedMs: 1, perSampleMs: 0.01 }, choose: true };
  const batches = new AdaptiveBatch(settings);
  const noGns = { gradSq: 0, trSigma: 0, steps: 0 };
  const path = [256];
  const state = { ...freshAdaptiveState(settings, 1), batchSize: 256, sinceChoice: 1 };
  for (let i = 0; i < 3; i++) {
    const record = batches.beforeStep(state, noGns, { step: i, epoch: 0, samples: 0, workers: 1 })!;
    assert.equal(record.reason, 'noNoiseScale');
    path.push(state.batchSize);
    state.sinceChoice = 1;
  }
  assert.deepEqual(path, [256, 128, 64, 64]);
});

/**
 * Drives the controller for `steps` steps from `state` with step times from `stepMs(B)` and a
 * constant φ; returns the batch size of every step and the choices.
 */
function driveController(settings: AdaptiveSettings, state: AdaptiveState, phi: number, steps: number, stepMs: (batchSize: number) => number): { sizes: number[]; records: AdaptRecord[] } {
  const batches = new AdaptiveBatch(settings);
  // Uncorrected EMAs whose ratio is φ (the bias correction cancels in it).
  const gns = { gradSq: 1, trSigma: phi, steps: 1000 };
  const sizes: number[] = [];
  const records: AdaptRecord[] = [];
  for (let step = 0; step < steps; step++) {
    const record = batches.beforeStep(state, gns, { step, epoch: 0, samples: 0, workers: 2 });
    if (record) records.push(record);
    if (batches.epochDone(state)) batches.endEpoch(state);
    const { start, end } = batches.take(state);
    sizes.push(end - start);
    batches.afterStep(state, { count: end - start, ms: stepMs(end - start), gain: 1, workers: 2 });
  }
  return { sizes, records };
}

test('a batch size kept by a fit with stale times measures its neighbour again, and the choice leaves the lock', () => {
  // True T(B) = 0.25 + 0.0007·B ms, so with φ = 100 the best B is √(a·φ/b) ≈ 189. The probe
  // measured 128 and 256 while another process held the core (3x their time, as a fresh run's
  // warm-up also does); 64, the lower bound, has its settled times. The line through them has a
  // negative intercept, is refitted through the origin, and makes 64 look best; kept, 64 is the
  // only size measured again, so without a refresh the fit never changes.
  const settings: AdaptiveSettings = { baseBatchSize: 64, min: 64, max: 4096, adaptEvery: 50, trainSamples: 1_000_000, dropLast: false, lrRule: 'adascale', fixedModel: null, choose: true };
  const truth = { fixedMs: 0.25, perSampleMs: 0.0007 };
  const T = (b: number) => truth.fixedMs + truth.perSampleMs * b;
  const state: AdaptiveState = { ...freshAdaptiveState(settings, 2), probe: [], stepsAtSize: 40 };
  for (let i = 0; i < PROBE_STEPS; i++) for (const b of [128, 256]) state.times.add(2, b, 3 * T(b));
  for (let i = 0; i < 40; i++) state.times.add(2, 64, T(64));
  assert.equal(state.times.fit(2)!.fixedMs, 0, 'the stale fit goes through the origin');
  const { sizes, records } = driveController(settings, state, 100, 1500, T);
  const choices = records.filter((r) => r.reason !== 'probe');
  assert.equal(choices[0].batchSize, 64, 'the stale fit keeps B at 64');
  const refresh = records.find((r) => r.reason === 'probe')!;
  assert.equal(refresh.previous, 64);
  assert.equal(refresh.batchSize, 128, 'the neighbour 2B is measured again');
  assert.ok(40 + refresh.step >= (PROBE_STEPS + 1) / REFRESH_SHARE, `only after B stayed put for ${(PROBE_STEPS + 1) / REFRESH_SHARE} steps (at step ${40 + refresh.step})`);
  const optimum = analyticOptimum(100, truth);
  const last = sizes.at(-1)!;
  assert.ok(Math.abs(last / optimum - 1) < 0.1, `B ends at ${last}, near the optimum ${optimum.toFixed(0)}`);
  // Once the choice has settled, the refreshes take at most REFRESH_SHARE of the steps.
  const settled = sizes.slice(1000);
  const away = settled.filter((b) => b !== last).length;
  assert.ok(away <= REFRESH_SHARE * settled.length, `${away} of ${settled.length} steps away from ${last}`);
});

test('a given step-time model (--step-time-model) is never refreshed', () => {
  const settings: AdaptiveSettings = { baseBatchSize: 64, min: 64, max: 4096, adaptEvery: 50, trainSamples: 1_000_000, dropLast: false, lrRule: 'adascale', fixedModel: { fixedMs: 0.25, perSampleMs: 0.0007 }, choose: true };
  const { sizes, records } = driveController(settings, freshAdaptiveState(settings, 2), 100, 1500, () => 1);
  assert.equal(records.filter((r) => r.reason === 'probe').length, 0);
  assert.ok(sizes.slice(500).every((b) => b === sizes.at(-1)), 'B settles and stays');
});

test('a probe measures and does not move B: on a flat goodput curve the choice returns to the size before the probe', () => {
  // No fixed cost and φ ≫ B: goodput(B) = B/T(B)·E(B) is flat within 2% up to thousands of
  // samples and highest at B0, so the dead band keeps whatever B it starts from. Compared with
  // the probed 2B, each refresh kept 2B and B ratcheted up (64 → 256 → 512 → …) against the model.
  const settings: AdaptiveSettings = { baseBatchSize: 64, min: 64, max: 100_000, adaptEvery: 50, trainSamples: 1_000_000, dropLast: false, lrRule: 'adascale', fixedModel: null, choose: true };
  const { sizes, records } = driveController(settings, freshAdaptiveState(settings, 2), 1e6, 1500, (b) => 0.0072 * b);
  const probes = records.filter((r) => r.reason === 'probe');
  assert.deepEqual(probes.slice(0, 3).map((r) => r.batchSize), [128, 256, 128], 'the first probe, then a refresh of the neighbour');
  const choices = records.filter((r) => r.reason !== 'probe');
  assert.ok(choices.length >= 10);
  for (const c of choices) assert.deepEqual([c.batchSize, c.from], [64, 64], `step ${c.step}: ${c.previous} → ${c.batchSize} from ${c.from}`);
  const afterProbe = choices.find((c) => c.previous !== c.batchSize)!;
  assert.deepEqual([afterProbe.previous, afterProbe.batchSize, afterProbe.reason], [256, 64, 'keep'], 'back from 4·B0 to B0');
  // Only the probe's steps ran away from B0: at most REFRESH_SHARE of the steps after the first probe.
  const away = sizes.slice(18).filter((b) => b !== 64).length;
  assert.ok(away <= REFRESH_SHARE * (sizes.length - 18), `${away} steps away from 64`);
});

test('--max-steps without --epochs runs its steps with auto, whatever B does; resumed with more steps, byte-identical', async () => {
  // The epochs --max-steps implied at B0 = 8 (120 steps: 2 epochs) ended the run at 2 epochs,
  // in fewer steps than asked, once B had grown.
  const { epochs: _, ...steps } = options;
  const root = tempDir();
  const straight = await train({ ...steps, maxSteps: 120, out: path.join(root, 'straight') }, { data });
  assert.deepEqual([straight.summary.steps, straight.summary.stopReason], [120, 'maxSteps']);
  assert.ok(straight.summary.epochs > 2, `${straight.summary.epochs} epochs: more than B0's 2`);
  const ckpt = path.join(root, 'ckpt');
  await train({ ...steps, maxSteps: 40, checkpointDir: ckpt, out: path.join(root, 'part') }, { data });
  const resumed = await train({ resume: ckpt, maxSteps: 120, out: path.join(root, 'part') }, { data });
  assert.deepEqual([resumed.summary.steps, resumed.summary.stopReason], [120, 'maxSteps']);
  assert.ok(bytes(path.join(root, 'part', 'final.safetensors')).equals(bytes(path.join(root, 'straight', 'final.safetensors'))), 'final.safetensors differs after --resume');
});

test('the log line of a choice says what each goodput figure compares with, and why φ is missing in words', () => {
  const base: AdaptRecord = { type: 'adapt', epoch: 0, step: 18, samples: 2000, workers: 1, batchSize: 128, previous: 256, from: 256, reason: 'limited', phi: 64, efficiency: 0.67, gain: 1.33, goodput: 1000, predictedGain: 0.57, overBase: 0.75, optimum: 50, fit: null };
  const context = { baseBatchSize: 64, reduceChunks: 2, engine: 'inline' };
  assert.equal(describeChoice(base, context), 'step 18: batch size 256 → 128 (toward the best B of the model (50), at most 2x per choice: φ 64.0, E 0.67, predicted goodput +57% over B = 256, 0.75x that of B0 = 64, lr gain 1.33)');
  const back = describeChoice({ ...base, reason: 'keep', previous: 732, batchSize: 366, from: 366, predictedGain: 0 }, context);
  assert.match(back, /\(probe of 732 done: back to 366, as no B predicts 2% more goodput: /);
  const none = { ...base, reason: 'noNoiseScale', batchSize: 64, previous: 128, from: 128, phi: null, efficiency: null, predictedGain: null, overBase: null } as const;
  const young = describeChoice(none, context);
  assert.match(young, /\(noise scale φ not measured yet: back toward B0 = 64, where --lr holds: lr gain/);
  const never = describeChoice(none, { ...context, reduceChunks: 0 });
  assert.match(never, /there will be none: one worker with --reduce-chunks 0 gives one gradient slot per step, and φ needs two \(give --reduce-chunks 2 or more, or 2\+ workers\)/);
  assert.match(describeChoice({ ...none, workers: 1 }, { ...context, reduceChunks: 0, engine: 'ws' }), /until a second worker joins/);
  for (const line of [young, never]) assert.doesNotMatch(line, /noNoiseScale|B0's/);
});
