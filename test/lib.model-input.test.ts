// The library's TrainedModel given what a user may pass by mistake (docs/library.md, "TrainedModel";
// docs/errors.md): predict refuses values that are not finite numbers and inputs of another form,
// evaluate a part it does not know and in-memory data it cannot score, save a missing folder —
// each one coded error saying what was given, never a class or a raw TypeError.
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import { createDataset, train, type ClassificationMetrics, type Evaluation, type TrainedModel } from '../src/index.js';
import { makeClassification, tempDir } from './helpers.js';

let model: TrainedModel;
const data = makeClassification(64, 2, 2);

before(async () => {
  ({ model } = await train({ epochs: 1, engine: 'inline', valSplit: 0.25 }, { data }));
});

/** Rejects with `code`, its message matching `message`. */
async function refused(call: () => Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(call(), (error: Error & { code?: string }) => {
    assert.equal(error.code, code, String(error));
    assert.match(error.message, message);
    return true;
  });
}

test('predict refuses NaN, ±Infinity and strings, naming the row and column and what it got', async () => {
  await refused(() => model.predict([[NaN, 0]]), 'dptrain.data.badPredictRow', /^predict row 0 column 0 is NaN, not a finite number/);
  await refused(() => model.predict([[1, 2], [3, Infinity]]), 'dptrain.data.badPredictRow', /^predict row 1 column 1 is Infinity/);
  await refused(() => model.predict([['60', '0'], ['abc', '0']] as never), 'dptrain.data.badPredictRow', /^predict row 0 column 0 is a string "60", not a finite number/);
  await refused(() => model.predict(Float32Array.of(1, 2, 3, NaN)), 'dptrain.data.badPredictRow', /^predict row 1 column 1 is NaN/);
});

test('predict of a flat number[], rows as objects, null or nothing says what it got and what it takes; a Float64Array is taken as a Float32Array', async () => {
  await refused(() => model.predict([60, 0] as never), 'dptrain.data.badShape', /^predict got a flat array of 2 numbers, not rows — pass rows of numbers \(number\[\]\[\]\), or a flat Float32Array .*one row is \[\[60, 0\]\]/);
  await refused(() => model.predict([{ a: 1, b: 2 }] as never), 'dptrain.data.badShape', /^predict row 0 is an object — pass rows of numbers/);
  await refused(() => model.predict(null as never), 'dptrain.data.badShape', /^predict got null — pass rows/);
  await refused(() => (model.predict as () => Promise<unknown>)(), 'dptrain.data.badShape', /^predict got undefined — pass rows/);
  const rows = [0.5, -1, 2, 0.25];
  const wide = await model.predict(Float64Array.from(rows));
  assert.deepEqual(wide.outputs, (await model.predict(Float32Array.from(rows))).outputs);
});

test('evaluate refuses a part other than all, train or val, and options that are not an object', async () => {
  await refused(() => model.evaluate(data, { part: 'test' as never }), 'dptrain.config.badOption', /^evaluate's part must be one of all, train, val \(got "test"\)/);
  await refused(() => model.evaluate(data, null as never), 'dptrain.config.badOption', /^evaluate\(data, options\): options is null/);
});

test('evaluate refuses null, an empty Dataset and a non-finite feature (naming the row) instead of scoring them', async () => {
  await refused(() => model.evaluate(null as never), 'dptrain.data.badShape', /^evaluate\(data\): data is null, not a Dataset — pass a Dataset/);
  const empty = createDataset({ ...data, spec: 'memory:empty', n: 0, x: new Float32Array(0), y: new Float32Array(0) });
  await refused(() => model.evaluate(empty), 'dptrain.data.emptyDataset', /dataset "memory:empty"\) holds no samples \(n = 0\)/);
  const x = Float32Array.from(data.x);
  x[5 * 2 + 1] = NaN;
  await refused(() => model.evaluate({ ...data, x }, { engine: 'inline' }), 'dptrain.data.nonFiniteValue', /: row 5 has feature 1 = NaN/);
  // The types a caller narrows on are exported: Evaluation is a union on task.
  const evaluation: Evaluation = await model.evaluate(data, { engine: 'inline' });
  const metrics: ClassificationMetrics | null = evaluation.task === 'classification' ? evaluation : null;
  assert.equal(metrics?.samples, 64);
});

test('save into a missing folder is one ConfigError naming the folder, not ENOENT of a temp file', async () => {
  const file = path.join(tempDir(), 'no-such-dir', 'model.safetensors');
  await refused(() => model.save(file), 'dptrain.config.badOption', new RegExp(`^model\\.save\\(".*model\\.safetensors"\\): the folder ${path.dirname(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist — create it`));
});
