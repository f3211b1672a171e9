import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../src/errors.js';
import {
  clipFactor,
  createOptimizer,
  defaultOptimizerConfig,
  sumOfSquares,
  validateOptimizerConfig,
  type OptimizerConfig,
} from '../src/optim/index.js';

function config(overrides: Partial<OptimizerConfig>): OptimizerConfig {
  return { ...defaultOptimizerConfig, ...overrides };
}

function assertConfigError(fn: () => unknown, code: string, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    return true;
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tol = rtol * Math.max(1, Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (tolerance ${tol})`);
  }
}

// ---- Independent float64 references, written after the torch.optim source (PyTorch 2.x, single-tensor path). ----

interface RefState { momentumBuffer: number[] | null; expAvg: number[]; expAvgSq: number[]; step: number }

function refStep(c: OptimizerConfig, p: number[], rawGrad: number[], lr: number, scale: number, st: RefState): void {
  const grad = rawGrad.map((g) => g * scale);
  if (c.name === 'sgd') {
    // torch.optim.SGD, dampening = 0: the first step clones d_p into the buffer.
    let dp = grad.map((g, i) => g + c.weightDecay * p[i]);
    if (c.momentum !== 0) {
      if (st.momentumBuffer === null) st.momentumBuffer = dp.slice();
      else st.momentumBuffer = st.momentumBuffer.map((b, i) => b * c.momentum + dp[i]);
      const buf = st.momentumBuffer;
      dp = c.nesterov ? dp.map((d, i) => d + c.momentum * buf[i]) : buf.slice();
    }
    for (let i = 0; i < p.length; i++) p[i] += -lr * dp[i];
    return;
  }
  // torch.optim.Adam / AdamW: exp_avg.lerp_(grad, 1-beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1-beta2).
  st.step += 1;
  let g = grad;
  if (c.name === 'adamw') for (let i = 0; i < p.length; i++) p[i] *= 1 - lr * c.weightDecay;
  else g = grad.map((x, i) => x + c.weightDecay * p[i]);
  for (let i = 0; i < p.length; i++) {
    st.expAvg[i] += (g[i] - st.expAvg[i]) * (1 - c.beta1);
    st.expAvgSq[i] = st.expAvgSq[i] * c.beta2 + (1 - c.beta2) * g[i] * g[i];
  }
  const biasCorrection1 = 1 - Math.pow(c.beta1, st.step);
  const biasCorrection2 = 1 - Math.pow(c.beta2, st.step);
  const stepSize = lr / biasCorrection1;
  for (let i = 0; i < p.length; i++) {
    const denom = Math.sqrt(st.expAvgSq[i]) / Math.sqrt(biasCorrection2) + c.eps;
    p[i] += -stepSize * (st.expAvg[i] / denom);
  }
}

const n = 7;
const initialParams = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7) * 1.5);
/** A different gradient every step (float32), as a reduced SUM over a batch of 4. */
function gradAt(t: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3 + t) * 3 + (i === 3 ? 0 : 0.25));
}
const lrAt = (t: number): number => 0.05 * t; // a warmup-like schedule: the lr changes every step
const gradScale = 1 / 4;

const variants: [string, Partial<OptimizerConfig>][] = [
  ['plain SGD', { name: 'sgd' }],
  ['SGD with weight decay', { name: 'sgd', weightDecay: 0.01 }],
  ['SGD with momentum and weight decay', { name: 'sgd', momentum: 0.9, weightDecay: 0.01 }],
  ['SGD with Nesterov momentum and weight decay', { name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 0.01 }],
  ['Adam', { name: 'adam' }],
  ['Adam with L2 weight decay', { name: 'adam', weightDecay: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6 }],
  ['AdamW with decoupled weight decay', { name: 'adamw', weightDecay: 0.1 }],
];

describe('optimizers follow torch.optim', () => {
  for (const [label, overrides] of variants) {
    test(`${label} matches a float64 reference over 5 steps`, () => {
      const c = config(overrides);
      const opt = createOptimizer(c, n);
      const params = initialParams.slice();
      const ref = Array.from(initialParams);
      const st: RefState = { momentumBuffer: null, expAvg: new Array(n).fill(0), expAvgSq: new Array(n).fill(0), step: 0 };
      for (let t = 1; t <= 5; t++) {
        const grad = gradAt(t);
        opt.update(params, grad, { lr: lrAt(t), gradScale, t });
        refStep(c, ref, Array.from(grad), lrAt(t), gradScale, st);
        assertClose(params, ref, 2e-6, `params after step ${t}`);
      }
      if (st.momentumBuffer !== null) assertClose(opt.state.momentum_buffer, st.momentumBuffer, 2e-6, 'momentum_buffer');
      if (c.name !== 'sgd') {
        assertClose(opt.state.exp_avg, st.expAvg, 2e-6, 'exp_avg');
        assertClose(opt.state.exp_avg_sq, st.expAvgSq, 2e-6, 'exp_avg_sq');
      }
    });

    test(`${label}: updating [0, k) then [k, n) equals one update of everything, bit for bit`, () => {
      const c = config(overrides);
      const whole = createOptimizer(c, n);
      const split = createOptimizer(c, n);
      const a = initialParams.slice();
      const b = initialParams.slice();
      for (let t = 1; t <= 5; t++) {
        const grad = gradAt(t);
        const args = { lr: lrAt(t), gradScale, t };
        whole.update(a, grad, args);
        const k = t % 4; // several split points, including an empty first range
        split.update(b, grad, { ...args, start: 0, end: k });
        split.update(b, grad, { ...args, start: k, end: 5 });
        split.update(b, grad, { ...args, start: 5 });
      }
      assert.deepEqual(b, a);
      assert.deepEqual(Object.keys(split.state), Object.keys(whole.state));
      for (const name of Object.keys(whole.state)) assert.deepEqual(split.state[name], whole.state[name], name);
    });
  }

  test('SGD with momentum 0.5 on a constant gradient gives hand-computed values', () => {
    // p0 = 1, grad = 1, lr = 0.1, μ = 0.5: buf = 1, 1.5, 1.75; p = 0.9, 0.75, 0.575.
    const opt = createOptimizer(config({ momentum: 0.5 }), 1);
    const p = new Float32Array([1]);
    const seen: number[] = [];
    for (let t = 1; t <= 3; t++) {
      opt.update(p, new Float32Array([1]), { lr: 0.1, gradScale: 1, t });
      seen.push(p[0]);
    }
    assertClose(seen, [0.9, 0.75, 0.575], 1e-7, 'p');
    assert.deepEqual(opt.state.momentum_buffer, new Float32Array([1.75]));
  });

  test('Nesterov SGD on a constant gradient gives hand-computed values', () => {
    // μ = 0.5: step 1 buf = 1, g = 1 + 0.5 = 1.5, p = 0.85; step 2 buf = 1.5, g = 1.75, p = 0.675.
    const opt = createOptimizer(config({ momentum: 0.5, nesterov: true }), 1);
    const p = new Float32Array([1]);
    opt.update(p, new Float32Array([1]), { lr: 0.1, gradScale: 1, t: 1 });
    assertClose(p, [0.85], 1e-7, 'p after step 1');
    opt.update(p, new Float32Array([1]), { lr: 0.1, gradScale: 1, t: 2 });
    assertClose(p, [0.675], 1e-7, 'p after step 2');
  });

  test('Adam and AdamW on a constant gradient move by lr per step (hand-computed)', () => {
    // Constant g: bias-corrected m̂ = g and v̂ = g², so each step moves p by lr·g/(|g| + eps) ≈ lr.
    // AdamW, wd = 0.1, lr = 0.01: p1 = 1·(1 - 0.001) - 0.01 = 0.989; p2 = 0.989·0.999 - 0.01 = 0.978011.
    const adam = createOptimizer(config({ name: 'adam' }), 1);
    const adamw = createOptimizer(config({ name: 'adamw', weightDecay: 0.1 }), 1);
    const p = new Float32Array([1]);
    const q = new Float32Array([1]);
    const grad = new Float32Array([8]);
    for (let t = 1; t <= 2; t++) {
      adam.update(p, grad, { lr: 0.01, gradScale: 0.25, t });
      adamw.update(q, grad, { lr: 0.01, gradScale: 0.25, t });
    }
    assertClose(p, [0.98], 1e-7, 'adam p');
    assertClose(q, [0.978011], 1e-7, 'adamw p');
  });

  test('gradScale multiplies the gradient before weight decay is added', () => {
    const opt = createOptimizer(config({ weightDecay: 0.5 }), 2);
    const p = new Float32Array([2, -2]);
    // g = 0.25·[4, 8] + 0.5·[2, -2] = [2, 1]; p = [2, -2] - 0.5·[2, 1] = [1, -2.5]
    opt.update(p, new Float32Array([4, 8]), { lr: 0.5, gradScale: 0.25, t: 1 });
    assert.deepEqual(p, new Float32Array([1, -2.5]));
  });

  test('state uses PyTorch names and the arrays from allocate', () => {
    assert.deepEqual(Object.keys(createOptimizer(config({}), 3).state), []);
    assert.deepEqual(Object.keys(createOptimizer(config({ momentum: 0.9 }), 3).state), ['momentum_buffer']);
    assert.deepEqual(Object.keys(createOptimizer(config({ name: 'adam' }), 3).state), ['exp_avg', 'exp_avg_sq']);
    const shared = new SharedArrayBuffer(2 * 3 * 4);
    let next = 0;
    const allocate = (length: number): Float32Array => new Float32Array(shared, 4 * length * next++, length);
    const opt = createOptimizer(config({ name: 'adamw' }), 3, allocate);
    assert.equal(opt.state.exp_avg.buffer, shared);
    assert.equal(opt.state.exp_avg_sq.buffer, shared);
    opt.update(new Float32Array(3), new Float32Array([1, 2, 3]), { lr: 0.1, gradScale: 1, t: 1 });
    assert.deepEqual(new Float32Array(shared, 0, 3), Float32Array.from([0.1, 0.2, 0.3]));
  });

  test('an update range outside the parameters, a wrong length or t < 1 for Adam is a RangeError', () => {
    const opt = createOptimizer(config({ name: 'adam' }), 3);
    const p = new Float32Array(3);
    assert.throws(() => opt.update(p, new Float32Array(3), { lr: 1, gradScale: 1, t: 1, start: 2, end: 4 }), RangeError);
    assert.throws(() => opt.update(p, new Float32Array(3), { lr: 1, gradScale: 1, t: 1, start: 2, end: 1 }), RangeError);
    assert.throws(() => opt.update(p, new Float32Array(4), { lr: 1, gradScale: 1, t: 1 }), RangeError);
    assert.throws(() => opt.update(p, new Float32Array(3), { lr: 1, gradScale: 1, t: 0 }), RangeError);
  });
});

describe('optimizer config validation names the flag', () => {
  const cases: [string, Partial<OptimizerConfig>, string, string][] = [
    ['an unknown optimizer', { name: 'rmsprop' as never }, 'dptrain.config.badOptimizer', '--optimizer must be one of sgd, adam, adamw (got "rmsprop")'],
    ['momentum 1.5', { momentum: 1.5 }, 'dptrain.config.badMomentum', '--momentum must be in [0, 1) (got 1.5)'],
    ['momentum 1', { momentum: 1 }, 'dptrain.config.badMomentum', '--momentum must be in [0, 1) (got 1)'],
    ['negative momentum', { momentum: -0.1 }, 'dptrain.config.badMomentum', '--momentum must be in [0, 1) (got -0.1)'],
    ['NaN momentum', { momentum: NaN }, 'dptrain.config.badMomentum', '--momentum must be in [0, 1) (got NaN)'],
    [
      'momentum with adam',
      { name: 'adam', momentum: 0.9 },
      'dptrain.config.badMomentum',
      "--momentum applies only to --optimizer sgd (got 0.9 with --optimizer adam; Adam's momentum is --beta1)",
    ],
    ['nesterov without momentum', { nesterov: true }, 'dptrain.config.badNesterov', '--nesterov requires --momentum > 0 (got 0)'],
    ['nesterov with adamw', { name: 'adamw', nesterov: true }, 'dptrain.config.badNesterov', '--nesterov applies only to --optimizer sgd (got --optimizer adamw)'],
    ['negative weight decay', { weightDecay: -1e-4 }, 'dptrain.config.badWeightDecay', '--weight-decay must be a finite number >= 0 (got -0.0001)'],
    ['infinite weight decay', { weightDecay: Infinity }, 'dptrain.config.badWeightDecay', '--weight-decay must be a finite number >= 0 (got Infinity)'],
    ['beta1 = 1', { name: 'adam', beta1: 1 }, 'dptrain.config.badBeta1', '--beta1 must be in [0, 1) (got 1)'],
    ['beta2 < 0', { name: 'adam', beta2: -0.5 }, 'dptrain.config.badBeta2', '--beta2 must be in [0, 1) (got -0.5)'],
    ['eps = 0', { name: 'adam', eps: 0 }, 'dptrain.config.badEps', '--eps must be a finite number > 0 (got 0)'],
  ];
  for (const [label, overrides, code, message] of cases) {
    test(`${label} is a ConfigError`, () => {
      assertConfigError(() => validateOptimizerConfig(config(overrides)), code, message);
      assertConfigError(() => createOptimizer(config(overrides), 3), code, message);
    });
  }

  test('the defaults and beta1 = 0 with momentum 0 for adam are valid', () => {
    validateOptimizerConfig(config({}));
    validateOptimizerConfig(config({ name: 'adam', beta1: 0 }));
    validateOptimizerConfig(config({ momentum: 0.99, nesterov: true, weightDecay: 5e-4 }));
  });
});

describe('gradient clipping follows torch.nn.utils.clip_grad_norm_', () => {
  test('sumOfSquares over ranges adds up to the whole', () => {
    const g = new Float32Array([3, 4, -1, 0.5, 2]);
    assert.equal(sumOfSquares(g), 9 + 16 + 1 + 0.25 + 4);
    assert.equal(sumOfSquares(g, 0, 2), 25);
    assert.equal(sumOfSquares(g, 2, 2), 0);
    assert.equal(sumOfSquares(g, 0, 2) + sumOfSquares(g, 2), sumOfSquares(g));
    assert.throws(() => sumOfSquares(g, 3, 6), RangeError);
  });

  test('sumOfSquares accumulates in float64', () => {
    // 2^24 + 1 is not a float32; a float32 accumulator would lose the 1s.
    const g = new Float32Array([4096, 1, 1]);
    assert.equal(sumOfSquares(g), 16777218);
  });

  test('clipFactor is min(1, maxNorm / (norm + 1e-6))', () => {
    assert.equal(clipFactor(10, 1), 1 / (10 + 1e-6));
    assert.equal(clipFactor(0.5, 1), 1);
    assert.equal(clipFactor(0, 1), 1);
    assert.equal(clipFactor(1, 1), 1 / (1 + 1e-6));
    assert.equal(clipFactor(Infinity, 1), 0);
    assert.ok(Number.isNaN(clipFactor(NaN, 1)));
  });

  test('a clip norm that is not positive is a ConfigError', () => {
    assertConfigError(() => clipFactor(1, 0), 'dptrain.config.badClipNorm', '--clip-norm must be a finite number > 0 (got 0)');
    assertConfigError(() => clipFactor(1, -2), 'dptrain.config.badClipNorm', '--clip-norm must be a finite number > 0 (got -2)');
  });
});
