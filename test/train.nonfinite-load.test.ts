// Issue 13 item 8: non-finite numbers at load. CSV values beyond float32 are refused with line and
// column; --init files and checkpoints holding NaN/Inf (with a valid checksum) are refused at load,
// naming the tensors and counts, and `dptrain inspect` flags them per tensor.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadDataset } from '../src/data/index.js';
import { paramLayout, parseModelSpec } from '../src/model/index.js';
import { encodeSafetensors } from '../src/io/index.js';
import { CheckpointStore, encodeCheckpoint, findLatestCheckpoint, loadParameters, saveParameters } from '../src/train/index.js';
import { sampleCheckpoint } from './fixtures/checkpoints.js';
import { runCli, tempDir } from './helpers.js';

let dir = '';
before(() => {
  dir = tempDir('dptrain-nonfinite-load-');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string | Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

function rows(n: number, extra: string): string {
  return ['a,b,label', ...Array.from({ length: n }, (_, i) => `${i / 10},${(i % 3) / 2},${i % 2}`), extra].join('\n') + '\n';
}

describe('CSV values beyond float32', () => {
  test('dptrain train --dataset csv:F with 1e39 in a feature: exit 2, one line naming line and column', () => {
    const file = write('big.csv', rows(20, '0.5,1e39,1'));
    const r = runCli(['train', '--dataset', `csv:${file}`, '--model', 'logreg:2-2']);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /big\.csv line 22, column "b" \(2\): 1e39 is beyond the float32 range \(±3\.4e38\) that training uses — rescale the column \[dptrain\.data\.csvValueOutOfRange\]/);
  });

  test('1e400 (beyond float64), -1e39 and a regression label of 4e38 are refused the same way', async () => {
    for (const [name, text, where] of [
      ['f64.csv', rows(5, '1e400,0,1'), /line 7, column "a" \(1\): 1e400 is beyond/],
      ['neg.csv', rows(5, '0,-1e39,1'), /line 7, column "b" \(2\): -1e39 is beyond/],
      ['label.csv', 'x,y\n1,0.5\n2,4e38\n', /line 3, column "y" \(2\): 4e38 is beyond/],
    ] as const) {
      await assert.rejects(loadDataset(`csv:${write(name, text)}`), (error: unknown) => {
        assert.equal((error as { code?: string }).code, 'dptrain.data.csvValueOutOfRange');
        assert.match((error as Error).message, where);
        return true;
      });
    }
  });

  test('the largest float32 values still load', async () => {
    const ds = await loadDataset(`csv:${write('edge.csv', 'a,b,label\n3.4028234e38,-3.4028234e38,0\n1,2,1\n')}`);
    assert.equal(ds.x[0], Math.fround(3.4028234e38));
  });
});

describe('non-finite parameters', () => {
  const model = 'mlp:4-8-3';
  const layout = paramLayout(parseModelSpec(model));
  let nanInit = '';
  let nanCheckpointDir = '';
  before(async () => {
    const params = new Float32Array(layout.size).fill(0.1);
    params[0] = NaN;
    params[5] = Infinity;
    params[layout.size - 1] = -Infinity; // layers.1.bias
    nanInit = path.join(dir, 'nan-init.safetensors');
    await saveParameters(nanInit, params, layout, model);

    const bad = sampleCheckpoint(9);
    bad.params[3] = NaN;
    bad.optimizerState.exp_avg[0] = Infinity;
    nanCheckpointDir = path.join(dir, 'nan-ckpt');
    fs.mkdirSync(nanCheckpointDir);
    fs.writeFileSync(path.join(nanCheckpointDir, 'ckpt-000000009.safetensors'), encodeCheckpoint(bad)); // checksum valid
  });

  test('dptrain train --init with NaN/Inf weights: exit 2, one line naming each tensor and its count', () => {
    const r = runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', model, '--init', nanInit]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--init .*nan-init\.safetensors holds non-finite values \(NaN or ±Infinity, or F64 values beyond the float32 range\): layers\.0\.weight: 2, layers\.1\.bias: 1 — .*\[dptrain\.model\.nonFiniteParameters\]/);
  });

  test('an F64 --init file whose values overflow float32 (1e300) is refused the same way', async () => {
    const file = path.join(dir, 'f64-huge.safetensors');
    const tensors = layout.tensors.map((t) => ({ name: t.name, dtype: 'F64' as const, shape: [...t.shape], data: new Float64Array(t.size).fill(t.name === 'layers.1.weight' ? 1e300 : 0.1) }));
    fs.writeFileSync(file, encodeSafetensors(tensors, { format: 'pt', 'dptrain.model': model }));
    await assert.rejects(loadParameters(file, layout, model), { code: 'dptrain.model.nonFiniteParameters', message: /layers\.1\.weight: 24 —/ });
  });

  test('a checkpoint with NaN/Inf and a valid checksum is refused; --resume falls back to the one before', async () => {
    const store = await CheckpointStore.open(path.join(dir, 'fallback'), { keep: 5 });
    await store.save(sampleCheckpoint(4));
    fs.copyFileSync(path.join(nanCheckpointDir, 'ckpt-000000009.safetensors'), path.join(store.dir, 'ckpt-000000009.safetensors'));
    const found = await findLatestCheckpoint(store.dir);
    assert.equal(found!.checkpoint.meta.step, 4);
    assert.equal(found!.rejected[0].code, 'dptrain.format.checkpointNonFinite');
    assert.match(found!.rejected[0].reason, /holds non-finite values \(NaN or ±Infinity\): layers\.0\.weight: 1, optimizer\.exp_avg: 1 — its checksum is valid/);
  });

  test('dptrain train --resume DIR whose only checkpoint holds NaN: exit 1, naming checkpointNonFinite', () => {
    const r = runCli(['train', '--resume', nanCheckpointDir]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /ckpt-000000009\.safetensors: dptrain\.format\.checkpointNonFinite/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('dptrain inspect flags non-finite values per tensor, in text and JSON, for parameters and checkpoints', () => {
    const text = runCli(['inspect', nanInit]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^    layers\.0\.weight  F32  \[8, 4\]  NON-FINITE: 2 NaN\/Inf$/m);
    assert.match(text.stdout, /^    layers\.0\.bias    F32  \[8\]$/m);
    assert.match(text.stdout, /^    layers\.1\.bias    F32  \[3\]  NON-FINITE: 1 NaN\/Inf$/m);
    assert.match(text.stdout, /warning +3 non-finite values \(NaN or ±Infinity\) in 2 tensors: --init and --resume refuse this file/);
    const json = JSON.parse(runCli(['inspect', '--json', nanInit]).stdout);
    assert.equal(json.finite, false);
    assert.deepEqual(json.tensors.map((t: { nonFinite: number }) => t.nonFinite), [2, 0, 0, 1]);

    const checkpoint = path.join(nanCheckpointDir, 'ckpt-000000009.safetensors');
    const ck = runCli(['inspect', checkpoint]);
    assert.equal(ck.status, 0, ck.stderr);
    assert.match(ck.stdout, /^    optimizer\.exp_avg +F32  \[26\]  NON-FINITE: 1 NaN\/Inf$/m);
    assert.match(ck.stdout, /checksum ok/);
  });
});
