// Token files and proofs; limits validated one at a time with messages that name the limit.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { computeProof, createNonce, verifyProof } from '../src/transport/auth.js';
import { defaultLimits, generateToken, readTokenFile, resolveLimits, tokenStrength, TransportError } from '../src/transport/index.js';
import { tempDir } from './helpers.js';

function tokenFile(contents: string, mode = 0o600): string {
  const file = path.join(tempDir('dptrain-token-'), 'token');
  fs.writeFileSync(file, contents);
  fs.chmodSync(file, mode);
  return file;
}

const goodHex = crypto.randomBytes(32).toString('hex');

test('a token file gives its bytes without the trailing newline', () => {
  assert.deepEqual(readTokenFile(tokenFile(`${goodHex}\n`)), Buffer.from(goodHex));
});

test('a missing token file is refused with how to create one', () => {
  const file = path.join(tempDir(), 'nope');
  assert.throws(() => readTokenFile(file), (e: unknown) => e instanceof TransportError && e.code === 'dptrain.transport.tokenFile' && e.message === `token file "${file}"${path.isAbsolute(file) ? "" : ` (${path.resolve(file)})`} does not exist; make one with: dptrain token --out ${file} (or: openssl rand -hex 32 > ${file} && chmod 600 ${file})`);
});

test('an empty token is refused with how to make a good one', () => {
  const empty = tokenFile('\n\n');
  assert.throws(() => readTokenFile(empty), { code: 'dptrain.transport.tokenFile', message: `token file "${empty}" is empty; make one with: dptrain token --out ${empty} --force (or: openssl rand -hex 32 > ${empty} && chmod 600 ${empty})` });
});

test('weak tokens are refused: short, low-variety, or a repeated pattern, each naming why and how to make a good one', () => {
  const weak: [string, RegExp][] = [
    ['passwordpassword', /16 characters carry at most about 96 bits/],
    ['secret', /6 characters carry at most about 36 bits/],
    ['0123456789abcdef0123456789abcde', /31 characters carry at most about 124 bits/], // 124 hex bits
    ['c'.repeat(64), /uses only 1 distinct characters/],
    ['passwordpasswordpasswordpassword', /uses only 7 distinct characters/],
    ['0123456789abcdef'.repeat(4), /repeats a 16-character pattern/],
  ];
  for (const [token, why] of weak) {
    const file = tokenFile(`${token}\n`);
    assert.throws(
      () => readTokenFile(file),
      (e: unknown) =>
        e instanceof TransportError &&
        e.code === 'dptrain.transport.tokenFile' &&
        e.reason === 'weakToken' &&
        why.test(e.message) &&
        e.message.startsWith(`token in "${file}" is too weak (`) &&
        e.message.endsWith(`at least 128 random bits are needed); make one with: dptrain token --out ${file} --force (or: openssl rand -hex 32 > ${file} && chmod 600 ${file})`),
      token,
    );
  }
});

test('a token file bigger than 4 KiB is refused as the wrong file, unread', () => {
  const file = tokenFile(crypto.randomBytes(4097).toString('hex').slice(0, 4097));
  assert.throws(() => readTokenFile(file), { code: 'dptrain.transport.tokenFile', message: `token file "${file}" is 4097 bytes, not a token (at most 4096); is it the right file?` });
});

test('random tokens of 128 bits or more in the usual encodings are accepted', () => {
  for (let i = 0; i < 200; i++) {
    for (const token of [
      crypto.randomBytes(16).toString('hex'), // 32 hex digits: 128 bits
      crypto.randomBytes(16).toString('base64url'), // 22 characters
      crypto.randomBytes(32).toString('base64'), // openssl rand -base64 32
      generateToken().trim(),
    ]) {
      assert.equal(tokenStrength(Buffer.from(token)).weakness, undefined, token);
    }
  }
  assert.equal(tokenStrength(crypto.randomBytes(16)).weakness, undefined, '16 raw random bytes');
});

test('a token file that its group or other users can read is refused with chmod 600', { skip: process.platform === 'win32' }, () => {
  for (const mode of [0o644, 0o640, 0o604, 0o660]) {
    const file = tokenFile(goodHex, mode);
    const shown = mode.toString(8);
    assert.throws(() => readTokenFile(file), { code: 'dptrain.transport.tokenFile', message: `token file "${file}" is readable by other users (mode ${shown}); it must be readable by its owner only: chmod 600 ${file}` });
  }
  const file = tokenFile(goodHex, 0o400);
  assert.equal(readTokenFile(file).length, 64);
});

