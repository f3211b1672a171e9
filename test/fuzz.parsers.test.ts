// Issue 13 item 10: seeded fuzzing of the four parsers that read untrusted bytes: the frame decoder,
// the safetensors reader (and checkpoint verification), CSV and IDX. At least 100,000 inputs per
// run in total, within a time budget; each input is accepted with its invariants holding or refused
// with the parser's own error class, never a crash, a hang or another error. The seed is printed;
// DPTRAIN_FUZZ_SEED=<seed> replays a run (test/fuzz.helpers.ts).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DptrainError } from '../src/errors.js';
import { csvDataset } from '../src/data/csv.js';
import { parseIdx } from '../src/data/idx.js';
import { DATA_LIMITS } from '../src/data/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/index.js';
import { encodeCheckpoint, inspectSafetensors } from '../src/train/index.js';
import { Codec, TransportError } from '../src/transport/index.js';
import { sampleCheckpoint } from './fixtures/checkpoints.js';
import { FUZZ_SEED, fuzz, type FuzzReport } from './fuzz.helpers.js';

const reports: FuzzReport[] = [];
console.log(`fuzz seed ${FUZZ_SEED} (replay: DPTRAIN_FUZZ_SEED=${FUZZ_SEED} node --test dist/test/fuzz.parsers.test.js)`);

after(() => {
  const total = reports.reduce((sum, r) => sum + r.inputs, 0);
  console.log(`fuzz: ${total} inputs in ${reports.reduce((sum, r) => sum + r.ms, 0)} ms, seed ${FUZZ_SEED}`);
  for (const r of reports) console.log(`  ${r.name}: ${r.inputs} inputs, ${r.ms} ms, corpus ${r.corpus}`, r.outcomes);
});

/** The code of an expected refusal (an instance of `kind`), or rethrows anything else. */
function refusal(error: unknown, kind: new (...args: never[]) => Error): string {
  if (error instanceof kind) return (error as { code?: string }).code ?? error.name;
  throw error;
}

const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');

