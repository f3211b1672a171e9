// Layer models through the CLI: the presets, the cnn: grammar and JSON files, the way a user types them first.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { decodeSafetensors } from '../src/index.js';
import { expectUsageError, runCli, runCliAsync, tempDir } from './helpers.js';

const tiny = ['train', '--dataset', 'mnist', '--max-steps', '2', '--batch-size', '16', '--workers', '2'];

test('dptrain train --model lenet5 trains on the bundled digits with the preset defaults and writes PyTorch names', { timeout: 300_000 }, () => {
  const out = path.join(tempDir(), 'run');
  const result = runCli(['train', '--model', 'lenet5', '--max-steps', '3', '--out', out]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr + result.stdout, /cnn:1x28x28 conv6k5p2 tanh avgpool2 conv16k5 tanh avgpool2 flatten dense120 tanh dense84 tanh dense10 \(61,706 parameters\)/);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(JSON.stringify(config).includes('"lrSchedule":"cosine"'), true, 'the preset brings its schedule');
  const { tensors } = decodeSafetensors(fs.readFileSync(path.join(out, 'final.safetensors')));
  assert.deepEqual(tensors.get('layers.0.weight')!.shape, [6, 1, 5, 5]);
  assert.deepEqual(tensors.get('layers.7.weight')!.shape, [120, 400]);
});

// The README's CNN example, exactly as typed (`npm start -- --model cnn-mnist`): the preset's own defaults
// must reach 98 % on the 1,000 held-out digits (docs/models.md#presets measures seeds 0-4). ~30 s quiet.
test('dptrain train --model cnn-mnist with nothing else reaches 98 % validation accuracy on the bundled digits', { timeout: 900_000 }, () => {
  const out = path.join(tempDir(), 'run');
  const result = runCli(['train', '--model', 'cnn-mnist', '--out', out], { timeoutMs: 840_000 });
  assert.equal(result.status, 0, result.stderr);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.epochs, 6);
  assert.equal(summary.batchSize, 32);
  assert.ok(summary.final.valAccuracy >= 0.98, `val accuracy ${summary.final.valAccuracy}`);
});

test('--model with the cnn: grammar and --model ./net.json train the same network to the same bits', { timeout: 300_000 }, () => {
  const dir = tempDir();
  const file = path.join(dir, 'net.json');
  fs.writeFileSync(file, JSON.stringify({
    input: [1, 28, 28],
    layers: [{ type: 'conv2d', filters: 4, kernel: 3, stride: 2 }, { type: 'relu' }, { type: 'maxpool2d', kernel: 2 }, { type: 'flatten' }, { type: 'dense', units: 10 }],
  }));
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  const viaText = runCli([...tiny, '--model', 'cnn:1x28x28 conv4k3s2 relu maxpool2 flatten dense10', '--out', a]);
  assert.equal(viaText.status, 0, viaText.stderr);
  const viaFile = runCli([...tiny, '--model', file, '--out', b]);
  assert.equal(viaFile.status, 0, viaFile.stderr);
  assert.deepEqual(fs.readFileSync(path.join(a, 'final.safetensors')), fs.readFileSync(path.join(b, 'final.safetensors')));
});

test('an unknown layer token is named with the list of tokens and a valid example', async () => {
  await Promise.all([
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 conv32k3p1 relu maxpul2 flatten dense10'], /unknown layer 3 \("maxpul2"\).*maxpoolK.*e\.g\. cnn:1x28x28 conv32k3p1/, 'dptrain.model.badSpec'),
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 conv32k3 relu pool2 flatten dense10'], /unknown layer 3 \("pool2"\)/, 'dptrain.model.badSpec'),
  ]);
});

test('a layer token without its size says what it needs, with an example; dropout alone is rate 0.5', async () => {
  await Promise.all([
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 flatten dense relu dense10'], /layer 2 \("dense"\) needs its units, e\.g\. dense64/, 'dptrain.model.badSpec'),
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 conv8 relu flatten dense10'], /layer 1 \("conv8"\) needs its kernel size, e\.g\. conv8k3/, 'dptrain.model.badSpec'),
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 conv8k3 maxpool flatten dense10'], /layer 2 \("maxpool"\) needs its kernel size, e\.g\. maxpool2/, 'dptrain.model.badSpec'),
  ]);
  // As nn.Dropout() and the JSON format's {"type": "dropout"}; the canonical text prints the rate.
  const r = runCli(['train', '--dataset', 'mnist', '--max-steps', '1', '--batch-size', '16', '--workers', '1', '--model', 'cnn:1x28x28 flatten dense32 relu dropout dense10']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /training cnn:1x28x28 flatten dense32 relu dropout0\.5 dense10 /);
});

test('an activation or dropout after the output layer trains, with one warning naming it, why, and the fix', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'net.json');
  fs.writeFileSync(file, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'dense', units: 10 }, { type: 'dropout' }] }));
  const one = ['train', '--dataset', 'mnist', '--max-steps', '1', '--batch-size', '16', '--workers', '1', '--model'];
  const [relu, drop, json, bn] = await Promise.all([
    runCliAsync([...one, 'cnn:1x28x28 flatten dense64 relu dense10 relu']),
    runCliAsync([...one, 'cnn:1x28x28 flatten dense64 relu dense10 dropout0.5']),
    runCliAsync([...one, file]),
    runCliAsync([...one, 'cnn:1x28x28 flatten dense64 relu dense10 bn']),
  ]);
  const warnings = (r: { status: number | null; stderr: string }) => {
    assert.equal(r.status, 0, r.stderr);
    return r.stderr.split('\n').filter((l) => l.includes('WARN'));
  };
  const [reluWarning, ...more] = warnings(relu);
  assert.equal(more.length, 0, relu.stderr);
  assert.match(reluWarning, /has relu after its output layer dense10: a ReLU clamps the logits at 0.* — end the model with the dense layer of the outputs: remove the relu after dense10/);
  assert.match(warnings(drop).join('\n'), /has dropout0\.5 after its output layer dense10: dropout zeroes random class scores in training/);
  assert.match(warnings(json).join('\n'), /in .*net\.json, layers\[2\] \(dropout\) comes after the output layer layers\[1\] \(dense\).* — end "layers" with the \{"type": "dense"\} of the outputs: remove layers\[2\]/);
  // BatchNorm keeps the logits' range (a learned scale and shift): no warning.
  assert.deepEqual(warnings(bn), []);
});

