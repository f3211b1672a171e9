// A gradient explosion capped by --clip-norm (docs/reliability.md): one sample's
// feature is 1e15, finite but enough to make its batch's gradient norm ~1e13. With --clip-norm the
// update of that step is scaled to at most lr × clipNorm, the step record carries the factor
// applied, and no parameter becomes infinite; without it the same step throws the parameters far.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { train, type StepRecord } from '../src/index.js';
import type { Dataset } from '../src/data/index.js';
import { makeClassification } from './helpers.js';

const HUGE = 1e15;
const CLIP_NORM = 5;
// Plain SGD (no momentum, no weight decay): an update is exactly -lr × clip × mean gradient.
const options = { model: 'mlp:7-9-4', batchSize: 32, epochs: 2, lr: 0.1, momentum: 0, valSplit: 0, seed: 3 } as const;

function exploding(): Dataset {
  const data = makeClassification(300, 7, 4);
  const x = Float32Array.from(data.x);
  x[17 * data.inputDim] = HUGE;
  return { ...data, x };
}

async function run(opts: object, data: Dataset): Promise<{ params: Float32Array; records: StepRecord[] }> {
  const records: StepRecord[] = [];
  const result = await train({ ...options, ...opts }, { data, callbacks: [{ onStep: (r: StepRecord) => void records.push(r) }] });
  return { params: result.params, records };
}

function distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return Math.sqrt(sum);
}

for (const engine of [
  { engine: 'inline', workers: 1 },
  { engine: 'threads', workers: 2 },
] as const) {
  test(`${engine.engine}: --clip-norm caps the update of a step whose gradient explodes (a feature of 1e15), the step record shows the clip factor, and no parameter becomes infinite`, async () => {
    const data = exploding();
    const clipped = await run({ ...engine, clipNorm: CLIP_NORM }, data);
    assert.ok(clipped.params.every(Number.isFinite), 'every parameter finite');

    // The step whose batch holds the sample (the first epoch's, at least) is clipped hard, and says so.
    const exploded = clipped.records.filter((r) => r.gradNorm > 1e9);
    assert.ok(exploded.length >= 1 && exploded[0].epoch === 0, clipped.records.map((r) => r.gradNorm).join(', '));
    for (const r of exploded) {
      assert.ok(Number.isFinite(r.gradNorm) && Number.isFinite(r.loss), `step ${r.step}: finite norm and loss`);
      assert.ok(Math.abs(r.clip - CLIP_NORM / (r.gradNorm + 1e-6)) <= 1e-12 * r.clip + 1e-300, `step ${r.step}: clip ${r.clip} for norm ${r.gradNorm}`);
      assert.ok(r.clip < 1e-8);
    }
    for (const r of clipped.records) {
      assert.ok(r.clip > 0 && r.clip <= 1, `step ${r.step}: clip ${r.clip}`);
      if (r.gradNorm <= CLIP_NORM) assert.equal(r.clip, 1, `step ${r.step}: not clipped below the norm`);
    }

    // The clipped step moves the parameters by at most lr × clipNorm (float32 rounding aside).
    const bad = exploded[0].step;
    const before = await run({ ...engine, clipNorm: CLIP_NORM, maxSteps: bad }, data);
    const after = await run({ ...engine, clipNorm: CLIP_NORM, maxSteps: bad + 1 }, data);
    const moved = distance(before.params, after.params);
    assert.ok(moved > 0 && moved <= options.lr * CLIP_NORM * (1 + 1e-4), `moved ${moved}`);

    // Without --clip-norm the same step throws the parameters ~1e12 away: the fault is real.
    const unclipped = await run({ ...engine, maxSteps: bad + 1 }, data);
    assert.equal(unclipped.records[bad].clip, 1);
    assert.ok(distance(before.params, unclipped.params) > 1e6 * options.lr * CLIP_NORM, 'unclipped, the step explodes');
  });
}

test('the step record\'s clip is 1 without --clip-norm', async () => {
  const { records } = await run({ engine: 'inline', workers: 1, epochs: 1 }, makeClassification(300, 7, 4));
  assert.ok(records.length > 0 && records.every((r) => r.clip === 1));
});
