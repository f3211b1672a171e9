// Checkpoint files and the checkpoint directory (issue 6; docs/reliability.md rows K1–K12).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { ConfigError, DptrainError, FormatError } from '../src/errors.js';
import { decodeSafetensors, encodeSafetensors, writeFileAtomic } from '../src/io/index.js';
import { paramLayout, parseModelSpec } from '../src/model/index.js';
import {
  CHECKPOINT_FORMAT_VERSION,
  CheckpointStore,
  checkpointFileName,
  decodeCheckpoint,
  encodeCheckpoint,
  findLatestCheckpoint,
  inspectSafetensors,
  listCheckpoints,
  loadParameters,
  saveParameters,
  type Checkpoint,
} from '../src/train/index.js';
import { SAMPLE_MODEL, SAMPLE_NUM_PARAMS, sampleCheckpoint } from './fixtures/checkpoints.js';
import { repoRoot, tempDir } from './helpers.js';

// ---- helpers ----

const headerLength = (bytes: Uint8Array): number => Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
const headerText = (bytes: Uint8Array): string => Buffer.from(bytes.subarray(8, 8 + headerLength(bytes))).toString('latin1');

function flipBit(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  assert.ok(index >= 0 && index < bytes.length, `byte ${index} is in the file`);
  const out = Uint8Array.from(bytes);
  out[index] ^= 1 << bit;
  return out;
}

/** The file offset of `needle` (ASCII) in the header; fails when it is not there exactly once. */
function headerIndex(bytes: Uint8Array, needle: string): number {
  const text = headerText(bytes);
  const at = text.indexOf(needle);
  assert.ok(at >= 0 && text.indexOf(needle, at + 1) < 0, `${needle} occurs once in the header`);
  return 8 + at;
}

const bitsOf = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const CHECKSUM_FIELD = '"dptrain.checksum":"sha256:';

/** The checksum as docs/formats.md defines it: sha256 of the whole file with the checksum's 64 hex digits set to "0". */
function documentedChecksum(bytes: Uint8Array): string {
  const at = headerIndex(bytes, CHECKSUM_FIELD) + CHECKSUM_FIELD.length;
  const zeroed = Uint8Array.from(bytes);
  zeroed.fill(0x30, at, at + 64);
  return 'sha256:' + createHash('sha256').update(zeroed).digest('hex');
}

/** `bytes` with the checksum digits replaced by those of `checksum`. */
function withChecksum(bytes: Uint8Array, checksum: string): Uint8Array {
  const at = headerIndex(bytes, CHECKSUM_FIELD) + CHECKSUM_FIELD.length;
  const out = Uint8Array.from(bytes);
  out.set(Buffer.from(checksum.slice('sha256:'.length), 'latin1'), at);
  return out;
}

/**
 * Rewrites a checkpoint's meta JSON and seals it again with a correct checksum (computed here from
 * the documented definition), so that the checks behind the checksum can be reached.
 */
function reseal(bytes: Uint8Array, edit: (meta: Record<string, unknown>) => Record<string, unknown> | string, extraMetadata: Record<string, string> = {}): Uint8Array {
  const decoded = decodeSafetensors(bytes);
  const tensors = decoded.tensors;
  const metadata = { ...decoded.metadata, ...extraMetadata };
  const edited = edit(JSON.parse(metadata['dptrain.checkpoint']));
  const metaText = typeof edited === 'string' ? edited : JSON.stringify(edited);
  const unsealed = encodeSafetensors([...tensors.values()], { ...metadata, 'dptrain.checkpoint': metaText, 'dptrain.checksum': `sha256:${'0'.repeat(64)}` });
  return withChecksum(unsealed, documentedChecksum(unsealed));
}