test('proofs are mutual, bound to side, names, role and both nonces, and verified in constant time', () => {
  const token = Buffer.from('t'.repeat(32));
  const t = { protocol: 1, role: 'worker', clientName: 'w1', serverName: 'coordinator', clientNonce: createNonce(), serverNonce: createNonce() };
  const client = computeProof(token, 'client', t);
  assert.equal(client.length, 32);
  assert.ok(verifyProof(client, computeProof(token, 'client', t)));
  assert.ok(!verifyProof(client, computeProof(token, 'server', t)), 'a server proof is no client proof (no reflection)');
  for (const change of [{ clientName: 'w2' }, { serverName: 'x' }, { role: 'peer' }, { protocol: 2 }, { clientNonce: createNonce() }, { serverNonce: createNonce() }]) {
    assert.ok(!verifyProof(client, computeProof(token, 'client', { ...t, ...change })), JSON.stringify(Object.keys(change)));
  }
  assert.ok(!verifyProof(client, computeProof(Buffer.from('u'.repeat(32)), 'client', t)));
  assert.ok(!verifyProof(client, computeProof(undefined, 'client', t)), 'no token is not the token');
  assert.ok(!verifyProof(client, client.subarray(0, 31)), 'a short proof is refused, not compared');
  assert.notDeepEqual(createNonce(), createNonce());
  // the comparison is crypto.timingSafeEqual (docs/reliability.md)
  assert.match(fs.readFileSync(new URL('../../src/transport/auth.ts', import.meta.url), 'utf8'), /timingSafeEqual\(expected, received\)/);
});

test('each limit is checked and a bad value names the limit', () => {
  assert.deepEqual(resolveLimits(), { ...defaultLimits, reconnect: { ...defaultLimits.reconnect } });
  assert.equal(resolveLimits({ reservedHandshakes: 0 }).reservedHandshakes, 0, 'no reserved slots is allowed');
  for (const name of Object.keys(defaultLimits).filter((k) => k !== 'reconnect')) {
    for (const bad of [...(name === 'reservedHandshakes' ? [] : [0]), -1, 1.5, 'x', Number.NaN]) {
      assert.throws(
        () => resolveLimits({ [name]: bad }),
        (e: unknown) => e instanceof TransportError && e.code === 'dptrain.transport.badOption' && e.message.startsWith(`limits.${name} must be an integer`),
        `${name}=${String(bad)}`,
      );
    }
  }
  for (const name of ['initialDelayMs', 'maxDelayMs', 'attempts']) {
    assert.throws(() => resolveLimits({ reconnect: { [name]: 0 } }), { message: new RegExp(`^limits\\.reconnect\\.${name} must be an integer`) });
  }
  assert.throws(() => resolveLimits({ reconnect: { factor: 0.5 } }), { message: 'limits.reconnect.factor must be a finite number ≥ 1 (got 0.5)' });
  assert.throws(() => resolveLimits({ maxPayLoad: 5 } as never), { message: /^unknown transport limit "maxPayLoad" \(known: maxPayload, / });
  assert.throws(() => resolveLimits({ reconnect: { tries: 5 } } as never), { message: /^unknown reconnect option "tries"/ });
  assert.throws(() => resolveLimits({ maxPayload: 1000, maxHandshakePayload: 2000 }), { message: 'limits.maxHandshakePayload (2000) must not exceed limits.maxPayload (1000)' });
  assert.throws(() => resolveLimits({ heartbeatIntervalMs: 500, heartbeatTimeoutMs: 500 }), { message: /heartbeatTimeoutMs \(500\) must exceed/ });
  assert.throws(() => resolveLimits({ maxPayload: 2 ** 31 }), { message: 'limits.maxPayload must be an integer from 1 to 2147483647 (got 2147483648)' });
});

test('the default frame limit fits W2 parameters plus Adam state in one frame', () => {
  const w2Bytes = 1_863_690 * 4;
  assert.ok(defaultLimits.maxPayload >= 3 * w2Bytes + 1024);
  assert.equal(defaultLimits.maxPayload, 64 * 1024 * 1024);
});
