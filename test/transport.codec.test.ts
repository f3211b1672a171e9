// The wire codec: typed arrays as binary, and every hostile frame refused before msgpackr
// allocates for it. Frames are built from literal bytes, as ws's own wire tests do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { Codec, TransportError } from '../src/transport/index.js';
import { W2_PARAMS } from './transport.helpers.js';

const bytes = (...b: number[]) => Buffer.from(b);

/** Asserts that `frame` is refused as badFrame with `reason`, and that the reason was counted. */
function assertRefused(codec: Codec, frame: Uint8Array, reason: string): void {
  const before = codec.rejections.get(`badFrame:${reason}`);
  assert.throws(
    () => codec.decode(frame),
    (error: unknown) =>
      error instanceof TransportError && error.code === 'dptrain.transport.badFrame' && error.reason === reason && error.message.startsWith(`bad frame (${reason})`),
  );
  assert.equal(codec.rejections.get(`badFrame:${reason}`), before + 1);
}

test('a Float32Array round-trips as a Float32Array with the same bits, not a list or a Buffer', () => {
  const codec = new Codec();
  const data = new Float32Array([0, -0, 1.5, -3.25e-38, Infinity, NaN, 3.4028234663852886e38]);
  const decoded = codec.decode(codec.encode({ type: 'grad', data })) as { type: string; data: unknown };
  assert.ok(decoded.data instanceof Float32Array);
  assert.deepEqual(new Uint8Array(decoded.data.buffer), new Uint8Array(data.buffer));
  // a view into a larger buffer travels as just its own elements
  const view = new Float32Array([1, 2, 3, 4, 5]).subarray(1, 4);
  assert.deepEqual((codec.decode(codec.encode({ v: view })) as { v: Float32Array }).v, new Float32Array([2, 3, 4]));
});

test("W2's 7.4 MB gradient costs one copy to encode and none to decode from a frame of its own", () => {
  const codec = new Codec();
  const data = new Float32Array(W2_PARAMS);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i);
  const frame = codec.encode({ type: 'grad', step: 0, data });
  assert.ok(frame.length > data.byteLength && frame.length < data.byteLength + 64, `frame ${frame.length} bytes`);
  // encode copied: changing the source after encoding does not change the frame
  const first = data[0];
  data[0] = 42;
  // as ws hands a frame over that spans several socket reads: a buffer of its own, at offset 0
  const received = Buffer.from(frame);
  const decoded = (codec.decode(received) as { data: Float32Array }).data;
  assert.equal(decoded[0], first);
  data[0] = first;
  // decode did not copy: the result is an 8-byte-aligned view of the received frame
  assert.equal(decoded.buffer, received.buffer);
  assert.equal(decoded.byteOffset % 8, 0);
  assert.deepEqual(decoded, data);
  // a frame inside a much larger buffer (msgpackr's output buffer here) is copied out instead of pinned
  const copied = (codec.decode(frame) as { data: Float32Array }).data;
  assert.notEqual(copied.buffer, frame.buffer);
  assert.equal(copied.buffer.byteLength, data.byteLength);
  assert.deepEqual(copied, data);
});

test('a large Float32Array is written aligned whatever precedes it; a small one keeps msgpackr\'s 0x74 layout', () => {
  const codec = new Codec();
  const large = new Float32Array(16_384).map((_, i) => i - 0.5); // 64 KiB: the smallest written aligned
  const paddings = new Set<number>();
  for (let name = 0; name < 8; name++) {
    const frame = codec.encode({ name: 'x'.repeat(name), values: large });
    const ext = frame.indexOf(0x61, frame.indexOf(Buffer.from('values')) + 6);
    assert.equal(frame[ext - 5], 0xc9, 'an ext32 header');
    assert.equal(frame[ext + 1], 7, 'type code Float32');
    const k = frame[ext + 2];
    paddings.add(k);
    assert.equal((ext + 3 + k) % 8, 0, `the array starts 8-byte aligned in the frame (name of ${name} bytes)`);
    const received = Buffer.from(frame);
    const values = (codec.decode(received) as { values: Float32Array }).values;
    assert.equal(values.buffer, received.buffer);
    assert.deepEqual(values, large);
  }
  assert.equal(paddings.size, 8, 'each of the 8 paddings was needed once');
  const small = large.subarray(0, 16_383);
  const frame = codec.encode({ values: small });
  assert.deepEqual([...frame.subarray(8, 13)], [0xc8, 0xff, 0xfd, 0x74, 7], 'ext16, msgpackr typed array, Float32');
  assert.deepEqual((codec.decode(Buffer.from(frame)) as { values: Float32Array }).values, small);
});

test('records and shared structures never take effect: an in-band record definition is refused', () => {
  const codec = new Codec();
  // 0xd4 0x72 0x40 = fixext1 "r" defining record 0x40 with keys ["a"], then one record
  assertRefused(codec, bytes(0xd4, 0x72, 0x40, 0x91, 0xa1, 0x61, 0x01), 'recordDefinition');
  assertRefused(codec, bytes(0xd5, 0x72, 0x40, 0x00, 0x91, 0xa1, 0x61, 0x01), 'recordDefinition');
  // a frame packed with records by a careless peer is refused too
  const withRecords = new Packr({ useRecords: true }).pack({ a: 1, b: 2 });
  assertRefused(codec, withRecords, 'recordDefinition');
  // and 0x40..0x7f stay plain integers afterwards
  assert.equal(codec.decode(bytes(0x40)), 0x40);
});

