// A non-finite step in the ws engine (issue 6): real coordinator and worker processes on
// 127.0.0.1 train a linear regression on a CSV file in which one row's features (1e30) make the
// loss and the gradient of whichever shard holds it overflow. With --on-nonfinite stop the run
// stops naming the step and the worker; with skip every replica drops those steps, and the
// final parameters equal the inline engine's run of the same config.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { maxRelativeDifference, tempDir } from './helpers.js';
import { epochPermutation } from '../src/data/index.js';
import { ENGINE_REVISION } from '../src/engine/ws/messages.js';
import { computeProof, createNonce } from '../src/transport/auth.js';
import { PROTOCOL_VERSION } from '../src/transport/index.js';
import { rawClient } from './transport.helpers.js';
import { finalParams, kernelsOfRun, killAll, referenceParamsWith, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

const N = 200;
const BATCH = 20;
const SEED = 3;

/**
 * A CSV of N rows, 4 features and a real-valued label; row `bad` has features of 1e30, so
 * its squared error and its gradient overflow float32. The row is chosen so that in epoch 0 it
 * falls in the second half of its batch (w2's shard when two 1-thread workers split it) at a
 * step after the first: the message must name the right one, not just the first.
 */
function writeData(dir: string): { file: string; badStep: number } {
  const order = epochPermutation(N, SEED, 0);
  const position = order.findIndex((row, p) => p >= BATCH && p % BATCH >= BATCH / 2 && row > 0);
  const bad = order[position];
  const rows = ['a,b,c,d,y'];
  for (let i = 0; i < N; i++) {
    const x = i === bad ? [1e30, 1e30, 1e30, 1e30] : [Math.sin(i), Math.cos(2 * i), ((i * 7) % 13) / 13, ((i * 5) % 11) / 11];
    const y = 0.5 * Math.sin(i) - 1.5 * Math.cos(2 * i) + 0.25 + 0.01 * ((i * 3) % 7);
    rows.push([...x.map((v) => (v === 1e30 ? '1e30' : v.toFixed(5))), y.toFixed(5)].join(','));
  }
  const file = path.join(dir, 'data.csv');
  fs.writeFileSync(file, rows.join('\n') + '\n');
  return { file, badStep: Math.floor(position / BATCH) };
}

function specFor(file: string, extra: Partial<RunSpec> = {}): RunSpec {
  return { dataset: `csv:${file}`, model: 'linreg:4-1', batchSize: BATCH, maxSteps: 30, seed: SEED, ...extra };
}

const common = ['--val-split', '0', '--lr', '0.01', '--hash-every', '1'];

test('with --on-nonfinite stop (the default) the coordinator exits 1 naming the step and the worker whose shard overflowed', { timeout: 60_000 }, async () => {
  const dir = tempDir('dptrain-ws-nonfinite-');
  const { file, badStep } = writeData(dir);
  const out = path.join(dir, 'run');
  const coordinator = await startCoordinator(['--min-workers', '2', '--allreduce', 'star', ...common, ...trainArgs(specFor(file), out)]);
  const workers = ['w1', 'w2'].map((name) => startWorker(coordinator.url, name));
  assert.equal(await coordinator.exited, 1, coordinator.log());
  const error = coordinator.text.join('\n');
  assert.match(error, new RegExp(`the loss or gradient became (NaN|Infinity) at epoch 1/1000 step ${badStep + 1}/10 \\(run step ${badStep}\\) in the shard of w2 `), error);
  assert.match(error, /--on-nonfinite skip/);
  assert.match(error, /\[dptrain\.train\.nonFinite\]/);
  for (const w of workers) assert.equal(await w.exited, 0, w.log()); // the coordinator ended their session
  assert.ok(!fs.existsSync(path.join(out, 'final.safetensors')), 'no final parameters from a stopped run');
});

for (const variant of [
  { name: 'star', args: ['--allreduce', 'star'], extra: {} },
  { name: 'ring', args: ['--allreduce', 'ring'], extra: {} },
  { name: 'star with --reduce-chunks 4', args: [], extra: { reduceChunks: 4 } },
] as const) {
  test(`with --on-nonfinite skip (${variant.name}) every replica drops the overflowing steps, the log counts them, and the run ends with the inline engine's parameters`, { timeout: 60_000 }, async () => {
    const dir = tempDir('dptrain-ws-nonfinite-');
    const { file, badStep } = writeData(dir);
    const spec = specFor(file, variant.extra);
    const out = path.join(dir, 'run');
    const coordinator = await startCoordinator(['--min-workers', '2', ...variant.args, ...common, '--on-nonfinite', 'skip', ...trainArgs(spec, out)]);
    const workers = ['w1', 'w2'].map((name) => startWorker(coordinator.url, name));
    assert.equal(await coordinator.exited, 0, coordinator.log());
    for (const w of workers) assert.equal(await w.exited, 0, w.log());

    // One step per epoch holds the row: 30 steps of 10 per epoch skip 3, each counted.
    const skips = coordinator.messages(/^epoch \d+\/1000 step \d+\/10 \(run step \d+\) skipped: /);
    assert.equal(skips.length, 3, coordinator.log());
    assert.match(skips[0], new RegExp(`^epoch 1/1000 step ${badStep + 1}/10 \\(run step ${badStep}\\) skipped: the loss or gradient is (NaN|Infinity) in the shard of w2; no replica applied it \\(1 in a row, 1 in all\\)`));
    assert.match(skips[2], /\(1 in a row, 3 in all\)$/);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { skippedSteps: number; steps: number };
    assert.equal(summary.skippedSteps, 3);
    assert.equal(summary.steps, 30);
    // Every worker dropped the same steps and kept a replica equal to the coordinator's (--hash-every 1).
    for (const w of workers) assert.equal(w.messages(/^step \d+ skipped \(non-finite loss or gradient\); parameters stay at version \d+$/).length, 3, w.log());
    assert.deepEqual(coordinator.messages(/diverged|dropping worker/), []);

    const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParamsWith(spec, { valSplit: 0, lr: 0.01, onNonfinite: 'skip', ...kernelsOfRun(out) })]);
    assert.ok(ws.every(Number.isFinite), 'the parameters stayed finite');
    if (spec.reduceChunks) assert.deepEqual(ws, inline, 'bit-identical to the inline engine with the same chunks');
    else {
      const relative = maxRelativeDifference(inline, ws);
      assert.ok(relative < 1e-5, `relative difference ${relative}`);
    }
  });
}

