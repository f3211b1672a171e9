import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelError } from '../src/errors.js';
import { createWasmKernels, jsKernels, loadKernels, type Kernels } from '../src/kernels/index.js';
import { initParams, Model, parseModelSpec, type SampleSource } from '../src/model/index.js';
import { createOptimizer, defaultOptimizerConfig, type OptimizerConfig } from '../src/optim/index.js';
import { Rng } from '../src/util/rng.js';
import { exactnessKernelSets, maxRelativeDifference } from './helpers.js';

const wasm = await loadKernels('wasm');

/** Random normal inputs with class labels (or normal regression targets). */
function randomSource(model: Model, rows: number, seed: number): SampleSource {
  const rng = new Rng(seed, 'source');
  const classification = model.spec.loss === 'softmax-cross-entropy';
  const targetDim = classification ? 1 : model.outputDim;
  const x = Float32Array.from({ length: rows * model.inputDim }, () => rng.normal());
  const y = Float32Array.from({ length: rows * targetDim }, () => (classification ? rng.int(model.outputDim) : rng.normal()));
  return { x, y, inputDim: model.inputDim, targetDim };
}

/**
 * `steps` SGD steps of `spec` with kernel set k on fixed batches; returns the final params and
 * the loss of every step.
 */
function trainSteps(
  k: Kernels,
  spec: string,
  opts: { steps: number; batch: number; microBatch?: number; optimizer?: Partial<OptimizerConfig> },
): { params: Float32Array; losses: number[] } {
  const model = new Model(parseModelSpec(spec), { kernels: k });
  const source = randomSource(model, 4 * opts.batch, 11);
  const params = initParams(model.spec, 3) as Float32Array;
  const grad = new Float32Array(model.numParams);
  const optimizer = createOptimizer({ ...defaultOptimizerConfig, ...opts.optimizer }, model.numParams);
  const rows = Uint32Array.from({ length: source.y.length / source.targetDim }, (_, i) => (i * 7) % (4 * opts.batch));
  const losses: number[] = [];
  for (let t = 1; t <= opts.steps; t++) {
    const at = ((t - 1) % 4) * opts.batch;
    grad.fill(0);
    const r = model.accumulateGradient(params, source, rows.subarray(at, at + opts.batch), grad, opts.microBatch);
    losses.push(r.lossSum / r.count);
    optimizer.update(params, grad, { lr: 0.1, gradScale: 1 / r.count, t });
  }
  return { params, losses };
}

// After 10 steps the float32 rounding differences of the two kernel sets (js sums in float64,
// wasm in float32 in another order: ~1e-7 relative per product) have been carried through 10
// updates; measured, the parameters agree to 0.6e-7..1.8e-7 of their largest magnitude. 1e-4
// leaves a wide margin for other inputs while catching any real error (a wrong gradient element
// moves its parameter by ~lr·|grad|, around 1e-2 of the largest).
const RUNS: { spec: string; batch: number; microBatch?: number; optimizer?: Partial<OptimizerConfig> }[] = [
  { spec: 'mlp:784-256-128-10', batch: 64 }, // W1's shapes
  { spec: 'mlp:784-256-128-10', batch: 64, microBatch: 24 }, // micro-batches with a short last one
  { spec: 'mlp:37-65-9-3:tanh', batch: 33 }, // tanh: unfused activation, odd sizes
  { spec: 'logreg:784-10', batch: 50 },
  { spec: 'linreg:13-3', batch: 17 }, // mean squared error
  { spec: 'mlp:20-30-5', batch: 16, optimizer: { momentum: 0.9, nesterov: true } },
];

for (const { kernels, skip } of await exactnessKernelSets()) {
  for (const run of RUNS) {
    const what = `${run.spec}, batch ${run.batch}${run.microBatch ? `, micro-batch ${run.microBatch}` : ''}${run.optimizer ? ', SGD Nesterov momentum' : ''}`;
    test(`10 training steps with the ${kernels} kernels match the js kernels within float32 tolerance (${what})`, { skip }, async () => {
      const js = trainSteps(jsKernels, run.spec, { ...run, steps: 10 });
      const w = trainSteps(await loadKernels(kernels), run.spec, { ...run, steps: 10 });
      const d = maxRelativeDifference(js.params, w.params);
      assert.ok(d < 1e-4, `params differ by ${d} relative`);
      for (let t = 0; t < 10; t++) {
        assert.ok(Math.abs(js.losses[t] - w.losses[t]) <= 1e-4 * Math.abs(js.losses[t]), `step ${t + 1} loss ${w.losses[t]} vs ${js.losses[t]}`);
      }
      assert.ok(w.losses[9] < w.losses[0], 'training lowers the loss');
    });
  }
}

