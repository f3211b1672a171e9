import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { ConfigError, DptrainError } from '../src/errors.js';
import { createWasmKernels, jsKernels, loadKernels, type Kernels, type WasmVariant } from '../src/kernels/index.js';
import { Rng } from '../src/util/rng.js';
import { exactnessKernelSets } from './helpers.js';

// [n, in, out]: tiny, odd (tails of the 4 x 8 register tile), exact tiles, past one packed block
// (KC = 256 deep, MC = 128 rows, NC = 512 columns), and large odd shapes.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 7, 5],
  [2, 3, 4],
  [4, 8, 8],
  [5, 2, 9],
  [1, 784, 10],
  [13, 300, 9],
  [64, 256, 130],
  [127, 129, 131],
  [130, 520, 257],
  [300, 33, 600],
];

/** The wasm builds this runtime runs; the relaxed one needs Node >= 22 or a flag on Node 20. */
const VARIANTS: { variant: WasmVariant; skip: string | false }[] = [
  { variant: 'simd', skip: false },
  {
    variant: 'relaxed',
    skip: (await createWasmKernels('relaxed').then(
      () => false,
      (error: Error) => error.message,
    )) as string | false,
  },
];

function random(length: number, rng: Rng): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = 2 * rng.next() - 1;
  return a;
}

/** max|got − want| / max|want| < tol (exact equality when want is all zeros). */
function assertRelClose(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  if (Number.isNaN(diff)) assert.fail(`${what}: NaN in the result`);
  assert.ok(scale === 0 ? diff === 0 : diff / scale < tol, `${what}: relative error ${diff / scale} >= ${tol}`);
}

/** One kernel call on fixed inputs: `run` calls it with kernel set k and returns the output. */
interface Case {
  name: string;
  run: (k: Kernels) => Float32Array;
}

function cases(n: number, inDim: number, outDim: number, rng: Rng): Case[] {
  const x = random(n * inDim, rng);
  const w = random(outDim * inDim, rng);
  const b = random(outDim, rng);
  const dy = random(n * outDim, rng);
  const dw0 = random(outDim * inDim, rng);
  const db0 = random(outDim, rng);
  // Outputs start as NaN, so that a kernel that reads them instead of overwriting shows up.
  const nan = (length: number): Float32Array => new Float32Array(length).fill(NaN);
  const y = (k: Kernels, bias: boolean, relu: boolean): Float32Array => {
    const out = nan(n * outDim);
    if (bias) k.linearForward(x, w, b, out, n, inDim, outDim, relu);
    else k.matmulXWt(x, w, out, n, inDim, outDim);
    return out;
  };
  return [
    { name: 'matmulXWt', run: (k) => y(k, false, false) },
    { name: 'linearForward (bias)', run: (k) => y(k, true, false) },
    { name: 'linearForward (bias + relu)', run: (k) => y(k, true, true) },
    {
      name: 'matmulDyW',
      run: (k) => {
        const dx = nan(n * inDim);
        k.matmulDyW(dy, w, dx, n, outDim, inDim);
        return dx;
      },
    },
    {
      // x serves as the ReLU output: about half of it is <= 0.
      name: 'matmulDyWReluMask',
      run: (k) => {
        const dx = nan(n * inDim);
        k.matmulDyWReluMask(dy, w, x, dx, n, outDim, inDim);
        return dx;
      },
    },
    {
      name: 'matmulDyTXAcc',
      run: (k) => {
        const dw = Float32Array.from(dw0);
        k.matmulDyTXAcc(dy, x, dw, n, outDim, inDim);
        return dw;
      },
    },
    {
      name: 'biasGradAcc',
      run: (k) => {
        const db = Float32Array.from(db0);
        k.biasGradAcc(dy, db, n, outDim);
        return db;
      },
    },
  ];
}

/** Every native set checked against the js reference: the wasm builds and, where a library loads, blas. */
const NATIVE_SETS: { name: string; skip: string | false; load: () => Promise<Kernels> }[] = [
  ...VARIANTS.map(({ variant, skip }) => ({ name: `wasm (${variant})`, skip, load: () => createWasmKernels(variant) })),
  ...(await exactnessKernelSets())
    .filter((set) => set.kernels === 'blas')
    .map(({ skip }) => ({ name: 'blas', skip, load: () => loadKernels('blas') })),
];

for (const { name, skip, load } of NATIVE_SETS) {
  test(`every ${name} kernel equals the js reference within 1e-5 relative error on ${SHAPES.length} shapes`, { skip }, async () => {
    const wasm = await load();
    for (const [n, inDim, outDim] of SHAPES) {
      const rng = new Rng(n * 1000 + inDim, 'wasm', outDim);
      for (const c of cases(n, inDim, outDim, rng)) {
        assertRelClose(c.run(wasm), c.run(jsKernels), 1e-5, `${c.name} ${n}x${inDim}x${outDim}`);
      }
    }
  });
}