test("a worker of another ws-engine revision (one that does not know `skip`) is refused with a reason naming both revisions", { timeout: 30_000 }, async () => {
  const dir = tempDir('dptrain-ws-nonfinite-');
  const { file } = writeData(dir);
  const coordinator = await startCoordinator(['--min-workers', '1', ...common, ...trainArgs(specFor(file), path.join(dir, 'run'))]);
  for (const [name, meta] of [['old', { threads: 1, host: 'old' }], ['newer', { threads: 1, host: 'newer', engine: ENGINE_REVISION + 1 }]] as const) {
    const peer = await rawClient(coordinator.url);
    const nonce = createNonce();
    peer.send({ type: 'hello', protocol: PROTOCOL_VERSION, name, role: 'worker', nonce, meta });
    const challenge = await peer.next();
    peer.send({ type: 'proof', proof: computeProof(undefined, 'client', { protocol: PROTOCOL_VERSION, role: 'worker', clientName: name, serverName: challenge.name as string, clientNonce: nonce, serverNonce: challenge.nonce as Uint8Array }) });
    const refusal = await peer.next();
    assert.equal(refusal.type, 'refuse');
    assert.equal((await peer.closed).code, 4004);
    const revision = name === 'old' ? 1 : ENGINE_REVISION + 1;
    assert.match(refusal.reason as string, new RegExp(`it speaks revision ${revision} of the ws engine's messages, this coordinator revision ${ENGINE_REVISION}; run the same dptrain version on every host`));
  }
  coordinator.kill();
});
