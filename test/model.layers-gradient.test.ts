import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initParams, Model, parseModelSpec, type SampleSource, type TrainingStep } from '../src/model/index.js';
import { createWasmKernels } from '../src/kernels/index.js';
import type { Dtype, FloatArray } from '../src/util/float.js';
import { Rng } from '../src/util/rng.js';

function randomSource(model: Model, rows: number, seed: number): SampleSource {
  const rng = new Rng(seed, 'source');
  const classification = model.spec.loss === 'softmax-cross-entropy';
  const targetDim = classification ? 1 : model.outputDim;
  const x = Float32Array.from({ length: rows * model.inputDim }, () => rng.normal());
  const y = Float32Array.from({ length: rows * targetDim }, () => (classification ? rng.int(model.outputDim) : rng.normal()));
  return { x, y, inputDim: model.inputDim, targetDim };
}

/** Initial parameters with random (not zero) biases, so that every path carries gradient. */
function randomParams(model: Model, seed: number, dtype: Dtype): FloatArray {
  const params = initParams(model.spec, seed, dtype);
  const rng = new Rng(seed, 'bias');
  for (const t of model.layout.tensors) {
    if (t.name.endsWith('.bias')) for (let k = 0; k < t.size; k++) params[t.offset + k] = 0.3 * rng.normal();
  }
  return params;
}

const KEY: TrainingStep = { seed: 11, step: 4 };

// Odd shapes: non-square images, stride 2, padding 0/1/2, channels 1/3/5, batch 1 and 7, every layer.
const CASES: { spec: string; indices: number[] }[] = [
  { spec: 'cnn:3x7x5 conv5k3s2p1 relu maxpool2s1 conv4k2 tanh flatten dense3', indices: [3, 0, 7, 7, 1, 5, 2] },
  { spec: 'cnn:1x9x6 conv3k5p2 gelu avgpool3s2p1 flatten dense4 relu dense3', indices: [4] },
  { spec: 'cnn:5x6x7 conv3k1 relu conv2k3s2p1 gap dense3', indices: [6, 1, 2, 0, 5, 3, 4] },
  { spec: 'cnn:3x8x5 conv5k3p1 relu maxpool3s2p1 conv3k3p2nobias relu flatten dropout0.3 dense4 gelu dense3', indices: [1, 2, 3, 4, 5, 6, 0] },
  { spec: 'cnn:20 dense6 gelu dropout0.5 dense5nobias tanh dense3', indices: [0, 2, 4, 6, 1, 3, 5] },
  { spec: 'cnn:3x6x5 conv4k3s2p1 relu flatten layernorm dense5 layernorm gelu dense3', indices: [2, 5, 7, 1, 0, 3, 6] },
  { spec: 'cnn:9 layernorm dense4 relu layernorm dense3', indices: [5] },
  { spec: 'cnn:2x5x4 conv3k3s2p1 relu avgpool2s1 flatten dense2 mse', indices: [6, 5, 4, 3, 2, 1, 0] },
];

for (const { spec, indices } of CASES) {
  test(`the gradient of ${spec} (batch ${indices.length}) equals central differences over all parameters in float64`, () => {
    const model = new Model(parseModelSpec(spec), { dtype: 'float64' });
    const source = randomSource(model, 8, 1);
    const params = randomParams(model, 2, 'float64');
    const grad = new Float64Array(model.numParams);
    model.accumulateGradient(params, source, indices, grad, undefined, KEY);
    // The loss in training mode (dropout on, the same masks), through the same call.
    const scratch = new Float64Array(model.numParams);
    const loss = (): number => model.accumulateGradient(params, source, indices, scratch, undefined, KEY).lossSum;
    let worst = 0;
    for (let i = 0; i < params.length; i++) {
      const keep = params[i];
      const h = 1e-6 * Math.max(1, Math.abs(keep));
      params[i] = keep + h;
      const up = loss();
      params[i] = keep - h;
      const down = loss();
      params[i] = keep;
      const numeric = (up - down) / (2 * h);
      const error = Math.abs(grad[i] - numeric) / Math.max(Math.abs(grad[i]) + Math.abs(numeric), 1e-3);
      worst = Math.max(worst, error);
      assert.ok(error < 1e-6, `${model.layout.tensors.find((t) => i < t.offset + t.size)?.name} [${i}]: analytic ${grad[i]}, numeric ${numeric}, relative error ${error}`);
    }
    assert.ok(worst < 1e-6);
  });
}

test('split into micro-batches, a conv net gives the gradient of the whole batch (float64)', () => {
  const model = new Model(parseModelSpec(CASES[3].spec), { dtype: 'float64' });
  const source = randomSource(model, 8, 3);
  const params = randomParams(model, 4, 'float64');
  const whole = new Float64Array(model.numParams);
  model.accumulateGradient(params, source, CASES[3].indices, whole, undefined, KEY);
  const split = new Float64Array(model.numParams);
  model.accumulateGradient(params, source, CASES[3].indices, split, 3, KEY);
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(whole[i] - split[i]) <= 1e-12 * Math.max(1, Math.abs(whole[i])), `parameter ${i}`);
});

