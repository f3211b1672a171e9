import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FormatError } from '../src/errors.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  writeFileAtomic,
  type Tensor,
} from '../src/io/index.js';
import { readLittleEndian, writeLittleEndian } from '../src/io/safetensors.js';

const sample: Tensor[] = [
  { name: 'layers.0.weight', dtype: 'F32', shape: [2, 3], data: Float32Array.from([0.5, -1.25, 3e-8, -0, Infinity, 1e30]) },
  { name: 'layers.0.bias', dtype: 'F32', shape: [2], data: Float32Array.from([NaN, 7]) },
  { name: 'scalar', dtype: 'F64', shape: [], data: Float64Array.from([Math.PI]) },
  { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
  { name: 'ids', dtype: 'I64', shape: [3], data: BigInt64Array.from([-1n, 2n ** 40n, 9007199254740993n]) },
  { name: 'counts', dtype: 'I32', shape: [1, 2], data: Int32Array.from([-5, 2147483647]) },
  { name: 'größe', dtype: 'U32', shape: [1], data: Uint32Array.from([4294967295]) },
  { name: 'mask', dtype: 'U8', shape: [5], data: Uint8Array.from([0, 1, 255, 3, 4]) },
];

function assertFormatError(fn: () => unknown, code: string, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
    assert.equal(e.code, `dptrain.format.${code}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** A file from a header string (no padding unless given) and data bytes, to build malformed files. */
function fileFrom(header: string, data: ArrayLike<number> = [], declaredLength?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(Array.from(data), 8 + h.length);
  return out;
}

const tensorJson = (dtype: string, shape: number[], begin: number, end: number): string =>
  JSON.stringify({ dtype, shape, data_offsets: [begin, end] });

describe('safetensors encoding', () => {
  test('round trip of every dtype, a 0-d scalar and an empty tensor keeps names, order, shapes and bits', () => {
    const { tensors, metadata } = decodeSafetensors(encodeSafetensors(sample, { step: '12', format: 'pt' }));
    assert.deepEqual([...tensors.keys()], sample.map((t) => t.name));
    for (const t of sample) {
      const got = tensors.get(t.name)!;
      assert.equal(got.dtype, t.dtype);
      assert.deepEqual(got.shape, t.shape);
      assert.equal(got.data.constructor, t.data.constructor);
      // compare bytes, so that NaN and -0 count too
      assert.deepEqual(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    assert.deepEqual({ ...metadata }, { format: 'pt', step: '12' });
  });

  test('the same tensors and metadata give the same bytes; metadata key order does not matter', () => {
    const a = encodeSafetensors(sample, { b: '2', a: '1' });
    const b = encodeSafetensors(sample.map((t) => ({ ...t, shape: [...t.shape], data: t.data.slice() })), { a: '1', b: '2' });
    assert.deepEqual(a, b);
    assert.deepEqual(encodeSafetensors(sample), encodeSafetensors(sample, {}));
  });

  test('the header is padded with spaces so that the data starts at a multiple of 8', () => {
    for (let k = 1; k <= 9; k++) {
      const bytes = encodeSafetensors([{ name: 'x'.repeat(k), dtype: 'U8', shape: [1], data: Uint8Array.from([k]) }]);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      assert.equal((8 + n) % 8, 0, `name of ${k} characters`);
      const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
      assert.match(header, /^\{.*\} *$/);
      assert.ok(header.length - header.trimEnd().length < 8);
      assert.equal(bytes.length, 8 + n + 1);
    }
  });

  test('metadata comes first, keys sorted, then tensors in the given order', () => {
    const bytes = encodeSafetensors(
      [
        { name: 'b', dtype: 'U8', shape: [1], data: Uint8Array.from([1]) },
        { name: '1', dtype: 'U8', shape: [], data: Uint8Array.from([2]) },
      ],
      { z: 'last', a: 'first' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(
      new TextDecoder().decode(bytes.subarray(8, 8 + n)).trimEnd(),
      '{"__metadata__":{"a":"first","z":"last"},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"1":{"dtype":"U8","shape":[],"data_offsets":[1,2]}}',
    );
  });

  test('a tiny F32 file written by hand decodes, and encoding gives exactly those bytes', () => {
    // header {"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 54 bytes, + 2 spaces = 56 = 0x38
    const header = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  ';
    const bytes = Uint8Array.from([
      0x38, 0, 0, 0, 0, 0, 0, 0,
      ...Array.from(header, (c) => c.charCodeAt(0)),
      0x00, 0x00, 0x80, 0x3f, // 1.0f little-endian
      0x00, 0x00, 0x00, 0xc0, // -2.0f
    ]);
    const { tensors, metadata } = decodeSafetensors(bytes);
    assert.deepEqual([...tensors.values()], [{ name: 'x', dtype: 'F32', shape: [2], data: Float32Array.from([1, -2]) }]);
    assert.deepEqual(Object.keys(metadata), []);
    assert.deepEqual(encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [2], data: Float32Array.from([1, -2]) }]), bytes);
  });

  test('decoded data is a fresh aligned copy even when the source bytes are unaligned', () => {
    const bytes = encodeSafetensors([{ name: 'w', dtype: 'F64', shape: [2], data: Float64Array.from([1.5, -2.5]) }]);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const w = decodeSafetensors(shifted.subarray(3)).tensors.get('w')!;
    assert.equal(w.data.byteOffset, 0);
    assert.notEqual(w.data.buffer, shifted.buffer);
    assert.deepEqual(w.data, Float64Array.from([1.5, -2.5]));
  });

  test('the big-endian host path writes and reads the same bytes as the little-endian one', () => {
    for (const t of sample) {
      const le = new Uint8Array(t.data.byteLength);
      const be = new Uint8Array(t.data.byteLength);
      writeLittleEndian(t.data, le, 0, true);
      writeLittleEndian(t.data, be, 0, false);
      assert.deepEqual(be, le, t.name);
      const back = readLittleEndian(t.dtype, le, t.data.length, false);
      assert.deepEqual(new Uint8Array(back.buffer), le, t.name);
    }
  });

  test('tensors that cannot be encoded are FormatErrors', () => {
    const t = (o: Partial<Tensor>): Tensor[] => [{ name: 'w', dtype: 'F32', shape: [2], data: new Float32Array(2), ...o }];
    assertFormatError(() => encodeSafetensors(t({ shape: [3] })), 'badSafetensorsTensor', 'cannot encode tensor "w": shape [3] holds 3 elements but data has 2');
    assertFormatError(() => encodeSafetensors(t({ data: new Float64Array(2) })), 'badSafetensorsTensor', 'cannot encode tensor "w": dtype F32 needs a Float32Array (got Float64Array)');
    assertFormatError(() => encodeSafetensors(t({ dtype: 'F16' as never })), 'badSafetensorsTensor', /unknown dtype "F16"/);
    assertFormatError(() => encodeSafetensors(t({ shape: [-2] })), 'badSafetensorsTensor', /shape must be an array of integers >= 0/);
    assertFormatError(() => encodeSafetensors([...t({}), ...t({})]), 'badSafetensorsTensor', /must be a unique string/);
    assertFormatError(() => encodeSafetensors(t({ name: '__metadata__' })), 'badSafetensorsTensor', /must be a unique string/);
    assertFormatError(() => encodeSafetensors(t({}), { step: 3 as never }), 'badSafetensorsHeader', 'cannot encode metadata "step": its value must be a string (got number)');
  });
});

describe('safetensors decoding trusts nothing in the file', () => {
  const ok = tensorJson('F32', [2], 0, 8);
  const eight = [0, 0, 128, 63, 0, 0, 0, 192];

  test('a file shorter than 8 bytes is truncated', () => {
    assertFormatError(() => decodeSafetensors(new Uint8Array(5)), 'truncatedSafetensors', 'safetensors data: 5 bytes is too short for safetensors (the header length alone takes 8)');
  });

  test('a header length beyond the end of the file is truncated', () => {
    assertFormatError(
      () => decodeSafetensors(fileFrom(`{"x":${ok}}`, eight, 200n), { source: 'model.safetensors' }),
      'truncatedSafetensors',
      'model.safetensors: header of 200 bytes goes beyond the end of the file (62 bytes follow the length)',
    );
  });

  test('a header length above the limit is rejected before reading it', () => {
    assertFormatError(
      () => decodeSafetensors(fileFrom('{}', [], 2n ** 63n)),
      'safetensorsHeaderTooLarge',
      'safetensors data: header of 9223372036854775808 bytes is larger than the limit of 104857600 bytes (maxHeaderBytes)',
    );
    assertFormatError(() => decodeSafetensors(encodeSafetensors(sample), { maxHeaderBytes: 64 }), 'safetensorsHeaderTooLarge', /larger than the limit of 64 bytes/);
  });

  test('a header that is not UTF-8, not JSON or not an object is a bad header', () => {
    const notUtf8 = fileFrom('{}');
    notUtf8[9] = 0xff;
    assertFormatError(() => decodeSafetensors(notUtf8), 'badSafetensorsHeader', 'safetensors data: header is not valid UTF-8');
    assertFormatError(() => decodeSafetensors(fileFrom(`{"x":${ok}`, eight)), 'badSafetensorsHeader', 'safetensors data: header is not valid JSON: unexpected end of JSON at position 53');
    assertFormatError(() => decodeSafetensors(fileFrom(`{"x":${ok}} x`, eight)), 'badSafetensorsHeader', /not valid JSON: unexpected character "x" at position 55/);
    assertFormatError(() => decodeSafetensors(fileFrom('[1, 2]')), 'badSafetensorsHeader', 'safetensors data: header must be a JSON object');
    assertFormatError(() => decodeSafetensors(fileFrom('\ufeff{}')), 'badSafetensorsHeader', /not valid JSON: unexpected character U\+FEFF at position 0/);
  });

  test('deeply nested JSON is rejected without overflowing the stack', () => {
    const deep = `{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    assertFormatError(() => decodeSafetensors(fileFrom(deep)), 'badSafetensorsHeader', /nesting deeper than 64/);
  });

  test('a duplicate tensor name or metadata key is a bad header', () => {
    assertFormatError(
      () => decodeSafetensors(fileFrom(`{"x":${tensorJson('F32', [1], 0, 4)},"x":${tensorJson('F32', [1], 4, 8)}}`, eight)),
      'badSafetensorsHeader',
      'safetensors data: header is not valid JSON: duplicate key "x" at position 54',
    );
    assertFormatError(() => decodeSafetensors(fileFrom('{"__metadata__":{"a":"1","a":"2"}}')), 'badSafetensorsHeader', /duplicate key "a"/);
  });

  test('"__proto__" keys are plain data and pollute nothing', () => {
    const header = `{"__metadata__":{"__proto__":"x","constructor":"y"},"__proto__":${tensorJson('F32', [2], 0, 8)}}`;
    const { tensors, metadata } = decodeSafetensors(fileFrom(header, eight));
    assert.deepEqual([...tensors.keys()], ['__proto__']);
    assert.deepEqual(tensors.get('__proto__')!.data, Float32Array.from([1, -2]));
    assert.equal(Object.getPrototypeOf(metadata), null);
    assert.deepEqual(Object.entries(metadata), [['__proto__', 'x'], ['constructor', 'y']]);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  test('metadata that is not an object of strings is a bad header', () => {
    assertFormatError(() => decodeSafetensors(fileFrom('{"__metadata__":{"step":12}}')), 'badSafetensorsHeader', 'safetensors data: metadata "step" must be a string (got 12)');
    assertFormatError(() => decodeSafetensors(fileFrom('{"__metadata__":["a"]}')), 'badSafetensorsHeader', 'safetensors data: "__metadata__" must be an object of strings');
  });

  test('an unknown dtype is a bad tensor', () => {
    assertFormatError(
      () => decodeSafetensors(fileFrom(`{"h":${tensorJson('F16', [4], 0, 8)}}`, eight)),
      'badSafetensorsTensor',
      'safetensors data: tensor "h" has unsupported dtype "F16" (supported: F32, F64, I32, U32, I64, U8)',
    );
    assertFormatError(() => decodeSafetensors(fileFrom(`{"h":${tensorJson('constructor', [4], 0, 8)}}`, eight)), 'badSafetensorsTensor', /unsupported dtype "constructor"/);
  });

  test('a shape that is not non-negative integers is a bad tensor', () => {
    for (const shape of ['[-2]', '[2.5]', '"2"', '[9007199254740993]', '[null]']) {
      assertFormatError(
        () => decodeSafetensors(fileFrom(`{"x":{"dtype":"F32","shape":${shape},"data_offsets":[0,8]}}`, eight)),
        'badSafetensorsTensor',
        /tensor "x" has shape .*; it must be an array of integers >= 0/,
      );
    }
  });

  test('offsets that are not [begin, end] integers are a bad tensor', () => {
    for (const offsets of ['[0]', '[0,8,8]', '[8,0]', '[-1,7]', '[0,"8"]', '{"0":0}']) {
      assertFormatError(
        () => decodeSafetensors(fileFrom(`{"x":{"dtype":"F32","shape":[2],"data_offsets":${offsets}}}`, eight)),
        'badSafetensorsTensor',
        /tensor "x" has data_offsets .*; they must be \[begin, end\] with integers 0 <= begin <= end/,
      );
    }
  });

  test('a size that does not match the shape is a bad tensor', () => {
    assertFormatError(
      () => decodeSafetensors(fileFrom(`{"x":${tensorJson('F32', [3], 0, 8)}}`, eight)),
      'badSafetensorsTensor',
      'safetensors data: tensor "x" (F32, shape [3]) needs 12 bytes but data_offsets [0, 8] span 8',
    );
  });

  test('a hole between tensors or before the first is a bad layout', () => {
    assertFormatError(
      () => decodeSafetensors(fileFrom(`{"a":${tensorJson('U8', [2], 0, 2)},"b":${tensorJson('U8', [4], 4, 8)}}`, eight)),
      'badSafetensorsLayout',
      'safetensors data: hole of 2 bytes between tensor "a" and tensor "b" (data bytes 2-4)',
    );
    assertFormatError(() => decodeSafetensors(fileFrom(`{"b":${tensorJson('U8', [4], 4, 8)}}`, eight)), 'badSafetensorsLayout', /hole of 4 bytes between the start of the data and tensor "b"/);
  });

  test('overlapping tensors are a bad layout', () => {
    assertFormatError(
      () => decodeSafetensors(fileFrom(`{"a":${tensorJson('U8', [6], 0, 6)},"b":${tensorJson('U8', [4], 4, 8)}}`, eight)),
      'badSafetensorsLayout',
      'safetensors data: tensor "b" (bytes 4-8) overlaps tensor "a" (bytes 0-6)',
    );
  });

  test('data beyond the end of the file is truncated; bytes left over are a bad layout', () => {
    assertFormatError(
      () => decodeSafetensors(fileFrom(`{"x":${tensorJson('F32', [3], 0, 12)}}`, eight)),
      'truncatedSafetensors',
      'safetensors data: tensor "x" (data bytes 0-12) goes beyond the end of the file (the data buffer has 8 bytes)',
    );
    assertFormatError(
      () => decodeSafetensors(fileFrom(`{"x":${tensorJson('F32', [1], 0, 4)}}`, eight)),
      'badSafetensorsLayout',
      'safetensors data: 4 bytes after the last tensor belong to no tensor (data bytes 4-8)',
    );
  });

  test('tensors may be stored in another order than the header, and empty tensors sit anywhere in the sequence', () => {
    const header = `{"b":${tensorJson('U8', [4], 4, 8)},"e":${tensorJson('F64', [0], 4, 4)},"a":${tensorJson('U8', [2, 2], 0, 4)}}`;
    const { tensors } = decodeSafetensors(fileFrom(header, [1, 2, 3, 4, 5, 6, 7, 8]));
    assert.deepEqual([...tensors.keys()], ['b', 'e', 'a']);
    assert.deepEqual(tensors.get('a')!.data, Uint8Array.from([1, 2, 3, 4]));
    assert.deepEqual(tensors.get('b')!.data, Uint8Array.from([5, 6, 7, 8]));
    assert.deepEqual(tensors.get('e')!.data, new Float64Array(0));
  });
});

describe('safetensors files', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dptrain-io-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('save then load round-trips and names the path in errors', async () => {
    const path = join(dir, 'final.safetensors');
    await saveSafetensors(path, sample, { step: '3' });
    const { tensors, metadata } = await loadSafetensors(path);
    assert.deepEqual(tensors.get('layers.0.weight')!.data, sample[0].data);
    assert.equal(metadata.step, '3');
    await writeFile(path, new Uint8Array(3));
    await assert.rejects(loadSafetensors(path), (e: unknown) => e instanceof FormatError && e.code === 'dptrain.format.truncatedSafetensors' && e.message.startsWith(`${path}: `));
  });

  test('a missing file is fileNotFound naming the path', async () => {
    const path = join(dir, 'missing.safetensors');
    await assert.rejects(loadSafetensors(path), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.equal(e.code, 'dptrain.format.fileNotFound');
      assert.equal(e.message, `${path}: no such file`);
      return true;
    });
  });

  test('an atomic write replaces an existing file and leaves no temp file', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'ckpt.safetensors');
    await writeFile(path, 'old content');
    await writeFileAtomic(path, Uint8Array.from([1, 2, 3]));
    assert.deepEqual(new Uint8Array(await readFile(path)), Uint8Array.from([1, 2, 3]));
    await writeFileAtomic(path, Uint8Array.from([4]));
    assert.deepEqual(new Uint8Array(await readFile(path)), Uint8Array.from([4]));
    assert.deepEqual(await readdir(sub), ['ckpt.safetensors']);
  });

  test('a failed atomic write removes its temp file and propagates the error', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const target = join(sub, 'a-directory');
    await mkdir(join(target, 'inside'), { recursive: true });
    // renaming a file over a non-empty directory fails
    await assert.rejects(writeFileAtomic(target, Uint8Array.from([1])), /EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    assert.deepEqual(await readdir(sub), ['a-directory']);
    assert.deepEqual(await readdir(target), ['inside']);
    await assert.rejects(writeFileAtomic(join(sub, 'no-such-dir', 'f'), Uint8Array.from([1])), /ENOENT/);
  });
});

