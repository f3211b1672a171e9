import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildStack, decodeSafetensors, encodeSafetensors, initParams, paramLayout, parseModelSpec, train } from '../src/index.js';
import { bufferLayout, Model } from '../src/model/index.js';
import { batchRange, createDataset, epochPermutation, type Dataset } from '../src/data/index.js';
import { Rng } from '../src/util/rng.js';
import { maxRelativeDifference, repoRoot, tempDir } from './helpers.js';

const SCRIPT = path.join(repoRoot, 'test', 'fixtures', 'torch_equivalence.py');
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Why the PyTorch comparison cannot run here, or null when it can. */
function torchMissing(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.error) return `${PYTHON} cannot run (${probe.error.message})`;
  return probe.status === 0 ? null : `PyTorch is not installed for ${PYTHON} (apt-get install python3-torch)`;
}
const skip = torchMissing() ?? false;

function imageData(n: number, shape: number[], classes: number, seed: number): Dataset {
  const rng = new Rng(seed, 'torch-data');
  const d = shape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: n * d }, () => rng.normal());
  const y = Float32Array.from({ length: n }, (_, i) => i % classes);
  return createDataset({ spec: 'test:images', n, inputDim: d, x, targetDim: 1, y, task: 'classification', numClasses: classes, sampleShape: shape });
}

/** The runs in this process, one at a time: comparisons overlap only in their PyTorch processes. */
let training: Promise<unknown> = Promise.resolve();

