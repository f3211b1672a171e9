import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initParams, paramLayout, paramView, parseModelSpec } from '../src/model/index.js';

function stats(a: ArrayLike<number>): { mean: number; std: number; maxAbs: number } {
  let sum = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    sum += a[i];
    maxAbs = Math.max(maxAbs, Math.abs(a[i]));
  }
  const mean = sum / a.length;
  let sq = 0;
  for (let i = 0; i < a.length; i++) sq += (a[i] - mean) ** 2;
  return { mean, std: Math.sqrt(sq / a.length), maxAbs };
}

test('the same seed gives identical parameters', () => {
  const spec = parseModelSpec('mlp:784-256-128-10');
  assert.deepEqual(initParams(spec, 42), initParams(spec, 42));
});

test('different seeds give different parameters', () => {
  const spec = parseModelSpec('mlp:20-10-3');
  const a = initParams(spec, 1);
  const b = initParams(spec, 2);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i] && a[i] !== 0) same++;
  assert.equal(same, 0);
});

test('float32 parameters are the float64 draws rounded to float32', () => {
  const spec = parseModelSpec('mlp:30-20-5:tanh');
  const p32 = initParams(spec, 9);
  const p64 = initParams(spec, 9, 'float64');
  assert.ok(p32 instanceof Float32Array);
  assert.ok(p64 instanceof Float64Array);
  assert.deepEqual(p32, Float32Array.from(p64));
});

test('biases start at zero', () => {
  const spec = parseModelSpec('mlp:10-8-6-3');
  const layout = paramLayout(spec);
  const params = initParams(spec, 0);
  for (const t of layout.tensors.filter((t) => t.name.endsWith('.bias'))) {
    assert.ok(paramView(params, layout, t.name).every((v) => v === 0), t.name);
  }
});

test('weights feeding a ReLU are He normal with std close to sqrt(2 / fan_in)', () => {
  const spec = parseModelSpec('mlp:1000-500-10');
  const params = initParams(spec, 3, 'float64');
  const w = paramView(params, paramLayout(spec), 'layers.0.weight'); // 500,000 draws
  const { mean, std } = stats(w);
  const want = Math.sqrt(2 / 1000);
  assert.ok(Math.abs(std / want - 1) < 0.01, `std ${std}, expected about ${want}`);
  assert.ok(Math.abs(mean) < 0.01 * want, `mean ${mean}`);
});

test('output and tanh layers are Glorot uniform within ±sqrt(6 / (fan_in + fan_out))', () => {
  const spec = parseModelSpec('mlp:600-400-10:tanh');
  const layout = paramLayout(spec);
  const params = initParams(spec, 4, 'float64');
  for (const [name, fanIn, fanOut] of [
    ['layers.0.weight', 600, 400],
    ['layers.1.weight', 400, 10],
  ] as const) {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const { std, maxAbs } = stats(paramView(params, layout, name));
    assert.ok(maxAbs <= limit, `${name}: max |w| ${maxAbs} exceeds ${limit}`);
    assert.ok(maxAbs > 0.98 * limit, `${name}: max |w| ${maxAbs} should come close to ${limit}`);
    // The standard deviation of U(-a, a) is a / sqrt(3).
    assert.ok(Math.abs(std / (limit / Math.sqrt(3)) - 1) < 0.05, `${name}: std ${std}`);
  }
});