// ---- An independent reader and writer: Python + numpy, following the spec, not our code. ----

const python = `
import json, struct, sys
import numpy as np
DT = {'F32': '<f4', 'F64': '<f8', 'I32': '<i4', 'U32': '<u4', 'I64': '<i8', 'U8': 'u1'}

def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), 'duplicate keys'
    return dict(pairs)

def read(path, expected_path):
    raw = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', raw[:8])
    assert (8 + n) % 8 == 0, 'data not 8-byte aligned'
    header = json.loads(raw[8:8 + n].decode('utf-8'), object_pairs_hook=no_duplicates)
    metadata = header.pop('__metadata__', {})
    data = raw[8 + n:]
    pos = 0
    for b, e in sorted(tuple(v['data_offsets']) for v in header.values()):
        assert b == pos, 'hole or overlap'
        pos = e
    assert pos == len(data), 'bytes left over'
    expected = json.load(open(expected_path))
    assert list(header) == [t['name'] for t in expected['tensors']], list(header)
    assert metadata == expected['metadata'], metadata
    for t in expected['tensors']:
        info = header[t['name']]
        assert info['dtype'] == t['dtype'] and info['shape'] == t['shape'], (t['name'], info)
        b, e = info['data_offsets']
        dt = np.dtype(DT[info['dtype']])
        assert (e - b) == dt.itemsize * int(np.prod(info['shape'])), t['name']
        got = np.frombuffer(data[b:e], dtype=dt).reshape(info['shape'])
        values = [int(v) for v in t['values']] if info['dtype'] == 'I64' else t['values']
        want = np.array(values, dtype=dt).reshape(t['shape'])
        assert np.array_equal(got, want), (t['name'], got, want)
    print('read ok')

def write(path):
    tensors = {
        'weight': np.arange(6, dtype='<f4').reshape(2, 3) * np.float32(0.5) - np.float32(1),
        'ids': np.array([-1, 2**40, 7], dtype='<i8'),
        'scalar': np.array(3.25, dtype='<f8'),
        'empty': np.zeros((0, 4), dtype='u1'),
        'counts': np.array([-5, 2147483647], dtype='<i4'),
        'u': np.array([4294967295], dtype='<u4'),
        'gr\\u00f6\\u00dfe': np.array([0.1, -0.2], dtype='<f4'),
    }
    # data laid out sorted by name (as safetensors' own writer sorts), header in insertion order
    header, chunks, pos = {'__metadata__': {'format': 'pt', 'step': '7'}}, [], 0
    for name in sorted(tensors):
        b = tensors[name].tobytes()
        header[name] = None
        chunks.append((name, pos, pos + len(b), b))
        pos += len(b)
    header = {'__metadata__': header['__metadata__']}
    for name in tensors:
        _, b, e, _ = next(c for c in chunks if c[0] == name)
        header[name] = {'dtype': {'<f4': 'F32', '<f8': 'F64', '<i8': 'I64', '<i4': 'I32', '<u4': 'U32', '|u1': 'U8'}[tensors[name].dtype.str], 'shape': list(tensors[name].shape), 'data_offsets': [b, e]}
    text = json.dumps(header).encode('utf-8')
    text += b' ' * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(c[3] for c in chunks))
    print('write ok')

if sys.argv[1] == 'read':
    read(sys.argv[2], sys.argv[3])
else:
    write(sys.argv[2])
`;

