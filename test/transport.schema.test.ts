// Message schemas: every decoded message is checked against its declaration before use.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineMessages, f, TransportError, validateMessage } from '../src/transport/index.js';
import { testMessages, W2_PARAMS } from './transport.helpers.js';

const dims = { params: W2_PARAMS };

function assertBad(raw: unknown, reason: string, message: string | RegExp, d: Record<string, number> = dims): void {
  assert.throws(
    () => testMessages.validate(raw, d),
    (error: unknown) =>
      error instanceof TransportError &&
      error.code === 'dptrain.transport.badMessage' &&
      error.reason === reason &&
      (typeof message === 'string' ? error.message === message : message.test(error.message)),
  );
}

test('a valid message comes back typed, as a fresh object with only its declared fields', () => {
  const data = new Float32Array(W2_PARAMS);
  const raw = { type: 'grad', step: 7, data };
  const m = testMessages.validate(raw, dims);
  assert.notEqual(m, raw);
  assert.deepEqual(Object.keys(m), ['type', 'step', 'data']);
  if (m.type === 'grad') {
    const step: number = m.step; // the union narrows on `type`
    assert.equal(step, 7);
    assert.equal(m.data, data); // typed arrays are not copied
  }
  const note = testMessages.validate({ type: 'note', text: 'hi' });
  assert.deepEqual(note, { type: 'note', text: 'hi' });
});

test('a Float32Array of the wrong length names the message, field, expected and actual length', () => {
  assertBad({ type: 'grad', step: 0, data: new Float32Array(12) }, 'wrongLength', 'message "grad" field "data" must be a Float32Array of 1863690 elements (got 12)');
  assertBad({ type: 'grad', step: 0, data: [1, 2, 3] }, 'wrongType', 'message "grad" field "data" must be a Float32Array of 1863690 elements (got an array)');
  assertBad({ type: 'grad', step: 0, data: new Float64Array(W2_PARAMS) }, 'wrongType', /got a Float64Array/);
  assertBad({ type: 'grad', step: 0, data: Buffer.alloc(4 * W2_PARAMS) }, 'wrongType', /got a Buffer/);
});

test('a dimension the engine has not set is a programming error, not the peer\'s', () => {
  assert.throws(() => testMessages.validate({ type: 'grad', step: 0, data: new Float32Array(3) }, {}), {
    code: 'dptrain.transport.badOption',
    message: 'field "data" needs dimension "params", which is not set',
  });
});

test('unknown fields are refused at every level', () => {
  assertBad({ type: 'note', text: 'x', extra: 1 }, 'unknownField', 'message "note" has unknown field "extra"');
  assertBad({ type: 'note', text: 'x', shard: { start: 0, end: 1, evil: 2 } }, 'unknownField', 'message "note" has unknown field "shard.evil"');
  assertBad({ type: 'note', text: 'x', __proto_: 1 }, 'unknownField', /unknown field "__proto_"/); // msgpackr's rename
});

test('missing fields, wrong types and out-of-range values name the field', () => {
  assertBad({ type: 'grad', data: new Float32Array(W2_PARAMS) }, 'missingField', 'message "grad" lacks field "step"');
  assertBad({ type: 'grad', step: -1, data: new Float32Array(W2_PARAMS) }, 'outOfRange', /field "step" must be an integer from 0 to \d+ \(got -1\)/);
  assertBad({ type: 'grad', step: 1.5, data: new Float32Array(W2_PARAMS) }, 'wrongType', 'message "grad" field "step" must be an integer (got the number 1.5)');
  assertBad({ type: 'grad', step: 2 ** 60, data: new Float32Array(W2_PARAMS) }, 'wrongType', /field "step" must be an integer/);
  assertBad({ type: 'note', text: 5 }, 'wrongType', 'message "note" field "text" must be a string (got the number 5)');
  assertBad({ type: 'note', text: 'x'.repeat(101) }, 'outOfRange', 'message "note" field "text" must be a string of 0 to 100 characters (got 101 characters)');
  assertBad({ type: 'note', text: 'x', shard: { start: 0 } }, 'missingField', 'message "note" lacks field "shard.end"');
  assertBad({ type: 'note', text: 'x', shard: [0, 1] }, 'wrongType', 'message "note" field "shard" must be an object (got an array)');
});

