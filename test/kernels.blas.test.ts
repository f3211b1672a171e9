// The blas kernel set (issue 15): the library search, the self-test and report, products on the
// callers' own memory, determinism, and concurrent calls from several worker threads.
// The exactness tests shared with the wasm set (against js, training, engines) are parametrized in
// kernels.wasm, model.kernels and engine.threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../src/errors.js';
import { blasCandidates, jsKernels, loadKernels, SELF_TEST_TOLERANCE, type Kernels } from '../src/kernels/index.js';
import { Rng } from '../src/util/rng.js';
import { runCli, tempDir } from './helpers.js';
import { loadCheckpointFile } from '../src/train/checkpoint.js';
import { listCheckpoints } from '../src/train/checkpoint-store.js';

/** The blas set, or the reason this machine has none (every test below then skips with it). */
const blas: Kernels | null = await loadKernels('blas').catch(() => null);
const skip = blas ? false : `no usable BLAS library here (${await loadKernels('blas').catch((e: Error) => e.message)}); apt-get install libopenblas0-pthread`;

function random(length: number, rng: Rng): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = 2 * rng.next() - 1;
  return a;
}

test('the library search tries OpenBLAS, then MKL, then the generic BLAS on Linux, and Accelerate on macOS', () => {
  const linux = blasCandidates('linux');
  const vendors = [...new Set(linux.map((c) => c.vendor))];
  assert.deepEqual(vendors, ['openblas', 'mkl', 'generic']);
  assert.equal(linux[0].file, 'libopenblas.so.0');
  assert.ok(linux.some((c) => c.file.endsWith('/openblas-pthread/libopenblas.so.0')) || process.arch !== 'x64');
  assert.deepEqual(linux.slice(-2).map((c) => c.file), ['libcblas.so.3', 'libblas.so.3']);
  const mac = [...new Set(blasCandidates('darwin').map((c) => c.vendor))];
  assert.deepEqual(mac, ['openblas', 'mkl', 'accelerate', 'generic']);
});

