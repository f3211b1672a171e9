import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelError } from '../src/errors.js';
import {
  buildStack,
  conv2d,
  dense,
  dropout,
  flatten,
  maxPool2d,
  paramLayout,
  parseModelSpec,
  relu,
  sequential,
} from '../src/model/index.js';

const W4 = 'cnn:1x28x28 conv32k3p1 relu maxpool2 conv64k3p1 relu maxpool2 flatten dense128 relu dense10';

test('cnn-mnist is workload W4 with 421,642 parameters and lenet5 has 61,706', () => {
  const w4 = parseModelSpec('cnn-mnist');
  assert.equal(w4.text, W4);
  assert.equal(paramLayout(w4).size, 421_642);
  assert.equal(paramLayout(parseModelSpec('lenet5')).size, 61_706);
});

test('layer models name tensors by position, like nn.Sequential in an attribute layers, with PyTorch shapes', () => {
  const layout = paramLayout(parseModelSpec(W4));
  assert.deepEqual(layout.tensors.map((t) => [t.name, t.shape]), [
    ['layers.0.weight', [32, 1, 3, 3]],
    ['layers.0.bias', [32]],
    ['layers.3.weight', [64, 32, 3, 3]],
    ['layers.3.bias', [64]],
    ['layers.7.weight', [128, 3136]],
    ['layers.7.bias', [128]],
    ['layers.9.weight', [10, 128]],
    ['layers.9.bias', [10]],
  ]);
});

test('the canonical text parses back to the same spec, with defaults left out', () => {
  const spec = parseModelSpec('  cnn:3x32x32   conv16k3s1p1 relu maxpool2s2 conv8k5s2p2nobias gelu avgpool3s1p1 gap dropout0.25 dense10  ');
  assert.equal(spec.text, 'cnn:3x32x32 conv16k3p1 relu maxpool2 conv8k5s2p2nobias gelu avgpool3s1p1 gap dropout0.25 dense10');
  assert.deepEqual(parseModelSpec(spec.text), spec);
});

test('shapes follow PyTorch: floor((H + 2p - k) / s) + 1 per layer', () => {
  const stack = buildStack(parseModelSpec('cnn:3x11x8 conv4k5s2p2 relu maxpool3s2p1 flatten dense3'));
  assert.deepEqual(stack.layers.map((l) => l.outShape), [[4, 6, 4], [4, 6, 4], [4, 3, 2], [24], [3]]);
});

test('sequential() builds the same spec as the cnn: grammar', () => {
  const spec = sequential(
    [conv2d({ filters: 32, kernel: 3, padding: 1 }), relu(), maxPool2d({ kernel: 2 }), conv2d({ filters: 64, kernel: 3, padding: 1 }), relu(), maxPool2d({ kernel: 2 }), flatten(), dense({ units: 128 }), relu(), dropout(0.5), dense({ units: 10 })],
    { input: [1, 28, 28] },
  );
  assert.deepEqual(spec, parseModelSpec(W4.replace('relu dense10', 'relu dropout0.5 dense10')));
});

test('sequential() refuses a bad option naming it', () => {
  assert.throws(() => sequential([conv2d({ filters: 0, kernel: 3 }), flatten(), dense({ units: 2 })], { input: [1, 8, 8] }), {
    code: 'dptrain.model.badModelFile',
    message: /layers\[0\]\.filters must be an integer from 1/,
  });
});

test('a model that does not end flat, or has no parameters, or one class, is refused', () => {
  const rejects = (text: string, code: string, pattern: RegExp) =>
    assert.throws(() => parseModelSpec(text), (e: unknown) => e instanceof ModelError && e.code === code && pattern.test(e.message));
  rejects('cnn:1x8x8 conv4k3', 'dptrain.model.badShape', /ends with 4x6x6, not a flat vector/);
  rejects('cnn:1x8x8 flatten relu', 'dptrain.model.badSpec', /no layer with parameters/);
  rejects('cnn:1x8x8 flatten dense1', 'dptrain.model.badSpec', /at least 2 classes/);
  rejects('cnn:1x8x8 dense10', 'dptrain.model.badShape', /layer 1 \(dense10\) needs a flat input but gets 1x8x8 — put flatten/);
  rejects('cnn:28x28 flatten dense10', 'dptrain.model.badSpec', /input shape, CxHxW/);
  rejects('cnn:1x8x8 flatten dropout1 dense10', 'dptrain.model.badSpec', /dropout rate must be at least 0 and below 1/);
});
