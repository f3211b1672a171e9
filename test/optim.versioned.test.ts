// The optimizer update's wasm kernels and the two-version optimizer of the threads engine, bit for
// bit against the in-place JS optimizers (sgd.ts, adam.ts), over ranges as the engine's threads run them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileCollective, createSharedMemory, partitionRanges, WASM_PAGE, type WasmModule } from '../src/collective/index.js';
import { createOptimizer, defaultOptimizerConfig, VersionedOptimizer, WasmUpdateKernels, type OptimizerConfig } from '../src/optim/index.js';
import { Rng } from '../src/util/rng.js';

const WORLD_SIZES = [1, 2, 3, 5];
const module: WasmModule = await compileCollective();

/** A shared memory with float32 arrays of the given lengths (64-byte aligned, from 4 KiB), and the update kernels over it. */
function memoryWith(lengths: number[]) {
  let at = 4096;
  const offsets = lengths.map((n) => {
    const o = at;
    at += Math.ceil((n * 4) / 64) * 64 + 64;
    return o;
  });
  const memory = createSharedMemory(Math.ceil(at / WASM_PAGE));
  const arrays = lengths.map((n, i) => new Float32Array(memory.buffer, offsets[i], n));
  return { memory, arrays, kernels: new WasmUpdateKernels(module, memory) };
}

/** Normal values times 2^k for k in [-spread, spread]: a mix of magnitudes, as gradients have. */
function fill(a: Float32Array, seed: number, spread = 12): void {
  const rng = new Rng(seed, 'collective-wasm');
  for (let i = 0; i < a.length; i++) a[i] = rng.normal() * 2 ** Math.round((rng.next() * 2 - 1) * spread);
}

const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

const configs: [string, Partial<OptimizerConfig>][] = [
  ['plain SGD', {}],
  ['SGD + weight decay', { weightDecay: 5e-4 }],
  ['momentum', { momentum: 0.9 }],
  ['momentum + weight decay', { momentum: 0.9, weightDecay: 1e-3 }],
  ['Nesterov', { momentum: 0.95, nesterov: true }],
  ['Nesterov + weight decay', { momentum: 0.5, nesterov: true, weightDecay: 1e-2 }],
];

for (const [name, overrides] of configs) {
  test(`the wasm out-of-place update is bit-identical to the JS optimizer: ${name}, ranges of W in {1, 2, 3, 5}, 4 steps`, () => {
    const config: OptimizerConfig = { ...defaultOptimizerConfig, ...overrides };
    const length = 1003;
    const rng = new Rng(7, name);
    for (const workers of WORLD_SIZES) {
      // wasm: params and buffer double-buffered in the shared memory; JS: one copy updated in place.
      const { arrays, kernels: wasm } = memoryWith([length, length, length, length, length]);
      const [p0, p1, b0, b1, grad] = arrays;
      fill(p0, workers, 3);
      const jsParams = Float32Array.from(p0);
      const js = createOptimizer(config, length);
      const versions = [p0, p1];
      const buffers = [b0, b1];
      for (let t = 1; t <= 4; t++) {
        fill(grad, 100 * workers + t, 6);
        const lr = 0.01 + rng.next() * 0.2;
        const gradScale = 1 / (1 + Math.floor(rng.next() * 300));
        const from = (t - 1) % 2;
        const to = 1 - from;
        const before = Float32Array.from(versions[from]);
        for (const r of partitionRanges(length, workers)) {
          const done = wasm.update({ config, paramsFrom: versions[from], paramsTo: versions[to], bufferFrom: buffers[from], bufferTo: buffers[to], grad, start: r.start, end: r.end, lr, gradScale });
          assert.equal(done, true);
        }
        js.update(jsParams, grad, { lr, gradScale, t });
        assert.deepEqual(bits(versions[to]), bits(jsParams), `${workers} ranges, step ${t}: params`);
        if (config.momentum > 0) assert.deepEqual(bits(buffers[to]), bits(js.state.momentum_buffer), `${workers} ranges, step ${t}: momentum buffer`);
        assert.deepEqual(bits(versions[from]), bits(before), `${workers} ranges, step ${t}: version v is intact`);
      }
    }
  });
}

test('the wasm update touches only its range and leaves Adam to the JS path', () => {
  const config: OptimizerConfig = { ...defaultOptimizerConfig, momentum: 0.9 };
  const { arrays, kernels: wasm } = memoryWith([100, 100, 100, 100, 100]);
  const [p0, p1, b0, b1, grad] = arrays;
  p0.fill(1);
  grad.fill(1);
  p1.fill(-7);
  b1.fill(-7);
  wasm.update({ config, paramsFrom: p0, paramsTo: p1, bufferFrom: b0, bufferTo: b1, grad, start: 32, end: 64, lr: 0.1, gradScale: 1 });
  for (const a of [p1, b1]) {
    assert.ok(a.subarray(0, 32).every((v) => v === -7));
    assert.ok(a.subarray(64).every((v) => v === -7));
    assert.ok(a.subarray(32, 64).every((v) => v !== -7));
  }
  for (const name of ['adam', 'adamw'] as const) {
    assert.equal(wasm.update({ config: { ...defaultOptimizerConfig, name }, paramsFrom: p0, paramsTo: p1, grad, start: 0, end: 100, lr: 0.1, gradScale: 1 }), false);
  }
  assert.throws(() => wasm.update({ config, paramsFrom: p0, paramsTo: p1, grad, start: 0, end: 100, lr: 0.1, gradScale: 1 }), /momentum buffer/);
});


for (const [name, overrides, wasm] of [
  ['SGD with momentum, wasm kernels', { momentum: 0.9, weightDecay: 1e-3 }, true],
  ['SGD with momentum, JavaScript', { momentum: 0.9, weightDecay: 1e-3 }, false],
  ['Adam', { name: 'adam', momentum: 0 }, true],
  ['AdamW', { name: 'adamw', momentum: 0, weightDecay: 1e-2 }, true],
] as [string, Partial<OptimizerConfig>, boolean][]) {
  test(`VersionedOptimizer over ranges gives the in-place optimizer's bits and leaves version v intact: ${name}`, () => {
    const config: OptimizerConfig = { ...defaultOptimizerConfig, ...overrides };
    const length = 515;
    const tensors = config.name === 'sgd' ? 1 : 2;
    const { arrays, kernels } = memoryWith([length, length, tensors * length, tensors * length, length]);
    const [p0, p1, s0, s1, grad] = arrays;
    fill(p0, 3, 3);
    const versioned = new VersionedOptimizer(config, { params: [p0, p1], state: [s0, s1] }, wasm ? kernels : null);
    assert.equal(versioned.stateTensors, tensors);
    const reference = createOptimizer(config, length);
    const expected = Float32Array.from(p0);
    for (let t = 1; t <= 4; t++) {
      fill(grad, 40 + t, 6);
      const before = Float32Array.from(versioned.params(t - 1));
      for (const r of partitionRanges(length, 3)) versioned.update(t - 1, grad, { lr: 0.05, gradScale: 1 / 32, t, start: r.start, end: r.end });
      reference.update(expected, grad, { lr: 0.05, gradScale: 1 / 32, t });
      assert.deepEqual(bits(versioned.params(t)), bits(expected), `step ${t}: params`);
      for (const [key, value] of Object.entries(reference.state)) assert.deepEqual(bits(versioned.state(t)[key]), bits(value), `step ${t}: ${key}`);
      assert.deepEqual(bits(versioned.params(t - 1)), bits(before), `step ${t}: version ${t - 1} is intact`);
    }
  });
}
