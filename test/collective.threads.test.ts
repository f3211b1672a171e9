// The threads engine on its two collective paths — the wasm kernels over one shared
// WebAssembly.Memory, and the JS reference over a SharedArrayBuffer — and with the update folded
// into the next step or run as its own round: every combination gives the same bits, and the
// parameters are readable after applyUpdate resolves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchRange, stepsPerEpoch } from '../src/data/index.js';
import { InlineEngine, ThreadsEngine, type ThreadsEngineOptions } from '../src/engine/index.js';
import type { EngineSetup } from '../src/engine/engine.js';
import { EngineError } from '../src/errors.js';
import { initParams, parseModelSpec } from '../src/model/index.js';
import { clipFactor, defaultOptimizerConfig, type OptimizerConfig } from '../src/optim/index.js';
import type { KernelsChoice } from '../src/kernels/index.js';
import { makeClassification } from './helpers.js';

const data = makeClassification(230, 6, 3, 7);
const validation = makeClassification(41, 6, 3, 8);
const spec = parseModelSpec('mlp:6-10-8-3');
const BATCH = 37; // uneven shards, and each epoch (7 steps) ends in a partial batch of 8

function setupFor(optimizer: Partial<OptimizerConfig>, kernels: KernelsChoice = 'wasm', chunks?: number): EngineSetup {
  return {
    model: spec,
    train: data,
    validation,
    params: initParams(spec, 3) as Float32Array,
    optimizer: { ...defaultOptimizerConfig, ...optimizer },
    seed: 11,
    microBatch: undefined,
    kernels,
    chunks,
  };
}

interface Trace {
  collective: string;
  /** The parameters read right after each applyUpdate. */
  params: Buffer[];
  state: Buffer[];
  gradSumSq: number[];
  shards: number[][];
  valLoss: number;
}

/** Runs `steps` steps the way the training loop does (clipping by the global norm), reading params after each update. */
async function trace(setup: EngineSetup, options: Omit<ThreadsEngineOptions, 'workers'> & { workers: number }, steps = 12, clipNorm = 0): Promise<Trace> {
  const engine = options.workers === 0 ? await InlineEngine.create(setup) : await ThreadsEngine.create(setup, options);
  const out: Trace = { collective: engine instanceof ThreadsEngine ? engine.collective : 'inline', params: [], state: [], gradSumSq: [], shards: [], valLoss: 0 };
  try {
    const perEpoch = stepsPerEpoch(data.n, BATCH, true);
    for (let step = 0; step < steps; step++) {
      const { start, end } = batchRange(step % perEpoch, data.n, BATCH);
      const r = await engine.computeGradients({ epoch: Math.floor(step / perEpoch), step, start, end });
      const clip = clipNorm > 0 ? clipFactor(Math.sqrt(r.gradSumSq) / r.count, clipNorm) : 1;
      await engine.applyUpdate({ lr: 0.05, gradScale: clip / r.count, t: step + 1 });
      out.gradSumSq.push(r.gradSumSq);
      out.shards.push(r.shards.map((s) => s.gradSumSq));
      // Every other step, read the parameters and state right away (synchronize applies a folded update first).
      if (step % 2 === 1) {
        await engine.synchronize();
        out.params.push(Buffer.from(Float32Array.from(engine.params).buffer));
        for (const a of Object.values(engine.optimizerState)) out.state.push(Buffer.from(Float32Array.from(a).buffer));
      }
    }
    const val = await engine.evaluate(validation);
    out.valLoss = val.lossSum / val.count;
    await engine.synchronize();
    out.params.push(Buffer.from(Float32Array.from(engine.params).buffer));
  } finally {
    await engine.close();
  }
  return out;
}

function assertSameTrace(a: Trace, b: Trace, what: string): void {
  assert.deepEqual(a.params, b.params, `${what}: parameters`);
  assert.deepEqual(a.state, b.state, `${what}: optimizer state`);
  assert.deepEqual(a.gradSumSq, b.gradSumSq, `${what}: gradSumSq`);
  assert.deepEqual(a.shards, b.shards, `${what}: shard norms`);
  assert.equal(a.valLoss, b.valLoss, `${what}: validation loss`);
}

const OPTIMIZERS: [string, Partial<OptimizerConfig>, number][] = [
  ['plain SGD', {}, 0],
  ['momentum + weight decay, clipped', { momentum: 0.9, weightDecay: 1e-3 }, 0.5],
  ['Nesterov', { momentum: 0.9, nesterov: true }, 0],
];