function hasNumpy(): boolean {
  return spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
}

function runPython(args: string[]): void {
  const r = spawnSync('python3', ['-c', python, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `python3 failed:\n${r.stdout}${r.stderr}`);
}

describe('safetensors interoperability (python3 + numpy)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dptrain-io-py-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a reader written from the spec reads our file with the values we wrote', async (t) => {
    if (!hasNumpy()) return t.skip('python3 with numpy not available');
    const finite = sample.filter((x) => x.name !== 'layers.0.bias' && x.name !== 'layers.0.weight');
    finite.push({ name: 'layers.0.weight', dtype: 'F32', shape: [2, 3], data: Float32Array.from([0.5, -1.25, 3e-8, 0, 1e30, -7]) });
    const metadata = { format: 'pt', step: '12', 'ключ': 'значение' };
    const path = join(dir, 'ours.safetensors');
    await saveSafetensors(path, finite, metadata);
    const expected = {
      metadata,
      tensors: finite.map((x) => ({ name: x.name, dtype: x.dtype, shape: x.shape, values: Array.from(x.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v)) })),
    };
    const expectedPath = join(dir, 'expected.json');
    await writeFile(expectedPath, JSON.stringify(expected));
    runPython(['read', path, expectedPath]);
  });

  test('a file written from the spec by Python decodes to the values it wrote', async (t) => {
    if (!hasNumpy()) return t.skip('python3 with numpy not available');
    const path = join(dir, 'theirs.safetensors');
    runPython(['write', path]);
    const { tensors, metadata } = await loadSafetensors(path);
    assert.deepEqual({ ...metadata }, { format: 'pt', step: '7' });
    assert.deepEqual([...tensors.keys()], ['weight', 'ids', 'scalar', 'empty', 'counts', 'u', 'größe']);
    assert.deepEqual(tensors.get('weight'), { name: 'weight', dtype: 'F32', shape: [2, 3], data: Float32Array.from([-1, -0.5, 0, 0.5, 1, 1.5]) });
    assert.deepEqual(tensors.get('ids')!.data, BigInt64Array.from([-1n, 2n ** 40n, 7n]));
    assert.deepEqual(tensors.get('scalar'), { name: 'scalar', dtype: 'F64', shape: [], data: Float64Array.from([3.25]) });
    assert.deepEqual(tensors.get('empty'), { name: 'empty', dtype: 'U8', shape: [0, 4], data: new Uint8Array(0) });
    assert.deepEqual(tensors.get('counts')!.data, Int32Array.from([-5, 2147483647]));
    assert.deepEqual(tensors.get('u')!.data, Uint32Array.from([4294967295]));
    assert.deepEqual(tensors.get('größe')!.data, Float32Array.from([0.1, -0.2]));
  });
});
