import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initParams, Model, parseModelSpec, type SampleSource } from '../src/model/index.js';

const spec = parseModelSpec('mlp:4-3-2');
const model = new Model(spec);
const params = initParams(spec, 0);
const source: SampleSource = {
  x: new Float32Array(5 * 4),
  y: Float32Array.from([0, 1, 1, 0, 1]),
  inputDim: 4,
  targetDim: 1,
};
const grad = () => new Float32Array(model.numParams);

test('a dataset with a different number of features is rejected with both numbers', () => {
  const wrong: SampleSource = { x: new Float32Array(13 * 2), y: new Float32Array(2), inputDim: 13, targetDim: 1 };
  assert.throws(() => model.accumulateGradient(params, wrong, [0], grad()), {
    name: 'ModelError',
    code: 'dptrain.model.inputMismatch',
    message:
      'model mlp:4-3-2 expects 4 inputs but the dataset has 13 features — change the first size of the model spec to 13',
  });
});

test('a classifier rejects a dataset with more than one target per sample', () => {
  assert.throws(() => model.evaluate(params, { ...source, y: new Float32Array(10), targetDim: 2 }, [0]), {
    code: 'dptrain.model.targetMismatch',
    message: /model mlp:4-3-2 is a classifier and needs one class label per sample, but the dataset has 2 targets/,
  });
});

test('a regression model rejects a dataset whose target width differs from its outputs', () => {
  const linreg = new Model(parseModelSpec('linreg:4-3'));
  assert.throws(() => linreg.evaluate(initParams(linreg.spec, 0), { ...source, targetDim: 1 }, [0]), {
    code: 'dptrain.model.targetMismatch',
    message: /model linreg:4-3 has 3 outputs but the dataset has 1 targets/,
  });
});

test('a label outside the classes is rejected before the gradient is touched', () => {
  const bad = { ...source, y: Float32Array.from([0, 1, 2, 0, 1]) };
  const g = grad();
  assert.throws(() => model.accumulateGradient(params, bad, [0, 1, 2], g, 1), {
    code: 'dptrain.model.badLabel',
    message: 'sample 2 has label 2 but model mlp:4-3-2 has classes 0..1',
  });
  assert.ok(g.every((v) => v === 0));
});

test('an index past the last row is rejected', () => {
  assert.throws(() => model.evaluate(params, source, [0, 5]), {
    code: 'dptrain.model.badIndex',
    message: "sample index 5 is outside the dataset's 5 rows",
  });
});

test('parameters of the wrong length are rejected', () => {
  assert.throws(() => model.evaluate(new Float32Array(3), source, [0]), {
    code: 'dptrain.model.paramCountMismatch',
    message: 'params has 3 values but model mlp:4-3-2 has 23 parameters',
  });
});

test('a gradient array of the wrong dtype is rejected', () => {
  assert.throws(() => model.accumulateGradient(params, source, [0], new Float64Array(model.numParams)), {
    code: 'dptrain.model.dtypeMismatch',
    message: 'grad must be a Float32Array for a float32 model',
  });
});

test('a micro-batch that is not a positive integer is rejected', () => {
  assert.throws(() => model.evaluate(params, source, [0], 0), {
    code: 'dptrain.model.badMicroBatch',
    message: 'micro-batch must be a positive integer (got 0)',
  });
});
