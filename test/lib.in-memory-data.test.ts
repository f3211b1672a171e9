// train(options, { data }): the run trains on the data in memory and records that data's spec as
// `dataset` (docs/formats.md, run directory); a `dataset` option given too has no effect, and is
// warned about once through the run's logger (docs/cli.md, "Defaults and explicit options").
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createDataset, loadDataset } from '../src/data/index.js';
import { train } from '../src/train/index.js';
import { tempDir } from './helpers.js';

const SPEC = 'synthetic:spirals?n=300';

function collectingLogger(): { warnings: string[]; logger: { info(): void; warn(fields: object, message: string): void } } {
  const warnings: string[] = [];
  return { warnings, logger: { info() {}, warn: (_fields, message) => void warnings.push(message) } };
}

test('`train({ dataset: "mnist", … }, { data })` trains on the data, records its spec in config.json and summary.json, and warns that `dataset` has no effect', async () => {
  const data = await loadDataset(SPEC);
  const out = path.join(tempDir(), 'g');
  const { warnings, logger } = collectingLogger();
  const result = await train({ epochs: 1, dataset: 'mnist', engine: 'inline', out, overwrite: true }, { data, logger });
  assert.equal(result.config.dataset, SPEC);
  assert.equal(result.summary.trainSamples, 270, 'trained on the 300 spirals (270 after the validation split)');
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).dataset, SPEC);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).dataset, SPEC);
  assert.deepEqual(warnings, [`--dataset mnist has no effect and is ignored: the run trains on the data passed in memory (hooks.data, ${SPEC}) and records its spec`]);
});

test('a `dataset` option that names the data in memory, or none, is not warned about', async () => {
  const data = await loadDataset(SPEC);
  for (const given of [{ dataset: SPEC }, {}]) {
    const { warnings, logger } = collectingLogger();
    const result = await train({ epochs: 1, engine: 'inline', ...given }, { data, logger });
    assert.equal(result.config.dataset, SPEC);
    assert.deepEqual(warnings, []);
  }
});

test('data that is not a Dataset (rows, a spec string, an object without Float32Arrays, wrong shapes) is one DataError saying what is wrong, before anything runs', async () => {
  const x = new Float32Array(6);
  const cases: [unknown, RegExp][] = [
    [[[1, 2], [3, 4]], /^hooks\.data is an array, not a Dataset — pass a Dataset/],
    ['mnist', /^hooks\.data is a string, not a Dataset/],
    [{ x: [[1, 2]], y: [0] }, /^hooks\.data has no spec/],
    [{ spec: 'memory:rows', n: 3, inputDim: 2, x: [1, 2, 3, 4, 5, 6], y: new Float32Array(3) }, /^hooks\.data \.x is an array, not a Float32Array/],
    [{ spec: 'memory:short', n: 3, inputDim: 2, x, targetDim: 1, y: new Float32Array(2), task: 'classification', numClasses: 2 }, /^dataset "memory:short": y has 2 values, expected n·targetDim = 3/],
  ];
  for (const [data, message] of cases) {
    await assert.rejects(train({ epochs: 1, engine: 'inline' }, { data: data as never, logger: collectingLogger().logger }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'dptrain.data.badShape', String(error));
      assert.match(error.message, message);
      return true;
    });
  }
});

test('an empty Dataset (n = 0) is refused as the file loaders refuse one, before any split or batch size is worked out', async () => {
  const empty = createDataset({ spec: 'memory:empty', n: 0, inputDim: 2, x: new Float32Array(0), targetDim: 1, y: new Float32Array(0), task: 'classification', numClasses: 2 });
  await assert.rejects(train({ epochs: 1, engine: 'inline', batchSize: 'full' }, { data: empty }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'dptrain.data.emptyDataset', String(error));
    assert.match(error.message, /^hooks\.data \(dataset "memory:empty"\) holds no samples \(n = 0\)/);
    return true;
  });
});

test('a Dataset that declares 2 classes but whose labels are all one class is refused as a one-class file is', async () => {
  const n = 20;
  const data = createDataset({ spec: 'memory:zeros', n, inputDim: 2, x: new Float32Array(n * 2).map((_, i) => Math.sin(i)), targetDim: 1, y: new Float32Array(n), task: 'classification', numClasses: 2 });
  await assert.rejects(train({ epochs: 1, engine: 'inline' }, { data }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'dptrain.data.oneClass', String(error));
    assert.match(error.message, /^dataset memory:zeros has one class: every label is "0" \(of the 2 classes it declares\), and a classifier needs at least 2 classes — check the labels \(y\)/);
    return true;
  });
});

test('train(null) and train(options, null) are one ConfigError naming the argument, not a TypeError', async () => {
  for (const [args, message] of [
    [[null, {}], /^train\(options, hooks\): options is null, not an object — pass an object such as \{ epochs: 5 \}/],
    [[{ epochs: 1 }, null], /^train\(options, hooks\): hooks is null, not an object/],
    [['mnist'], /options is a string, not an object/],
  ] as const) {
    await assert.rejects((train as (...a: unknown[]) => Promise<unknown>)(...args), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'dptrain.config.badOption', String(error));
      assert.match(error.message, message);
      return true;
    });
  }
});
