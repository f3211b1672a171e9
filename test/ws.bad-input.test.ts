// Bad input at a ws coordinator: each attempt is refused with a clear log line, and the run that
// goes on beside them ends bit-identical to the inline engine (fixed reduce chunks make the
// result independent of who computed what, so "no effect on training" is checked exactly).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { rawClient, rawHandshake, type RawPeer } from './transport.helpers.js';
import { computeProof, createNonce } from '../src/transport/auth.js';
import { PROTOCOL_VERSION } from '../src/transport/index.js';
import { ENGINE_REVISION } from '../src/engine/ws/messages.js';
import { finalParams, killAll, referenceParams, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

const spec: RunSpec = { dataset: 'synthetic:spirals?n=900&classes=3&seed=1', model: 'mlp:2-32-32-3', batchSize: 90, maxSteps: 20, reduceChunks: 4 };

function tokenFile(dir: string, name: string): { file: string; token: Buffer } {
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.from(createNonce()).toString('hex') + '\n', { mode: 0o600 });
  return { file, token: Buffer.from(fs.readFileSync(file, 'utf8').trim()) };
}

/** A hand-made worker: the handshake (with a worker's hello facts), then the run's setup. */
async function fakeWorker(url: string, name: string, token: Buffer): Promise<{ peer: RawPeer; setup: Record<string, unknown> }> {
  const peer = await rawClient(url);
  const nonce = createNonce();
  peer.send({ type: 'hello', protocol: PROTOCOL_VERSION, name, role: 'worker', nonce, meta: { threads: 1, host: 'fake', engine: ENGINE_REVISION } });
  const challenge = await peer.next();
  assert.equal(challenge.type, 'challenge');
  const transcript = { protocol: PROTOCOL_VERSION, role: 'worker', clientName: name, serverName: challenge.name as string, clientNonce: nonce, serverNonce: challenge.nonce as Uint8Array };
  peer.send({ type: 'proof', proof: computeProof(token, 'client', transcript) });
  assert.equal((await peer.next()).type, 'welcome');
  const setup = await peer.next(10_000);
  assert.equal(setup.type, 'setup');
  return { peer, setup };
}

function ready(setup: Record<string, unknown>, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'ready', datasetHash: setup.datasetHash, trainHash: setup.trainHash, numParams: setup.numParams, kernels: setup.kernels, ...overrides };
}