describe('seeded fuzzing of the parsers (at least 100,000 inputs in total)', () => {
  test('the frame decoder: every frame decodes or is refused as a counted badFrame', async () => {
    const codec = new Codec({ maxPayload: 1 << 16 });
    const encoder = new Codec({ maxPayload: 1 << 16 });
    const corpus = [
      { type: 'grad', step: 3, data: new Float32Array([1, -2, 0.5]) },
      { type: 'chunk', seq: 1, data: new Float64Array(4) },
      { type: 'note', text: 'hé', shard: { start: 0, end: 8 }, list: [1, null, true, 'x'] },
      { type: 'hello', nonce: Buffer.from('0123456789abcdef'), n: 2 ** 40 },
    ].map((m) => Uint8Array.from(encoder.encode(m)));
    reports.push(
      await fuzz({
        name: 'frame',
        corpus,
        dictionary: ['\x81', '\x91', '\xdc\xff\xff', '\xdd\xff\xff\xff\xff', '\xc7\x10\x74', '\xd9\x09__proto__', '\xa4type', '\xc1', '\xcb', '\xc4\x10'],
        inputs: 40_000,
        budgetMs: 15_000,
        run(input) {
          let before: number;
          try {
            before = codec.rejections.total;
            const value = codec.decode(input);
            assert.equal(Object.getPrototypeOf({}), Object.prototype);
            assert.equal(({} as Record<string, unknown>).polluted, undefined);
            void value;
            return 'ok';
          } catch (error) {
            const code = refusal(error, TransportError);
            assert.equal(codec.rejections.total, before! + 1, 'every refusal is counted');
            return `${code}:${(error as TransportError).reason}`;
          }
        },
      }),
    );
  });

  test('the safetensors reader and checkpoint verification: decoded tensors fit the bytes, or a FormatError', async () => {
    const plain = encodeSafetensors(
      [
        { name: 'layers.0.weight', dtype: 'F32', shape: [2, 3], data: Float32Array.from([0.5, -1, 2, 3, NaN, 1e30]) },
        { name: 'layers.0.bias', dtype: 'F64', shape: [2], data: Float64Array.from([1, 2]) },
        { name: 'ids', dtype: 'I64', shape: [1], data: BigInt64Array.from([7n]) },
        { name: 'mask', dtype: 'U8', shape: [3], data: Uint8Array.from([1, 0, 1]) },
      ],
      { format: 'pt', 'dptrain.model': 'mlp:3-2' },
    );
    const corpus = [plain, encodeCheckpoint(sampleCheckpoint(3)), encodeCheckpoint(sampleCheckpoint(5, 'sgd'))];
    reports.push(
      await fuzz({
        name: 'safetensors',
        corpus,
        dictionary: ['{', '}', '"dtype"', '"F32"', '"F64"', '"I64"', '"shape"', '"data_offsets"', '[0,4]', '__metadata__', '"__proto__"', '"dptrain.checkpoint"', '"dptrain.model"', '9007199254740993', '-1', '1e400', '\\u0000', '"formatVersion":2'],
        inputs: 25_000,
        budgetMs: 20_000,
        run(input) {
          let outcome = 'ok';
          try {
            const { tensors } = decodeSafetensors(input);
            const headerLength = Number(new DataView(input.buffer, input.byteOffset, 8).getBigUint64(0, true));
            let bytes = 0;
            for (const t of tensors.values()) {
              assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1), `tensor ${t.name} holds product(shape) values`);
              bytes += t.data.byteLength;
            }
            assert.equal(bytes, input.length - 8 - headerLength, 'the tensors tile the data exactly');
          } catch (error) {
            outcome = refusal(error, DptrainError);
          }
          try {
            inspectSafetensors(input, 'fuzz.safetensors');
          } catch (error) {
            outcome += `/${refusal(error, DptrainError)}`;
          }
          return outcome;
        },
      }),
    );
  });

  test('the CSV reader: a dataset of finite float32 values, or a DataError', async () => {
    const corpus = [
      'a,b,label\n1,2,0\n3.5,-4e-3,1\n5,6,2\n',
      '\ufeffx;y;Target\r\n1;2;cat\r\n3;4;dog\r\n',
      'f1\tf2\tf3\n0.1\t0.2\t1.5\n0.3\t0.4\t2.5\n',
      '"q,1",b,label\n"1",2,"0"\n"3",4,1\n',
      '1,2,3,0\n4,5,6,1\n',
    ].map(text);
    reports.push(
      await fuzz({
        name: 'csv',
        corpus,
        dictionary: [',', ';', '\t', '"', '""', '\n', '\r\n', 'NaN', 'NA', '1e39', '1e400', '-0', '3.4028235e38', 'label', 'target', '\xef\xbb\xbf', '\xff\xfe', '\xc3\x28', '\x00', 'é'],
        inputs: 25_000,
        budgetMs: 15_000,
        run(input) {
          try {
            const ds = csvDataset(input, 'fuzz.csv', { header: 'auto' });
            assert.equal(ds.x.length, ds.n * ds.inputDim);
            assert.equal(ds.y.length, ds.n);
            assert.ok(ds.x.every(Number.isFinite), 'every feature is a finite float32');
            assert.ok(ds.y.every(Number.isFinite), 'every label is finite');
            return 'ok';
          } catch (error) {
            return refusal(error, DptrainError);
          }
        },
      }),
    );
  });

  test('the IDX reader: exactly the declared values within the data limit, or a DataError', async () => {
    const idx = (magic: number, dims: number[], values: number[]): Uint8Array => {
      const out = Buffer.alloc(4 + 4 * dims.length + values.length);
      out.writeUInt32BE(magic, 0);
      dims.forEach((d, k) => out.writeUInt32BE(d, 4 + 4 * k));
      Buffer.from(values).copy(out, 4 + 4 * dims.length);
      return out;
    };
    const corpus = [idx(0x803, [2, 2, 3], Array.from({ length: 12 }, (_, i) => i * 20)), idx(0x803, [1, 1, 1], [255]), idx(0x801, [3], [0, 1, 2])];
    reports.push(
      await fuzz({
        name: 'idx',
        corpus,
        dictionary: ['\x00\x00\x08\x03', '\x00\x00\x08\x01', '\xff\xff\xff\xff', '\x10\x00\x00\x00', gzipSync(Buffer.from([0, 0, 8, 3]))],
        inputs: 15_000,
        budgetMs: 10_000,
        async run(input) {
          const magic = input[3] === 1 ? 0x801 : 0x803;
          try {
            const { dims, data } = await parseIdx(input, 'fuzz-idx', magic, magic === 0x801 ? 'labels' : 'images');
            const count = dims.reduce((a, b) => a * b, 1);
            assert.equal(data.length, count);
            assert.ok(count <= DATA_LIMITS.maxElements);
            assert.equal(input.length, 4 + 4 * dims.length + count, 'no data beyond what the header declares');
            return 'ok';
          } catch (error) {
            return refusal(error, DptrainError);
          }
        },
      }),
    );
  });

  test('in total at least 100,000 inputs ran, and every target accepted some and refused some', () => {
    const total = reports.reduce((sum, r) => sum + r.inputs, 0);
    assert.equal(reports.length, 4);
    assert.ok(total >= 100_000, `${total} inputs (a time budget cut the run short: the machine is loaded)`);
    for (const r of reports) {
      assert.ok((r.outcomes.ok ?? 0) > 0 || r.name === 'safetensors', `${r.name} accepted some inputs`);
      assert.ok(Object.keys(r.outcomes).length >= 3, `${r.name} reached several outcomes: ${JSON.stringify(r.outcomes)}`);
    }
  });
});
