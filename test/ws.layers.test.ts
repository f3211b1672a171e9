// Layer models over the ws engine: a conv net with dropout on 3 worker processes ends where the
// inline engine does (dropout masks are keyed by seed, step and sample, never by the worker).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { maxRelativeDifference, tempDir } from './helpers.js';
import { finalParams, killAll, referenceParams, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

const spec: RunSpec = {
  dataset: 'synthetic:blobs?n=300&d=64&classes=3&seed=1',
  model: 'cnn:1x8x8 conv4k3p1 relu maxpool2 conv6k3s2 gelu flatten dropout0.3 dense3',
  batchSize: 60,
  maxSteps: 10,
};

test('3 ws workers train a conv net with dropout to the inline engine\'s parameters (relative difference < 1e-5)', { timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-ws-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '3', ...trainArgs(spec, out)]);
  const workers = ['w1', 'w2', 'w3'].map((name) => startWorker(coordinator.url, name));
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());
  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  const relative = maxRelativeDifference(inline, ws);
  assert.ok(relative < 1e-5, `relative difference ${relative}`);
});
