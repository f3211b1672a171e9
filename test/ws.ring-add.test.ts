// The ring's reduce-scatter add (src/engine/ws/ring.ts): the WebAssembly SIMD kernel gives the
// same bits as the JavaScript float32 reference, for every length (blocks of 16,384 floats, SIMD
// groups of 4 and the scalar tail) and offset, including signed zeros, subnormals, infinities and
// values whose sum overflows or cancels. NaN results are compared as NaN (payloads may differ).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addInto, addIntoJs, addKernel } from '../src/engine/ws/ring.js';

/** Deterministic float32 bit patterns across the whole range, with special values mixed in. */
function values(n: number, seed: number): Float32Array {
  const bits = new Uint32Array(n);
  let s = seed >>> 0;
  const specials = [0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x3f800000, 0xbf800000];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    if (s % 17 === 0) bits[i] = specials[(s >>> 8) % specials.length];
    else if (s % 3 === 0) bits[i] = ((s >>> 1) & 0x807fffff) | (((s >>> 24) % 40 + 107) << 23); // moderate exponents: real adds
    else bits[i] = s;
  }
  return new Float32Array(bits.buffer);
}

function sameBits(a: Float32Array, b: Float32Array, label: string): void {
  assert.equal(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    if (ua[i] !== ub[i]) assert.fail(`${label}: element ${i}: ${a[i]} (0x${ua[i].toString(16)}) vs ${b[i]} (0x${ub[i].toString(16)})`);
  }
}

test('this runtime uses the WebAssembly SIMD add', () => {
  assert.equal(addKernel, 'wasm-simd');
});

test('the SIMD add gives the bits of the float32 JS add for every length and offset', () => {
  for (const length of [0, 1, 3, 4, 5, 7, 16_383, 16_384, 16_385, 40_001, 262_144]) {
    for (const offset of [0, 1, 5]) {
      const dst = values(length + offset + 3, length + offset);
      const src = values(length, 7 * length + 1);
      const want = dst.slice();
      addIntoJs(want, offset, src);
      const got = dst.slice();
      addInto(got, offset, src);
      sameBits(got, want, `length ${length}, offset ${offset}`);
    }
  }
});

test('the add touches only [offset, offset + length) and reads a subarray source in place', () => {
  const dst = new Float32Array(20).fill(1);
  const backing = Float32Array.from({ length: 12 }, (_, i) => i);
  addInto(dst, 4, backing.subarray(2, 10)); // 2..9
  assert.deepEqual([...dst], [1, 1, 1, 1, 3, 4, 5, 6, 7, 8, 9, 10, 1, 1, 1, 1, 1, 1, 1, 1]);
});