for (const workers of [1, 2, 3, 5]) {
  test(`${workers} worker(s): wasm and JS collective paths, folded or not, give the same bits`, async () => {
    for (const [name, optimizer, clip] of OPTIMIZERS) {
      const setup = setupFor(optimizer);
      const wasm = await trace(setup, { workers, collective: 'wasm' }, 12, clip);
      assert.match(wasm.collective, /^wasm/);
      const js = await trace(setup, { workers, collective: 'js' }, 12, clip);
      assert.equal(js.collective, 'js');
      assertSameTrace(wasm, js, `${name}: wasm vs js`);
      const unfolded = await trace(setup, { workers, collective: 'wasm', foldUpdate: false }, 12, clip);
      assertSameTrace(wasm, unfolded, `${name}: folded vs unfolded`);
    }
  });
}

test('one worker thread on the wasm path is bit-identical to the inline engine, clipped too (the same gradient norm)', async () => {
  for (const [name, optimizer, clip] of OPTIMIZERS) {
    const setup = setupFor(optimizer);
    const inline = await trace(setup, { workers: 0 }, 12, clip);
    const threads = await trace(setup, { workers: 1, collective: 'wasm' }, 12, clip);
    assert.deepEqual(threads.params, inline.params, name);
    assert.deepEqual(threads.gradSumSq, inline.gradSumSq, `${name}: gradSumSq`);
  }
});

test('fixed reduce chunks: the wasm path at 1, 2 and 3 workers gives the inline engine\'s bits', async () => {
  const setup = setupFor({ momentum: 0.9 }, 'wasm', 5);
  const inline = await trace(setup, { workers: 0 });
  for (const workers of [1, 2, 3]) {
    const threads = await trace(setup, { workers, collective: 'wasm' });
    assert.deepEqual(threads.params, inline.params, `${workers} workers`);
  }
});

test('Adam keeps the JS update (copy + in place) inside the wasm path, with the same bits', async () => {
  const setup = setupFor({ name: 'adam', weightDecay: 1e-3 });
  const wasm = await trace(setup, { workers: 2, collective: 'wasm' }, 8, 1);
  const js = await trace(setup, { workers: 2, collective: 'js', foldUpdate: false }, 8, 1);
  assertSameTrace(wasm, js, 'adam');
});

test('the js kernel set runs the JS collective path; auto picks wasm with the wasm kernels', async () => {
  const js = await ThreadsEngine.create(setupFor({}, 'js'), { workers: 1 });
  const auto = await ThreadsEngine.create(setupFor({}, 'wasm'), { workers: 1 });
  try {
    assert.equal(js.collective, 'js');
    assert.match(auto.collective, /^wasm/);
  } finally {
    await Promise.all([js.close(), auto.close()]);
  }
});

test('a folded update is applied by evaluate() and synchronize(); reading the buffers before is refused', async () => {
  const setup = setupFor({ momentum: 0.9 });
  const folded = await ThreadsEngine.create(setup, { workers: 2 });
  const unfolded = await ThreadsEngine.create(setup, { workers: 2, foldUpdate: false });
  try {
    for (const engine of [folded, unfolded]) {
      const r = await engine.computeGradients({ epoch: 0, step: 0, start: 0, end: BATCH });
      await engine.applyUpdate({ lr: 0.1, gradScale: 1 / r.count, t: 1 });
    }
    // The folded update is pending: the getters refuse to hand out buffers that are not current.
    for (const read of [() => folded.params, () => folded.optimizerState, () => folded.gradient]) {
      assert.throws(read, (error: unknown) => error instanceof EngineError && error.code === 'dptrain.engine.notSynchronized' && /synchronize\(\)/.test(error.message));
    }
    // Evaluate first (it completes the update), then the params, state and gradient.
    assert.deepEqual(await folded.evaluate(validation), await unfolded.evaluate(validation));
    assert.deepEqual(Buffer.from(folded.params.buffer, folded.params.byteOffset, folded.params.byteLength), Buffer.from(unfolded.params.buffer, unfolded.params.byteOffset, unfolded.params.byteLength));
    assert.notDeepEqual(Array.from(folded.params), Array.from(setup.params));
    assert.deepEqual(Array.from(folded.optimizerState.momentum_buffer), Array.from(unfolded.optimizerState.momentum_buffer));
    // Writing the gradient after applyUpdate and synchronize (as the ws worker does before the next update) must not change that update.
    for (const engine of [folded, unfolded]) {
      const r = await engine.computeGradients({ epoch: 0, step: 1, start: BATCH, end: 2 * BATCH });
      await engine.applyUpdate({ lr: 0.1, gradScale: 1 / r.count, t: 2 });
      await engine.synchronize();
      engine.gradient.fill(123);
      await engine.computeGradients({ epoch: 0, step: 2, start: 2 * BATCH, end: 3 * BATCH });
    }
    assert.deepEqual(Array.from(folded.params), Array.from(unfolded.params));
  } finally {
    await Promise.all([folded.close(), unfolded.close()]);
  }
});
