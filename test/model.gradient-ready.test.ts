/**
 * onGradientReady (the ws engine's buckets): a layer's gradient is announced as soon as it is
 * final, before the gradient wrt its input is computed, so its all-reduce overlaps that product.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsKernels, type Kernels } from '../src/kernels/index.js';
import type { FloatArray } from '../src/util/float.js';
import { initParams, Model, parseModelSpec, type SampleSource } from '../src/model/index.js';
import { Rng } from '../src/util/rng.js';

/** The js kernel set, with every dense dx product (`matmulDyW*`) logged before it runs. */
function loggingKernels(log: string[]): Kernels {
  const logged = <A extends unknown[]>(run: (...args: A) => void) => (...args: A): void => {
    log.push(`dx ${String(args[args.length - 2])}x${String(args[args.length - 1])}`);
    run(...args);
  };
  return { ...jsKernels, matmulDyW: logged(jsKernels.matmulDyW), matmulDyWReluMask: logged(jsKernels.matmulDyWReluMask) };
}

test('a dense layer is announced ready after its weight and bias gradients and before its dx product, with its final values', () => {
  const log: string[] = [];
  const model = new Model(parseModelSpec('mlp:6-5-4-3'), { kernels: loggingKernels(log) });
  const rng = new Rng(5, 'ready');
  const rows = 7;
  const source: SampleSource = { x: Float32Array.from({ length: rows * 6 }, () => rng.normal()), y: Float32Array.from({ length: rows }, () => rng.int(3)), inputDim: 6, targetDim: 1 };
  const params = initParams(model.spec, 1) as Float32Array;
  const indices = Uint32Array.from({ length: rows }, (_, i) => i);
  const snapshots: { from: number; values: Float32Array }[] = [];
  const grad = new Float32Array(model.numParams);
  model.accumulateGradient(params, source, indices, grad, undefined, undefined, (from) => {
    log.push(`ready ${from}`);
    snapshots.push({ from, values: grad.slice(from) });
  });
  // Layers in backward order: 4->3 (offset 6*5+5 + 5*4+4 = 59), 5->4 (35), 6->5 (0, no dx).
  assert.deepEqual(log, ['ready 59', 'dx 3x4', 'ready 35', 'dx 4x5', 'ready 0']);
  for (const { from, values } of snapshots) assert.deepEqual(values, grad.slice(from), `grad[${from}..] changed after it was announced`);
});

/** The js kernels with matmulDyTXAccRows (the blas set's row blocks), each block logged. */
function rowKernels(log: string[]): Kernels {
  const matmulDyTXAccRows = (dy: FloatArray, x: FloatArray, dw: FloatArray, n: number, outDim: number, inDim: number, rowStart: number, rowEnd: number): void => {
    log.push(`dw rows ${rowStart}-${rowEnd}`);
    for (let r = rowStart; r < rowEnd; r++) {
      for (let j = 0; j < inDim; j++) {
        let sum = 0;
        for (let i = 0; i < n; i++) sum += dy[i * outDim + r] * x[i * inDim + j];
        dw[r * inDim + j] += sum;
      }
    }
  };
  return { ...jsKernels, matmulDyTXAccRows };
}

test('with gradient cuts inside a weight, its rows are finished block by block from the last, each block announced with its final values, and the gradient is the uncut one', () => {
  const spec = parseModelSpec('mlp:6-5-4-3');
  const rng = new Rng(9, 'rows');
  const rows = 7;
  const source: SampleSource = { x: Float32Array.from({ length: rows * 6 }, () => rng.normal()), y: Float32Array.from({ length: rows }, () => rng.int(3)), inputDim: 6, targetDim: 1 };
  const params = initParams(spec, 1) as Float32Array;
  const indices = Uint32Array.from({ length: rows }, (_, i) => i);
  const log: string[] = [];
  const model = new Model(spec, { kernels: rowKernels(log) });
  // Layout: 0.weight [5, 6] at 0, 0.bias at 30, 1.weight [4, 5] at 35, 1.bias at 55, 2.* from 59.
  // Cuts at rows 3 and 1 of the first weight (18, 6), row 2 of the second (45); 7 is no row boundary.
  model.setGradientCuts([6, 7, 18, 45, 59]);
  const grad = new Float32Array(model.numParams);
  const snapshots: { from: number; values: Float32Array }[] = [];
  model.accumulateGradient(params, source, indices, grad, undefined, undefined, (from) => {
    log.push(`ready ${from}`);
    snapshots.push({ from, values: grad.slice(from) });
  });
  assert.deepEqual(
    log.filter((l) => !l.startsWith('dx')),
    ['ready 59', 'dw rows 2-4', 'ready 45', 'dw rows 0-2', 'ready 35', 'dw rows 3-5', 'ready 18', 'dw rows 1-3', 'ready 6', 'dw rows 0-1', 'ready 0'],
  );
  for (const { from, values } of snapshots) assert.deepEqual(values, grad.slice(from), `grad[${from}..] changed after it was announced`);
  const whole = new Float32Array(model.numParams);
  new Model(spec, { kernels: jsKernels }).accumulateGradient(params, source, indices, whole);
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(whole[i] - grad[i]) <= 1e-6 * (1 + Math.abs(whole[i])), `element ${i}: ${grad[i]} vs ${whole[i]}`);
});

test('gradient cuts change nothing where the kernels have no row blocks', () => {
  const spec = parseModelSpec('mlp:6-5-4-3');
  const rng = new Rng(10, 'rows');
  const source: SampleSource = { x: Float32Array.from({ length: 24 }, () => rng.normal()), y: Float32Array.from({ length: 4 }, () => rng.int(3)), inputDim: 6, targetDim: 1 };
  const params = initParams(spec, 1) as Float32Array;
  const indices = Uint32Array.from({ length: 4 }, (_, i) => i);
  const cut = new Model(spec, { kernels: jsKernels });
  cut.setGradientCuts([18, 45]);
  const ready: number[] = [];
  const a = new Float32Array(cut.numParams);
  cut.accumulateGradient(params, source, indices, a, undefined, undefined, (from) => ready.push(from));
  const b = new Float32Array(cut.numParams);
  new Model(spec, { kernels: jsKernels }).accumulateGradient(params, source, indices, b);
  assert.deepEqual(ready, [59, 35, 0]);
  assert.deepEqual(a, b);
});
