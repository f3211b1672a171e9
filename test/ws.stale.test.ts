// Gradients that must not count (docs/reliability.md), injected by TCP
// proxies (tcp-proxy.ts) that read the WebSocket frames between real workers and a real
// coordinator: a worker's own gradient frames of an earlier step replayed byte for byte during a
// later step, and a worker SIGKILLed right after its whole gradient reached the coordinator but
// before the step could complete. Fixed reduce chunks make the result independent of who computed
// what, so "no effect" and "counted at most once" are checked bit for bit against the inline engine.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { TcpProxy, type ProxyFrame } from './tcp-proxy.js';
import { finalParams, killAll, referenceParams, startCoordinator, startWorker, stepRecords, trainArgs, type RunSpec } from './ws.helpers.js';

const proxies: TcpProxy[] = [];
after(async () => {
  await killAll();
  await Promise.all(proxies.map((p) => p.close()));
});

const spec: RunSpec = { dataset: 'synthetic:spirals?n=3000&classes=3&seed=2', model: 'mlp:2-64-64-3', batchSize: 300, maxSteps: 60, reduceChunks: 6 };

async function proxyTo(url: string): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(Number(new URL(url).port));
  proxies.push(proxy);
  return proxy;
}

const isMessage = (frame: ProxyFrame, type: string, step?: number) => frame.message?.type === type && (step === undefined || frame.message.step === step);

test('a worker\'s gradient frames of step 3 replayed byte for byte during a later step are ignored and logged, the worker is kept, and the result is bit-identical', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir('dptrain-ws-stale-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '3', '--hash-every', '1', ...trainArgs(spec, out)]);
  const proxy = await proxyTo(coordinator.url);
  const captured: Buffer[] = [];
  let replayedAt: number | null = null;
  proxy.onFrame = (frame, direction) => {
    if (direction !== 'up' || !isMessage(frame, 'chunkGrad')) return;
    const step = frame.message!.step as number;
    if (step === 3) captured.push(Buffer.from(frame.raw));
    // Right after w2's first gradient of step 10, at a frame boundary: its step-3 frames again.
    if (step === 10 && replayedAt === null && captured.length > 0) {
      replayedAt = step;
      return { inject: Buffer.concat(captured) };
    }
  };
  const workers = [startWorker(coordinator.url, 'w1'), startWorker(proxy.url, 'w2'), startWorker(coordinator.url, 'w3')];
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());

  assert.equal(replayedAt, 10, 'the replay was sent');
  assert.equal(captured.length, 2, 'w2 computes 2 of the 6 chunks');
  const ignored = coordinator.lines.filter((l) => /^ignoring "chunkGrad" from worker "w2"/.test(l.msg));
  assert.equal(ignored.length, captured.length, coordinator.log());
  for (const line of ignored) {
    assert.match(line.msg, /^ignoring "chunkGrad" from worker "w2" \([^)]*\) for step 3, attempt 1: (the coordinator is at step 10, attempt 1|no step is being computed)$/);
    assert.equal(line.level, 40);
  }
  // Not counted, not a failure: nobody dropped, no step recomputed, every replica hashed equal.
  assert.deepEqual(coordinator.messages(/dropping worker|lost worker|recomputing|diverged|protocol violation/), []);
  const records = stepRecords(out);
  assert.equal(records.length, spec.maxSteps);
  assert.ok(records.every((r) => r.timing.computeMs.length === 3), 'every step by all three workers');
  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  assert.deepEqual(ws, inline, 'bit-identical to the inline engine with the same chunks');
});

test('a worker SIGKILLed right after its whole gradient reached the coordinator, before the step completed, is dropped and its gradient counted at most once: the step is recomputed by the others, bit-identical', { timeout: 60_000 }, async () => {
  const STEP = 8;
  const out = path.join(tempDir('dptrain-ws-stale-'), 'run');
  const coordinator = await startCoordinator(['--min-workers', '3', ...trainArgs(spec, out)]);
  const [p1, p2, p3] = await Promise.all([proxyTo(coordinator.url), proxyTo(coordinator.url), proxyTo(coordinator.url)]);
  // w1 and w3 do not receive step STEP until w2 is gone: the step cannot complete without them.
  for (const p of [p1, p3]) {
    p.onFrame = (frame, direction, link) => {
      if (direction === 'down' && isMessage(frame, 'step', STEP) && frame.message!.attempt === 1) link.hold();
    };
  }
  let chunksOwed: number | null = null;
  let delivered = 0;
  let killedAfter: number | null = null;
  const w2 = startWorker(p2.url, 'w2');
  p2.onFrame = (frame, direction) => {
    if (direction === 'down' && isMessage(frame, 'step', STEP)) chunksOwed = (frame.message!.chunks as { rows: unknown[] }).rows.length;
    if (direction === 'up' && isMessage(frame, 'chunkGrad', STEP) && ++delivered === chunksOwed) {
      // Its last gradient frame is written to the coordinator's socket: kill it now.
      return { then: () => ((killedAfter = delivered), w2.kill('SIGKILL')) };
    }
  };
  const w1 = startWorker(p1.url, 'w1');
  const w3 = startWorker(p3.url, 'w3');

  const dropped = await coordinator.waitFor(/^dropping worker "w2" /, 40_000);
  assert.match(dropped.msg, new RegExp(`^dropping worker "w2" \\([^)]*\\) at step ${STEP}: its connection ended`));
  assert.ok(killedAfter !== null && killedAfter >= 1, 'killed after delivering every chunk it owed');
  await coordinator.waitFor(new RegExp(`^recomputing step ${STEP} with 2 workers \\(attempt 2\\)`));
  p1.heal();
  p3.heal();

  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of [w1, w3]) assert.equal(await w.exited, 0, w.log());
  const records = stepRecords(out);
  assert.equal(records.length, spec.maxSteps, 'every step applied once');
  assert.equal(records[STEP - 1].timing.computeMs.length, 3);
  assert.equal(records[STEP].timing.computeMs.length, 2, 'step 8 was computed again by the two others; w2\'s delivered gradient was discarded');
  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  assert.deepEqual(ws, inline, 'bit-identical to the inline engine with the same chunks');
});