test('the float32 js and wasm kernels give the float64 gradient of a conv net within 1e-4', async () => {
  const spec = parseModelSpec('cnn:3x9x7 conv8k3p1 relu maxpool2 conv6k3s2p1 relu flatten dense5 gelu dense4');
  const ref = new Model(spec, { dtype: 'float64' });
  const source = randomSource(ref, 16, 5);
  const rows = Array.from({ length: 16 }, (_, i) => i);
  const params64 = randomParams(ref, 6, 'float64');
  const grad64 = new Float64Array(ref.numParams);
  ref.accumulateGradient(params64, source, rows, grad64);
  const scale = Math.max(...grad64.map(Math.abs));
  for (const kernels of [undefined, await createWasmKernels('simd')]) {
    const model = new Model(spec, { kernels });
    const grad = new Float32Array(model.numParams);
    model.accumulateGradient(Float32Array.from(params64), source, rows, grad);
    let worst = 0;
    for (let i = 0; i < grad.length; i++) worst = Math.max(worst, Math.abs(grad[i] - grad64[i]) / scale);
    assert.ok(worst < 1e-4, `${kernels?.name ?? 'js'}: worst difference ${worst} of the largest gradient`);
    model.dispose();
  }
});

test('a conv net reused across calls with new parameters and micro-batches gives a fresh Model its gradient (cached kkC weights)', async () => {
  // Conv layers reorder their weights once per call and sum dW over a call's micro-batches:
  // a second call, on other parameters and with another split, must see neither leftover.
  const spec = parseModelSpec('cnn:1x9x7 conv8k3p1 relu maxpool2 conv6k3p1 relu flatten dense4');
  for (const kernels of [undefined, await createWasmKernels('simd')]) {
    const reused = new Model(spec, { kernels });
    const source = randomSource(reused, 16, 7);
    const rows = Array.from({ length: 16 }, (_, i) => i);
    const first = Float32Array.from(randomParams(reused, 8, 'float64'));
    const second = Float32Array.from(randomParams(reused, 9, 'float64'));
    reused.accumulateGradient(first, source, rows, new Float32Array(reused.numParams), 5);
    const got = new Float32Array(reused.numParams);
    reused.accumulateGradient(second, source, rows, got, 3);
    const fresh = new Model(spec, { kernels });
    const want = new Float32Array(fresh.numParams);
    fresh.accumulateGradient(second, source, rows, want, 3);
    assert.deepEqual(got, want, kernels?.name ?? 'js');
    reused.dispose();
    fresh.dispose();
  }
});

test('evaluation ignores dropout and training applies it: masks change the loss only in training', () => {
  const model = new Model(parseModelSpec('cnn:20 dense16 relu dropout0.5 dense3'), { dtype: 'float64' });
  const source = randomSource(model, 8, 7);
  const params = randomParams(model, 8, 'float64');
  const rows = [0, 1, 2, 3, 4, 5, 6, 7];
  const withoutDropout = new Model(parseModelSpec('cnn:20 dense16 relu dense3'), { dtype: 'float64' });
  assert.equal(model.evaluate(params, source, rows).lossSum, withoutDropout.evaluate(params, source, rows).lossSum);
  const g = new Float64Array(model.numParams);
  const a = model.accumulateGradient(params, source, rows, g, undefined, { seed: 1, step: 0 }).lossSum;
  const b = model.accumulateGradient(params, source, rows, g, undefined, { seed: 1, step: 1 }).lossSum;
  const again = model.accumulateGradient(params, source, rows, g, undefined, { seed: 1, step: 0 }).lossSum;
  assert.notEqual(a, b, 'another step draws other masks');
  assert.equal(a, again, 'the same step draws the same masks');
});

test("a sample's dropout mask depends on its dataset index, not on its place in the batch or the micro-batch", () => {
  const model = new Model(parseModelSpec('cnn:20 dense16 relu dropout0.5 dense3'), { dtype: 'float64' });
  const source = randomSource(model, 8, 9);
  const params = randomParams(model, 10, 'float64');
  const g = new Float64Array(model.numParams);
  const forward = model.accumulateGradient(params, source, [0, 1, 2, 3, 4, 5, 6, 7], g, undefined, KEY).lossSum;
  const parts = [[5, 6, 7], [0, 1, 2, 3, 4]].map((rows) => model.accumulateGradient(params, source, rows, g, 2, KEY).lossSum);
  assert.ok(Math.abs(forward - (parts[0] + parts[1])) < 1e-12 * Math.abs(forward));
});
