/**
 * onGradientReady (the ws engine's buckets): a layer's gradient is announced as soon as it is
 * final, before the gradient wrt its input is computed, so its all-reduce overlaps that product.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsKernels, type Kernels } from '../src/kernels/index.js';
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