test('loadKernels("blas") reports the library, its core, one thread per caller and a passed self-test', { skip }, async () => {
  const report = blas!.report!;
  assert.equal(blas!.name, 'blas');
  assert.equal(report.name, 'blas');
  assert.match(blas!.detail, /^blas \(/);
  assert.ok(report.blas !== null);
  assert.ok(report.blas.selfTestError < SELF_TEST_TOLERANCE, `self-test error ${report.blas.selfTestError}`);
  assert.equal(report.blas.speedup, null, '--kernels blas is not speed-probed');
  if (report.blas.vendor === 'openblas') {
    assert.equal(report.blas.threads, 'openblas_set_num_threads(1)');
    assert.match(report.blas.config ?? '', /^OpenBLAS \d/);
    assert.ok(report.blas.core && report.blas.core.length > 0);
  }
  assert.equal(await loadKernels('blas'), blas, 'one set per thread');
});

test('auto takes blas only when its measured speed is at least 2x the wasm kernels, and says so', { skip }, async () => {
  const auto = await loadKernels('auto');
  const measured = auto.report!.blas!;
  assert.ok(measured.speedup !== null && measured.speedup > 0);
  if (auto.name === 'blas') assert.ok(measured.speedup >= 2);
  else assert.match(auto.report!.fallback!, /the wasm kernels \(auto needs 2x/);
});

test('the blas products use the callers arrays in place: a call on a 64 MB view costs no copy', { skip }, async () => {
  const big = new Float32Array(16 << 20); // 64 MB: copying it in and out would take milliseconds
  big.set([2, 3], 0);
  const small = new Float32Array(4);
  const y = new Float32Array(1);
  const time = (x: Float32Array): number => {
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      blas!.matmulXWt(x, x, y, 1, 1, 1);
      times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b)[7];
  };
  time(small);
  const onBig = time(big);
  assert.equal(y[0], 4);
  assert.ok(onBig < 1, `a 1x1x1 product on a 64 MB array took ${onBig} ms (median)`);
});

test('blas writes only the first n rows and rejects arrays shorter than the shapes (it writes through raw pointers)', { skip }, () => {
  const rng = new Rng(3, 'blas-rows');
  const [n, inDim, outDim] = [3, 5, 6];
  const x = random(10 * inDim, rng);
  const w = random(outDim * inDim, rng);
  const dy = random(10 * outDim, rng);
  const y = new Float32Array(10 * outDim).fill(-7);
  const dx = new Float32Array(10 * inDim).fill(-7);
  blas!.matmulXWt(x, w, y, n, inDim, outDim);
  blas!.matmulDyWReluMask(dy, w, x, dx, n, outDim, inDim);
  assert.ok(y.subarray(n * outDim).every((v) => v === -7));
  assert.ok(dx.subarray(n * inDim).every((v) => v === -7));
  assert.throws(() => blas!.matmulDyTXAcc(dy, x, new Float32Array(outDim * inDim - 1), n, outDim, inDim), {
    name: 'RangeError',
    message: `dw has ${outDim * inDim - 1} elements but the shapes need ${outDim * inDim}`,
  });
  assert.throws(() => blas!.matmulXWt(new Float64Array(15), w, y, n, inDim, outDim), {
    name: 'TypeError',
    message: 'x must be a Float32Array for the blas kernels (got Float64Array)',
  });
});

test('matmulDyTXAccRows adds exactly the rows it is given, close to the whole product, and nothing outside them', { skip }, () => {
  const rng = new Rng(4, 'blas-row-blocks');
  const [n, outDim, inDim] = [37, 300, 70];
  const dy = random(n * outDim, rng);
  const x = random(n * inDim, rng);
  const start = random(outDim * inDim, rng);
  const whole = start.slice();
  blas!.matmulDyTXAcc(dy, x, whole, n, outDim, inDim);
  const blocks = start.slice();
  const cuts = [300, 257, 129, 128, 3, 0];
  for (let b = 0; b + 1 < cuts.length; b++) {
    const [hi, lo] = [cuts[b], cuts[b + 1]];
    const before = blocks.slice();
    blas!.matmulDyTXAccRows!(dy, x, blocks, n, outDim, inDim, lo, hi);
    for (let i = 0; i < blocks.length; i++) {
      const row = Math.floor(i / inDim);
      if (row < lo || row >= hi) assert.equal(blocks[i], before[i], `rows [${lo}, ${hi}) changed element ${i}`);
    }
  }
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(blocks[i] - whole[i]) <= SELF_TEST_TOLERANCE * (1 + Math.abs(whole[i])), `element ${i}: ${blocks[i]} vs ${whole[i]}`);
  assert.throws(() => blas!.matmulDyTXAccRows!(dy, x, blocks, n, outDim, inDim, 10, outDim + 1), { name: 'RangeError', message: `rows [10, ${outDim + 1}) are not within [0, ${outDim})` });
});

