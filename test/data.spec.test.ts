import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataError } from '../src/errors.js';
import { datasetSpecWithPaths, loadDataset, parseDatasetSpec } from '../src/data/index.js';

test('a spec splits into kind, target and decoded options', () => {
  const spec = parseDatasetSpec('idx:data/a b-images-idx3.gz?labels=x%26y.gz');
  assert.equal(spec.kind, 'idx');
  assert.equal(spec.target, 'data/a b-images-idx3.gz');
  assert.equal(spec.options.get('labels'), 'x&y.gz');
  assert.equal(parseDatasetSpec('mnist').target, '');
});

test('a resumed run\'s spec resolves the files it names (csv:, idx: and ?labels=), and leaves others and absolute paths as they are', () => {
  const from = (file: string) => (file.startsWith('/') ? file : `/run/${file}`);
  assert.equal(datasetSpecWithPaths('csv:data.csv?label=y&task=regression', from), 'csv:/run/data.csv?label=y&task=regression');
  assert.equal(datasetSpecWithPaths('csv:/abs/data.csv', from), 'csv:/abs/data.csv');
  const idx = datasetSpecWithPaths('idx:a-images-idx3.gz?labels=x%26y+1.gz', from);
  assert.equal(idx, 'idx:/run/a-images-idx3.gz?labels=/run/x%26y 1.gz');
  assert.deepEqual([parseDatasetSpec(idx).target, parseDatasetSpec(idx).options.get('labels')], ['/run/a-images-idx3.gz', '/run/x&y 1.gz']);
  for (const spec of ['mnist', 'synthetic:blobs?n=100', 'fashion-mnist?split=test', 'csv:']) assert.equal(datasetSpecWithPaths(spec, from), spec);
});

test('an unknown dataset kind names the kinds that exist', async () => {
  await assert.rejects(
    loadDataset('foo'),
    (err: unknown) =>
      err instanceof DataError &&
      err.code === 'dptrain.data.unknownSpec' &&
      err.message === 'unknown dataset "foo" — use mnist, mnist-full, fashion-mnist, cifar10, synthetic:blobs|spirals|teacher, idx:PATH or csv:PATH',
  );
  await assert.rejects(loadDataset(''), { code: 'dptrain.data.unknownSpec' });
  await assert.rejects(loadDataset('synthetic:moons'), { code: 'dptrain.data.unknownSpec', message: /synthetic:blobs/ });
});

test('an unknown option names the key and lists the valid ones', async () => {
  await assert.rejects(loadDataset('synthetic:blobs?n=10&dims=3'), {
    name: 'DataError',
    code: 'dptrain.data.unknownOption',
    message: 'unknown option "dims" in dataset spec "synthetic:blobs?n=10&dims=3" — synthetic:blobs takes n, d, classes, seed, spread',
  });
  await assert.rejects(loadDataset('csv:x.csv?lable=y'), { code: 'dptrain.data.unknownOption', message: /takes label, task, header/ });
});

test('a bad option value names the option and the accepted range', async () => {
  await assert.rejects(loadDataset('synthetic:blobs?n=abc'), {
    code: 'dptrain.data.badOption',
    message: 'option n="abc" in dataset spec "synthetic:blobs?n=abc" must be an integer ≥ 1',
  });
  await assert.rejects(loadDataset('synthetic:blobs?classes=1'), { code: 'dptrain.data.badOption', message: /classes="1".*≥ 2/ });
  await assert.rejects(loadDataset('synthetic:teacher?noise=-1'), { code: 'dptrain.data.badOption', message: /noise="-1".*number ≥ 0/ });
  await assert.rejects(loadDataset('synthetic:blobs?n=1&n=2'), { code: 'dptrain.data.badOption', message: /given twice/ });
});

test('a dataset larger than the element limit is refused before allocating', async () => {
  await assert.rejects(loadDataset('synthetic:blobs?n=1000000&d=1000'), { code: 'dptrain.data.tooLarge' });
});
