// A half-open connection to a worker (docs/reliability.md): a TCP proxy between the
// worker and the coordinator stops forwarding and keeps both sockets open, so neither side gets
// a FIN or a reset. The step deadline is set far above the heartbeat timeout (--heartbeat-timeout 3
// on every process; 15 s by default) here, so it is the heartbeat, not the deadline, that finds
// the dead peer.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { TcpProxy } from './tcp-proxy.js';
import { assertRecoveredRun, killAll, Proc, startProxiedRun, startWorker, type RunSpec } from './ws.helpers.js';

let proxy: TcpProxy | null = null;
after(async () => {
  await killAll();
  await proxy?.close();
});

const spec: RunSpec = { dataset: 'synthetic:spirals?n=3000&classes=3&seed=2', model: 'mlp:2-64-64-3', batchSize: 300, maxSteps: 600, reduceChunks: 6 };
/** The heartbeat given: judged every interval (a third of the timeout), terminated after the timeout. */
const HEARTBEAT_TIMEOUT_MS = 3_000;
const HEARTBEAT_INTERVAL_MS = 1_000;
const heartbeat = ['--heartbeat-timeout', String(HEARTBEAT_TIMEOUT_MS / 1000)];

test('a half-open worker connection (a proxy forwards nothing, sockets stay open) is terminated by the heartbeat within its bound, named, its step recomputed, and the worker rejoins when the path heals; bit-identical', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir('dptrain-ws-half-open-'), 'run');
  const run = await startProxiedRun(spec, out, ['--hash-every', '1', '--step-deadline-floor', '60000', ...heartbeat], heartbeat);
  const { coordinator } = run;
  proxy = run.proxy; // closed in after()
  const [w1, w2, w3] = run.workers;

  run.proxy.partition();
  const started = Date.now();
  const silence = await coordinator.waitFor(/^no sign of life from worker "w2" .* \(heartbeat timeout 3000 ms\); terminating the connection/, 20_000);
  const detectedMs = Date.now() - started;
  assert.ok(detectedMs >= HEARTBEAT_TIMEOUT_MS - 1_000, `not before the heartbeat timeout (${detectedMs} ms)`);
  // Judged once per interval: at most one interval late, plus slack for a loaded machine.
  assert.ok(detectedMs <= HEARTBEAT_TIMEOUT_MS + HEARTBEAT_INTERVAL_MS + 5_000, `within the bound (${detectedMs} ms)`);
  assert.equal(silence.level, 40);
  const dropped = await coordinator.waitFor(/^dropping worker "w2" .* at step \d+: its connection ended \(no sign of life/);
  const step = Number(/at step (\d+)/.exec(dropped.msg)![1]);
  await coordinator.waitFor(new RegExp(`^recomputing step ${step} with 2 workers`));
  run.proxy.heal();

  // The worker's own heartbeat also gave up on the silent coordinator (or the reset after the heal
  // told it): it reconnects through the healed proxy and joins again at a step boundary.
  await w2.waitFor(/^lost the coordinator at .*; reconnecting for up to/, 30_000);
  const rejoin = await coordinator.waitFor(/^worker "w2" .* joins at step [1-9]\d*/, 30_000);
  const rejoinStep = Number(/joins at step (\d+)/.exec(rejoin.msg)![1]);
  assert.ok(rejoinStep > step);

  await assertRecoveredRun({ coordinator, workers: [w1, w2, w3], out, spec, step, rejoinStep });
});

test('--heartbeat-timeout must be a number of seconds from 1 to 3600, on both sides (exit 2, one line naming the flag)', { timeout: 30_000 }, async () => {
  await Promise.all(['soon', '0.5', '1e9'].flatMap((bad) => [
    new Proc(['coordinator', '--listen', '127.0.0.1:0', '--heartbeat-timeout', bad, '--dataset', spec.dataset]),
    startWorker('ws://127.0.0.1:9/', 'w1', ['--heartbeat-timeout', bad]),
  ]).map(async (proc) => {
    assert.equal(await proc.exited, 2);
    assert.match(proc.text.join('\n'), /--heartbeat-timeout must be (a finite number|a number of seconds from 1 to 3600) \(got .*\) \[dptrain\.config\.badOption\]/);
  }));
});
