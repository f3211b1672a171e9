import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reluBackward, reluForward, tanhBackward, tanhForward } from '../src/kernels/index.js';

test('reluForward zeroes negatives in place and keeps NaN visible', () => {
  const z = Float32Array.from([-2, -0.5, 0, 0.5, 3, NaN]);
  reluForward(z, z.length);
  assert.deepEqual(Array.from(z.subarray(0, 5)), [0, 0, 0, 0.5, 3]);
  assert.ok(Number.isNaN(z[5]));
});

test('reluForward and reluBackward touch only the first n elements', () => {
  const z = Float64Array.from([-1, -1, -1]);
  reluForward(z, 2);
  assert.deepEqual(Array.from(z), [0, 0, -1]);
  const dy = Float64Array.from([5, 5, 5]);
  reluBackward(dy, Float64Array.from([0, 0, 0]), 2);
  assert.deepEqual(Array.from(dy), [0, 0, 5]);
});

test('reluBackward zeroes the gradient where the ReLU output is not positive', () => {
  const dy = Float64Array.from([1, 2, 3, 4]);
  reluBackward(dy, Float64Array.from([0, 0.1, 0, 2]), 4);
  assert.deepEqual(Array.from(dy), [0, 2, 0, 4]);
});

test('tanhForward applies tanh in place and tanhBackward multiplies by 1 - y²', () => {
  const z = Float64Array.from([-1, 0, 0.5, 20]);
  tanhForward(z, 4);
  assert.deepEqual(Array.from(z), [-1, 0, 0.5, 20].map(Math.tanh));
  const dy = Float64Array.from([1, 2, 3, 4]);
  tanhBackward(dy, z, 4);
  assert.deepEqual(
    Array.from(dy),
    [1, 2, 3, 4].map((g, i) => g * (1 - z[i] * z[i])),
  );
});
