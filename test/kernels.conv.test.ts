import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmKernels, jsKernels, type Window2d } from '../src/kernels/index.js';
import { Rng } from '../src/util/rng.js';

const GEOMETRIES: Window2d[] = [
  { n: 2, h: 7, w: 5, c: 3, k: 3, stride: 2, pad: 1, ho: 4, wo: 3 },
  { n: 1, h: 9, w: 6, c: 1, k: 5, stride: 1, pad: 2, ho: 9, wo: 6 },
  { n: 3, h: 6, w: 7, c: 5, k: 3, stride: 1, pad: 0, ho: 4, wo: 5 },
  { n: 2, h: 14, w: 14, c: 32, k: 3, stride: 1, pad: 1, ho: 14, wo: 14 },
  // C = 1 with k <= 4: the padded-frame path of the wasm im2col.
  { n: 3, h: 28, w: 28, c: 1, k: 3, stride: 1, pad: 1, ho: 28, wo: 28 },
  { n: 2, h: 9, w: 7, c: 1, k: 3, stride: 2, pad: 1, ho: 5, wo: 4 },
  { n: 2, h: 5, w: 6, c: 1, k: 2, stride: 1, pad: 0, ho: 4, wo: 5 },
  { n: 1, h: 8, w: 8, c: 1, k: 4, stride: 2, pad: 2, ho: 5, wo: 5 },
];

for (const g of GEOMETRIES) {
  test(`wasm im2col and col2im equal the js reference bit for bit (${g.h}x${g.w}x${g.c}, k${g.k} s${g.stride} p${g.pad})`, async () => {
    const wasm = await createWasmKernels('simd');
    const rng = new Rng(1, 'conv');
    const x = Float32Array.from({ length: g.n * g.h * g.w * g.c }, () => rng.normal());
    const colsLength = g.n * g.ho * g.wo * g.k * g.k * g.c;
    const jsCols = new Float32Array(colsLength).fill(9);
    const wasmCols = new Float32Array(colsLength).fill(7); // stale values must be overwritten
    jsKernels.im2colHwc(x, jsCols, g);
    wasm.im2colHwc(x, wasmCols, g);
    assert.deepEqual(wasmCols, jsCols);
    const dcols = Float32Array.from({ length: colsLength }, () => rng.normal());
    const jsDx = new Float32Array(x.length).fill(3);
    const wasmDx = new Float32Array(x.length).fill(5);
    jsKernels.col2imHwc(dcols, jsDx, g);
    wasm.col2imHwc(dcols, wasmDx, g);
    assert.deepEqual(wasmDx, jsDx);
    // col2im is im2col's adjoint: <im2col(x), d> = <x, col2im(d)>.
    let left = 0;
    let right = 0;
    for (let i = 0; i < colsLength; i++) left += jsCols[i] * dcols[i];
    for (let i = 0; i < x.length; i++) right += x[i] * jsDx[i];
    assert.ok(Math.abs(left - right) < 1e-3 * Math.max(1, Math.abs(left)), `${left} vs ${right}`);
  });
}

test('wasm im2col writes nothing past the columns, on the C = 1 path either', async () => {
  const wasm = await createWasmKernels('simd');
  for (const g of GEOMETRIES) {
    const rng = new Rng(5, 'conv-edge');
    const x = Float32Array.from({ length: g.n * g.h * g.w * g.c }, () => rng.normal());
    const colsLength = g.n * g.ho * g.wo * g.k * g.k * g.c;
    const buf = wasm.allocate(colsLength + 8);
    buf.array.fill(42);
    wasm.im2colHwc(x, buf.array.subarray(0, colsLength), g);
    assert.deepEqual(Array.from(buf.array.subarray(colsLength)), new Array(8).fill(42), `${g.h}x${g.w}x${g.c} k${g.k}`);
    buf.free();
  }
});