test('__proto__, constructor and prototype keys are refused, and no prototype is touched', () => {
  const codec = new Codec();
  const key = (k: string) => [0xa0 + k.length, ...Buffer.from(k)];
  // { "__proto__": { "polluted": true } }
  assertRefused(codec, bytes(0x81, ...key('__proto__'), 0x81, ...key('polluted'), 0xc3), 'forbiddenKey');
  assertRefused(codec, bytes(0x81, ...key('constructor'), 0x81, ...key('prototype'), 0x81, ...key('polluted'), 0xc3), 'forbiddenKey');
  assertRefused(codec, bytes(0x81, ...key('a'), 0x81, ...key('prototype'), 0xc3), 'forbiddenKey');
  // nested inside an array, and as a str8 key
  assertRefused(codec, bytes(0x91, 0x81, 0xd9, 9, ...Buffer.from('__proto__'), 0xc0), 'forbiddenKey');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
  // non-string keys (msgpackr would stringify them) and overlong keys are refused
  assertRefused(codec, bytes(0x81, 0x01, 0x02), 'badKey');
  assertRefused(codec, bytes(0x81, 0x91, 0x01, 0x02), 'badKey');
  const longKey = Buffer.alloc(300, 0x61);
  assertRefused(codec, Buffer.concat([bytes(0x81, 0xda, 0x01, 0x2c), longKey, bytes(0xc0)]), 'badKey');
});

test('a 5-byte frame claiming a 4-billion-element array is refused without allocating', () => {
  const codec = new Codec();
  const heapBefore = process.memoryUsage().heapUsed;
  assertRefused(codec, bytes(0xdd, 0xff, 0xff, 0xff, 0xff), 'lengthTooLarge');
  assertRefused(codec, bytes(0xdd, 0x01, 0x31, 0x2d, 0x00), 'lengthTooLarge'); // 20M elements (reliability.md row 30)
  assertRefused(codec, bytes(0xdf, 0xff, 0xff, 0xff, 0xff), 'lengthTooLarge'); // map32
  assertRefused(codec, bytes(0xdb, 0xff, 0xff, 0xff, 0xff), 'lengthTooLarge'); // str32
  assertRefused(codec, bytes(0xc6, 0xff, 0xff, 0xff, 0xff), 'lengthTooLarge'); // bin32
  assertRefused(codec, bytes(0xc9, 0xff, 0xff, 0xff, 0xff, 0x74, 0x08), 'lengthTooLarge'); // ext32 typed array
  // a chain of array16 headers each claiming 65535 elements (msgpackr PR #200): 72 KB that would
  // pin GBs; each header fits in what remains, but their sum passes maxTotalElements
  const chain = Buffer.alloc(3 * 24_000);
  for (let i = 0; i < chain.length; i += 3) chain.set([0xdc, 0xff, 0xff], i);
  assertRefused(codec, chain, 'tooManyElements');
  assert.ok(process.memoryUsage().heapUsed - heapBefore < 16 * 1024 * 1024, 'no large allocation');
});

test('nesting deeper than maxDepth is refused (the scan is iterative, so no stack overflow)', () => {
  const codec = new Codec({ maxDepth: 16 });
  const nest = (depth: number) => Buffer.concat([Buffer.alloc(depth, 0x91), bytes(0x01)]);
  assert.deepEqual(codec.decode(nest(16)), JSON.parse('['.repeat(16) + '1' + ']'.repeat(16)));
  assertRefused(codec, nest(17), 'tooDeep');
  assertRefused(codec, nest(100_000), 'tooDeep');
});

test('collections are capped per header and per frame', () => {
  const codec = new Codec({ maxCollectionLength: 4, maxTotalElements: 6 });
  assert.deepEqual(codec.decode(bytes(0x94, 1, 2, 3, 4)), [1, 2, 3, 4]);
  assertRefused(codec, bytes(0x95, 1, 2, 3, 4, 5), 'lengthTooLarge');
  assertRefused(codec, bytes(0x92, 0x94, 1, 2, 3, 4, 0x94, 1, 2, 3, 4), 'tooManyElements');
});

