// Network faults between one worker and its coordinator (docs/reliability.md
// 10), injected by a TCP proxy (tcp-proxy.ts) between the worker and the coordinator's port; the
// other workers connect directly. Fixed reduce chunks make the result independent of who
// computed what, so "the step is recomputed and nothing was half-applied" is checked bit for bit
// against the inline engine.
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { TcpProxy } from './tcp-proxy.js';
import { assertRecoveredRun, killAll, startProxiedRun, type RunSpec } from './ws.helpers.js';

const proxies: TcpProxy[] = [];
after(async () => {
  await killAll();
  await Promise.all(proxies.map((p) => p.close()));
});

// mlp:2-64-64-3 has 4,547 parameters: each chunk gradient is an ~18 KB frame.
// 600 steps: long enough that the run is still going when the worker comes back.
const spec: RunSpec = { dataset: 'synthetic:spirals?n=3000&classes=3&seed=2', model: 'mlp:2-64-64-3', batchSize: 300, maxSteps: 600, reduceChunks: 6 };
const GRADIENT_BYTES = 4 * 4_547;

/** The steps at which `name` joined, from the coordinator's log. */
function joins(messages: string[], name: string): number[] {
  return messages.flatMap((m) => {
    const hit = new RegExp(`^worker "${name}" .* joins at step (\\d+)`).exec(m);
    return hit ? [Number(hit[1])] : [];
  });
}

test('a socket cut mid-frame by a proxy: the coordinator drops the worker and recomputes the step, nothing half-decoded is used, the worker reconnects and rejoins, and the result is bit-identical', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir('dptrain-ws-proxy-'), 'run');
  const { coordinator, proxy, workers } = await startProxiedRun(spec, out, ['--hash-every', '1']);
  proxies.push(proxy);
  const [w1, w2, w3] = workers;

  const cut = await proxy.cutNextFrame(GRADIENT_BYTES);
  assert.ok(cut.payloadBytes >= GRADIENT_BYTES && cut.deliveredBytes > 0 && cut.deliveredBytes < cut.payloadBytes, `cut inside a frame: ${JSON.stringify(cut)}`);

  // The coordinator sees the connection end in the middle of a step: drop, recompute.
  const dropped = await coordinator.waitFor(/^dropping worker "w2" .* at step \d+: its connection ended/);
  const step = Number(/at step (\d+)/.exec(dropped.msg)![1]);
  await coordinator.waitFor(new RegExp(`^recomputing step ${step} with 2 workers`));
  // The worker sees the loss, reconnects through the proxy with backoff and joins as a new worker.
  await w2.waitFor(/^lost the coordinator at .*; reconnecting for up to/);
  await w2.waitFor(/^reconnected to the coordinator at .* \(attempt \d+\); joining as a new worker/, 30_000);
  const rejoin = (await coordinator.waitFor(/^worker "w2" .* joins at step [1-9]\d*/, 30_000));
  const rejoinStep = Number(/joins at step (\d+)/.exec(rejoin.msg)![1]);
  assert.ok(rejoinStep > step, `rejoined at step ${rejoinStep}, after the cut at step ${step}`);
  assert.ok(proxy.connections >= 2, 'the worker came back through the proxy');

  // The partial frame was discarded, never decoded: no malformed frame, no protocol violation,
  // and every replica (w2's new one included) hashed equal to the coordinator's at every step.
  await assertRecoveredRun({ coordinator, workers: [w1, w2, w3], out, spec, step, rejoinStep, cutStepRecomputed: false });
  assert.deepEqual(joins(coordinator.messages(), 'w2'), [0, rejoinStep]);
});

test('a silent partition (the proxy stops forwarding, sockets stay open) is dropped at the step deadline and named, the step is recomputed by the others, and after the heal the worker rejoins at a step boundary with the current state; bit-identical', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir('dptrain-ws-proxy-'), 'run');
  const { coordinator, proxy, workers } = await startProxiedRun(spec, out, ['--hash-every', '1', '--step-deadline-floor', '2000']);
  proxies.push(proxy);
  const [w1, w2, w3] = workers;

  proxy.partition();
  const partitionedAt = Date.now();
  const dropped = await coordinator.waitFor(/^dropping worker "w2" /, 30_000);
  assert.match(dropped.msg, /^dropping worker "w2" \([^)]*, 1 thread\) at step \d+: it did not (finish computing its shard|deliver its gradient) within the step deadline of \d+ ms/);
  const step = Number(/at step (\d+)/.exec(dropped.msg)![1]);
  await coordinator.waitFor(new RegExp(`^recomputing step ${step} with 2 workers`));
  // The partition outlives the drop but not the transport heartbeat (15 s): the worker learns of
  // its eviction from the close frame that waited in the kernel, and joins again.
  await delay(500);
  assert.ok(Date.now() - partitionedAt < 15_000, 'healed before the heartbeat timeout');
  proxy.heal();
  await w2.waitFor(/^the coordinator dropped this worker: .*; joining again \(1 of 3\)/, 30_000);
  const rejoin = await coordinator.waitFor(/^worker "w2" .* joins at step [1-9]\d*/, 30_000);
  const rejoinStep = Number(/joins at step (\d+)/.exec(rejoin.msg)![1]);
  assert.ok(rejoinStep > step);

  await assertRecoveredRun({ coordinator, workers: [w1, w2, w3], out, spec, step, rejoinStep });
});
