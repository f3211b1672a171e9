import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelError } from '../src/errors.js';
import { paramLayout, paramView, parseModelSpec } from '../src/model/index.js';

test('an mlp spec has ReLU hidden layers and softmax cross-entropy', () => {
  assert.deepEqual(parseModelSpec('mlp:784-256-128-10'), {
    text: 'mlp:784-256-128-10',
    kind: 'mlp',
    sizes: [784, 256, 128, 10],
    activation: 'relu',
    loss: 'softmax-cross-entropy',
  });
});

test('an mlp spec may name its activation, and the canonical text keeps only tanh', () => {
  const tanh = parseModelSpec('mlp:784-256-10:tanh');
  assert.equal(tanh.activation, 'tanh');
  assert.equal(tanh.text, 'mlp:784-256-10:tanh');
  const relu = parseModelSpec(' mlp:784-256-10:relu ');
  assert.equal(relu.activation, 'relu');
  assert.equal(relu.text, 'mlp:784-256-10');
});

test('logreg is one linear layer with softmax cross-entropy', () => {
  assert.deepEqual(parseModelSpec('logreg:784-10'), {
    text: 'logreg:784-10',
    kind: 'logreg',
    sizes: [784, 10],
    activation: 'identity',
    loss: 'softmax-cross-entropy',
  });
});

test('linreg is one linear layer with mean squared error and any output width', () => {
  assert.equal(parseModelSpec('linreg:13-1').loss, 'mse');
  assert.deepEqual(parseModelSpec('linreg:13-3').sizes, [13, 3]);
  assert.equal(parseModelSpec('linreg:13-3').activation, 'identity');
});

test('the parameter counts of the benchmark workloads are 235,146, 1,863,690 and 7,850', () => {
  assert.equal(paramLayout(parseModelSpec('mlp:784-256-128-10')).size, 235_146);
  assert.equal(paramLayout(parseModelSpec('mlp:784-1024-1024-10')).size, 1_863_690);
  assert.equal(paramLayout(parseModelSpec('logreg:784-10')).size, 7_850);
});

test('the layout follows PyTorch: weight [out, in] then bias [out] per layer, in one array', () => {
  const layout = paramLayout(parseModelSpec('mlp:3-4-2'));
  assert.deepEqual(layout, {
    size: 12 + 4 + 8 + 2,
    tensors: [
      { name: 'layers.0.weight', shape: [4, 3], offset: 0, size: 12 },
      { name: 'layers.0.bias', shape: [4], offset: 12, size: 4 },
      { name: 'layers.1.weight', shape: [2, 4], offset: 16, size: 8 },
      { name: 'layers.1.bias', shape: [2], offset: 24, size: 2 },
    ],
  });
});

test('paramView returns a view that shares memory with the flat array', () => {
  const layout = paramLayout(parseModelSpec('mlp:3-4-2'));
  const params = new Float32Array(layout.size);
  const bias = paramView(params, layout, 'layers.1.bias');
  assert.ok(bias instanceof Float32Array);
  assert.equal(bias.length, 2);
  bias[1] = 5;
  assert.equal(params[25], 5);
});

test('paramView rejects an unknown tensor name and lists the known ones', () => {
  const layout = paramLayout(parseModelSpec('logreg:3-2'));
  assert.throws(() => paramView(new Float32Array(layout.size), layout, 'layers.1.weight'), {
    name: 'ModelError',
    code: 'dptrain.model.unknownTensor',
    message: 'no parameter tensor named "layers.1.weight" — this model has layers.0.weight, layers.0.bias',
  });
});

/** Asserts that parsing `text` throws ModelError with `code` and a message matching `message`. */
function rejects(text: string, code: string, message: RegExp): void {
  assert.throws(
    () => parseModelSpec(text),
    (error: unknown) => {
      assert.ok(error instanceof ModelError);
      assert.equal(error.code, `dptrain.model.${code}`);
      assert.match(error.message, message);
      return true;
    },
  );
}

test('an unknown model kind is rejected with the forms that work', () => {
  assert.throws(() => parseModelSpec('rnn:3x3'), {
    name: 'ModelError',
    code: 'dptrain.model.unknownSpec',
    message:
      'unknown model spec "rnn:3x3" — use mlp:784-256-128-10, mlp:IN-H-OUT:tanh, logreg:IN-CLASSES, linreg:IN-OUT, cnn:1x28x28 conv32k3p1 relu maxpool2 flatten dense10, lenet5, cnn-mnist or ./net.json',
  });
});

test('an empty spec is an unknown spec', () => {
  rejects('', 'unknownSpec', /^unknown model spec ""/);
});

test('a kind without sizes is rejected', () => {
  rejects('mlp', 'badSpec', /^bad model spec "mlp": mlp needs layer sizes/);
  rejects('logreg:', 'badSpec', /logreg needs layer sizes/);
});

test('a size that is not a positive integer is rejected and named', () => {
  rejects('mlp:784-abc-10', 'badSpec', /layer size 2 \("abc"\) is not a positive integer/);
  rejects('mlp:784-2.5-10', 'badSpec', /layer size 2 \("2.5"\) is not a positive integer/);
  rejects('mlp:784--10', 'badSpec', /layer size 2 \(""\) is not a positive integer/);
  rejects('linreg:-3-1', 'badSpec', /layer size 1 \(""\) is not a positive integer/);
});

test('a size of zero is rejected', () => {
  rejects('mlp:784-0-10', 'badSpec', /layer size 2 \(0\) must be between 1 and 1000000/);
});

test('a size above one million is rejected', () => {
  rejects('logreg:1000001-10', 'badSpec', /layer size 1 \(1000001\) must be between 1 and 1000000/);
});

test('an mlp with a single size is rejected', () => {
  rejects('mlp:784', 'badSpec', /mlp needs at least 2 sizes \(inputs and classes\), got 1/);
});

test('logreg with other than two sizes is rejected', () => {
  rejects('logreg:784-100-10', 'badSpec', /logreg needs exactly 2 sizes \(inputs and classes\), got 3/);
});

test('linreg with other than two sizes is rejected', () => {
  rejects('linreg:13', 'badSpec', /linreg needs exactly 2 sizes \(inputs and outputs\), got 1/);
});

test('a classifier with fewer than two classes is rejected', () => {
  rejects('logreg:784-1', 'badSpec', /logreg needs at least 2 classes, got 1/);
  rejects('mlp:784-16-1', 'badSpec', /mlp needs at least 2 classes, got 1/);
});

test('an unknown activation is rejected', () => {
  rejects('mlp:784-256-10:sigmoid', 'badSpec', /unknown activation "sigmoid" \(use relu or tanh\)/);
});

test('an activation or other part after logreg or linreg sizes is rejected', () => {
  rejects('logreg:784-10:tanh', 'badSpec', /logreg takes no activation or other part after its sizes \(got "tanh"\)/);
  rejects('linreg:13-1:x', 'badSpec', /linreg takes no activation/);
});

test('a part after the mlp activation is rejected', () => {
  rejects('mlp:784-10:relu:extra', 'badSpec', /unexpected part "extra" after the activation/);
});