test('wasm max pooling equals the js reference, values and argmax, including ties and NaN', async () => {
  const wasm = await createWasmKernels('simd');
  // The last two: the unrolled 2 x 2 path, with H and W that 2 does not divide in the second.
  for (const g of [...GEOMETRIES, { n: 2, h: 6, w: 6, c: 8, k: 2, stride: 2, pad: 0, ho: 3, wo: 3 }, { n: 2, h: 7, w: 5, c: 4, k: 2, stride: 2, pad: 0, ho: 3, wo: 2 }]) {
    const rng = new Rng(2, 'pool');
    const count = g.n * g.h * g.w * g.c;
    const x = wasm.allocate(count);
    // Coarse values make ties common; one NaN must win its window.
    x.array.set(Float32Array.from({ length: count }, () => Math.round(rng.normal() * 2)));
    x.array[5] = NaN;
    const outCount = g.n * g.ho * g.wo * g.c;
    const jsY = new Float32Array(outCount);
    const jsArg = new Int32Array(outCount);
    jsKernels.maxPoolHwcForward(x.array, jsY, jsArg, g);
    const y = wasm.allocate(outCount);
    const argBuf = wasm.allocate(outCount);
    const arg = new Int32Array(argBuf.array.buffer, argBuf.array.byteOffset, outCount);
    wasm.maxPoolHwcForward(x.array, y.array, arg, g);
    assert.deepEqual(Array.from(new Int32Array(argBuf.array.buffer, argBuf.array.byteOffset, outCount)), Array.from(jsArg), `argmax ${g.h}x${g.w}x${g.c}`);
    assert.deepEqual(Array.from(y.array), Array.from(jsY));
    for (const b of [x, y, argBuf]) b.free();
  }
});

test("max pooling with a conv's bias and ReLU equals pooling the conv's ReLU output, in js and wasm, values and argmax", async () => {
  const wasm = await createWasmKernels('simd');
  for (const g of [...GEOMETRIES, { n: 2, h: 6, w: 6, c: 8, k: 2, stride: 2, pad: 0, ho: 3, wo: 3 }]) {
    const rng = new Rng(6, 'pool-epilogue');
    const count = g.n * g.h * g.w * g.c;
    const outCount = g.n * g.ho * g.wo * g.c;
    // Integer x makes ties common; the non-integer bias never makes a sum exactly 0.
    const raw = Float32Array.from({ length: count }, () => Math.round(rng.normal() * 2));
    const bias = Float32Array.from({ length: g.c }, () => 0.3 * rng.normal() + 0.05);
    const relued = Float32Array.from(raw);
    jsKernels.addBias(relued, bias, count / g.c, g.c);
    jsKernels.reluForward(relued, count);
    const wantY = new Float32Array(outCount);
    const wantArg = new Int32Array(outCount);
    jsKernels.maxPoolHwcForward(relued, wantY, wantArg, g);
    const jsY = new Float32Array(outCount);
    const jsArg = new Int32Array(outCount);
    jsKernels.maxPoolHwcForward(raw, jsY, jsArg, g, bias, true);
    assert.deepEqual(jsY, wantY, `js values ${g.h}x${g.w}x${g.c}`);
    const x = wasm.allocate(count);
    x.array.set(raw);
    const y = wasm.allocate(outCount);
    const argBuf = wasm.allocate(outCount);
    wasm.maxPoolHwcForward(x.array, y.array, new Int32Array(argBuf.array.buffer, argBuf.array.byteOffset, outCount), g, bias, true);
    assert.deepEqual(Float32Array.from(y.array), wantY, `wasm values ${g.h}x${g.w}x${g.c}`);
    // Where every value of a window is <= 0 after the ReLU, the argmax carries no gradient.
    const live = (arg: Int32Array) => Array.from(arg).map((a, j) => (wantY[j] > 0 ? a : -1));
    assert.deepEqual(live(jsArg), live(wantArg), `js argmax ${g.h}x${g.w}x${g.c}`);
    assert.deepEqual(live(new Int32Array(argBuf.array.buffer, argBuf.array.byteOffset, outCount)), live(wantArg), `wasm argmax ${g.h}x${g.w}x${g.c}`);
    for (const b of [x, y, argBuf]) b.free();
  }
});

