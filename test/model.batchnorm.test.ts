// BatchNorm1d/2d in the model (docs/models.md#batchnorm): gradients against central differences in
// float64 (local, ghost and sync over slots run in lockstep), the batch-of-one refusal, and
// evaluation with the running statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bufferLayout, buildStack, initBuffers, initParams, Model, parseModelSpec, updateRunningStats, type BatchNormMode, type SampleSource } from '../src/model/index.js';
import { runLockstep, sumInOrder } from '../src/engine/lockstep.js';
import { Rng } from '../src/util/rng.js';

function randomSource(model: Model, rows: number, seed: number): SampleSource {
  const rng = new Rng(seed, 'source');
  const x = Float32Array.from({ length: rows * model.inputDim }, () => 1 + 2 * rng.normal());
  const y = Float32Array.from({ length: rows }, () => rng.int(model.outputDim));
  return { x, y, inputDim: model.inputDim, targetDim: 1 };
}

/** Random biases and BatchNorm scales, so that every path carries gradient. */
function randomParams(model: Model, seed: number): Float64Array {
  const params = initParams(model.spec, seed, 'float64') as Float64Array;
  const rng = new Rng(seed, 'bias');
  for (const t of model.layout.tensors) {
    if (t.name.endsWith('.bias')) for (let k = 0; k < t.size; k++) params[t.offset + k] = 0.3 * rng.normal();
    if (t.shape.length === 1 && t.name.endsWith('.weight')) for (let k = 0; k < t.size; k++) params[t.offset + k] = 1 + 0.3 * rng.normal();
  }
  return params;
}

function checkGradient(spec: string, indices: number[], mode: BatchNormMode): void {
  const model = new Model(parseModelSpec(spec), { dtype: 'float64', batchNorm: mode });
  const source = randomSource(model, 9, 1);
  const params = randomParams(model, 2);
  const grad = new Float64Array(model.numParams);
  model.accumulateGradient(params, source, indices, grad);
  const scratch = new Float64Array(model.numParams);
  const loss = (): number => model.accumulateGradient(params, source, indices, scratch).lossSum;
  for (let i = 0; i < params.length; i++) {
    const keep = params[i];
    const h = 1e-6 * Math.max(1, Math.abs(keep));
    params[i] = keep + h;
    const up = loss();
    params[i] = keep - h;
    const down = loss();
    params[i] = keep;
    const numeric = (up - down) / (2 * h);
    // A bias right before BatchNorm has a zero gradient (the mean removes it): the floor keeps the differences' noise (~1e-9) from counting.
    const error = Math.abs(grad[i] - numeric) / Math.max(Math.abs(grad[i]) + Math.abs(numeric), 1e-2);
    assert.ok(error < 1e-6, `${model.layout.tensors.find((t) => i < t.offset + t.size)?.name} [${i}]: analytic ${grad[i]}, numeric ${numeric}, relative error ${error}`);
  }
}

// Odd shapes: non-square images, stride 2, channels 1/3/5, batch 1 (an image still has H·W values) and 7, bn first.
const CASES: { spec: string; indices: number[]; mode: BatchNormMode }[] = [
  { spec: 'cnn:3x7x5 conv5k3s2p1 bn relu maxpool2s1 conv4k2 bn tanh flatten dense3', indices: [3, 0, 7, 7, 1, 5, 2], mode: { kind: 'local' } },
  { spec: 'cnn:1x6x5 conv3k3p1 bn relu gap dense3', indices: [4], mode: { kind: 'local' } },
  { spec: 'cnn:3x5x4 bn conv2k3 relu flatten dense5 bn gelu dense3', indices: [6, 1, 2, 0, 5, 3, 4], mode: { kind: 'local' } },
  { spec: 'cnn:9 dense6 bn relu dense4 bn dense3', indices: [8, 2, 4, 6, 1], mode: { kind: 'sync' } },
  { spec: 'cnn:2x4x3 conv5k3p1 bn relu flatten dense3', indices: [0, 1, 2, 3, 4, 5, 6], mode: { kind: 'ghost', group: 3 } },
];

for (const { spec, indices, mode } of CASES) {
  test(`the gradient of ${spec} (batch ${indices.length}, ${mode.kind}) equals central differences in float64`, () => {
    checkGradient(spec, indices, mode);
  });
}

