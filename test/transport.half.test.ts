// 16-bit floats on the wire (src/transport/half.ts): the rounding of every kind of float32 value
// (normal, subnormal, ties, overflow, NaN) is PyTorch's `.to(torch.float16)` / `.to(torch.bfloat16)`,
// and decoding, adding and rounding in place agree with it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { addHalf, decodeHalf, encodeHalf, halfBytes, halfOf, roundHalf, type HalfKind } from '../src/transport/index.js';
import { halfKernel, halfReference } from '../src/transport/half.js';
import { Rng } from '../src/util/rng.js';

const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 60_000 });
const skip = probe.error ? `${PYTHON} cannot run (${probe.error.message})` : probe.status === 0 ? false : `PyTorch is not installed for ${PYTHON} (apt-get install python3-torch)`;

/** Float32 values of every kind: random magnitudes, exact ties of both formats, subnormals, limits, specials. */
function samples(): Float32Array {
  const rng = new Rng(7, 'half');
  const values: number[] = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e6, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 2 ** -26, 2 ** -14, 3e-39, -1e-45, 3.4e38, Infinity, -Infinity, NaN];
  for (let i = 0; i < 4000; i++) values.push(rng.normal() * 10 ** (rng.next() * 16 - 10));
  const bits = new Uint32Array(200);
  for (let i = 0; i < bits.length; i++) bits[i] = rng.nextU32() & 0xffff0000 | (i % 2 === 0 ? 0x8000 : 0x1000); // bf16 and fp16 ties
  values.push(...new Float32Array(bits.buffer).filter((v) => Number.isFinite(v)));
  return Float32Array.from(values);
}