test('the wasm kernels give the same results on arrays in their memory (in place) and on copies', async () => {
  const wasm = await createWasmKernels('simd');
  const [n, inDim, outDim] = [127, 129, 131];
  const rng = new Rng(5, 'resident');
  const x = random(n * inDim, rng);
  const w = random(outDim * inDim, rng);
  const b = random(outDim, rng);
  const plain = new Float32Array(n * outDim);
  wasm.linearForward(x, w, b, plain, n, inDim, outDim, true);
  const bufs = [x, w, b, new Float32Array(n * outDim)].map((a) => {
    const buf = wasm.allocate(a.length);
    buf.array.set(a);
    return buf;
  });
  const [rx, rw, rb, ry] = bufs.map((buf) => buf.array);
  assert.ok(wasm.isResident(ry) && !wasm.isResident(plain));
  wasm.linearForward(rx, rw, rb, ry, n, inDim, outDim, true);
  assert.deepEqual(ry, plain);
  for (const buf of bufs) buf.free();
});

test('the wasm kernels touch only the first n rows of larger buffers', async () => {
  const wasm = await createWasmKernels('simd');
  const rng = new Rng(3, 'rows');
  const [n, inDim, outDim] = [3, 5, 6];
  const x = random(10 * inDim, rng);
  const w = random(outDim * inDim, rng);
  const dy = random(10 * outDim, rng);
  const y = new Float32Array(10 * outDim).fill(-7);
  const dx = new Float32Array(10 * inDim).fill(-7);
  wasm.matmulXWt(x, w, y, n, inDim, outDim);
  wasm.matmulDyWReluMask(dy, w, x, dx, n, outDim, inDim);
  assert.ok(y.subarray(n * outDim).every((v) => v === -7));
  assert.ok(dx.subarray(n * inDim).every((v) => v === -7));
});

test('the wasm kernels reject float64 arrays and arrays shorter than the shapes say', async () => {
  const wasm = await createWasmKernels('simd');
  const y = new Float32Array(6);
  assert.throws(() => wasm.matmulXWt(new Float64Array(6), new Float32Array(6), y, 2, 3, 2), {
    name: 'TypeError',
    message: 'x must be a Float32Array for the wasm kernels (got Float64Array)',
  });
  assert.throws(() => wasm.matmulXWt(new Float32Array(5), new Float32Array(6), y, 2, 3, 2), {
    name: 'RangeError',
    message: 'x has 5 elements but the shapes need 6',
  });
  assert.throws(() => wasm.allocate(4, 'float64'), { name: 'TypeError', message: /float32 only/ });
});

test('a kernel buffer keeps its contents when the wasm memory grows, through a fresh view', async () => {
  const wasm = await createWasmKernels('simd');
  const small = wasm.allocate(1000);
  small.array.fill(3);
  const before = small.array;
  const big = wasm.allocate(8_000_000); // 32 MB: grows the memory, which detaches `before`
  assert.equal(before.length, 0);
  assert.equal(small.array.length, 1000);
  assert.ok(small.array.every((v) => v === 3));
  assert.ok(big.array.every((v) => v === 0), 'a new buffer is zeroed');
  big.free();
  // Freed space is reused and handed out zeroed again.
  const again = wasm.allocate(8_000_000);
  assert.ok(again.array.every((v) => v === 0));
  again.free();
  small.free();
});

test('loadKernels returns the js set for "js", one cached wasm set per thread for "wasm", and one cached set for "auto"', async () => {
  assert.equal(await loadKernels('js'), jsKernels);
  const wasm = await loadKernels('wasm');
  assert.equal(wasm.name, 'wasm');
  assert.match(wasm.detail, /^wasm \(simd128/);
  assert.equal(await loadKernels('wasm'), wasm);
  const auto = await loadKernels('auto');
  assert.equal(await loadKernels('auto'), auto);
  assert.ok(auto.name === 'blas' || auto.name === 'wasm', 'auto picks blas or wasm where WebAssembly SIMD is available');
  assert.equal(await loadKernels('auto', { preferBlas: false }), wasm, 'without BLAS, auto is the wasm set itself');
});

test('loadKernels rejects an unknown name with ConfigError dptrain.config.badKernels', async () => {
  await assert.rejects(loadKernels('gpu' as 'js'), (error: unknown) => {
    assert.ok(error instanceof ConfigError && error instanceof DptrainError);
    assert.equal(error.code, 'dptrain.config.badKernels');
    assert.equal(error.message, 'kernels must be one of js, wasm, blas, auto (got "gpu")');
    return true;
  });
});

test('loadKernels("wasm") works inside a worker thread, and a second call there is cheap', async () => {
  const url = new URL('../src/kernels/index.js', import.meta.url).href;
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(url)}).then(async ({ loadKernels }) => {
      const t0 = performance.now();
      const k = await loadKernels('wasm');
      const t1 = performance.now();
      const again = await loadKernels('wasm');
      const t2 = performance.now();
      const y = new Float32Array(4);
      k.matmulXWt(Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 0, 0, 1), y, 2, 2, 2);
      parentPort.postMessage({ name: k.name, same: again === k, first: t1 - t0, second: t2 - t1, y: Array.from(y) });
    });`;
  const worker = new Worker(code, { eval: true });
  const result = await new Promise<{ name: string; same: boolean; first: number; second: number; y: number[] }>(
    (resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    },
  );
  await worker.terminate();
  assert.equal(result.name, 'wasm');
  assert.ok(result.same);
  assert.deepEqual(result.y, [1, 2, 3, 4]);
  assert.ok(result.second < 5, `the second loadKernels took ${result.second} ms`);
});
