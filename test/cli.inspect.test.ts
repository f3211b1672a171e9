// `dptrain inspect FILE` (issue 6): what a checkpoint or parameters file holds, verified; damage is one line.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { CHECKPOINT_FORMAT_VERSION, CheckpointStore } from '../src/train/index.js';
import { SAMPLE_DATASET_HASH, SAMPLE_NUM_PARAMS, sampleCheckpoint } from './fixtures/checkpoints.js';
import { runCli, tempDir, type CliResult } from './helpers.js';

function assertOneErrorLine(result: CliResult, code: string, pattern: RegExp, status = 1): void {
  assert.equal(result.status, status, `exit status: ${result.stderr}`);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0], /^dptrain: error: /);
  assert.ok(lines[0].endsWith(`[${code}]`), lines[0]);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

describe('dptrain inspect', () => {
  let dir = '';
  let checkpoint = '';
  before(async () => {
    dir = tempDir('dptrain-inspect-');
    const store = await CheckpointStore.open(path.join(dir, 'ckpt'), { keep: 3 });
    checkpoint = await store.save(sampleCheckpoint(12));
  });

  test('a checkpoint: format, model, dataset, optimizer, position, engine, config, every tensor and the checksum', () => {
    const r = runCli(['inspect', checkpoint]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const out = r.stdout;
    assert.ok(out.startsWith(`${checkpoint}: dptrain checkpoint, format version ${CHECKPOINT_FORMAT_VERSION}\n`), out);
    assert.match(out, /^  model        mlp:3-4-2, 26 parameters$/m);
    assert.match(out, /^  dataset      synthetic:blobs\?n=60&d=3&classes=2&seed=0$/m);
    assert.match(out, new RegExp(`^  dataset hash ${SAMPLE_DATASET_HASH}$`, 'm'));
    assert.match(out, /^  optimizer    adam \(state: exp_avg, exp_avg_sq\)$/m);
    assert.match(out, /^  next step    12 \(epoch 3 counted from 1, step 2 of the epoch\); 120 samples so far$/m);
    assert.match(out, /^  rng          xoshiro128\*\*, seed 7, epoch 2$/m);
    assert.match(out, /^  saved by     threads engine, 3 workers$/m);
    assert.match(out, /^  config       batchSize=10, epochs=4, lr=0.05, lrSchedule="cosine", seed=7, standardize=false$/m);
    assert.match(out, /^  tensors      6$/m);
    assert.match(out, /^    layers\.0\.weight +F32  \[4, 3\]$/m);
    assert.match(out, /^    layers\.1\.bias +F32  \[2\]$/m);
    assert.match(out, new RegExp(`^    optimizer\\.exp_avg_sq +F32  \\[${SAMPLE_NUM_PARAMS}\\]$`, 'm'));
    assert.match(out, /\nchecksum ok \(sha256:[0-9a-f]{64}\)\n$/);
  });

  test('a checkpoint with --json: one object with the meta, the tensors and the checksum', () => {
    const r = runCli(['inspect', checkpoint, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.kind, 'checkpoint');
    assert.equal(json.valid, true);
    assert.equal(json.file, checkpoint);
    assert.match(json.checksum, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(json.meta, JSON.parse(JSON.stringify(sampleCheckpoint(12).meta)));
    assert.deepEqual(json.optimizerState, ['exp_avg', 'exp_avg_sq']);
    assert.deepEqual(json.tensors[0], { name: 'layers.0.weight', dtype: 'F32', shape: [4, 3], nonFinite: 0 });
    assert.equal(json.finite, true);
    assert.equal(json.tensors.length, 6);
  });

  test('a final.safetensors written by dptrain train: its tensors and metadata, parameters only', () => {
    const out = path.join(dir, 'run');
    const train = runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'logreg:4-3', '--epochs', '1', '--engine', 'inline', '--workers', '1', '--out', out]);
    assert.equal(train.status, 0, train.stderr);
    const file = path.join(out, 'final.safetensors');
    const r = runCli(['inspect', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        `${file}: parameters only (not a checkpoint)`,
        '  model        logreg:4-3 (the tensors match it)',
        '  parameters   15',
        '  metadata     dptrain.model=logreg:4-3, format=pt',
        '  about        classification of 4 inputs into 3 classes; trained on synthetic:blobs?n=200&d=4&classes=3 (200 samples, --val-split 0.1, seed 0)',
        '  tensors      2',
        '    layers.0.weight  F32  [3, 4]',
        '    layers.0.bias    F32  [3]',
        '',
      ].join('\n'),
    );
    const json = JSON.parse(runCli(['inspect', '--json', file]).stdout);
    const about = JSON.parse(json.metadata['dptrain.about']);
    assert.deepEqual([about.task, about.outputs, about.dataset.spec], ['classification', 3, 'synthetic:blobs?n=200&d=4&classes=3']);
    assert.deepEqual(json, {
      file,
      kind: 'parameters',
      valid: true,
      finite: true,
      model: 'logreg:4-3',
      numParams: 15,
      numBuffers: 0,
      metadata: { 'dptrain.model': 'logreg:4-3', format: 'pt', 'dptrain.about': json.metadata['dptrain.about'] },
      tensors: [
        { name: 'layers.0.weight', dtype: 'F32', shape: [3, 4], nonFinite: 0 },
        { name: 'layers.0.bias', dtype: 'F32', shape: [3], nonFinite: 0 },
      ],
    });
  });

  test('a BatchNorm model: final.safetensors and its checkpoint count the parameters as training does, the buffers apart', () => {
    const out = path.join(dir, 'bn');
    const ckpt = path.join(dir, 'bn-ckpt');
    const model = 'cnn:4 dense6 bn relu dense3';
    const train = runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', model, '--max-steps', '1', '--engine', 'inline', '--out', out, '--checkpoint-dir', ckpt]);
    assert.equal(train.status, 0, train.stderr);
    // 4·6 + 6, γ and β of 6, 6·3 + 3; the buffers: running_mean and running_var of 6, num_batches_tracked.
    assert.match(train.stderr, /training cnn:4 dense6 bn relu dense3 \(63 parameters\)/);
    const final = runCli(['inspect', path.join(out, 'final.safetensors')]);
    assert.equal(final.status, 0, final.stderr);
    assert.match(final.stdout, /^  parameters   63 \(\+ 13 BatchNorm buffer values\)$/m);
    const checkpoint = fs.readdirSync(ckpt).find((name) => name.endsWith('.safetensors'))!;
    const saved = runCli(['inspect', path.join(ckpt, checkpoint)]);
    assert.equal(saved.status, 0, saved.stderr);
    assert.match(saved.stdout, new RegExp(`^  model        ${model}, 63 parameters \\(\\+ 13 BatchNorm buffer values\\)$`, 'm'));
    const json = JSON.parse(runCli(['inspect', '--json', path.join(out, 'final.safetensors')]).stdout);
    assert.deepEqual([json.numParams, json.numBuffers], [63, 13]);
    assert.equal(JSON.parse(runCli(['inspect', '--json', path.join(ckpt, checkpoint)]).stdout).numBuffers, 13);
  });

  test('a bit-flipped checkpoint: one line with checkpointChecksum, exit 1', () => {
    const bytes = fs.readFileSync(checkpoint);
    bytes[bytes.length - 7] ^= 0x10;
    const file = path.join(dir, 'flipped.safetensors');
    fs.writeFileSync(file, bytes);
    assertOneErrorLine(runCli(['inspect', file]), 'dptrain.format.checkpointChecksum', /flipped\.safetensors: checksum mismatch/);
  });

  test('a truncated checkpoint: one line with checkpointTruncated, exit 1', () => {
    const bytes = fs.readFileSync(checkpoint);
    const file = path.join(dir, 'truncated.safetensors');
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    assertOneErrorLine(runCli(['inspect', file]), 'dptrain.format.checkpointTruncated', /truncated\.safetensors is truncated/);
  });

  test('a file that is not safetensors: one line naming what it is and the file to give, exit 2 (the wrong file given)', () => {
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'these are my notes, not tensors\n');
    assertOneErrorLine(runCli(['inspect', text]), 'dptrain.format.notSafetensors', /notes\.txt: not a safetensors file: it is text \(first line "these are my notes, not tensors"\) — give /, 2);
  });

  test('a missing path or a directory is a mistake in the command: one line naming the fix, exit 2', () => {
    const missing = path.join(dir, 'nope.safetensors');
    assertOneErrorLine(runCli(['inspect', missing]), 'dptrain.config.inspectFileNotFound', /nope\.safetensors: no such file \(relative paths start at .*\) — give a checkpoint \(ckpt-\*\.safetensors\) or a final\.safetensors/, 2);
    const run = fs.mkdtempSync(path.join(dir, 'run-'));
    fs.copyFileSync(checkpoint, path.join(run, 'final.safetensors'));
    assertOneErrorLine(runCli(['inspect', run]), 'dptrain.config.inspectNotAFile', new RegExp(`is a directory — give one of its files, e\\.g\\. dptrain inspect ${run.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/final\\.safetensors`), 2);
  });
});