test('wasm max pooling backward equals the js reference bit for bit, with and without the ReLU mask', async () => {
  const wasm = await createWasmKernels('simd');
  // The tiled path (stride = k, no padding, C % 4 = 0, including H and W that k does not divide)
  // and the general scatter (overlapping windows, padding, C = 1 or 5).
  const shapes: Window2d[] = [
    ...GEOMETRIES,
    { n: 2, h: 6, w: 6, c: 8, k: 2, stride: 2, pad: 0, ho: 3, wo: 3 },
    { n: 2, h: 7, w: 5, c: 4, k: 2, stride: 2, pad: 0, ho: 3, wo: 2 },
    { n: 3, h: 9, w: 9, c: 12, k: 3, stride: 3, pad: 0, ho: 3, wo: 3 },
    { n: 1, h: 5, w: 5, c: 5, k: 2, stride: 2, pad: 0, ho: 2, wo: 2 },
  ];
  for (const g of shapes) {
    const rng = new Rng(3, 'pool-backward');
    const count = g.n * g.h * g.w * g.c;
    const outCount = g.n * g.ho * g.wo * g.c;
    const x = wasm.allocate(count);
    x.array.set(Float32Array.from({ length: count }, () => Math.round(rng.normal() * 2)));
    const y = wasm.allocate(outCount);
    const argBuf = wasm.allocate(outCount);
    const arg = new Int32Array(argBuf.array.buffer, argBuf.array.byteOffset, outCount);
    wasm.maxPoolHwcForward(x.array, y.array, arg, g);
    const jsArg = Int32Array.from(arg);
    // dy with a -0 (the reference's 0 + dy makes it +0) and a NaN mask entry (never > 0).
    const dy = Float32Array.from({ length: outCount }, () => rng.normal());
    dy[1] = -0;
    const mask = Float32Array.from({ length: count }, () => Math.round(rng.normal()));
    mask[arg[2]] = NaN;
    for (const m of [null, mask]) {
      const want = new Float32Array(count).fill(3);
      jsKernels.maxPoolHwcBackward(dy, jsArg, want, g, m);
      const dx = wasm.allocate(count);
      dx.array.fill(7); // stale values must be overwritten
      wasm.maxPoolHwcBackward(dy, new Int32Array(argBuf.array.buffer, argBuf.array.byteOffset, outCount), dx.array, g, m);
      const got = Float32Array.from(dx.array);
      assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer), `${g.h}x${g.w}x${g.c} k${g.k} s${g.stride} p${g.pad} mask ${m !== null}`);
      dx.free();
    }
    for (const b of [x, y, argBuf]) b.free();
  }
});

test('wasm flatten transposes (HWC <-> CHW) equal the js reference', async () => {
  const wasm = await createWasmKernels('simd');
  for (const [n, hw, c] of [[1, 1, 1], [2, 49, 64], [3, 5, 7]]) {
    const rng = new Rng(4, 'transpose');
    const x = Float32Array.from({ length: n * hw * c }, () => rng.normal());
    const want = new Float32Array(x.length);
    const got = new Float32Array(x.length).fill(9);
    jsKernels.hwcToChw(x, want, n, hw, c);
    wasm.hwcToChw(x, got, n, hw, c);
    assert.deepEqual(got, want);
    const back = new Float32Array(x.length);
    wasm.chwToHwc(got, back, n, hw, c);
    assert.deepEqual(back, x);
  }
});

