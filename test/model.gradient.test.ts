import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initParams, Model, parseModelSpec, type SampleSource } from '../src/model/index.js';
import type { Dtype, FloatArray } from '../src/util/float.js';
import { Rng } from '../src/util/rng.js';

/** A random dataset for `model`: normal inputs, and class labels or normal targets. */
function randomSource(model: Model, rows: number, seed: number): SampleSource {
  const rng = new Rng(seed, 'source');
  const classification = model.spec.loss === 'softmax-cross-entropy';
  const targetDim = classification ? 1 : model.outputDim;
  const x = Float32Array.from({ length: rows * model.inputDim }, () => rng.normal());
  const y = Float32Array.from({ length: rows * targetDim }, () =>
    classification ? rng.int(model.outputDim) : rng.normal(),
  );
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

/** Rows out of order, with a repeat: a gather must not assume sorted or unique indices. */
const INDICES = Uint32Array.from([3, 0, 7, 7, 1, 10, 5, 2, 8]); // batch 9 out of 12 rows

const SPECS = ['mlp:7-5-3-4', 'mlp:7-5-3-4:tanh', 'logreg:7-4', 'linreg:7-1', 'linreg:7-3'];

for (const text of SPECS) {
  test(`the gradient of ${text} equals central finite differences over all parameters (float64)`, () => {
    const model = new Model(parseModelSpec(text), { dtype: 'float64' });
    const source = randomSource(model, 12, 1);
    const params = randomParams(model, 2, 'float64');
    const grad = new Float64Array(model.numParams);
    const result = model.accumulateGradient(params, source, INDICES, grad);
    assert.equal(result.count, INDICES.length);

    // Random inputs put every ReLU pre-activation far (relative to h) from its kink at 0,
    // so the loss is smooth within ±h and central differences apply.
    for (let i = 0; i < params.length; i++) {
      const keep = params[i];
      const h = 1e-6 * Math.max(1, Math.abs(keep));
      params[i] = keep + h;
      const up = model.evaluate(params, source, INDICES).lossSum;
      params[i] = keep - h;
      const down = model.evaluate(params, source, INDICES).lossSum;
      params[i] = keep;
      const numeric = (up - down) / (2 * h);
      // Relative error, with a floor on the scale so that gradients near 0 compare absolutely.
      const error = Math.abs(grad[i] - numeric) / Math.max(Math.abs(grad[i]) + Math.abs(numeric), 1e-3);
      assert.ok(error < 1e-6, `${model.layout.tensors.find((t) => i < t.offset + t.size)?.name} [${i}]: ` +
        `analytic ${grad[i]}, numeric ${numeric}, relative error ${error}`);
    }
  });
}

test('accumulateGradient adds to the gradient: calling it twice doubles it', () => {
  const model = new Model(parseModelSpec('mlp:7-5-3-4'), { dtype: 'float64' });
  const source = randomSource(model, 12, 3);
  const params = randomParams(model, 4, 'float64');
  const once = new Float64Array(model.numParams);
  model.accumulateGradient(params, source, INDICES, once);
  const twice = new Float64Array(model.numParams);
  model.accumulateGradient(params, source, INDICES, twice);
  model.accumulateGradient(params, source, INDICES, twice);
  // Not bit-exact: the second call adds its partial sums onto a non-zero array.
  for (let i = 0; i < once.length; i++) {
    assert.ok(Math.abs(twice[i] - 2 * once[i]) <= 1e-12 * Math.abs(once[i]), `parameter ${i}`);
  }
});

test('accumulateGradient returns the loss sum, the correct count and the row count', () => {
  const model = new Model(parseModelSpec('logreg:7-4'), { dtype: 'float64' });
  const source = randomSource(model, 12, 5);
  const params = randomParams(model, 6, 'float64');
  const result = model.accumulateGradient(params, source, INDICES, new Float64Array(model.numParams));
  const evaluated = model.evaluate(params, source, INDICES);
  assert.deepEqual(result, evaluated);
  assert.equal(result.count, 9);
  assert.ok(result.correct >= 0 && result.correct <= 9);
  // The sum over rows equals the sum of one-row evaluations.
  let sum = 0;
  let correct = 0;
  for (const i of INDICES) {
    const one = model.evaluate(params, source, Uint32Array.of(i));
    sum += one.lossSum;
    correct += one.correct;
  }
  assert.ok(Math.abs(result.lossSum - sum) < 1e-12 * sum);
  assert.equal(result.correct, correct);
});

test('a regression model reports zero correct', () => {
  const model = new Model(parseModelSpec('linreg:7-3'));
  const result = model.evaluate(initParams(model.spec, 0), randomSource(model, 12, 7), INDICES);
  assert.equal(result.correct, 0);
  assert.ok(result.lossSum > 0);
});

test('an empty set of indices adds nothing and returns zeros', () => {
  const model = new Model(parseModelSpec('mlp:7-5-3-4'));
  const grad = new Float32Array(model.numParams);
  const result = model.accumulateGradient(initParams(model.spec, 0), randomSource(model, 12, 8), new Uint32Array(0), grad);
  assert.deepEqual(result, { lossSum: 0, correct: 0, count: 0 });
  assert.ok(grad.every((v) => v === 0));
});

test('indices may be a subarray of a larger index array', () => {
  const model = new Model(parseModelSpec('mlp:7-5-3-4'), { dtype: 'float64' });
  const source = randomSource(model, 12, 9);
  const params = randomParams(model, 10, 'float64');
  const all = Uint32Array.from([11, 11, ...INDICES, 4]);
  const a = new Float64Array(model.numParams);
  const b = new Float64Array(model.numParams);
  model.accumulateGradient(params, source, INDICES, a);
  model.accumulateGradient(params, source, all.subarray(2, 2 + INDICES.length), b);
  assert.deepEqual(a, b);
});

for (const [dtype, tol] of [
  ['float64', 1e-12],
  ['float32', 1e-5],
] as const) {
  for (const text of ['mlp:7-5-3-4', 'mlp:7-5-3-4:tanh', 'linreg:7-3']) {
    test(`micro-batches of 1, 2 and 4 rows give the same gradient as none (${text}, ${dtype})`, () => {
      const model = new Model(parseModelSpec(text), { dtype });
      const source = randomSource(model, 12, 11);
      const params = randomParams(model, 12, dtype);
      const reference = dtype === 'float64' ? new Float64Array(model.numParams) : new Float32Array(model.numParams);
      const whole = model.accumulateGradient(params, source, INDICES, reference);
      let scale = 0;
      for (let i = 0; i < reference.length; i++) scale = Math.max(scale, Math.abs(reference[i]));
      for (const microBatch of [1, 2, 4]) {
        const grad = dtype === 'float64' ? new Float64Array(model.numParams) : new Float32Array(model.numParams);
        const split = model.accumulateGradient(params, source, INDICES, grad, microBatch);
        assert.equal(split.count, whole.count);
        assert.equal(split.correct, whole.correct);
        assert.ok(Math.abs(split.lossSum - whole.lossSum) <= tol * whole.lossSum, `lossSum, micro-batch ${microBatch}`);
        // Relative to the largest gradient entry: entries near 0 compare on that scale.
        for (let i = 0; i < grad.length; i++) {
          assert.ok(
            Math.abs(grad[i] - reference[i]) <= tol * scale,
            `micro-batch ${microBatch}, parameter ${i}: ${grad[i]} vs ${reference[i]}`,
          );
        }
      }
    });
  }
}