/** Trains `spec` for 20 steps in dptrain and in PyTorch from one init on the same batches; returns the max relative difference. */
async function compare(specText: string, batchSize: number | 'full'): Promise<number> {
  const spec = parseModelSpec(specText);
  const stack = buildStack(spec);
  const n = 24;
  const data = imageData(n, stack.inputShape, stack.outputDim, 3);
  const dir = tempDir('dptrain-torch-');
  const layout = paramLayout(spec);
  const init = initParams(spec, 5) as Float32Array;
  // Non-zero biases so that every bias path is compared.
  const rng = new Rng(6, 'bias');
  for (const t of layout.tensors) if (t.name.endsWith('.bias')) for (let k = 0; k < t.size; k++) init[t.offset + k] = 0.1 * rng.normal();
  const tensorsOf = (params: Float32Array) => layout.tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: params.slice(t.offset, t.offset + t.size) }));
  fs.writeFileSync(path.join(dir, 'init.safetensors'), encodeSafetensors(tensorsOf(init)));
  fs.writeFileSync(path.join(dir, 'data.safetensors'), encodeSafetensors([
    { name: 'x', dtype: 'F32', shape: [n, ...stack.inputShape], data: data.x },
    { name: 'y', dtype: 'F32', shape: [n], data: data.y },
  ]));
  const steps = 20;
  const seed = 7;
  const lr = 0.05;
  const momentum = 0.9;
  const B = batchSize === 'full' ? n : batchSize;
  const perEpoch = Math.ceil(n / B);
  const batches: number[][] = [];
  for (let s = 0; s < steps; s++) {
    const epoch = Math.floor(s / perEpoch);
    const order = epochPermutation(n, seed, epoch);
    const { start, end } = batchRange(s % perEpoch, n, B);
    batches.push(Array.from(order.subarray(start, end)));
  }
  const out = path.join(dir, 'run');
  const buffers = bufferLayout(stack);
  // With BatchNorm, the script also loads our final.safetensors strictly (running statistics included).
  const loadCheck = buffers.size > 0 ? { ours: path.join(out, 'final.safetensors') } : {};
  fs.writeFileSync(path.join(dir, 'setup.json'), JSON.stringify({ stack: stack.layers.map((l) => ({ layer: l.layer, inShape: l.inShape })), lr, momentum, batches, ...loadCheck }));

  const trained = training.then(() => train(
    { model: specText, batchSize, epochs: Math.ceil(steps / perEpoch), maxSteps: steps, lr, momentum, optimizer: 'sgd', seed, valSplit: 0, engine: 'inline', workers: 1, kernels: 'js', init: path.join(dir, 'init.safetensors'), out },
    { data },
  ));
  training = trained.catch(() => {});
  await trained;
  const torchRun = spawn(PYTHON, [SCRIPT, dir], { timeout: 300_000, env: { ...process.env, OMP_NUM_THREADS: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  torchRun.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  assert.equal(await new Promise((resolve) => torchRun.on('close', resolve)), 0, stderr);
  const ours = decodeSafetensors(fs.readFileSync(path.join(out, 'final.safetensors'))).tensors;
  const theirs = decodeSafetensors(fs.readFileSync(path.join(dir, 'torch.safetensors'))).tensors;
  let worst = 0;
  for (const t of layout.tensors) {
    const a = ours.get(t.name)!.data as Float32Array;
    const b = theirs.get(t.name)!.data as Float32Array;
    assert.deepEqual(theirs.get(t.name)!.shape, t.shape, `${t.name} has PyTorch's shape`);
    const moved = maxRelativeDifference(b, init.subarray(t.offset, t.offset + t.size));
    assert.ok(moved > 1e-3, `${t.name} moved in training (relative ${moved})`);
    worst = Math.max(worst, maxRelativeDifference(b, a));
  }
  if (buffers.size > 0) {
    for (const t of buffers.tensors) {
      const a = ours.get(t.name)!;
      const b = theirs.get(t.name)!;
      assert.deepEqual(b.shape, t.shape, `${t.name} has PyTorch's shape`);
      if (t.shape.length === 0) assert.equal(Number((a.data as BigInt64Array)[0]), Number(b.data[0]), `${t.name}`);
      else worst = Math.max(worst, maxRelativeDifference(b.data as Float32Array, a.data as Float32Array));
    }
    // Evaluation mode: normalized with the running statistics.
    const final = new Float32Array(layout.size);
    for (const t of layout.tensors) final.set(ours.get(t.name)!.data as Float32Array, t.offset);
    const running = new Float32Array(buffers.size);
    for (const t of buffers.tensors) running.set(t.shape.length === 0 ? [Number((ours.get(t.name)!.data as BigInt64Array)[0])] : (ours.get(t.name)!.data as Float32Array), t.offset);
    const evalLoss = new Model(spec).evaluate(final, data, Array.from({ length: n }, (_, i) => i), undefined, running).lossSum;
    const torchLoss = (JSON.parse(fs.readFileSync(path.join(dir, 'torch.json'), 'utf8')) as { evalLossSum: number }).evalLossSum;
    worst = Math.max(worst, Math.abs(evalLoss - torchLoss) / Math.abs(torchLoss));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return worst;
}

const SPECS = [
  'cnn:3x10x9 conv6k3p1 relu maxpool2 conv5k3s2p1 tanh avgpool2s1 flatten dense12 gelu dense4',
  'cnn:2x11x8 conv4k5s2p2 relu maxpool3s2p1 conv3k1 gelu gap dense6 layernorm relu dense3',
  // BatchNorm2d and BatchNorm1d: running statistics and the evaluation-mode loss compared too.
  // No bias right before bn: BatchNorm's mean removes it, so it would not train (PyTorch practice too).
  'cnn:3x10x9 conv6k3p1nobias bn relu maxpool2 conv5k3s2p1nobias bn tanh flatten dense12nobias bn gelu dense4',
];

const cases = SPECS.flatMap((spec) => (['full', 10] as const).map((batch) => ({ spec, batch })));
const comparisons = new Map<number, Promise<number>>();
/**
 * Case i's comparison, started once. Each test starts the next case's too: a PyTorch process is
 * mostly its import, which the other core does meanwhile.
 */
function comparison(i: number): Promise<number> {
  let result = comparisons.get(i);
  if (!result) {
    result = compare(cases[i].spec, cases[i].batch);
    result.catch(() => {}); // reported by the test that awaits it
    comparisons.set(i, result);
  }
  return result;
}

for (const [i, { spec, batch }] of cases.entries()) {
  test(`20 steps of SGD with momentum (batch ${batch}) on ${spec} match PyTorch within 1e-4`, { skip, timeout: 600_000 }, async (t) => {
    if (i + 1 < cases.length) void comparison(i + 1);
    const worst = await comparison(i);
    t.diagnostic(`max relative difference to PyTorch: ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4, `max relative difference ${worst}`);
  });
}