test("a first conv's gradient from its pool's (pooledConvGradAcc) equals scatter + dyᵀ·cols, in js and wasm", async () => {
  const wasm = await createWasmKernels('simd');
  // W4's first conv (depth 9), a depth that is a multiple of 4, F a power of two (a shift) or
  // not (a multiply); 2 x 2 and overlapping 3 x 3 pools.
  for (const [depth, g] of [
    [9, { n: 2, h: 6, w: 6, c: 8, k: 2, stride: 2, pad: 0, ho: 3, wo: 3 }],
    [12, { n: 2, h: 7, w: 5, c: 4, k: 3, stride: 2, pad: 1, ho: 4, wo: 3 }],
    [7, { n: 3, h: 5, w: 5, c: 6, k: 2, stride: 2, pad: 0, ho: 2, wo: 2 }], // F not a power of two
    [5, { n: 1, h: 9, w: 7, c: 13, k: 2, stride: 2, pad: 0, ho: 4, wo: 3 }],
  ] as [number, Window2d][]) {
    const rng = new Rng(depth, 'pooled-grad');
    const rows = g.n * g.h * g.w; // rows of the conv's output = its pixels
    const filters = g.c;
    const count = g.n * g.ho * g.wo * g.c;
    const convOut = wasm.allocate(rows * filters);
    convOut.array.set(Float32Array.from({ length: rows * filters }, () => rng.normal()));
    const pooled = wasm.allocate(count);
    const argBuf = wasm.allocate(count);
    const argmax = () => new Int32Array(argBuf.array.buffer, argBuf.array.byteOffset, count);
    wasm.maxPoolHwcForward(convOut.array, pooled.array, argmax(), g);
    const dy = Float32Array.from({ length: count }, () => rng.normal());
    const cols = Float32Array.from({ length: rows * depth }, () => rng.normal());
    // Reference: the conv's output gradient scattered, then dW = dyᵀ·cols and db = column sums.
    const dyConv = new Float64Array(rows * filters);
    const arg = Int32Array.from(argmax());
    for (let j = 0; j < count; j++) dyConv[arg[j]] += dy[j];
    const wantW = new Float64Array(filters * depth);
    const wantB = new Float64Array(filters);
    for (let r = 0; r < rows; r++) {
      for (let f = 0; f < filters; f++) {
        wantB[f] += dyConv[r * filters + f];
        for (let d = 0; d < depth; d++) wantW[f * depth + d] += dyConv[r * filters + f] * cols[r * depth + d];
      }
    }
    const jsW = new Float32Array(filters * depth).fill(0.5);
    const jsB = new Float32Array(filters).fill(0.25);
    jsKernels.pooledConvGradAcc(dy, arg, cols, jsW, jsB, count, filters, depth, rows);
    for (let i = 0; i < jsW.length; i++) assert.ok(Math.abs(jsW[i] - 0.5 - wantW[i]) < 1e-5, `dW ${i}: ${jsW[i] - 0.5} vs ${wantW[i]}`);
    for (let f = 0; f < filters; f++) assert.ok(Math.abs(jsB[f] - 0.25 - wantB[f]) < 1e-5, `db ${f}`);
    const wasmW = new Float32Array(filters * depth).fill(0.5);
    const wasmB = new Float32Array(filters).fill(0.25);
    wasm.pooledConvGradAcc(dy, argmax(), cols, wasmW, wasmB, count, filters, depth, rows);
    // js multiplies in float64 (exact for two floats), wasm in float32: the last bits may differ.
    for (let i = 0; i < jsW.length; i++) assert.ok(Math.abs(wasmW[i] - jsW[i]) < 1e-5, `wasm dW ${i}: ${wasmW[i]} vs ${jsW[i]}`);
    assert.deepEqual(wasmB, jsB); // sums only: the same bits
    // An argmax outside the conv's output (a corrupt buffer) is refused, not read through.
    argmax()[count - 1] = rows * filters + filters - 1;
    assert.throws(() => wasm.pooledConvGradAcc(dy, argmax(), cols, wasmW, null, count, filters, depth, rows), RangeError);
    assert.throws(() => jsKernels.pooledConvGradAcc(dy, Int32Array.from(argmax()), cols, jsW, null, count, filters, depth, rows), RangeError);
    for (const b of [convOut, pooled, argBuf]) b.free();
  }
});

test('wasm reluBackward equals the js one bit for bit (NaN in y keeps dy, odd lengths, arrays from elsewhere)', async () => {
  const wasm = await createWasmKernels('simd');
  for (const n of [1, 3, 4, 17, 1001]) {
    const rng = new Rng(n, 'relu-backward');
    const y = Float32Array.from({ length: n }, () => Math.round(rng.normal()));
    y[0] = NaN;
    const dy = Float32Array.from({ length: n + 2 }, () => rng.normal());
    const want = Float32Array.from(dy);
    jsKernels.reluBackward(want, y, n);
    const got = Float32Array.from(dy);
    wasm.reluBackward(got, y, n);
    assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer), `n = ${n}`);
  }
});

test('max pooling sends the gradient to the first maximum of a window, as PyTorch does on ties', () => {
  const g: Window2d = { n: 1, h: 2, w: 2, c: 1, k: 2, stride: 2, pad: 0, ho: 1, wo: 1 };
  const x = Float32Array.of(1, 3, 3, 2);
  const y = new Float32Array(1);
  const argmax = new Int32Array(1);
  jsKernels.maxPoolHwcForward(x, y, argmax, g);
  assert.equal(y[0], 3);
  const dx = new Float32Array(4);
  jsKernels.maxPoolHwcBackward(Float32Array.of(5), argmax, dx, g);
  assert.deepEqual(Array.from(dx), [0, 5, 0, 0]);
});

test('average pooling counts padding as zeros (count_include_pad = True)', () => {
  const g: Window2d = { n: 1, h: 2, w: 2, c: 1, k: 2, stride: 2, pad: 1, ho: 2, wo: 2 };
  const y = new Float32Array(4);
  jsKernels.avgPoolHwcForward(Float32Array.of(4, 8, 12, 16), y, g);
  assert.deepEqual(Array.from(y), [1, 2, 3, 4]);
});