test('wrong token, protocol version, dataset hash, model, oversized frame, malformed msgpack, wrong-length gradient and duplicate name are each refused and logged, and training is unaffected', { timeout: 60_000 }, async () => {
  const dir = tempDir('dptrain-ws-bad-');
  const out = path.join(dir, 'run');
  const good = tokenFile(dir, 'token');
  const other = tokenFile(dir, 'other-token');
  const coordinator = await startCoordinator(['--min-workers', '3', '--token-file', good.file, '--allreduce', 'star', ...trainArgs(spec, out)]);
  const url = coordinator.url;

  // Wrong token: the coordinator refuses the worker's proof; each side says so from its own side, with the code.
  const wrongToken = startWorker(url, 'badtoken', ['--token-file', other.file]);
  assert.equal(await wrongToken.exited, 1);
  assert.match(
    wrongToken.text.join('\n'),
    /^dptrain: error: the coordinator at ws:\/\/127\.0\.0\.1:\d+\/? refused our token: the token files differ \(or the worker has none\) — check that both hold the same token \(sha256sum the files; copy with scp -p\) \[dptrain\.transport\.authFailed\]$/m,
  );
  const wrongTokenLog = await coordinator.waitFor(/a worker at 127\.0\.0\.1:\d+ \(calling itself "badtoken"\) presented a wrong token/);
  assert.equal(wrongTokenLog.code, 'dptrain.transport.authFailed');

  // Another protocol version: refused before any schema check.
  const oldVersion = await rawClient(url);
  const refusal = await rawHandshake(oldVersion, { name: 'oldversion', protocol: PROTOCOL_VERSION + 1, token: good.token });
  assert.equal(refusal.type, 'refuse');
  assert.equal(refusal.code, 'protocolVersion');
  await coordinator.waitFor(new RegExp(`^closing connection to client .*: the client speaks protocol ${PROTOCOL_VERSION + 1}, this server speaks protocol ${PROTOCOL_VERSION}`));

  // Another dataset (its hash) and another model (its parameter count): refused after `ready`.
  const badHash = await fakeWorker(url, 'badhash', good.token);
  badHash.peer.send(ready(badHash.setup, { datasetHash: `sha256:${'0'.repeat(64)}` }));
  const hashClose = await badHash.peer.closed;
  assert.equal(hashClose.code, 4102);
  // The close reason holds 123 bytes: the fix first, then what fits of the reason, never cut mid-word.
  assert.equal(hashClose.reason, 'give both hosts the same file, or start the coordinator with --ship-data (the worker\'s data hashes to sha256:00000000…)');
  assert.ok(Buffer.byteLength(hashClose.reason) <= 123);
  await coordinator.waitFor(/^refusing worker "badhash" .*: its dataset .* hashes to sha256:0{64}, the coordinator's to sha256:[0-9a-f]{64}; give both hosts the same file, or start the coordinator with --ship-data/);
  const badModel = await fakeWorker(url, 'badmodel', good.token);
  badModel.peer.send(ready(badModel.setup, { numParams: (badModel.setup.numParams as number) + 1 }));
  assert.equal((await badModel.peer.closed).code, 4102);
  await coordinator.waitFor(/^refusing worker "badmodel" .*: its model mlp:2-32-32-3 has \d+ parameters, the coordinator's \d+/);

  // A frame over the limit (this run's frames need under 1 MiB) and a frame that is not msgpack.
  const big = await fakeWorker(url, 'bigframe', good.token);
  big.peer.ws.send(Buffer.alloc(2 << 20));
  assert.equal((await big.peer.closed).code, 1009);
  await coordinator.waitFor(/^worker "bigframe" .*sent a frame over the 1048576-byte limit/);
  const garbage = await fakeWorker(url, 'garbage', good.token);
  garbage.peer.ws.send(Buffer.from([0xc1, 0x00, 0xff]));
  assert.equal((await garbage.peer.closed).code, 4000);
  await coordinator.waitFor(/^closing connection to worker "garbage" /);

  // Two real workers; a second "w1" is refused while the first is connected.
  const w1 = startWorker(url, 'w1', ['--token-file', good.file]);
  const w2 = startWorker(url, 'w2', ['--token-file', good.file]);
  await coordinator.waitFor(/^worker "w1" .* is ready/);
  const duplicate = startWorker(url, 'w1', ['--token-file', good.file]);
  assert.equal(await duplicate.exited, 1);
  await coordinator.waitFor(/worker "w1" .*is not admitted: a peer named "w1" is already connected \(from 127\.0\.0\.1:\d+\) — choose another --name, or wait for the old one to leave$/);
  assert.match(duplicate.text.join('\n'), /is not admitted: a peer named "w1" is already connected \(from 127\.0\.0\.1:\d+\) — choose another --name, or wait for the old one to leave \[dptrain\.transport\.nameTaken\]$/m);

  // A member that sends a gradient of the right shape but the wrong length: dropped, step recomputed.
  const liar = await fakeWorker(url, 'afake', good.token);
  liar.peer.send(ready(liar.setup));
  for (;;) {
    const m = await liar.peer.next(20_000);
    if (m.type !== 'step') continue;
    const chunks = m.chunks as { first: number; rows: { start: number; end: number }[] };
    const rows = chunks.rows[0];
    liar.peer.send({
      type: 'chunkGrad', step: m.step, attempt: m.attempt, chunk: chunks.first,
      lossSum: 1, correct: 0, count: rows.end - rows.start, gradSumSq: 1, nonFinite: false, computeMs: 1,
      gradient: new Float32Array(5),
    });
    break;
  }
  assert.equal((await liar.peer.closed).code, 4001);

  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await w1.exited, 0);
  assert.equal(await w2.exited, 0);
  const wrongLength = coordinator.messages(/"afake"/).join('\n');
  assert.match(wrongLength, /message "chunkGrad" field "gradient" must be a Float32Array of \d+ elements \(got 5\)/);
  assert.match(wrongLength, /dropping worker "afake" .* at step 0/);
  await coordinator.waitFor(/^recomputing step 0 with 2 workers/);

  const [ws, inline] = await Promise.all([finalParams(out, spec.model), referenceParams(spec, out)]);
  assert.deepEqual(ws, inline, 'bit-identical to the inline engine with the same chunks');
});

test('a coordinator asked to listen on a non-loopback address without a token refuses to start (exit 2) and names the fix', { timeout: 30_000 }, async () => {
  for (const listen of ['0.0.0.0:0', '192.0.2.10:7000']) {
    const { Proc } = await import('./ws.helpers.js');
    const coordinator = new Proc(['coordinator', '--listen', listen, '--min-workers', '1']);
    assert.equal(await coordinator.exited, 2);
    const text = coordinator.text.join('\n');
    assert.match(text, /--listen .* is not a loopback address, and there is no --token-file/);
    assert.match(text, /Create a token \(dptrain token --out token\), copy it to every host \(scp -p\)/);
    assert.match(text, /\[dptrain\.config\.insecureListen\]/);
  }
});