test('accumulateGradient with the wasm kernels adds to grad, evaluate agrees, and the caller arrays are not replaced', () => {
  const model = new Model(parseModelSpec('mlp:9-8-4'), { kernels: wasm });
  const ref = new Model(parseModelSpec('mlp:9-8-4'));
  const source = randomSource(model, 20, 2);
  const params = initParams(model.spec, 1) as Float32Array;
  const keep = Float32Array.from(params);
  const indices = Uint32Array.from([4, 1, 1, 19, 0, 7]);
  const grad = new Float32Array(model.numParams).fill(0.5);
  const want = new Float32Array(model.numParams).fill(0.5);
  const r = model.accumulateGradient(params, source, indices, grad);
  const rRef = ref.accumulateGradient(params, source, indices, want);
  assert.ok(maxRelativeDifference(want, grad) < 1e-5);
  assert.deepEqual(params, keep, 'params are read, not written');
  assert.ok(Math.abs(r.lossSum - rRef.lossSum) < 1e-5 * rRef.lossSum);
  assert.equal(r.correct, rRef.correct);
  const e = model.evaluate(params, source, indices);
  assert.ok(Math.abs(e.lossSum - r.lossSum) < 1e-6 * r.lossSum);
});

test('params and grad kept in wasm memory are used in place and give the same gradient as copies', () => {
  const model = new Model(parseModelSpec('mlp:9-8-4'), { kernels: wasm });
  const source = randomSource(model, 20, 3);
  const indices = Uint32Array.from({ length: 20 }, (_, i) => i);
  model.reserve(20); // grow the workspace first: later growth would detach the views below
  const pBuf = wasm.allocate(model.numParams);
  const gBuf = wasm.allocate(model.numParams);
  const params = pBuf.array;
  params.set(initParams(model.spec, 5));
  const grad = gBuf.array;
  const copy = new Float32Array(model.numParams);
  model.accumulateGradient(Float32Array.from(params), source, indices, copy);
  model.accumulateGradient(params, source, indices, grad);
  assert.ok(wasm.isResident(grad));
  assert.deepEqual(grad, copy);
  pBuf.free();
  gBuf.free();
});

test('a float64 model with the wasm kernels is a ModelError dptrain.model.kernelsDtype', () => {
  assert.throws(() => new Model(parseModelSpec('mlp:4-3-2'), { dtype: 'float64', kernels: wasm }), (error: unknown) => {
    assert.ok(error instanceof ModelError);
    assert.equal(error.code, 'dptrain.model.kernelsDtype');
    assert.equal(error.message, 'the wasm kernels work in float32 only (asked for dtype "float64") — use the js kernels');
    return true;
  });
});

test('a Model uses the js kernels unless told otherwise', () => {
  assert.equal(new Model(parseModelSpec('logreg:4-2')).kernels, jsKernels);
  assert.equal(new Model(parseModelSpec('logreg:4-2'), { kernels: wasm }).kernels, wasm);
});

test('dispose returns a wasm Model workspace to the thread memory, and the Model refuses later calls', async () => {
  const k = await createWasmKernels('simd');
  const before = k.memoryBytes;
  const model = new Model(parseModelSpec('mlp:784-256-128-10'), { kernels: k });
  const source = randomSource(model, 64, 4);
  const params = initParams(model.spec, 1) as Float32Array;
  model.accumulateGradient(params, source, Uint32Array.from({ length: 64 }, (_, i) => i), new Float32Array(model.numParams));
  assert.ok(k.memoryBytes > before + 2 * 4 * model.numParams, 'workspace and staging live in wasm memory');
  model.dispose();
  assert.equal(k.memoryBytes, before);
  model.dispose(); // a second call does nothing
  assert.throws(() => model.evaluate(params, source, [0]), (error: unknown) => {
    assert.ok(error instanceof ModelError);
    assert.equal(error.code, 'dptrain.model.disposed');
    assert.equal(error.message, 'this Model (mlp:784-256-128-10) was disposed — create a new one');
    return true;
  });
});

test('params and grad backed by a SharedArrayBuffer (the threads engine) work with the wasm kernels', () => {
  const model = new Model(parseModelSpec('mlp:9-8-4'), { kernels: wasm });
  const source = randomSource(model, 20, 6);
  const indices = Uint32Array.from([2, 4, 6, 8]);
  const shared = (a: Float32Array): Float32Array => {
    const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
    s.set(a);
    return s;
  };
  const params = initParams(model.spec, 2) as Float32Array;
  const grad = new Float32Array(model.numParams);
  const sharedGrad = shared(grad);
  model.accumulateGradient(params, source, indices, grad);
  model.accumulateGradient(shared(params), source, indices, sharedGrad);
  assert.deepEqual(Array.from(sharedGrad), Array.from(grad));
});
