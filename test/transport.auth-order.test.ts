// Issue 13 item 1: the connecting side proves the token first. Before protocol 3 the server sent
// HMAC(token, label‖nonce_c‖nonce_s) in its challenge to anyone who reached the port (50 of 50 in a
// probe), enough to test candidate tokens offline; and a client that left after the challenge was
// not counted by the lockout. Raw clients on 127.0.0.1 mount both attacks against a real listen().
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { CloseCode, connect, listen, TransportError } from '../src/transport/index.js';
import { createNonce } from '../src/transport/auth.js';
import { collectLog, fastLimits, PROTOCOL_VERSION, rawClient, rawHandshake, rawServer, testMessages, until } from './transport.helpers.js';

const token = crypto.randomBytes(32);

test('a client that does not know the token collects no proof of it: the challenge carries none, and a guessed proof gets only a refusal', async () => {
  const server = await listen({ token, messages: testMessages, limits: { ...fastLimits, maxAuthFailures: 100, maxAuthFailuresPerAddress: 100 } });
  for (let i = 0; i < 5; i++) {
    const raw = await rawClient(server.url);
    raw.send({ type: 'hello', protocol: PROTOCOL_VERSION, name: `probe${i}`, role: 'worker', nonce: createNonce(), meta: {} });
    const challenge = await raw.next();
    // Exactly the server's name and nonce: nothing computed from the token.
    assert.deepEqual(Object.keys(challenge).sort(), ['name', 'nonce', 'protocol', 'type']);
    raw.send({ type: 'proof', proof: crypto.randomBytes(32) });
    const answer = await raw.next();
    assert.deepEqual(Object.keys(answer).sort(), ['code', 'reason', 'type']);
    assert.equal(answer.code, 'authFailed');
    assert.equal((await raw.closed).code, CloseCode.authFailed);
  }
  // A client of protocol 2 (where the challenge held the proof) is refused before any challenge.
  const old = await rawClient(server.url);
  const refusal = await rawHandshake(old, { protocol: 2 });
  assert.equal(refusal.type, 'refuse');
  assert.equal(refusal.code, 'protocolVersion');
  await server.close();
});

test('clients that leave after the challenge are counted: maxAuthFailures of them lock their address and name out, while another name from the address still joins', async () => {
  const slog = collectLog();
  const limits = { ...fastLimits, maxAuthFailures: 3, authLockoutMs: 60_000, reconnect: { attempts: 1 } };
  const server = await listen({ token, messages: testMessages, log: slog, limits });
  for (let i = 0; i < 3; i++) {
    const raw = await rawClient(server.url);
    raw.send({ type: 'hello', protocol: PROTOCOL_VERSION, name: 'w1', role: 'worker', nonce: createNonce(), meta: {} });
    assert.equal((await raw.next()).type, 'challenge');
    raw.ws.terminate(); // abandons the handshake: no proof, no refusal
    await raw.closed;
  }
  // The server counts each abandon when its side of the socket closes, a moment after ours.
  await until(() => slog.warnings().filter((m) => /connection to worker "w1" .* was lost/.test(m)).length === 3, 2_000, 'three abandons seen');
  // The right token does not help "w1" from 127.0.0.1 now: it is refused before proving anything.
  const refused = await connect(server.url, { name: 'w1', token, messages: testMessages, limits }).catch((error: unknown) => error);
  assert.ok(refused instanceof TransportError && refused.code === 'dptrain.transport.lockedOut', String(refused));
  assert.match(refused.message, /3 failed or abandoned handshakes as "w1" from 127\.0\.0\.1; locked out for \d+ s more — check the token file/);
  // The lockout is keyed by (address, claimed name): "w2" from the same address is not kept out.
  const w2 = await connect(server.url, { name: 'w2', token, messages: testMessages, limits });
  assert.equal(w2.peer.name, 'coordinator');
  await w2.close();
  await server.close();
});

test('sockets that upgrade and never say hello are counted against their address, which is then refused at the upgrade with HTTP 429', async () => {
  const slog = collectLog();
  const limits = { ...fastLimits, handshakeTimeoutMs: 150, maxAuthFailuresPerAddress: 3, reconnect: { attempts: 1 } };
  const server = await listen({ token, messages: testMessages, log: slog, limits });
  for (let i = 0; i < 3; i++) {
    const raw = await rawClient(server.url);
    assert.equal((await raw.closed).code, CloseCode.handshakeTimeout);
  }
  const error = await connect(server.url, { name: 'w1', token, messages: testMessages, limits }).catch((e: unknown) => e);
  assert.ok(error instanceof TransportError && error.code === 'dptrain.transport.connectFailed' && /HTTP 429/.test(error.message), String(error));
  assert.ok(slog.warnings().some((m) => /3 failed or abandoned handshakes from 127\.0\.0\.1; locked out/.test(m)), slog.warnings().join('\n'));
  await server.close();
});

test('a client still refuses a server that cannot prove the token, and reads none of its application frames', async () => {
  let sawProof = false;
  const impostor = await rawServer((peer) => {
    void (async () => {
      await peer.next(); // hello
      peer.send({ type: 'challenge', protocol: PROTOCOL_VERSION, name: 'coordinator', nonce: createNonce() });
      sawProof = (await peer.next()).type === 'proof';
      peer.send({ type: 'welcome', proof: crypto.randomBytes(32), meta: {} });
      peer.send({ type: 'note', text: 'an application frame from an impostor' });
    })().catch(() => {});
  });
  const clog = collectLog();
  const error = await connect(impostor.url, { name: 'w1', token, messages: testMessages, log: clog, limits: fastLimits }).catch((e: unknown) => e);
  assert.ok(error instanceof TransportError && error.code === 'dptrain.transport.authFailed' && error.reason === 'badProof', String(error));
  assert.match(error.message, /accepted our proof but failed to prove the shared token itself/);
  assert.ok(sawProof);
  await impostor.close();
});

test('a locked-out name that keeps retrying is not counted again: it is let in authLockoutMs after its last real failure', async () => {
  const limits = { ...fastLimits, maxAuthFailures: 2, authLockoutMs: 1_500, reconnect: { attempts: 1 } };
  const server = await listen({ token, messages: testMessages, limits });
  const wrong = crypto.randomBytes(32);
  for (let i = 0; i < 2; i++) {
    const error = await connect(server.url, { name: 'w1', token: wrong, messages: testMessages, limits }).catch((e: unknown) => e);
    assert.ok(error instanceof TransportError && error.code === 'dptrain.transport.authFailed', String(error));
  }
  const lastFailure = Date.now();
  // Retries while locked out are refused unheard, with a recoverable lockedOut, and do not extend the lockout.
  for (let i = 0; i < 3; i++) {
    const error = await connect(server.url, { name: 'w1', token, messages: testMessages, limits }).catch((e: unknown) => e);
    assert.ok(error instanceof TransportError && error.code === 'dptrain.transport.lockedOut' && error.recoverable, String(error));
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastFailure + 1_600 - Date.now())));
  const client = await connect(server.url, { name: 'w1', token, messages: testMessages, limits });
  assert.equal(client.peer.name, 'coordinator');
  await client.close();
  await server.close();
});