test('the type tag must be a declared message type', () => {
  assertBad({ step: 1 }, 'missingType', 'a message needs a string field "type" (got undefined)');
  assertBad({ type: 'hello' }, 'unknownType', 'unknown message type "hello" (known: grad, chunk, note)');
  assertBad([1, 2], 'notAnObject', 'a message must be an object (got an array)');
  assertBad(new Float32Array(2), 'notAnObject', 'a message must be an object (got a Float32Array)');
  assertBad(null, 'notAnObject', 'a message must be an object (got null)');
});

test('numbers must be finite; scalars, enums, bytes and records are checked too', () => {
  const set = defineMessages({
    m: {
      x: f.number({ min: 0, max: 1 }),
      e: f.enum(['star', 'ring']),
      b: f.bytes({ length: 4 }),
      r: f.record(f.scalar({ maxLength: 3 }), { maxKeys: 2 }),
      a: f.array(f.integer(), { maxLength: 2 }),
      on: f.boolean(),
    },
  });
  const ok = { type: 'm', x: 0.5, e: 'ring', b: new Uint8Array(4), r: { k: 'abc', n: 1 }, a: [1, 2], on: true };
  assert.deepEqual(set.validate(ok), ok);
  const bad = (patch: object, reason: string, message: RegExp) =>
    assert.throws(() => set.validate({ ...ok, ...patch }), (e: unknown) => e instanceof TransportError && e.reason === reason && message.test(e.message));
  bad({ x: NaN }, 'wrongType', /field "x" must be a finite number \(got NaN\)/);
  bad({ x: Infinity }, 'wrongType', /got Infinity/);
  bad({ x: 2 }, 'outOfRange', /field "x" must be a number from 0 to 1 \(got 2\)/);
  bad({ e: 'tree' }, 'wrongType', /field "e" must be one of "star", "ring" \(got "tree"\)/);
  bad({ b: new Uint8Array(3) }, 'wrongLength', /field "b" must be 4 bytes \(got 3 bytes\)/);
  bad({ b: new Float32Array(1) }, 'wrongType', /field "b" must be bytes/);
  bad({ r: { k: 'abcd' } }, 'wrongType', /field "r.k" must be a string of at most 3 characters/);
  bad({ r: { a: 1, b: 2, c: 3 } }, 'outOfRange', /at most 2 keys/);
  bad({ r: { 'not an id': 1 } }, 'badKey', /not an identifier/);
  bad({ a: [1, 'x'] }, 'wrongType', /field "a\[1\]" must be an integer/);
  bad({ a: [1, 2, 3] }, 'outOfRange', /at most 2 elements/);
  bad({ on: 1 }, 'wrongType', /field "on" must be a boolean/);
});

test('declarations are checked once: reserved names, duplicates and bad identifiers are refused', () => {
  assert.throws(() => defineMessages({ m: { type: f.string() } }), { code: 'dptrain.transport.badOption', message: /field name "type"/ });
  assert.throws(() => defineMessages({ m: { constructor: f.string() } }), { code: 'dptrain.transport.badOption' });
  assert.throws(() => defineMessages({ 'bad type': {} }), { code: 'dptrain.transport.badOption', message: /message type "bad type"/ });
  assert.throws(() => testMessages.extend({ grad: {} }), { code: 'dptrain.transport.badOption', message: 'message type "grad" is declared twice' });
  const more = testMessages.extend({ bye: {} });
  assert.deepEqual(more.types, ['grad', 'chunk', 'note', 'bye']);
});

test('the handshake messages have their own validator', () => {
  const nonce = new Uint8Array(32);
  assert.equal(validateMessage({ type: 'hello', protocol: 1, name: 'w1', role: 'worker', nonce, meta: {} }).type, 'hello');
  assert.throws(() => validateMessage({ type: 'hello', protocol: 1, name: 'w 1', role: 'worker', nonce, meta: {} }), {
    code: 'dptrain.transport.badMessage',
    reason: 'badPattern',
  });
  assert.throws(() => validateMessage({ type: 'proof', proof: new Uint8Array(31) }), { reason: 'wrongLength' });
});