test('fp16 and bf16 rounding of float32 is PyTorch\'s, bit for bit; decoding is exact', { skip }, () => {
  const values = samples();
  const script = `
import sys, numpy as np, torch
x = torch.from_numpy(np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32).copy())
sys.stdout.buffer.write(x.to(torch.float16).view(torch.int16).numpy().tobytes())
sys.stdout.buffer.write(x.to(torch.bfloat16).view(torch.int16).numpy().tobytes())
`;
  const run = spawnSync(PYTHON, ['-c', script], { input: Buffer.from(values.buffer), maxBuffer: 1 << 24, timeout: 60_000 });
  assert.equal(run.status, 0, String(run.stderr));
  const out = new Uint16Array(new Uint8Array(run.stdout).buffer);
  const torch = { fp16: out.subarray(0, values.length), bf16: out.subarray(values.length) };
  for (const kind of ['fp16', 'bf16'] as const) {
    const ours = encodeHalf(kind, values);
    const nan = (h: number) => (kind === 'fp16' ? (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 : (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0);
    for (let i = 0; i < values.length; i++) {
      if (nan(torch[kind][i])) assert.ok(nan(ours[i]), `${kind} of NaN`);
      else assert.equal(ours[i], torch[kind][i], `${kind} of ${values[i]}: ours 0x${ours[i].toString(16)}, torch 0x${torch[kind][i].toString(16)}`);
    }
    // Decoding is exact: decoded values encode to the same bits, and rounding in place equals decode(encode).
    const decoded = new Float32Array(values.length);
    decodeHalf(kind, halfOf(halfBytes(ours)), decoded, 0);
    assert.deepEqual(encodeHalf(kind, decoded), ours);
    const rounded = values.slice();
    roundHalf(kind, rounded);
    assert.deepEqual(rounded, decoded);
  }
});

test('addHalf adds the decoded values in float32; halfOf copies bytes that are not 2-byte aligned', () => {
  for (const kind of ['fp16', 'bf16'] as HalfKind[]) {
    const a = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * 100);
    const b = Float32Array.from({ length: 37 }, (_, i) => Math.cos(3 * i) * 0.01);
    const half = encodeHalf(kind, b);
    const decoded = new Float32Array(37);
    decodeHalf(kind, half, decoded, 0);
    const sum = a.slice();
    addHalf(kind, half, sum, 0);
    for (let i = 0; i < 37; i++) assert.equal(sum[i], Math.fround(a[i] + decoded[i]));
    const odd = new Uint8Array(half.byteLength + 1);
    odd.set(halfBytes(half), 1);
    assert.deepEqual(halfOf(odd.subarray(1)), half);
  }
});

test('the SIMD kernels (asm/half.ts) give the JavaScript reference\'s bits: 2^20 random float32 patterns, every bf16 pattern, fp16 limits, any length and offset', () => {
  assert.equal(halfKernel, 'wasm-simd', 'npm run build builds dist/wasm/half.wasm, and Node 20 has WebAssembly SIMD');
  const rng = new Rng(11, 'bf16-simd');
  const n = (1 << 20) + 5; // several 16,384-value blocks and a tail of 5
  const bits = Uint32Array.from({ length: n }, () => rng.nextU32());
  // NaNs quiet and signalling, infinities, the largest finite (rounds to Infinity), ties either way.
  [0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7f800000, 0xff800000, 0x7f7fffff, 0x3f808000, 0x3f818000, 0x00000001, 0x80000000].forEach((b, i) => (bits[i] = b));
  const values = new Float32Array(bits.buffer);
  const bitsOf = (a: Float32Array | Uint16Array) => (a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : a);
  const same = (a: Float32Array | Uint16Array, b: Float32Array | Uint16Array, what: string) => {
    const [x, y] = [bitsOf(a), bitsOf(b)];
    assert.equal(x.length, y.length);
    const at = x.findIndex((v, i) => v !== y[i]);
    assert.equal(at, -1, `${what}: first difference at ${at}`);
  };
  const simdHalf = encodeHalf('bf16', values);
  const refHalf = new Uint16Array(n);
  halfReference.encode('bf16', values, refHalf);
  same(simdHalf, refHalf, 'encode');

  const patterns = Uint16Array.from({ length: 3 * 65536 + 7 }, (_, i) => i & 0xffff);
  const decoded = [new Float32Array(patterns.length + 3), new Float32Array(patterns.length + 3)];
  decodeHalf('bf16', patterns, decoded[0], 3);
  halfReference.decode('bf16', patterns, decoded[1], 3);
  same(decoded[0], decoded[1], 'decode');

  const base = Float32Array.from({ length: n + 3 }, () => rng.normal() * 2 ** Math.floor(rng.next() * 60 - 30));
  const sums = [base.slice(), base.slice()];
  addHalf('bf16', simdHalf, sums[0], 3);
  halfReference.add('bf16', simdHalf, sums[1], 3);
  for (let i = 0; i < sums[0].length; i++) {
    if (Number.isNaN(sums[0][i])) assert.ok(Number.isNaN(sums[1][i]), `add: NaN at ${i} only in the SIMD sum`);
    else assert.equal(sums[0][i], sums[1][i], `add at ${i}`);
  }

  const rounded = [values.slice(), values.slice()];
  roundHalf('bf16', rounded[0]);
  halfReference.round('bf16', rounded[1]);
  same(rounded[0], rounded[1], 'round');

  // fp16's encoding runs in SIMD too (its decoding is the reference's table): subnormals, the
  // overflow to Infinity from 65520, ties to even, NaN.
  const fp16Values = values.slice();
  [65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 2 ** -14, 3 * 2 ** -26, 1 + 2 ** -11, 1 + 3 * 2 ** -11].forEach((v, i) => (fp16Values[100 + i] = v));
  const fp16Ref = new Uint16Array(n);
  halfReference.encode('fp16', fp16Values, fp16Ref);
  same(encodeHalf('fp16', fp16Values), fp16Ref, 'fp16 encode');
  const fp16Rounded = [fp16Values.slice(), fp16Values.slice()];
  roundHalf('fp16', fp16Rounded[0]);
  halfReference.round('fp16', fp16Rounded[1]);
  same(fp16Rounded[0], fp16Rounded[1], 'fp16 round');
});