test('blas products are bit-identical when repeated and wherever the operands sit in memory (gemm, and gemv at one row)', { skip }, () => {
  for (const [n, inDim, outDim] of [[37, 300, 129], [1, 784, 128]]) {
    const rng = new Rng(8, 'blas-bits');
    const x0 = random(n * inDim, rng);
    const w0 = random(outDim * inDim, rng);
    const dy0 = random(n * outDim, rng);
    const results: Buffer[] = [];
    for (const offset of [0, 1, 3, 16, 0]) {
      // Operands at 4-byte and 64-byte offsets: fixed chunks reach the products of different threads at different addresses.
      const arena = new Float32Array(offset + 2 * n * inDim + outDim * inDim + n * outDim);
      const x = arena.subarray(offset, offset + n * inDim);
      const w = arena.subarray(offset + n * inDim, offset + n * inDim + outDim * inDim);
      const dy = arena.subarray(offset + n * inDim + outDim * inDim, offset + n * inDim + outDim * inDim + n * outDim);
      x.set(x0);
      w.set(w0);
      dy.set(dy0);
      const y = new Float32Array(n * outDim);
      const dx = new Float32Array(n * inDim);
      const dw = new Float32Array(outDim * inDim);
      blas!.matmulXWt(x, w, y, n, inDim, outDim);
      blas!.matmulDyW(dy, w, dx, n, outDim, inDim);
      blas!.matmulDyTXAcc(dy, x, dw, n, outDim, inDim);
      results.push(Buffer.concat([y, dx, dw].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
    }
    for (const r of results.slice(1)) assert.ok(r.equals(results[0]), `${n}x${inDim}x${outDim}`);
  }
});

test('concurrent blas products from four worker threads are each correct and bit-identical to one thread alone', { skip, timeout: 60_000 }, async () => {
  const url = new URL('../src/kernels/index.js', import.meta.url).href;
  const rngUrl = new URL('../src/util/rng.js', import.meta.url).href;
  // Each thread: its own inputs (by seed), 30 rounds of the three products started together
  // through a shared counter, so that calls overlap; returns the bytes of the last round and
  // whether every round gave the same bytes.
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    Promise.all([import(${JSON.stringify(url)}), import(${JSON.stringify(rngUrl)})]).then(async ([{ loadKernels }, { Rng }]) => {
      const k = await loadKernels('blas');
      const { seed, start } = workerData;
      const [n, i, o] = [64, 256, 96];
      const rng = new Rng(seed, 'blas-threads');
      const r = (len) => Float32Array.from({ length: len }, () => 2 * rng.next() - 1);
      const x = r(n * i), w = r(o * i), dy = r(n * o);
      const flag = new Int32Array(start);
      Atomics.add(flag, 1, 1);
      while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, 5);
      let first = null, same = true, out = null;
      for (let round = 0; round < 30; round++) {
        const y = new Float32Array(n * o), dx = new Float32Array(n * i), dw = new Float32Array(o * i);
        k.linearForward(x, w, new Float32Array(o), y, n, i, o, false);
        k.matmulDyW(dy, w, dx, n, o, i);
        k.matmulDyTXAcc(dy, x, dw, n, o, i);
        out = Buffer.concat([y, dx, dw].map((a) => Buffer.from(a.buffer)));
        if (first === null) first = out; else if (!out.equals(first)) same = false;
      }
      parentPort.postMessage({ same, bytes: out });
    });`;
  const start = new SharedArrayBuffer(8);
  const flag = new Int32Array(start);
  const seeds = [1, 2, 3, 4];
  const workers = seeds.map((seed) => new Worker(code, { eval: true, workerData: { seed, start } }));
  const results = workers.map(
    (worker) =>
      new Promise<{ same: boolean; bytes: Uint8Array }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      }),
  );
  while (Atomics.load(flag, 1) < workers.length) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  const got = await Promise.all(results);
  await Promise.all(workers.map((w) => w.terminate()));
  for (const [index, seed] of seeds.entries()) {
    assert.ok(got[index].same, `thread ${seed}: every round gave the same bits`);
    // The same products alone in this thread, with the js reference alongside.
    const [n, i, o] = [64, 256, 96];
    const rng = new Rng(seed, 'blas-threads');
    const r = (len: number) => Float32Array.from({ length: len }, () => 2 * rng.next() - 1);
    const x = r(n * i), w = r(o * i), dy = r(n * o);
    const run = (k: Kernels) => {
      const y = new Float32Array(n * o), dx = new Float32Array(n * i), dw = new Float32Array(o * i);
      k.linearForward(x, w, new Float32Array(o), y, n, i, o, false);
      k.matmulDyW(dy, w, dx, n, o, i);
      k.matmulDyTXAcc(dy, x, dw, n, o, i);
      return Buffer.concat([y, dx, dw].map((a) => Buffer.from(a.buffer)));
    };
    assert.ok(Buffer.from(got[index].bytes).equals(run(blas!)), `thread ${seed} equals the same products run alone`);
    const ref = new Float32Array(run(jsKernels).buffer.slice(0));
    const mine = new Float32Array(Buffer.from(got[index].bytes).buffer.slice(0));
    let diff = 0;
    let scale = 0;
    for (let j = 0; j < ref.length; j++) {
      diff = Math.max(diff, Math.abs(mine[j] - ref[j]));
      scale = Math.max(scale, Math.abs(ref[j]));
    }
    assert.ok(diff / scale < 1e-5, `thread ${seed}: relative error ${diff / scale} against js`);
  }
});

test('a --blas-library that cannot be used is ConfigError dptrain.config.badBlasLibrary', async () => {
  await assert.rejects(loadKernels('blas', { blasLibrary: '/nonexistent/libblas-nope.so' }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, 'dptrain.config.badBlasLibrary');
    assert.match(error.message, /^--blas-library \/nonexistent\/libblas-nope\.so cannot be used: .* — give a CBLAS library such as libopenblas\.so\.0 or its full path$/);
    return true;
  });
});

test('dptrain train --kernels blas trains on the system BLAS and writes the library to summary.json', { skip, timeout: 120_000 }, () => {
  const out = path.join(tempDir(), 'run');
  const r = runCli(['train', '--kernels', 'blas', '--dataset', 'synthetic:blobs?n=400&d=20&classes=3', '--model', 'mlp:20-16-3', '--epochs', '1', '--workers', '2', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr + r.stdout, /2 workers, blas \(/);
  assert.match(r.stderr + r.stdout, /BLAS: .*self-test max relative error .*; chosen with --kernels blas/);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.match(summary.kernels, /^blas \(/);
  assert.equal(summary.blas.library, blas!.report!.blas!.library);
  assert.ok(summary.blas.selfTestError < SELF_TEST_TOLERANCE);
  assert.equal(summary.kernelsFallback, null);
});

test('dptrain train with default flags names the kernel set it chose at start-up, and the BLAS library when it uses one', { timeout: 120_000 }, () => {
  const r = runCli(['train', '--max-steps', '3', '--epochs', '1']);
  assert.equal(r.status, 0, r.stderr);
  const log = r.stderr + r.stdout;
  const line = log.split('\n').find((l) => l.includes('training mlp:'));
  assert.ok(line, log);
  assert.match(line, /workers?, (blas \(|wasm \(simd128)/);
  if (/, blas \(/.test(line)) assert.match(log, /BLAS: .*auto chose it: \d+\.\dx the wasm kernels/);
  else assert.match(log, /BLAS not used: .*(apt-get install libopenblas0-pthread|wasm kernels \(auto needs)/);
});

test('--blas-library none turns BLAS off: auto runs wasm and says why at start-up, --kernels blas is dptrain.kernels.blasUnavailable', { timeout: 120_000 }, () => {
  const args = ['train', '--dataset', 'synthetic:blobs?n=200&d=8&classes=3', '--model', 'mlp:8-6-3', '--max-steps', '2', '--epochs', '1', '--blas-library', 'none'];
  const auto = runCli(args);
  assert.equal(auto.status, 0, auto.stderr);
  assert.match(auto.stderr + auto.stdout, /workers?, wasm \(simd128[^)]*\) kernels/);
  assert.match(auto.stderr + auto.stdout, /BLAS not used: BLAS is turned off \(--blas-library none\)/);
  const blasRun = runCli([...args, '--kernels', 'blas']);
  assert.equal(blasRun.status, 1);
  assert.equal(blasRun.stderr.trim(), 'dptrain: error: BLAS is turned off (--blas-library none) — name a library, or use --kernels wasm [dptrain.kernels.blasUnavailable]');
});

test('a checkpoint records the kernel set --kernels auto chose, and `--resume DIR` alone keeps it (the probe may choose another under load)', { timeout: 120_000 }, async () => {
  const root = tempDir();
  const ckpt = path.join(root, 'ckpt');
  const args = ['--dataset', 'synthetic:blobs?n=200&d=8&classes=3', '--model', 'mlp:8-6-3', '--epochs', '1', '--checkpoint-dir', ckpt];
  const first = runCli(['train', ...args, '--out', path.join(root, 'a')]);
  assert.equal(first.status, 0, first.stderr);
  const chose = String(JSON.parse(fs.readFileSync(path.join(root, 'a', 'summary.json'), 'utf8')).kernels).split(' ')[0];
  const [latest] = await listCheckpoints(ckpt);
  assert.equal((await loadCheckpointFile(latest.path)).meta.config.kernels, chose);
  const resumed = runCli(['train', '--resume', ckpt, '--epochs', '2', '--out', path.join(root, 'b')]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stderr + resumed.stdout, /WARN/);
  assert.match(resumed.stderr + resumed.stdout, new RegExp(`workers?, ${chose} \\(`));
  if (chose === 'blas') assert.match(resumed.stderr + resumed.stdout, /BLAS: .*; the checkpoint's kernel set, kept by --resume\n/);
});

test('a checkpoint that ran on blas resumes where BLAS does not load: auto chooses again and the warning says rounding may differ', { skip, timeout: 120_000 }, () => {
  const root = tempDir();
  const ckpt = path.join(root, 'ckpt');
  const first = runCli(['train', '--kernels', 'blas', '--dataset', 'synthetic:blobs?n=200&d=8&classes=3', '--model', 'mlp:8-6-3', '--epochs', '1', '--checkpoint-dir', ckpt]);
  assert.equal(first.status, 0, first.stderr);
  const resumed = runCli(['train', '--resume', ckpt, '--epochs', '2', '--blas-library', 'none', '--out', path.join(root, 'b')]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const log = resumed.stderr + resumed.stdout;
  assert.match(log, /WARN: the checkpoint ran on the blas kernels, which do not load here \(BLAS is turned off \(--blas-library none\)[^\n]*\); --kernels auto chooses again: the run continues correctly, but float rounding may differ from an uninterrupted run/);
  assert.match(log, /workers?, wasm \(simd128/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'b', 'summary.json'), 'utf8')).stopReason, 'epochs');
});

test('the blas set uses params and grad wherever they live (no staging copies), staging only bias vectors, even wider than its scratch', { skip }, async () => {
  const { initParams, Model, parseModelSpec } = await import('../src/model/index.js');
  const shared = new Float32Array(new SharedArrayBuffer(64));
  assert.ok(blas!.isResident(shared) && blas!.isResident(new Float32Array(4)));
  // A Model on blas with params and grad in a SharedArrayBuffer (the threads engine's) and plain: the same bits.
  const spec = parseModelSpec('mlp:9-8-4');
  const model = new Model(spec, { kernels: blas! });
  const rng = new Rng(4, 'blas-model');
  const source = { x: random(20 * 9, rng), y: Float32Array.from({ length: 20 }, (_, i) => i % 4), inputDim: 9, targetDim: 1 };
  const params = initParams(spec, 1) as Float32Array;
  const sharedParams = new Float32Array(new SharedArrayBuffer(params.byteLength));
  sharedParams.set(params);
  const grad = new Float32Array(model.numParams);
  const sharedGrad = new Float32Array(new SharedArrayBuffer(grad.byteLength));
  const rows = Uint32Array.from({ length: 20 }, (_, i) => i);
  model.accumulateGradient(params, source, rows, grad);
  model.accumulateGradient(sharedParams, source, rows, sharedGrad);
  assert.deepEqual(Array.from(sharedGrad), Array.from(grad));
  model.dispose();
  // A layer 70,000 wide: its bias and bias gradient bypass the 65,536-float scratch.
  const [n, inDim, outDim] = [2, 3, 70_000];
  const x = random(n * inDim, rng);
  const w = random(outDim * inDim, rng);
  const b = random(outDim, rng);
  const dy = random(n * outDim, rng);
  const y = new Float32Array(n * outDim);
  const want = new Float32Array(n * outDim);
  blas!.linearForward(x, w, b, y, n, inDim, outDim, true);
  jsKernels.linearForward(x, w, b, want, n, inDim, outDim, true);
  const db = new Float32Array(outDim).fill(1);
  const wantDb = new Float32Array(outDim).fill(1);
  blas!.biasGradAcc(dy, db, n, outDim);
  jsKernels.biasGradAcc(dy, wantDb, n, outDim);
  for (const [got, ref] of [[y, want], [db, wantDb]]) {
    let diff = 0;
    for (let i = 0; i < ref.length; i++) diff = Math.max(diff, Math.abs(got[i] - ref[i]));
    assert.ok(diff < 1e-5, `max difference ${diff}`);
  }
});

test('a Model step on blas allocates no wasm memory, even with none to spare: conv, ReLU, max pool (the pool applies the conv bias) trains as on wasm', { skip, timeout: 60_000 }, async () => {
  // The fused pool's bias is a params tensor and the first conv's bias gradient a grad tensor, which
  // blas takes where they are; the wasm pool kernels used to copy them into memory allocated
  // mid-step, and a growth then detached the Model's views ("x has 0 elements", in the flatten).
  const { createWasmKernels } = await import('../src/kernels/wasm.js');
  const { createBlasKernels } = await import('../src/kernels/blas.js');
  const { openBlas } = await import('../src/kernels/blas-loader.js');
  const { initBuffers, initParams, Model, parseModelSpec } = await import('../src/model/index.js');
  const library = await openBlas();
  const step = async (name: 'wasm' | 'blas', text: string, rows: number, shared: boolean) => {
    // A fresh memory per run: its growth is this Model's alone.
    const wasm = await createWasmKernels('simd');
    const kernels = name === 'wasm' ? wasm : createBlasKernels(wasm, library, { name: 'blas', detail: 'blas', blas: null, fallback: null });
    // Its view's buffer is the whole memory: its size, read without allocating.
    const sentinel = wasm.allocate(1);
    const memorySize = () => sentinel.array.buffer.byteLength;
    const spec = parseModelSpec(text);
    const model = new Model(spec, { kernels });
    const rng = new Rng(rows, 'blas-no-growth');
    const source = { x: random(rows * model.inputDim, rng), y: Float32Array.from({ length: rows }, (_, i) => i % model.outputDim), inputDim: model.inputDim, targetDim: 1 };
    const init = initParams(spec, 1) as Float32Array;
    const params = shared ? new Float32Array(new SharedArrayBuffer(init.byteLength)) : new Float32Array(init.length);
    params.set(init);
    const grad = shared ? new Float32Array(new SharedArrayBuffer(init.byteLength)) : new Float32Array(init.length);
    const buffers = model.numBuffers > 0 ? initBuffers(model.bufferLayout) : undefined;
    const indices = Uint32Array.from({ length: rows }, (_, i) => i);
    // Every allocation of the call made ahead, then the memory filled to its last byte: any
    // allocation during the step must grow it.
    model.reserveCall(rows, params, grad);
    const size = memorySize();
    const filler = size > wasm.memoryBytes ? wasm.allocate((size - wasm.memoryBytes) / 4) : null;
    assert.equal(wasm.memoryBytes, size, 'no slack left');
    const train = model.accumulateGradient(params, source, indices, grad, rows);
    const outputs = new Float32Array(rows * model.outputDim);
    const evaluated = model.evaluate(params, source, indices, rows, buffers, outputs);
    const grown = memorySize() !== size;
    filler?.free();
    model.dispose();
    return { loss: train.lossSum, evalLoss: evaluated.lossSum, grad, outputs, grown };
  };
  const close = (got: Float32Array, want: Float32Array, what: string) => {
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < want.length; i++) {
      diff = Math.max(diff, Math.abs(got[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    assert.ok(Number.isFinite(diff) && diff <= 1e-4 * Math.max(scale, 1), `${what}: max difference ${diff} (scale ${scale})`);
  };
  for (const [text, rows, shared] of [
    // The smallest: the crash of `conv20000k3p1 relu maxpool2 flatten dense10` whenever the memory had no 4·C bytes to spare.
    ['cnn:1x4x4 conv8k3p1 relu maxpool2 flatten dense10', 2, false],
    // A fused pool after a later conv (its bias gradient through biasGradAcc), params and grad in a SharedArrayBuffer (the threads engine's).
    ['cnn:2x4x4 conv4k3p1 relu conv8k3p1 relu maxpool2 flatten dense3', 3, true],
    // Every other layer kind, for the rule that a step allocates nothing.
    ['cnn:2x6x6 conv4k3p1 bn relu avgpool2 conv6k3p1 gelu maxpool3 flatten layernorm dropout0.1 dense5 tanh dense3', 2, false],
    // A bias wider than the blas scratch (65,536 floats): the pool and the bias gradient run in js on the views.
    ['cnn:1x2x2 conv70000k1 relu maxpool2 flatten dense2', 2, false],
  ] as const) {
    const want = await step('wasm', text, rows, shared);
    const got = await step('blas', text, rows, shared);
    assert.equal(want.grown, false, `${text}: the wasm step grew its memory`);
    assert.equal(got.grown, false, `${text}: the blas step grew its memory`);
    assert.ok(Math.abs(got.loss - want.loss) <= 1e-4 * Math.max(1, Math.abs(want.loss)), `${text}: loss ${got.loss} vs ${want.loss}`);
    assert.ok(Math.abs(got.evalLoss - want.evalLoss) <= 1e-4 * Math.max(1, Math.abs(want.evalLoss)), `${text}: evaluation loss ${got.evalLoss} vs ${want.evalLoss}`);
    close(got.grad, want.grad, `${text}: gradient`);
    close(got.outputs, want.outputs, `${text}: outputs`);
  }
});