function assertRefused(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FormatError, `a FormatError, got ${String(error)}`);
    assert.equal(error.code, `dptrain.format.${code}`, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

function assertSameCheckpoint(got: Checkpoint, want: Checkpoint): void {
  assert.deepEqual(got.meta, want.meta);
  assert.deepEqual(bitsOf(got.params), bitsOf(want.params));
  assert.deepEqual(Object.keys(got.optimizerState).sort(), Object.keys(want.optimizerState).sort());
  for (const name of Object.keys(want.optimizerState)) assert.deepEqual(bitsOf(got.optimizerState[name]), bitsOf(want.optimizerState[name]), name);
}

const FILE = '/runs/a/ckpt/ckpt-000000012.safetensors';

// ---- the file format ----

describe('checkpoint file', () => {
  test('round trip keeps parameters and optimizer state bit for bit and the meta exactly', () => {
    const original = sampleCheckpoint(12);
    const decoded = decodeCheckpoint(encodeCheckpoint(original), FILE);
    assertSameCheckpoint(decoded, original);
    assert.ok(Object.is(decoded.params[1], -0), '-0 parameter');
    assert.equal(decoded.params[2], Math.fround(1e-45));
    assert.ok(Object.is(decoded.meta.loop.negativeZero, -0), '-0 in the loop state');
    assert.equal(decoded.meta.loop.trainLossSum, 0.1 + 0.2);
    assert.equal(decoded.meta.loop.tiny, 5e-324);
    assert.equal(Object.getPrototypeOf(decoded.meta.loop), Object.prototype);
  });

  test('encoding is deterministic: equal state gives equal bytes, also after a decode', () => {
    const a = encodeCheckpoint(sampleCheckpoint(12));
    const b = encodeCheckpoint(sampleCheckpoint(12));
    assert.deepEqual(a, b);
    assert.deepEqual(encodeCheckpoint(decodeCheckpoint(a, FILE)), a);
    assert.notDeepEqual(encodeCheckpoint(sampleCheckpoint(13)), a);
    assert.doesNotMatch(headerText(a), /tmp|\/runs\/|20\d\d-\d\d-\d\d/, 'no paths or dates');
  });

  test('plain SGD stores no optimizer tensors; momentum stores optimizer.momentum_buffer', () => {
    const plain = encodeCheckpoint(sampleCheckpoint(3, 'sgd'));
    assert.deepEqual([...decodeSafetensors(plain).tensors.keys()], ['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
    assert.deepEqual(decodeCheckpoint(plain, FILE).optimizerState, {});
    const momentum = sampleCheckpoint(3, 'sgd-momentum');
    assertSameCheckpoint(decodeCheckpoint(encodeCheckpoint(momentum), FILE), momentum);
  });

  test('a plain safetensors reader sees the model tensors with PyTorch names and the optimizer state', () => {
    const original = sampleCheckpoint(4);
    const { tensors, metadata } = decodeSafetensors(encodeCheckpoint(original));
    assert.deepEqual(
      [...tensors.values()].map((t) => [t.name, t.dtype, t.shape]),
      [
        ['layers.0.weight', 'F32', [4, 3]],
        ['layers.0.bias', 'F32', [4]],
        ['layers.1.weight', 'F32', [2, 4]],
        ['layers.1.bias', 'F32', [2]],
        ['optimizer.exp_avg', 'F32', [SAMPLE_NUM_PARAMS]],
        ['optimizer.exp_avg_sq', 'F32', [SAMPLE_NUM_PARAMS]],
      ],
    );
    assert.deepEqual(tensors.get('layers.1.weight')!.data, original.params.subarray(16, 24));
    assert.equal(metadata.format, 'pt');
    assert.equal(metadata['dptrain.model'], SAMPLE_MODEL);
    assert.deepEqual(JSON.parse(metadata['dptrain.checkpoint']).step, 4);
    assert.equal(metadata['dptrain.checksum'], documentedChecksum(encodeCheckpoint(original)));
  });

  test('--init reads the parameters of a checkpoint', async () => {
    const dir = tempDir();
    const original = sampleCheckpoint(5);
    const file = path.join(dir, 'ckpt.safetensors');
    fs.writeFileSync(file, encodeCheckpoint(original));
    const params = await loadParameters(file, paramLayout(parseModelSpec(SAMPLE_MODEL)), SAMPLE_MODEL);
    assert.deepEqual(bitsOf(params), bitsOf(original.params));
  });

  test('a reader written from the documented format in Python verifies the checksum and reads the tensors', (t) => {
    if (spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status !== 0) return t.skip('python3 with numpy not available');
    const dir = tempDir();
    const file = path.join(dir, 'ckpt.safetensors');
    const original = sampleCheckpoint(6);
    fs.writeFileSync(file, encodeCheckpoint(original));
    const python = `
import hashlib, json, struct, sys
import numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
meta = header['__metadata__']
at = raw.index(b'"dptrain.checksum":"sha256:') + len(b'"dptrain.checksum":"sha256:')
digest = 'sha256:' + hashlib.sha256(raw[:at] + b'0' * 64 + raw[at + 64:]).hexdigest()
assert digest == meta['dptrain.checksum'], (digest, meta['dptrain.checksum'])
info = header['layers.1.bias']
b, e = info['data_offsets']
bias = np.frombuffer(data[b:e], dtype='<f4').reshape(info['shape'])
print(json.dumps({'step': json.loads(meta['dptrain.checkpoint'])['step'], 'bias': [float(v) for v in bias]}))
`;
    const r = spawnSync('python3', ['-c', python, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.step, 6);
    assert.deepEqual(out.bias, Array.from(original.params.subarray(24, 26)));
  });
});

describe('checkpoint file: damage and untrusted content are refused', () => {
  const good = encodeCheckpoint(sampleCheckpoint(12));

  test('truncated by 1 byte or by 100 bytes: checkpointTruncated, naming the file', () => {
    for (const cut of [1, 100]) {
      assertRefused(() => decodeCheckpoint(good.subarray(0, good.length - cut), FILE), 'checkpointTruncated', /ckpt-000000012\.safetensors is truncated.*earlier checkpoint/);
    }
    assertRefused(() => decodeCheckpoint(good.subarray(0, 5), FILE), 'checkpointTruncated', /truncated/);
  });

  test('one bit flipped in the parameters or the optimizer state: checkpointChecksum', () => {
    const dataStart = 8 + headerLength(good);
    for (const index of [dataStart, dataStart + 4 * 13 + 2, good.length - 1]) {
      assertRefused(() => decodeCheckpoint(flipBit(good, index, 3), FILE), 'checkpointChecksum', /ckpt-000000012\.safetensors: checksum mismatch \(the file says sha256:[0-9a-f]{64}, its content hashes to sha256:[0-9a-f]{64}\)/);
    }
  });

  test('one bit flipped in the header JSON is refused: valid JSON by the checksum, broken JSON as invalid', () => {
    // "step":12 -> "step":13 and exp_avg -> Exp_avg are valid JSON with plausible values: only the checksum notices.
    assertRefused(() => decodeCheckpoint(flipBit(good, headerIndex(good, '\\"step\\":12') + 10, 0), FILE), 'checkpointChecksum', /checksum mismatch/);
    assertRefused(() => decodeCheckpoint(flipBit(good, headerIndex(good, '"optimizer.exp_avg"') + 11, 5), FILE), 'checkpointChecksum', /checksum mismatch/);
    // layers.1.bias -> layers.1.cias with the checksum made to fit: the tensor the model needs is missing.
    const renamed = flipBit(good, headerIndex(good, '"layers.1.bias"') + 10, 0);
    assertRefused(() => decodeCheckpoint(withChecksum(renamed, documentedChecksum(renamed)), FILE), 'checkpointInvalid', /tensor "layers.1.bias" of mlp:3-4-2 is missing/);
    // a quote of the JSON structure: not valid safetensors any more.
    assertRefused(() => decodeCheckpoint(flipBit(good, headerIndex(good, '"layers.0.weight"'), 0), FILE), 'checkpointInvalid', /not a valid safetensors file \(header is not valid JSON/);
  });

  test('one bit flipped in the stored checksum: checkpointChecksum', () => {
    const at = headerIndex(good, '"dptrain.checksum":"sha256:') + '"dptrain.checksum":"sha256:'.length;
    const hex = headerText(good).slice(at - 8, at - 8 + 64);
    const digit = [...hex].findIndex((c) => c >= '0' && c <= '7'); // c ^ 1 is another hex digit
    assertRefused(() => decodeCheckpoint(flipBit(good, at + digit, 0), FILE), 'checkpointChecksum', /checksum mismatch/);
    assertRefused(() => decodeCheckpoint(flipBit(good, at, 6), FILE), 'checkpointChecksum', /the checksum \("dptrain.checksum"\) is malformed/);
  });

  test('every single-bit flip anywhere in the file is refused', () => {
    // Exhaustive over bytes, one bit each (which bit varies with the position).
    for (let i = 0; i < good.length; i++) {
      const flipped = flipBit(good, i, i % 8);
      assert.throws(() => decodeCheckpoint(flipped, FILE), FormatError, `a flip of bit ${i % 8} of byte ${i} was accepted`);
      assert.throws(() => inspectSafetensors(flipped, FILE), FormatError, `inspect: a flip of bit ${i % 8} of byte ${i} was accepted`);
    }
    // Cut anywhere: refused by both readers, never a crash.
    for (let end = 0; end < good.length; end += 7) {
      assert.throws(() => decodeCheckpoint(good.subarray(0, end), FILE), FormatError, `cut at ${end}`);
      assert.throws(() => inspectSafetensors(good.subarray(0, end), FILE), FormatError, `inspect: cut at ${end}`);
    }
  });

  test('a future format version is refused with both versions named', () => {
    const future = reseal(good, (meta) => ({ ...meta, formatVersion: CHECKPOINT_FORMAT_VERSION + 1 }));
    const [next, now] = [CHECKPOINT_FORMAT_VERSION + 1, CHECKPOINT_FORMAT_VERSION];
    assertRefused(() => decodeCheckpoint(future, FILE), 'checkpointVersion', new RegExp(`has checkpoint format version ${next}, but this dptrain reads format version ${now} — use the newer dptrain`));
    // A newer format may checksum differently, so its version is reported first, with a warning.
    const damaged = flipBit(future, future.length - 1);
    assertRefused(() => decodeCheckpoint(damaged, FILE), 'checkpointVersion', new RegExp(`format version ${next}.*checksum does not match either`));
  });

  test('the best epoch\'s parameters (--restore-best) round-trip as best.* tensors; a partial set is refused', () => {
    const withBest = { ...sampleCheckpoint(12), best: Float32Array.from({ length: SAMPLE_NUM_PARAMS }, (_, i) => i / 7) };
    const bytes = encodeCheckpoint(withBest);
    const back = decodeCheckpoint(bytes, FILE);
    assert.deepEqual(bitsOf(back.best!), bitsOf(withBest.best));
    assertSameCheckpoint(back, withBest);
    assert.ok(decodeSafetensors(bytes).tensors.has('best.layers.1.bias'));
    // One best.* tensor missing: the rest cannot be trusted as the best epoch's weights.
    const decoded = decodeSafetensors(bytes);
    const partial = encodeSafetensors([...decoded.tensors.values()].filter((t) => t.name !== 'best.layers.0.bias'), { ...decoded.metadata, 'dptrain.checksum': `sha256:${'0'.repeat(64)}` });
    assertRefused(() => decodeCheckpoint(withChecksum(partial, documentedChecksum(partial)), FILE), 'checkpointInvalid', /tensor "best\.layers\.0\.bias" of the best epoch's mlp:3-4-2 is missing/);
  });

  test('a checkpoint of format version 1 (before best.* tensors and the bounded history) is still read', () => {
    const old = decodeCheckpoint(reseal(good, (meta) => ({ ...meta, formatVersion: 1 })), FILE);
    assert.equal(old.meta.formatVersion, 1);
    assert.equal(old.best, undefined);
  });

  test('a parameter count that does not match the model is refused', () => {
    assertRefused(() => decodeCheckpoint(reseal(good, (meta) => ({ ...meta, numParams: 27 })), FILE), 'checkpointInvalid', /meta.numParams is 27 but mlp:3-4-2 has 26 parameters/);
    // The model in the safetensors metadata must be the one in the meta.
    const other = reseal(good, (meta) => ({ ...meta, model: 'mlp:2-5-2', numParams: 27 }));
    assertRefused(() => decodeCheckpoint(other, FILE), 'checkpointInvalid', /"dptrain.model" \("mlp:3-4-2"\) differs from meta.model \("mlp:2-5-2"\)/);
    // logreg:12-2 also has 26 parameters, but its tensors have other shapes.
    const sameCount = reseal(good, (meta) => ({ ...meta, model: 'logreg:12-2' }), { 'dptrain.model': 'logreg:12-2' });
    assertRefused(() => decodeCheckpoint(sameCount, FILE), 'checkpointInvalid', /tensor "layers.0.weight" is F32 \[4, 3\]; logreg:12-2 needs F32 \[2, 12\]/);
  });

  test('meta fields are type-checked and prototype or duplicate keys are refused', () => {
    const cases: [string, (m: Record<string, unknown>) => Record<string, unknown> | string, RegExp][] = [
      ['step as a string', (m) => ({ ...m, step: '12' }), /meta.step must be an integer >= 0 \(got "12"\)/],
      ['a negative epoch', (m) => ({ ...m, epoch: -1 }), /meta.epoch must be an integer >= 0/],
      ['a fractional position', (m) => ({ ...m, position: 0.5 }), /meta.position must be an integer/],
      ['an unknown optimizer', (m) => ({ ...m, optimizer: 'lion' }), /meta.optimizer must be one of sgd, adam, adamw/],
      ['a bad dataset hash', (m) => ({ ...m, datasetHash: 'md5:00' }), /meta.datasetHash must be "sha256:"/],
      ['rng without a seed', (m) => ({ ...m, rng: { algorithm: 'x', epoch: 0 } }), /meta.rng.seed is missing/],
      ['config as an array', (m) => ({ ...m, config: [] }), /meta.config must be an object \(got an array\)/],
      ['an unknown field', (m) => ({ ...m, extra: 1 }), /meta has an unknown field "extra"/],
      ['a missing field', ({ loop: _loop, ...m }) => m, /meta.loop is missing/],
      ['__proto__ in the loop state', (m) => JSON.stringify(m).replace('"loop":{', '"loop":{"__proto__":{"polluted":true},'), /meta.loop has the key "__proto__"/],
      ['a duplicate key', (m) => JSON.stringify(m).replace('"step":12', '"step":12,"step":3'), /not valid JSON: duplicate key "step"/],
      ['an unknown model', (m) => ({ ...m, model: 'rnn:3x3' }), /meta.model "rnn:3x3" is not a model spec/],
    ];
    for (const [what, edit, pattern] of cases) {
      assert.throws(() => decodeCheckpoint(reseal(good, edit), FILE), (e: unknown) => {
        assert.ok(e instanceof FormatError, what);
        assert.equal(e.code, 'dptrain.format.checkpointInvalid', `${what}: ${e.message}`);
        assert.match(e.message, pattern, what);
        assert.ok(e.message.startsWith(`${FILE}: `), `${what}: names the file`);
        return true;
      });
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('extra tensors or metadata keys are refused', () => {
    const { tensors, metadata } = decodeSafetensors(good);
    const extra = encodeSafetensors([...tensors.values(), { name: 'optimizer.step', dtype: 'F32', shape: [1], data: new Float32Array(1) }], metadata);
    // The checksum covers the data section, so a tensor added later already fails it...
    assertRefused(() => decodeCheckpoint(extra, FILE), 'checkpointChecksum', /checksum mismatch/);
    // ...and one added with a fresh checksum fails the layout check.
    assertRefused(() => decodeCheckpoint(reseal(extra, (m) => m), FILE), 'checkpointInvalid', /optimizer tensor "optimizer.step" is F32 \[1\]; it must be F32 \[26\]/);
    const noted = reseal(good, (m) => m, { note: 'hi' });
    assertRefused(() => decodeCheckpoint(noted, FILE), 'checkpointInvalid', /unexpected metadata key "note"/);
  });

  test('a parameters file (final.safetensors) is not a checkpoint', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'final.safetensors');
    const layout = paramLayout(parseModelSpec(SAMPLE_MODEL));
    await saveParameters(file, sampleCheckpoint(1).params, layout, SAMPLE_MODEL);
    const bytes = fs.readFileSync(file);
    assertRefused(() => decodeCheckpoint(bytes, file), 'notACheckpoint', /final.safetensors is a safetensors file without checkpoint metadata/);
    const contents = inspectSafetensors(bytes, file);
    assert.equal(contents.kind, 'parameters');
    assert.equal(contents.kind === 'parameters' && contents.numParams, SAMPLE_NUM_PARAMS);
    assertRefused(() => decodeCheckpoint(new TextEncoder().encode('not safetensors at all, just text'), 'notes.txt'), 'checkpointInvalid', /notes.txt is not a valid safetensors file/);
  });

  test('encode refuses state that would not round-trip or does not fit the model', () => {
    const refuse = (edit: (c: Checkpoint) => void, pattern: RegExp): void => {
      const c = sampleCheckpoint(2);
      edit(c);
      assertRefused(() => encodeCheckpoint(c), 'cannotEncodeCheckpoint', pattern);
    };
    refuse((c) => (c.meta.loop.x = NaN), /meta.loop.x is NaN; checkpoint JSON holds finite numbers only/);
    refuse((c) => (c.meta.loop.when = new Date(0)), /meta.loop.when is a Date/);
    refuse((c) => (c.meta.loop.list = [1, undefined]), /meta.loop.list\[1\] is undefined/);
    refuse((c) => (c.meta.formatVersion = CHECKPOINT_FORMAT_VERSION + 1), new RegExp(`meta.formatVersion must be ${CHECKPOINT_FORMAT_VERSION}`));
    refuse((c) => (c.params = new Float32Array(25)), /params must be a Float32Array of 26 values for mlp:3-4-2 \(got a Float32Array of 25\)/);
    refuse((c) => (c.optimizerState.exp_avg = new Float32Array(3)), /optimizerState.exp_avg must be a Float32Array of 26 values/);
    refuse((c) => (c.meta.numParams = 30), /meta.numParams is 30 but mlp:3-4-2 has 26 parameters/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    refuse((c) => (c.meta.loop.cyclic = cyclic), /nested deeper than 64 levels \(or refers to itself\)/);
  });
});

// ---- the directory ----

describe('checkpoint directory', () => {
  const silentLog = { info: () => undefined, warn: () => undefined };

  test('save writes ckpt-<9-digit step>.safetensors and keep = K leaves the newest K', async () => {
    const dir = path.join(tempDir(), 'nested', 'ckpt');
    const store = await CheckpointStore.open(dir, { keep: 2, log: silentLog });
    const written: string[] = [];
    for (const step of [5, 10, 15, 20, 25]) written.push(await store.save(sampleCheckpoint(step)));
    assert.equal(path.basename(written[0]), 'ckpt-000000005.safetensors');
    assert.equal(checkpointFileName(1234567890), 'ckpt-1234567890.safetensors');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['ckpt-000000020.safetensors', 'ckpt-000000025.safetensors']);
    assert.deepEqual((await listCheckpoints(dir)).map((c) => c.step), [25, 20]);
    const latest = await findLatestCheckpoint(dir);
    assert.equal(latest!.path, path.join(dir, 'ckpt-000000025.safetensors'));
    assertSameCheckpoint(latest!.checkpoint, sampleCheckpoint(25));
    assert.deepEqual(latest!.rejected, []);
  });

  test('findLatestCheckpoint falls back past a truncated and a bit-flipped newest to the previous valid one', async () => {
    const dir = tempDir();
    const store = await CheckpointStore.open(dir, { keep: 5, log: silentLog });
    const [, second, third, fourth] = [await store.save(sampleCheckpoint(1)), await store.save(sampleCheckpoint(2)), await store.save(sampleCheckpoint(3)), await store.save(sampleCheckpoint(4))];
    fs.truncateSync(fourth, fs.statSync(fourth).size - 100);
    const bytes = fs.readFileSync(third);
    fs.writeFileSync(third, flipBit(bytes, bytes.length - 50, 2));
    const latest = await findLatestCheckpoint(dir);
    assert.equal(latest!.path, second);
    assert.equal(latest!.checkpoint.meta.step, 2);
    assert.deepEqual(latest!.rejected.map((r) => [r.path, r.code]), [
      [fourth, 'dptrain.format.checkpointTruncated'],
      [third, 'dptrain.format.checkpointChecksum'],
    ]);
    assert.match(latest!.rejected[0].reason, /ckpt-000000004\.safetensors is truncated/);
    assert.match(latest!.rejected[1].reason, /ckpt-000000003\.safetensors: checksum mismatch/);
  });

  test('a file whose name and step disagree is skipped', async () => {
    const dir = tempDir();
    const store = await CheckpointStore.open(dir, { keep: 5, log: silentLog });
    const first = await store.save(sampleCheckpoint(1));
    fs.copyFileSync(first, path.join(dir, checkpointFileName(9)));
    const latest = await findLatestCheckpoint(dir);
    assert.equal(latest!.path, first);
    assert.match(latest!.rejected[0].reason, /holds step 1 but its name says step 9/);
  });

  test('findLatestCheckpoint: null for a directory without checkpoints, a ConfigError naming a missing one, an error listing every bad file', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    assert.equal(await findLatestCheckpoint(dir), null);

    const missing = path.join(dir, 'nope');
    await assert.rejects(findLatestCheckpoint(missing), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, 'dptrain.config.checkpointDirNotFound');
      assert.match(e.message, new RegExp(`checkpoint directory ${missing} does not exist — --resume takes the --checkpoint-dir of the run to continue`));
      return true;
    });

    fs.writeFileSync(path.join(dir, checkpointFileName(3)), encodeCheckpoint(sampleCheckpoint(3)).subarray(0, 200));
    fs.writeFileSync(path.join(dir, checkpointFileName(2)), 'garbage');
    await assert.rejects(findLatestCheckpoint(dir), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.equal(e.code, 'dptrain.format.noValidCheckpoint');
      assert.match(e.message, /holds 2 checkpoint file\(s\) and none is valid \(ckpt-000000003\.safetensors: dptrain\.format\.checkpointTruncated; ckpt-000000002\.safetensors: dptrain\.format\.checkpoint\w+\)/);
      return true;
    });
  });

  test('temp files of interrupted writes are never loaded and open() removes them (logged); other files stay', async () => {
    const dir = tempDir();
    const store = await CheckpointStore.open(dir, { keep: 3, log: silentLog });
    await store.save(sampleCheckpoint(1));
    // A complete, valid checkpoint under a temp name: still never a candidate.
    const stale = path.join(dir, `${checkpointFileName(2)}.4242-0123456789ab.tmp`);
    fs.writeFileSync(stale, encodeCheckpoint(sampleCheckpoint(2)));
    const unrelated = path.join(dir, 'other.0-0123456789ab.tmp');
    fs.writeFileSync(unrelated, 'not ours');
    assert.equal((await findLatestCheckpoint(dir))!.checkpoint.meta.step, 1);

    const logged: [object, string][] = [];
    await CheckpointStore.open(dir, { keep: 3, log: { info: (f, m) => logged.push([f, m]), warn: (f, m) => logged.push([f, m]) } });
    assert.ok(!fs.existsSync(stale), 'the stale temp file is removed');
    assert.ok(fs.existsSync(unrelated), 'files that are not checkpoint temp files stay');
    assert.deepEqual(logged, [[{ file: stale }, `removed ${stale}, the temp file of an interrupted checkpoint write`]]);
  });

  test('open() refuses a directory that cannot be created, and a keep below 1', async () => {
    const dir = tempDir();
    const blocker = path.join(dir, 'a-file');
    fs.writeFileSync(blocker, '');
    await assert.rejects(CheckpointStore.open(path.join(blocker, 'ckpt'), { keep: 1 }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, 'dptrain.config.badCheckpointDir');
      assert.match(e.message, /--checkpoint-dir .*a-file\/ckpt cannot be created: .*a-file is a file, not a directory \(ENOTDIR\) — choose a writable directory/);
      return true;
    });
    await assert.rejects(CheckpointStore.open(dir, { keep: 0 }), (e: unknown) => e instanceof ConfigError && /--keep must be a positive integer \(got 0\)/.test(e.message));
  });

  test('a failed write is a TrainError and leaves the previous checkpoints and no temp file', async () => {
    const dir = tempDir();
    const store = await CheckpointStore.open(dir, { keep: 3, log: silentLog, hooks: { onPhase: (phase, p) => { if (phase === 'tempWritten' && p.includes('000000002')) throw new Error('disk full (simulated)'); } } });
    await store.save(sampleCheckpoint(1));
    await assert.rejects(store.save(sampleCheckpoint(2)), (e: unknown) => e instanceof DptrainError && e.code === 'dptrain.train.checkpointWrite' && /disk full \(simulated\)/.test(e.message));
    assert.deepEqual(fs.readdirSync(dir), [checkpointFileName(1)]);
  });

  test('the write hook sees the temp file before the rename and the checkpoint after it', async () => {
    const dir = tempDir();
    const seen: string[] = [];
    const target = path.join(dir, 'x.bin');
    await writeFileAtomic(target, Uint8Array.of(1, 2, 3), {
      onPhase: (phase, p) => {
        seen.push(`${phase}:${path.basename(p) === 'x.bin' ? 'target' : /^x\.bin\.\d+-[0-9a-f]{12}\.tmp$/.test(path.basename(p)) ? 'temp' : p}:${fs.existsSync(p)}:${fs.existsSync(target)}`);
      },
    });
    assert.deepEqual(seen, ['tempWritten:temp:true:false', 'renamed:target:true:true']);
    await writeFileAtomic(target, Uint8Array.of(4)); // without options, as before
    assert.deepEqual([...fs.readFileSync(target)], [4]);
  });
});

// ---- a process killed while writing ----

describe('a process SIGKILLed during a checkpoint write', () => {
  const storeUrl = pathToFileURL(path.join(repoRoot, 'dist', 'src', 'train', 'checkpoint-store.js')).href;
  const fixtureUrl = pathToFileURL(path.join(repoRoot, 'dist', 'test', 'fixtures', 'checkpoints.js')).href;
  // Saves steps 1 and 2, then step 3 with a hook that kills the process at KILL_PHASE.
  const child = `
    const { CheckpointStore } = await import(${JSON.stringify(storeUrl)});
    const { sampleCheckpoint } = await import(${JSON.stringify(fixtureUrl)});
    const { CKPT_DIR: dir, KILL_PHASE: killPhase } = process.env;
    const store = await CheckpointStore.open(dir, {
      keep: 5,
      hooks: { onPhase(phase, path) { if (phase === killPhase && path.includes('ckpt-000000003')) process.kill(process.pid, 'SIGKILL'); } },
    });
    await store.save(sampleCheckpoint(1));
    await store.save(sampleCheckpoint(2));
    await store.save(sampleCheckpoint(3));
    console.log('not killed');
  `;

  function runKilled(phase: 'tempWritten' | 'renamed'): string {
    const dir = tempDir();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, CKPT_DIR: dir, KILL_PHASE: phase }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.signal, 'SIGKILL', `the child was killed (status ${r.status}, stdout ${r.stdout}, stderr ${r.stderr})`);
    assert.doesNotMatch(r.stdout, /not killed/);
    return dir;
  }

  test('killed after the temp file is written, before the rename: the previous checkpoint loads, the temp file never does, open() removes it', async () => {
    const dir = runKilled('tempWritten');
    const temps = fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'));
    assert.equal(temps.length, 1, 'the interrupted write left its temp file');
    assert.match(temps[0], /^ckpt-000000003\.safetensors\.\d+-[0-9a-f]{12}\.tmp$/);
    const latest = await findLatestCheckpoint(dir);
    assert.equal(latest!.checkpoint.meta.step, 2);
    assert.deepEqual(latest!.rejected, []);
    assertSameCheckpoint(latest!.checkpoint, sampleCheckpoint(2));

    const logged: string[] = [];
    await CheckpointStore.open(dir, { keep: 5, log: { info: (_f, m) => logged.push(m), warn: (_f, m) => logged.push(m) } });
    assert.deepEqual(fs.readdirSync(dir).sort(), [checkpointFileName(1), checkpointFileName(2)]);
    assert.equal(logged.length, 1);
    assert.match(logged[0], /removed .*ckpt-000000003\.safetensors\.\d+-[0-9a-f]{12}\.tmp, the temp file of an interrupted checkpoint write/);
  });

  test('killed after the rename, before the directory fsync: the new checkpoint is the latest (the rename is the commit point)', async () => {
    const dir = runKilled('renamed');
    assert.deepEqual(fs.readdirSync(dir).sort(), [checkpointFileName(1), checkpointFileName(2), checkpointFileName(3)]);
    const latest = await findLatestCheckpoint(dir);
    assert.equal(latest!.checkpoint.meta.step, 3);
    assertSameCheckpoint(latest!.checkpoint, sampleCheckpoint(3));
    await CheckpointStore.open(dir, { keep: 5 });
    assert.equal(fs.readdirSync(dir).length, 3, 'nothing to clean up');
  });
});