test('extensions other than numeric typed arrays are refused', () => {
  const codec = new Codec();
  assertRefused(codec, bytes(0xd4, 0x00, 0x00), 'badExtension'); // undefined
  assertRefused(codec, bytes(0xd4, 0x78, 0x00, 0x92, 0xa4, ...Buffer.from('(a+)'), 0xa0), 'badExtension'); // RegExp
  assertRefused(codec, bytes(0xd4, 0x65, 0x00, 0x93, 0xa1, 0x45, 0xa1, 0x6d, 0xc0), 'badExtension'); // Error
  assertRefused(codec, bytes(0xd6, 0x70, 0, 0, 0, 1), 'badExtension'); // structured-clone pointer
  assertRefused(codec, bytes(0xd6, 0x69, 0, 0, 0, 1, 0x90), 'badExtension'); // structured-clone id
  assertRefused(codec, bytes(0xd4, 0x73, 0x00, 0x90), 'badExtension'); // Set
  assertRefused(codec, bytes(0xd6, 0xff, 0, 0, 0, 0), 'badExtension'); // timestamp
  assertRefused(codec, bytes(0xc7, 0x03, 0x74, 0x09, 0, 0), 'badTypedArray'); // BigInt64Array
  assertRefused(codec, bytes(0xc7, 0x03, 0x74, 0x10, 0, 0), 'badTypedArray'); // ArrayBuffer
  assertRefused(codec, bytes(0xc7, 0x04, 0x74, 0x07, 0, 0, 0), 'badTypedArray'); // 3 bytes of float32
  assertRefused(codec, bytes(0xc7, 0x00, 0x74), 'badTypedArray');
  // msgpackr's type codes: 7 is Float32Array, 8 Float64Array
  assert.deepEqual(codec.decode(bytes(0xc7, 0x05, 0x74, 0x07, 0x00, 0x00, 0xc0, 0x3f)), new Float32Array([1.5]));
  // the aligned Float32 array (0x61): code 7, padding k < 8, then 4 bytes, then 7 - k bytes, all padding zero
  const aligned = (code: number, k: number, data: number[], pad = 0) =>
    bytes(0xc7, 9 + data.length, 0x61, code, k, ...Array<number>(Math.min(k, 7)).fill(pad), ...data, ...Array<number>(Math.max(0, 7 - k)).fill(0));
  assert.deepEqual(codec.decode(aligned(7, 3, [0x00, 0x00, 0xc0, 0x3f])), new Float32Array([1.5]));
  assertRefused(codec, aligned(8, 3, [0, 0, 0, 0, 0, 0, 0xf8, 0x3f]), 'badTypedArray'); // Float64 is never written aligned
  assertRefused(codec, aligned(7, 8, [0x00, 0x00, 0xc0, 0x3f]), 'badTypedArray'); // padding of 8
  assertRefused(codec, aligned(7, 3, [0x00, 0x00, 0xc0, 0x3f], 1), 'badTypedArray'); // padding not zero
  assertRefused(codec, aligned(7, 3, [0x00, 0xc0, 0x3f]), 'badTypedArray'); // 3 bytes of float32
  assertRefused(codec, bytes(0xc7, 0x02, 0x61, 0x07, 0x00), 'badTypedArray'); // shorter than its padding
});

test('malformed frames are refused with a counted reason', () => {
  const codec = new Codec({ maxPayload: 64 });
  assertRefused(codec, bytes(), 'empty');
  assertRefused(codec, Buffer.alloc(65, 0xc0), 'tooLarge');
  assertRefused(codec, bytes(0xc1), 'badToken');
  assertRefused(codec, bytes(0xcb, 0x00, 0x01), 'truncated');
  assertRefused(codec, bytes(0x92, 0x01, 0xcb, 0x00), 'truncated');
  assertRefused(codec, bytes(0x92, 0x01), 'lengthTooLarge'); // 2 elements cannot fit in 1 byte
  assertRefused(codec, bytes(0x01, 0x02), 'trailingBytes');
  assertRefused(codec, bytes(0xa2, 0xc3, 0x28), 'badUtf8');
  assertRefused(codec, bytes(0xa2, 0xc0, 0xaf), 'badUtf8'); // overlong encoding of "/"
  assert.throws(() => codec.refuseText(), { code: 'dptrain.transport.badFrame', reason: 'notBinary' });
  assert.deepEqual(codec.rejections.toJSON(), {
    'badFrame:badToken': 1,
    'badFrame:badUtf8': 2,
    'badFrame:empty': 1,
    'badFrame:lengthTooLarge': 1,
    'badFrame:notBinary': 1,
    'badFrame:tooLarge': 1,
    'badFrame:trailingBytes': 1,
    'badFrame:truncated': 2,
  });
});

test('encoding a message over maxPayload fails before anything is sent', () => {
  const codec = new Codec({ maxPayload: 1024 });
  assert.throws(() => codec.encode({ data: new Float32Array(1024) }), {
    name: 'TransportError',
    code: 'dptrain.transport.payloadTooLarge',
    message: /^message of 41\d\d bytes exceeds maxPayload \(1024 bytes\); send it in chunks$/,
  });
});

test('ordinary values decode as plain data: numbers, strings, bins, nested objects', () => {
  const codec = new Codec();
  const value = { a: 1, b: -2.5, c: 'héllo', d: [true, false, null], e: { f: 2 ** 40 }, g: Buffer.from([1, 2, 3]) };
  const decoded = codec.decode(codec.encode(value)) as typeof value;
  assert.deepEqual({ ...decoded, g: [...decoded.g] }, { ...value, g: [1, 2, 3] });
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  // int64 values arrive as numbers, not bigints
  assert.equal(codec.decode(bytes(0xcf, 0, 0, 0, 1, 0, 0, 0, 0)), 2 ** 32);
});
