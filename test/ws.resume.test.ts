// A coordinator killed with SIGKILL mid-run and restarted with --resume takes its workers back
// (they reconnect with backoff) and continues exactly: final.safetensors is byte-identical to an
// uninterrupted run with the same workers (issue 6, docs/reliability.md).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { killAll, referenceAndKilledRun, startCoordinatorOn, type RunSpec } from './ws.helpers.js';

after(killAll);

const spec: RunSpec = { dataset: 'synthetic:blobs?n=2000&d=20&classes=4&seed=1', model: 'mlp:20-32-4', batchSize: 32, maxSteps: 240, seed: 5 };

for (const allreduce of ['star', 'ring'] as const) {
  test(`coordinator SIGKILLed mid-run and restarted with --resume (${allreduce}): the workers come back and final.safetensors is byte-identical`, { timeout: 120_000 }, async () => {
    const root = tempDir();
    // One kernel set for every process: `--kernels auto` probes each process's speed, and under
    // load the reference, the killed and the resumed coordinator could pick different sets.
    const common = ['--min-workers', '2', '--allreduce', allreduce, '--kernels', 'wasm'];

    // The uninterrupted run, and the same run with its coordinator killed after a checkpoint and
    // started again with --resume on the same port.
    const { port, out, ckpt, workers } = await referenceAndKilledRun(root, spec, common, 90);
    assert.ok(!fs.existsSync(path.join(out, 'final.safetensors')));

    const second = await startCoordinatorOn(port, ['--min-workers', '2', '--resume', ckpt]);
    assert.equal(await second.exited, 0, second.log());
    for (const w of workers) assert.equal(await w.exited, 0, w.log());
    assert.ok(second.messages(/^resuming from .*ckpt-0000000\d0\.safetensors/).length === 1, second.log());
    assert.ok(
      fs.readFileSync(path.join(out, 'final.safetensors')).equals(fs.readFileSync(path.join(root, 'reference', 'final.safetensors'))),
      'final.safetensors differs from the uninterrupted run',
    );
  });
}
