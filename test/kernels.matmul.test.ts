import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addBias, biasGradAcc, matmulDyTXAcc, matmulDyW, matmulXWt } from '../src/kernels/index.js';
import type { FloatArray } from '../src/util/float.js';
import { Rng } from '../src/util/rng.js';

// [n, in, out]: tiny, odd (tails of the 2 x 4 blocks), exact blocks, and large odd shapes.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 7, 5],
  [2, 3, 4],
  [4, 8, 8],
  [5, 2, 9],
  [127, 129, 131],
];

function random(length: number, rng: Rng): Float64Array {
  const a = new Float64Array(length);
  for (let i = 0; i < length; i++) a[i] = 2 * rng.next() - 1;
  return a;
}

/** Checks got vs a float64 reference, with a tolerance for float32 storage. */
function assertClose(got: FloatArray, want: Float64Array, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * (1 + Math.abs(want[i])))) {
      assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (error ${err})`);
    }
  }
}

// Naive triple loops in float64, written straight from the definitions.
function naiveXWt(x: Float64Array, w: Float64Array, n: number, inDim: number, outDim: number): Float64Array {
  const y = new Float64Array(n * outDim);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < outDim; j++) for (let k = 0; k < inDim; k++) y[i * outDim + j] += x[i * inDim + k] * w[j * inDim + k];
  return y;
}
function naiveDyW(dy: Float64Array, w: Float64Array, n: number, outDim: number, inDim: number): Float64Array {
  const dx = new Float64Array(n * inDim);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < inDim; k++) for (let j = 0; j < outDim; j++) dx[i * inDim + k] += dy[i * outDim + j] * w[j * inDim + k];
  return dx;
}
function naiveDyTX(dy: Float64Array, x: Float64Array, n: number, outDim: number, inDim: number): Float64Array {
  const dw = new Float64Array(outDim * inDim);
  for (let j = 0; j < outDim; j++)
    for (let k = 0; k < inDim; k++) for (let i = 0; i < n; i++) dw[j * inDim + k] += dy[i * outDim + j] * x[i * inDim + k];
  return dw;
}

const CASES = [
  { name: 'Float64Array', make: (a: Float64Array) => Float64Array.from(a), tol: 1e-12 },
  { name: 'Float32Array', make: (a: Float64Array) => Float32Array.from(a), tol: 1e-5 },
];

for (const { name, make, tol } of CASES) {
  for (const [n, inDim, outDim] of SHAPES) {
    const shape = `${n}x${inDim}x${outDim}`;
    // Inputs are rounded to the array type first, so the reference sees the same values.
    const rng = new Rng(n * 1000 + inDim, 'matmul', outDim);
    const x = make(random(n * inDim, rng));
    const w = make(random(outDim * inDim, rng));
    const dy = make(random(n * outDim, rng));
    const x64 = Float64Array.from(x);
    const w64 = Float64Array.from(w);
    const dy64 = Float64Array.from(dy);

    test(`matmulXWt overwrites y with x·Wᵀ (${name}, ${shape})`, () => {
      const y = make(new Float64Array(n * outDim).fill(NaN));
      matmulXWt(x, w, y, n, inDim, outDim);
      assertClose(y, naiveXWt(x64, w64, n, inDim, outDim), tol, 'y');
    });

    test(`matmulDyW overwrites dx with dy·W (${name}, ${shape})`, () => {
      const dx = make(new Float64Array(n * inDim).fill(NaN));
      matmulDyW(dy, w, dx, n, outDim, inDim);
      assertClose(dx, naiveDyW(dy64, w64, n, outDim, inDim), tol, 'dx');
    });

    test(`matmulDyTXAcc adds dyᵀ·x to what dw already holds (${name}, ${shape})`, () => {
      const dw = make(random(outDim * inDim, rng));
      const start = Float64Array.from(dw);
      matmulDyTXAcc(dy, x, dw, n, outDim, inDim);
      const want = naiveDyTX(dy64, x64, n, outDim, inDim).map((v, i) => v + start[i]);
      assertClose(dw, want, tol, 'dw');
    });
  }

  test(`biasGradAcc adds the column sums of dy to db (${name})`, () => {
    const rng = new Rng(7, 'bias');
    const [n, outDim] = [13, 6];
    const dy = make(random(n * outDim, rng));
    const db = make(Float64Array.from([1, 2, 3, 4, 5, 6]));
    biasGradAcc(dy, db, n, outDim);
    const want = Float64Array.from([1, 2, 3, 4, 5, 6]);
    for (let i = 0; i < n; i++) for (let j = 0; j < outDim; j++) want[j] += dy[i * outDim + j];
    assertClose(db, want, tol, 'db');
  });

  test(`addBias adds b to every row of y (${name})`, () => {
    const y = make(Float64Array.from([1, 2, 3, 4, 5, 6]));
    addBias(y, make(Float64Array.from([10, 20, 30])), 2, 3);
    assert.deepEqual(Array.from(y), [11, 22, 33, 14, 25, 36]);
  });
}

test('matmul kernels touch only the first n rows of larger buffers', () => {
  const rng = new Rng(3, 'rows');
  const [n, inDim, outDim] = [3, 5, 6];
  const x = Float64Array.from(random(10 * inDim, rng));
  const w = Float64Array.from(random(outDim * inDim, rng));
  const dy = Float64Array.from(random(10 * outDim, rng));
  const y = new Float64Array(10 * outDim).fill(-7);
  const dx = new Float64Array(10 * inDim).fill(-7);
  matmulXWt(x, w, y, n, inDim, outDim);
  matmulDyW(dy, w, dx, n, outDim, inDim);
  assert.ok(y.subarray(n * outDim).every((v) => v === -7));
  assert.ok(dx.subarray(n * inDim).every((v) => v === -7));
});

test('matmulDyTXAcc called twice accumulates twice the product', () => {
  const rng = new Rng(4, 'twice');
  const [n, inDim, outDim] = [9, 7, 5];
  const x = random(n * inDim, rng);
  const dy = random(n * outDim, rng);
  const dw = new Float64Array(outDim * inDim);
  matmulDyTXAcc(dy, x, dw, n, outDim, inDim);
  matmulDyTXAcc(dy, x, dw, n, outDim, inDim);
  assertClose(dw, naiveDyTX(dy, x, n, outDim, inDim).map((v) => 2 * v), 1e-12, 'dw');
});
