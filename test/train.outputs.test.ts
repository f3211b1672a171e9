import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { decodeSafetensors, paramLayout, parseModelSpec, train } from '../src/index.js';
import { makeClassification, tempDir } from './helpers.js';

const data = makeClassification(210, 5, 3);
const options = { model: 'mlp:5-6-3', batchSize: 50, epochs: 2, lr: 0.1, valSplit: 0.2, seed: 1 } as const;

function readJsonLines(file: string): Record<string, unknown>[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
}

test('--out writes config.json, metrics.jsonl, summary.json and final.safetensors', async () => {
  const out = path.join(tempDir(), 'run');
  const result = await train({ ...options, out }, { data });
  assert.deepEqual(fs.readdirSync(out).sort(), ['config.json', 'final.safetensors', 'metrics.jsonl', 'summary.json']);

  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(config.model, 'mlp:5-6-3');
  assert.equal(config.batchSize, 50);
  assert.equal(config.resolved.stepsPerEpoch, 4); // 168 training samples / 50

  const records = readJsonLines(path.join(out, 'metrics.jsonl'));
  const steps = records.filter((r) => r.type === 'step');
  const epochs = records.filter((r) => r.type === 'epoch');
  assert.equal(steps.length, 8);
  assert.equal(epochs.length, 2);
  for (const key of ['epoch', 'step', 'batchSize', 'samples', 'loss', 'lr', 'ms']) assert.ok(key in steps[0], `step record has ${key}`);
  for (const key of ['epoch', 'steps', 'trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy', 'samplesPerSec']) assert.ok(key in epochs[0], `epoch record has ${key}`);
  assert.deepEqual(steps.map((s) => s.batchSize), [50, 50, 50, 18, 50, 50, 50, 18]);
  assert.equal(steps[7].samples, 336);

  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.steps, 8);
  assert.equal(summary.epochs, 2);
  // The default --workers auto picks the engine by a probe (inline for a model this small, as a rule).
  assert.equal(summary.engine, summary.workersChoice.engine);
  assert.match(summary.workersChoice.reason, /^--workers auto chose /);
  assert.equal(summary.final.valAccuracy, result.history[1].valAccuracy);
  assert.ok(summary.cores >= 1);

  const { tensors, metadata } = decodeSafetensors(fs.readFileSync(path.join(out, 'final.safetensors')));
  assert.deepEqual([...tensors.keys()], ['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
  assert.deepEqual(tensors.get('layers.0.weight')!.shape, [6, 5]);
  assert.deepEqual(tensors.get('layers.1.bias')!.shape, [3]);
  assert.equal(metadata.format, 'pt');
  const layout = paramLayout(parseModelSpec('mlp:5-6-3'));
  for (const t of layout.tensors) {
    assert.deepEqual(tensors.get(t.name)!.data, result.params.subarray(t.offset, t.offset + t.size));
  }
});

test('final.safetensors is byte-identical for two runs with the same seed', async () => {
  const a = path.join(tempDir(), 'a');
  const b = path.join(tempDir(), 'b');
  await train({ ...options, out: a }, { data });
  await train({ ...options, out: b }, { data });
  assert.ok(fs.readFileSync(path.join(a, 'final.safetensors')).equals(fs.readFileSync(path.join(b, 'final.safetensors'))));
});

test('--init starts from the parameters of a saved file', async () => {
  const first = path.join(tempDir(), 'first');
  const trained = await train({ ...options, epochs: 3, out: first }, { data });
  // One more epoch from the saved parameters starts where the first run ended, so its first loss is that run's level.
  const steps: number[] = [];
  await train({ ...options, epochs: 1, init: path.join(first, 'final.safetensors') }, { data, callbacks: [{ onStep: (r) => void steps.push(r.loss) }] });
  const fresh: number[] = [];
  await train({ ...options, epochs: 1 }, { data, callbacks: [{ onStep: (r) => void fresh.push(r.loss) }] });
  assert.ok(steps[0] < fresh[0] * 0.8, `first loss from --init ${steps[0]} vs fresh ${fresh[0]}`);
  assert.ok(Math.abs(steps[0] - trained.history[2].trainLoss) < 0.5 * trained.history[2].trainLoss + 0.05);
});

test('--init with a file of another model is refused naming the tensor', async () => {
  const first = path.join(tempDir(), 'other');
  await train({ ...options, epochs: 1, out: first }, { data });
  await assert.rejects(
    train({ ...options, model: 'mlp:5-7-3', init: path.join(first, 'final.safetensors') }, { data }),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, 'dptrain.model.initMismatch');
      assert.match(error.message, /layers\.0\.weight.*\[6,5\].*\[7,5\]/);
      return true;
    },
  );
});