test('sync: slots run in lockstep with exchanged sums give the whole batch\'s gradient and statistics (float64)', () => {
  const spec = parseModelSpec('cnn:2x5x4 conv4k3p1 bn relu flatten dense6 bn tanh dense3');
  const whole = new Model(spec, { dtype: 'float64', batchNorm: { kind: 'sync' } });
  const source = randomSource(whole, 9, 3);
  const params = randomParams(whole, 4);
  const rows = [8, 0, 3, 5, 1, 7, 2, 6, 4];
  const expected = new Float64Array(whole.numParams);
  const reference = whole.accumulateGradient(params, source, rows, expected);
  const parts = [rows.slice(0, 4), rows.slice(4, 5), rows.slice(5), []];
  const models = parts.map(() => new Model(spec, { dtype: 'float64', batchNorm: { kind: 'sync' } }));
  const grads = parts.map(() => new Float64Array(whole.numParams));
  const results = runLockstep(
    parts.map((part, i) => models[i].gradientSteps(params, source, part, grads[i])),
    (partials) => sumInOrder(partials),
  );
  assert.deepEqual(results.map((r) => r.count), [4, 1, 4, 0]);
  const lossSum = results.reduce((a, r) => a + r.lossSum, 0);
  assert.ok(Math.abs(lossSum - reference.lossSum) < 1e-10 * Math.abs(reference.lossSum));
  for (let i = 0; i < expected.length; i++) {
    const got = grads.reduce((a, g) => a + g[i], 0);
    assert.ok(Math.abs(got - expected[i]) <= 1e-10 * Math.max(1, Math.abs(expected[i])), `parameter ${i}: ${got} vs ${expected[i]}`);
  }
  for (const m of models) assert.deepEqual(Array.from(m.batchStats).map((v) => +v.toPrecision(12)), Array.from(whole.batchStats).map((v) => +v.toPrecision(12)));
});

test('a BatchNorm1d over one sample in training is refused, naming the layer (PyTorch refuses it too)', () => {
  const model = new Model(parseModelSpec('cnn:9 dense6 bn relu dense3'));
  const source = randomSource(model, 4, 5);
  assert.throws(
    () => model.accumulateGradient(initParams(model.spec, 1) as Float32Array, source, [2], new Float32Array(model.numParams)),
    (e: Error & { code?: string }) => e.code === 'dptrain.model.bnBatch' && /layer 2 \(bn, BatchNorm1d\).*at least 2/.test(e.message),
  );
});

test('evaluation normalizes with the running statistics, which follow PyTorch\'s update rule', () => {
  const spec = parseModelSpec('cnn:4 bn dense3');
  const layout = bufferLayout(buildStack(spec));
  assert.deepEqual(layout.tensors.map((t) => [t.name, t.shape]), [['layers.0.running_mean', [4]], ['layers.0.running_var', [4]], ['layers.0.num_batches_tracked', []]]);
  const buffers = initBuffers(layout);
  // Batch of 2 per channel: values (1, 3): mean 2, unbiased variance 2.
  updateRunningStats(layout, buffers, Float64Array.from([4, 4, 4, 4, 10, 10, 10, 10, 2]));
  assert.deepEqual(Array.from(buffers).map((v) => +v.toFixed(6)), [0.2, 0.2, 0.2, 0.2, 1.1, 1.1, 1.1, 1.1, 1]);
  const model = new Model(spec, { dtype: 'float64' });
  const plain = new Model(parseModelSpec('cnn:4 dense3'), { dtype: 'float64' });
  const source = randomSource(model, 5, 6);
  const params = randomParams(model, 7);
  // The affine BatchNorm in evaluation folds into the dense layer: W·(γ(x − m)/√(v + ε) + β) + b.
  const folded = new Float64Array(plain.numParams);
  for (let o = 0; o < 3; o++) {
    let bias = params[8 + 12 + o];
    for (let c = 0; c < 4; c++) {
      const scale = params[c] / Math.sqrt(buffers[4 + c] + 1e-5);
      folded[o * 4 + c] = params[8 + o * 4 + c] * scale;
      bias += params[8 + o * 4 + c] * (params[4 + c] - scale * buffers[c]);
    }
    folded[12 + o] = bias;
  }
  const rows = [0, 1, 2, 3, 4];
  const a = model.evaluate(params, source, rows, undefined, buffers).lossSum;
  const b = plain.evaluate(folded, source, rows).lossSum;
  assert.ok(Math.abs(a - b) < 1e-9 * Math.abs(b), `${a} vs ${b}`);
  assert.throws(() => model.evaluate(params, source, rows), /running-statistics/);
});

test('spec, JSON and sequential() name BatchNorm the same way: bn, batchnorm, batchNorm()', async () => {
  const { sequential, batchNorm, conv2d, relu, flatten, dense } = await import('../src/index.js');
  const { parseModelFile } = await import('../src/model/index.js');
  const fromSpec = parseModelSpec('cnn:1x8x8 conv4k3 batchnorm relu flatten dense3');
  assert.equal(fromSpec.text, 'cnn:1x8x8 conv4k3 bn relu flatten dense3');
  const net = sequential([conv2d({ filters: 4, kernel: 3 }), batchNorm(), relu(), flatten(), dense({ units: 3 })], { input: [1, 8, 8] });
  assert.equal(net.text, fromSpec.text);
  assert.deepEqual(parseModelFile({ input: [1, 8, 8], layers: [{ type: 'conv2d', filters: 4, kernel: 3 }, { type: 'batchnorm' }, { type: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 3 }] }).layers[1], { type: 'batchnorm' });
  const names = new Model(fromSpec).layout.tensors.map((t) => t.name);
  assert.deepEqual(names, ['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias', 'layers.4.weight', 'layers.4.bias']);
});
