// --compress fp16|bf16 in the ws engine (issue 20; docs/architecture.md, "Compression"), through
// the CLI with real coordinator and worker processes on 127.0.0.1: the start-up line says the
// contract changes; a run is deterministic (the same bits twice); the result is near the
// uncompressed one, but not equal to it (16-bit rounding really happened), on the ring (also with
// --coordinator-replica on-demand) and on the star with error feedback.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { maxRelativeDifference, tempDir } from './helpers.js';
import { finalParams, killAll, referenceParamsWith, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

/** 25,450 parameters in 2 buckets (--bucket-mb 0.05). */
const spec: RunSpec = { dataset: 'mnist', model: 'mlp:784-32-10', batchSize: 300, maxSteps: 30 };
const common = ['--min-workers', '2', '--bucket-mb', '0.05', '--kernels', 'wasm'];

async function run(args: string[]): Promise<{ params: Float32Array; log: string }> {
  const out = path.join(tempDir('dptrain-compress-'), 'run');
  const coordinator = await startCoordinator([...common, ...args, ...trainArgs(spec, out)]);
  const workers = [startWorker(coordinator.url, 'w1'), startWorker(coordinator.url, 'w2')];
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());
  return { params: await finalParams(out, spec.model), log: coordinator.log() };
}

const uncompressed = referenceParamsWith(spec, { kernels: 'wasm' });

/** Near the uncompressed run (bench-compress measured ~1e-2 after 100 steps), and not equal to it. */
async function assertNearUncompressed(params: Float32Array): Promise<void> {
  assert.ok(params.every(Number.isFinite));
  const relative = maxRelativeDifference(await uncompressed, params);
  assert.ok(relative > 1e-6 && relative < 0.1, `relative difference to the uncompressed run: ${relative}`);
}

test('--compress bf16 on the ring: the start-up line says the contract changes, two runs give the same bits, near the uncompressed run', { timeout: 120_000 }, async () => {
  const args = ['--allreduce', 'ring', '--compress', 'bf16'];
  const [a, b] = [await run(args), await run(args)];
  assert.match(a.log, /--compress bf16: gradients travel as 16-bit floats, so results differ from an uncompressed run beyond float rounding/);
  assert.deepEqual(a.params, b.params);
  await assertNearUncompressed(a.params);
  const onDemand = await run([...args, '--coordinator-replica', 'on-demand']);
  assert.deepEqual(onDemand.params, a.params, 'on demand: the bits of the full replica');
});

test('--compress fp16 --compress-feedback on the star: near the uncompressed run', { timeout: 60_000 }, async () => {
  const star = await run(['--allreduce', 'star', '--compress', 'fp16', '--compress-feedback']);
  assert.match(star.log, /--compress fp16 with error feedback/);
  await assertNearUncompressed(star.params);
});