test('a bad kernel, stride or padding is refused naming the layer', async () => {
  await Promise.all([
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 conv8k0 flatten dense10'], /layer 1 \("conv8k0"\) has kernel 0/, 'dptrain.model.badSpec'),
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 conv8k3s0 flatten dense10'], /has stride 0/, 'dptrain.model.badSpec'),
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 maxpool2p2 flatten dense10'], /layer 1 \(maxpool2p2\) has padding 2 larger than half its kernel 2/, 'dptrain.model.badShape'),
  ]);
});

test('a network that shrinks the image to nothing is refused naming the layer and the shape', async () => {
  await expectUsageError([...tiny, '--model', 'cnn:1x28x28 maxpool4 maxpool4 maxpool4 flatten dense10'], /layer 3 \(maxpool4\) shrinks its input 1x1x1 to nothing/, 'dptrain.model.badShape');
});

test('a conv or pool on a flat input names the image shape to give; after gap/flatten, to remove or move the layer', async () => {
  await Promise.all([
    expectUsageError([...tiny, '--model', 'cnn:784 conv8k3 relu flatten dense10'], /layer 1 \(conv8k3\) needs an image input CxHxW but gets 784 — give the input's image shape as the first token: 1x28x28 \(784 = 28×28\)/, 'dptrain.model.badShape'),
    expectUsageError([...tiny, '--model', 'cnn:20 maxpool2 flatten dense10'], /gets 20 — give the input's image shape CxHxW \(C·H·W = 20\) as the first token/, 'dptrain.model.badShape'),
    expectUsageError([...tiny, '--model', 'cnn:1x28x28 conv8k3 gap gap dense10'], /layer 3 \(gap\) needs an image input CxHxW but gets 8 — .*flat at a gap or flatten before it: remove this gap, or move it before that gap\/flatten/, 'dptrain.model.badShape'),
  ]);
});

test('a JSON model file with an extra key or a wrong type is refused naming the place', async () => {
  const dir = tempDir();
  const extra = path.join(dir, 'extra.json');
  fs.writeFileSync(extra, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'conv2d', filters: 4, kernel: 3, dilation: 2 }, { type: 'flatten' }, { type: 'dense', units: 10 }] }));
  const wrong = path.join(dir, 'wrong.json');
  fs.writeFileSync(wrong, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'dense', units: '10' }] }));
  await Promise.all([
    expectUsageError([...tiny, '--model', extra], /layers\[0\] \(conv2d\) has unknown key "dilation"/, 'dptrain.model.badModelFile'),
    expectUsageError([...tiny, '--model', wrong], /layers\[1\]\.units must be an integer from 1/, 'dptrain.model.badModelFile'),
    expectUsageError([...tiny, '--model', path.join(dir, 'missing.json')], /model file .*missing\.json: no such file/, 'dptrain.model.badModelFile'),
  ]);
});

test('a JSON model file that does not fit is refused naming the file, in its terms: "input", layers[i] (type), "loss"', async () => {
  const dir = tempDir();
  const write = (name: string, model: object) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(model));
    return file;
  };
  const colour = write('colour.json', { input: [3, 32, 32], layers: [{ type: 'conv2d', filters: 4, kernel: 3 }, { type: 'flatten' }, { type: 'dense', units: 10 }] });
  const noFlatten = write('noflat.json', { input: [1, 28, 28], layers: [{ type: 'conv2d', filters: 4, kernel: 3 }, { type: 'dense', units: 10 }] });
  const mse = write('mse.json', { input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'dense', units: 10 }], loss: 'mse' });
  const at = (file: string) => file.replace(/[.\\]/g, '\\$&');
  await Promise.all([
    expectUsageError([...tiny, '--model', colour], new RegExp(`model file ${at(colour)} takes samples of shape 3x32x32 but dataset mnist has samples of shape 1x28x28 — in ${at(colour)}, set "input": \\[1, 28, 28\\]`), 'dptrain.model.inputMismatch'),
    expectUsageError([...tiny, '--model', noFlatten], new RegExp(`in ${at(noFlatten)}, layers\\[1\\] \\(dense\\) needs a flat input but gets 4x26x26 — put \\{"type": "flatten"\\} \\(or \\{"type": "globalavgpool"\\}\\) before it`), 'dptrain.model.badShape'),
    expectUsageError([...tiny, '--model', mse], new RegExp(`but model file ${at(mse)} is a regression model — in ${at(mse)}, remove "loss": "mse"`), 'dptrain.model.taskMismatch'),
  ]);
});

test('a model whose input shape is not the data sample shape is refused before training, naming both', async () => {
  await Promise.all([
    expectUsageError([...tiny, '--model', 'cnn:3x28x28 conv4k3 relu flatten dense10'], /takes samples of shape 3x28x28 but dataset mnist has samples of shape 1x28x28/, 'dptrain.model.inputMismatch'),
    expectUsageError([...tiny, '--model', 'cnn:1x28x27 conv4k3 relu flatten dense10'], /1x28x27.*1x28x28/, 'dptrain.model.inputMismatch'),
  ]);
});
