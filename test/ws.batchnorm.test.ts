// BatchNorm over the ws engine: with --batchnorm sync (the default) the statistics of the whole
// global batch are exchanged through the coordinator inside forward and backward, so 3 worker
// processes end where the inline engine does, running statistics included.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { decodeSafetensors, train } from '../src/index.js';
import { bufferLayout, buildStack, parseModelSpec } from '../src/model/index.js';
import { maxRelativeDifference, tempDir } from './helpers.js';
import { finalParams, killAll, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

const spec: RunSpec = {
  dataset: 'synthetic:blobs?n=300&d=64&classes=3&seed=1',
  model: 'cnn:1x8x8 conv4k3p1 bn relu maxpool2 conv6k3s2 bn gelu flatten dense8 bn relu dense3',
  batchSize: 60,
  maxSteps: 6,
};

/** The running statistics in a final.safetensors, flat in the model's buffer layout. */
function finalBuffers(out: string): Float32Array {
  const layout = bufferLayout(buildStack(parseModelSpec(spec.model)));
  const { tensors } = decodeSafetensors(fs.readFileSync(path.join(out, 'final.safetensors')));
  const buffers = new Float32Array(layout.size);
  for (const t of layout.tensors) {
    const data = tensors.get(t.name)!.data;
    buffers.set(t.shape.length === 0 ? [Number((data as BigInt64Array)[0])] : (data as Float32Array), t.offset);
  }
  return buffers;
}

async function wsRun(extra: string[]): Promise<string> {
  const out = path.join(tempDir('dptrain-ws-bn-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '3', ...trainArgs(spec, out), ...extra]);
  const workers = ['w1', 'w2', 'w3'].map((name) => startWorker(coordinator.url, name));
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());
  return out;
}

const inline = (reduceChunks: number) =>
  train({ engine: 'inline', workers: 1, dataset: spec.dataset, model: spec.model, batchSize: spec.batchSize, maxSteps: spec.maxSteps, epochs: 1000, seed: 0, reduceChunks });

test('3 ws workers train a BatchNorm net (--batchnorm sync) to the inline engine\'s parameters and running statistics (relative < 1e-5)', { timeout: 120_000 }, async () => {
  const out = await wsRun([]);
  const reference = await inline(0);
  const relative = maxRelativeDifference(reference.params, await finalParams(out, spec.model));
  assert.ok(relative < 1e-5, `parameters: relative difference ${relative}`);
  const buffers = maxRelativeDifference(reference.buffers, finalBuffers(out));
  assert.ok(buffers < 1e-5, `running statistics: relative difference ${buffers}`);
});

test('3 ws workers with --reduce-chunks 4 train a BatchNorm net to the inline engine\'s bits', { timeout: 120_000 }, async () => {
  const out = await wsRun(['--reduce-chunks', '4']);
  const reference = await inline(4);
  assert.deepEqual(Buffer.from((await finalParams(out, spec.model)).buffer), Buffer.from(reference.params.buffer));
  assert.deepEqual(Buffer.from(finalBuffers(out).buffer), Buffer.from(reference.buffers.buffer));
});
