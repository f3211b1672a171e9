import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { learningRate, scaleLearningRate, validateScheduleConfig, type LrRule, type ScheduleConfig } from '../src/optim/index.js';

const base: ScheduleConfig = { name: 'constant', warmupSteps: 0, totalSteps: 100, stepSize: 10, gamma: 0.1, minLr: 0 };
const schedule = (overrides: Partial<ScheduleConfig>): ScheduleConfig => ({ ...base, ...overrides });

function assertConfigError(fn: () => unknown, code: string, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    return true;
  });
}

function assertNear(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${what}: got ${actual}, expected ${expected}`);
}

describe('learning-rate schedules', () => {
  test('constant is the peak at every step', () => {
    for (const step of [0, 1, 99, 1000]) assert.equal(learningRate(0.1, step, base), 0.1);
  });

  test('linear warmup climbs by peak/warmupSteps per step and reaches the peak at step warmupSteps - 1', () => {
    const s = schedule({ warmupSteps: 4 });
    assert.deepEqual([0, 1, 2, 3, 4, 50].map((step) => learningRate(0.4, step, s)), [0.1, 0.2, 0.30000000000000004, 0.4, 0.4, 0.4]);
  });

  test('step decays by gamma every stepSize steps counted from the end of warmup', () => {
    const s = schedule({ name: 'step', stepSize: 3, gamma: 0.5 });
    assert.deepEqual([0, 2, 3, 5, 6, 9].map((step) => learningRate(1, step, s)), [1, 1, 0.5, 0.5, 0.25, 0.125]);
    const warm = schedule({ name: 'step', warmupSteps: 2, stepSize: 3, gamma: 0.5 });
    assert.deepEqual([0, 1, 2, 4, 5, 8].map((step) => learningRate(1, step, warm)), [0.5, 1, 1, 1, 0.5, 0.25]);
  });

  test('cosine goes from the peak to minLr at totalSteps and stays there', () => {
    const s = schedule({ name: 'cosine', totalSteps: 10, minLr: 0.1 });
    assertNear(learningRate(1.1, 0, s), 1.1, 'step 0');
    assertNear(learningRate(1.1, 5, s), 0.6, 'halfway');
    // a quarter of the way: minLr + (peak - minLr)·(1 + cos(π/4))/2 = 0.1 + (1 + √2/2)/2
    assertNear(learningRate(1.1, 2, schedule({ name: 'cosine', totalSteps: 8, minLr: 0.1 })), 0.1 + (1 + Math.SQRT1_2) / 2, 'quarter');
    assertNear(learningRate(1.1, 10, s), 0.1, 'end');
    assertNear(learningRate(1.1, 20, s), 0.1, 'after the end');
  });

  test('cosine with warmup starts its decay at the end of warmup', () => {
    const s = schedule({ name: 'cosine', warmupSteps: 2, totalSteps: 12, minLr: 0 });
    assert.equal(learningRate(1, 0, s), 0.5);
    assert.equal(learningRate(1, 1, s), 1);
    assertNear(learningRate(1, 2, s), 1, 'end of warmup');
    assertNear(learningRate(1, 7, s), 0.5, 'halfway through the decay');
    assertNear(learningRate(1, 12, s), 0, 'end');
  });

  test('cosine whose warmup covers the whole run is minLr after warmup', () => {
    const s = schedule({ name: 'cosine', warmupSteps: 5, totalSteps: 5, minLr: 0.01 });
    assert.equal(learningRate(1, 4, s), 1);
    assert.equal(learningRate(1, 5, s), 0.01);
  });

  test('a step that is not a non-negative integer is a RangeError', () => {
    assert.throws(() => learningRate(1, -1, base), RangeError);
    assert.throws(() => learningRate(1, 1.5, base), RangeError);
  });
});

describe('schedule validation names the flag', () => {
  const cases: [string, Partial<ScheduleConfig>, string, string][] = [
    ['an unknown schedule', { name: 'linear' as never }, 'dptrain.config.badLrSchedule', '--lr-schedule must be one of constant, step, cosine (got "linear")'],
    ['negative warmup', { warmupSteps: -1 }, 'dptrain.config.badWarmup', '--warmup-epochs must give a whole number of warmup steps >= 0 (got -1 steps)'],
    ['fractional warmup', { warmupSteps: 2.5 }, 'dptrain.config.badWarmup', '--warmup-epochs must give a whole number of warmup steps >= 0 (got 2.5 steps)'],
    ['negative total steps', { totalSteps: -3 }, 'dptrain.config.badTotalSteps', 'the total number of steps must be an integer >= 0 (got -3)'],
    ['step size 0', { stepSize: 0 }, 'dptrain.config.badStepSize', '--step-epochs must give a whole number of steps >= 1 (got 0 steps)'],
    ['gamma 0', { gamma: 0 }, 'dptrain.config.badGamma', '--gamma must be in (0, 1] (got 0)'],
    ['gamma above 1', { gamma: 1.5 }, 'dptrain.config.badGamma', '--gamma must be in (0, 1] (got 1.5)'],
    ['negative minLr', { minLr: -0.1 }, 'dptrain.config.badMinLr', '--min-lr must be a finite number >= 0 (got -0.1)'],
  ];
  for (const [label, overrides, code, message] of cases) {
    test(`${label} is a ConfigError`, () => {
      assertConfigError(() => validateScheduleConfig(schedule(overrides)), code, message);
      assertConfigError(() => learningRate(0.1, 0, schedule(overrides)), code, message);
    });
  }

  test('gamma 1 and warmup 0 are valid', () => {
    validateScheduleConfig(schedule({ name: 'step', gamma: 1, warmupSteps: 0, stepSize: 1 }));
  });
});

describe('learning-rate scaling rules', () => {
  test('none, linear (Goyal et al.) and sqrt (Krizhevsky; Hoffer et al.)', () => {
    assert.equal(scaleLearningRate(0.1, 1024, 256, 'none'), 0.1);
    assert.equal(scaleLearningRate(0.1, 1024, 256, 'linear'), 0.4);
    assert.equal(scaleLearningRate(0.1, 1024, 256, 'sqrt'), 0.2);
    assert.equal(scaleLearningRate(0.1, 64, 256, 'linear'), 0.025);
    assert.equal(scaleLearningRate(0.1, 64, 256, 'sqrt'), 0.05);
    assert.equal(scaleLearningRate(0.1, 256, 256, 'sqrt'), 0.1);
  });

  test('bad rules and batch sizes are ConfigErrors', () => {
    assertConfigError(() => scaleLearningRate(0.1, 8, 8, 'tuned' as LrRule), 'dptrain.config.badLrRule', '--lr-rule must be one of none, linear, sqrt (got "tuned")');
    assertConfigError(() => scaleLearningRate(0.1, 8, 0, 'linear'), 'dptrain.config.badBaseBatchSize', '--base-batch-size must be a positive integer (got 0)');
    assertConfigError(() => scaleLearningRate(0.1, 2.5, 8, 'sqrt'), 'dptrain.config.badBatchSize', '--batch-size must be a positive integer (got 2.5)');
    // with rule none the batch sizes do not matter
    assert.equal(scaleLearningRate(0.1, 8, 0, 'none'), 0.1);
  });
});
