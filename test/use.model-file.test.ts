/** The self-describing model file (`dptrain.about`), loadModel, and the model object train() returns. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { decodeSafetensors, loadModel, paramLayout, parseModelSpec, saveParameters, train } from '../src/index.js';
import { applyStandardization, fitStandardization, loadDataset, splitDataset } from '../src/data/index.js';
import { decodeModelAbout } from '../src/io/index.js';
import { loadCheckpointFile } from '../src/train/index.js';
import { tempDir } from './helpers.js';
import { FEATURES, SPECIES, readCsv, writeFlowersCsv } from './use.helpers.js';

const FLOWERS_TRAIN = { model: 'mlp:4-16-3', epochs: 8, batchSize: 32, lr: 0.1, standardize: true, valSplit: 0.2, seed: 3, engine: 'inline' as const, workers: 1, kernels: 'js' as const };

test('final.safetensors and checkpoints describe the data: features, classes, task, shape, standardization, split', async () => {
  const dir = tempDir('dptrain-about-');
  const csv = writeFlowersCsv(dir);
  const out = path.join(dir, 'run');
  const ckpt = path.join(dir, 'ckpt');
  const result = await train({ ...FLOWERS_TRAIN, dataset: `csv:${csv}`, out, checkpointDir: ckpt, checkpointEvery: '4epochs' });
  const { metadata } = decodeSafetensors(fs.readFileSync(path.join(out, 'final.safetensors')));
  assert.equal(metadata.format, 'pt');
  assert.equal(metadata['dptrain.model'], 'mlp:4-16-3');
  const about = decodeModelAbout(metadata['dptrain.about'], 'final.safetensors');
  assert.equal(about.task, 'classification');
  assert.deepEqual(about.inputShape, [4]);
  assert.equal(about.outputs, 3);
  assert.deepEqual(about.featureNames, FEATURES);
  assert.deepEqual(about.classNames, SPECIES);
  assert.deepEqual(about.labelColumn, { name: 'species', index: 4 });
  assert.equal(about.preprocessing.pixelScale, null);
  assert.deepEqual(about.dataset, { spec: `csv:${csv}`, hash: result.summary.datasetHash, samples: 300, valSplit: 0.2, seed: 3 });
  // The statistics are the training split's, exactly (float32 values through JSON).
  const { train: trainSplit } = splitDataset(await loadDataset(`csv:${csv}`), 0.2, 3);
  const stats = fitStandardization(trainSplit);
  assert.deepEqual(Float32Array.from(about.preprocessing.standardize!.mean), stats.mean);
  assert.deepEqual(Float32Array.from(about.preprocessing.standardize!.std), stats.std);
  // The checkpoint carries the same description, inside its checksum.
  const checkpoint = await loadCheckpointFile(path.join(ckpt, 'ckpt-000000064.safetensors'));
  assert.deepEqual(checkpoint.about, about);
  // loadModel takes a checkpoint too (its checksum verified): the same parameters and description.
  const fromCheckpoint = await loadModel(path.join(ckpt, 'ckpt-000000064.safetensors'));
  assert.deepEqual(fromCheckpoint.params, checkpoint.params);
  assert.deepEqual(fromCheckpoint.metadata, about);
  // train() returns the model object, describing itself the same way.
  assert.deepEqual(result.model.metadata, about);
  assert.deepEqual(result.model.classNames, SPECIES);
});

test('the bundled digits record their image shape and pixel scaling (byte / 255, 3 decimals)', async () => {
  const out = path.join(tempDir('dptrain-about-mnist-'), 'run');
  await train({ dataset: 'mnist', model: 'logreg:784-10', maxSteps: 2, batchSize: 50, engine: 'inline', workers: 1, out });
  const about = decodeModelAbout(decodeSafetensors(fs.readFileSync(path.join(out, 'final.safetensors'))).metadata['dptrain.about'], 'mnist');
  assert.deepEqual(about.inputShape, [1, 28, 28]);
  assert.deepEqual(about.preprocessing.pixelScale, { divideBy: 255, roundTo: 3 });
  assert.equal(about.featureNames, null);
  assert.equal(about.dataset.spec, 'mnist');
});

test('round trip: loadModel(final.safetensors).predict gives the classes train() scored, on raw (unstandardized) rows', async () => {
  const dir = tempDir('dptrain-roundtrip-');
  const csv = writeFlowersCsv(dir);
  const out = path.join(dir, 'run');
  const result = await train({ ...FLOWERS_TRAIN, dataset: `csv:${csv}`, valSplit: 0, out });
  const model = await loadModel(path.join(out, 'final.safetensors'));
  assert.deepEqual(model.params, result.params);
  const { header, rows } = readCsv(csv);
  const columns = FEATURES.map((name) => header.indexOf(name));
  const x = rows.map((r) => columns.map((c) => Number(r[c])));
  const predictions = await model.predict(x);
  const truth = rows.map((r) => r[header.indexOf('species')]);
  const accuracy = predictions.className!.filter((name, i) => name === truth[i]).length / rows.length;
  // The same data, standardized by the training pipeline, through the library's evaluate (eval mode).
  const evaluation = await model.evaluate(`csv:${csv}`, { engine: 'inline' });
  assert.equal(evaluation.task, 'classification');
  assert.equal(accuracy, evaluation.accuracy);
  assert.ok(accuracy > 0.8, `the model learned something (${accuracy})`);
  // And in-process: the model train() returned scores the standardized training split the same way.
  const loaded = await loadDataset(`csv:${csv}`);
  const standardized = applyStandardization(loaded, fitStandardization(loaded));
  await result.model.ready();
  const direct = result.model.forwardSync(Float32Array.from(standardized.x));
  const fromTrain = result.model.predictionsOf(direct, loaded.n);
  assert.deepEqual(fromTrain.classIndex, predictions.classIndex);
  // Probabilities sum to 1 per row.
  for (let r = 0; r < 5; r++) assert.ok(Math.abs(predictions.outputs.subarray(r * 3, r * 3 + 3).reduce((a, b) => a + b, 0) - 1) < 1e-5);
});

test('a file written before dptrain.about still loads; the model says what is missing', async () => {
  const dir = tempDir('dptrain-old-file-');
  const spec = parseModelSpec('mlp:4-8-3');
  const layout = paramLayout(spec);
  const params = Float32Array.from({ length: layout.size }, (_, i) => Math.sin(i) * 0.1);
  const file = path.join(dir, 'old.safetensors');
  await saveParameters(file, params, layout, spec.text);
  assert.equal(decodeSafetensors(fs.readFileSync(file)).metadata['dptrain.about'], undefined);
  const model = await loadModel(file);
  assert.equal(model.metadata, null);
  assert.equal(model.missing.length, 1);
  assert.match(model.missing[0], /no "dptrain.about" metadata .* class names, feature names, standardization and training data are unknown/);
  assert.deepEqual(model.classNames, ['0', '1', '2']);
  const p = await model.predict([[1, 2, 3, 4]]);
  assert.equal(p.n, 1);
  assert.ok(['0', '1', '2'].includes(p.className![0]));
  // save() writes what it knows; a saved model loads back with the same parameters.
  const copy = path.join(dir, 'copy.safetensors');
  await model.save(copy);
  assert.deepEqual((await loadModel(copy)).params, params);
});
