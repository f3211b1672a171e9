// The wasm collective kernels (asm/collective.ts) against the JS references, bit for bit: the
// reduce-scatter against reduceSlotsRange. (The module's SGD update kernels: optim.versioned.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compileCollective,
  createSharedMemory,
  partitionRanges,
  reduceScratchBytes,
  reduceSlotsRange,
  WasmCollective,
  WASM_PAGE,
  type WasmModule,
} from '../src/collective/index.js';
import { normSq64 } from '../src/collective/shared-reduce.js';
import { Rng } from '../src/util/rng.js';

const WORLD_SIZES = [1, 2, 3, 5];
const module: WasmModule = await compileCollective();

/** A shared memory with `arrays` float32 arrays of the given lengths (64-byte aligned, from 4 KiB) and a scratch region. */
function memoryWith(lengths: number[], scratchSlots = 8) {
  const scratch = { offset: 4096, bytes: reduceScratchBytes(scratchSlots) };
  let at = 4096 + Math.ceil(scratch.bytes / 64) * 64;
  const offsets = lengths.map((n) => {
    const o = at;
    at += Math.ceil((n * 4) / 64) * 64 + 64;
    return o;
  });
  const memory = createSharedMemory(Math.ceil(at / WASM_PAGE));
  const arrays = lengths.map((n, i) => new Float32Array(memory.buffer, offsets[i], n));
  return { memory, arrays, scratch, wasm: new WasmCollective(module, memory) };
}

/** Normal values times 2^k for k in [-spread, spread]: a mix of magnitudes, as gradients have. */
function fill(a: Float32Array, seed: number, spread = 12): void {
  const rng = new Rng(seed, 'collective-wasm');
  for (let i = 0; i < a.length; i++) a[i] = rng.normal() * 2 ** Math.round((rng.next() * 2 - 1) * spread);
}

const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('normSq (the inline engine\'s gradient norm) gives the bits of the reduce\'s norm of one slot, on every range, four chunks at a time or one', () => {
  for (const length of [101_770, 4096 + 7, 1003, 127, 45]) {
    const { arrays, scratch, wasm } = memoryWith([length, length]);
    const [slot, out] = arrays;
    fill(slot, length);
    for (const r of [{ start: 0, end: length }, { start: 3, end: length - 2 }, { start: Math.min(64, length), end: Math.min(length, 64 + 4 * 32 + 5) }, { start: 17, end: 18 }, { start: 9, end: 9 }]) {
      const reduced = wasm.reduceRange(slot, 1, length, out, r.start, r.end, scratch).sumSq;
      assert.equal(wasm.normSq(slot, r.start, r.end), reduced, `${length}, range [${r.start}, ${r.end})`);
      assert.equal(reduced, reduceSlotsRange(slot, 1, length, new Float32Array(length), r.start, r.end).sumSq);
    }
  }
});

for (const workers of WORLD_SIZES) {
  test(`with ${workers} slot(s), the wasm reduce gives the JS reference's bits: sums and norms, every range`, () => {
    for (const length of [1003, 4096 + 7, 45]) {
      const { arrays, scratch, wasm } = memoryWith([workers * length, length]);
      const [slots, out] = arrays;
      fill(slots, workers * 1000 + length);
      const ref = new Float32Array(length);
      for (const r of [...partitionRanges(length, workers), { start: 0, end: length }, { start: 3, end: length - 2 }, { start: 17, end: 18 }, { start: 9, end: 9 }]) {
        out.fill(-7);
        ref.fill(-7);
        const a = wasm.reduceRange(slots, workers, length, out, r.start, r.end, scratch);
        const b = reduceSlotsRange(slots, workers, length, ref, r.start, r.end);
        assert.deepEqual(bits(out), bits(ref), `${length}, range [${r.start}, ${r.end})`);
        assert.equal(a.sumSq, b.sumSq, `sumSq, ${length}, range [${r.start}, ${r.end})`);
        assert.deepEqual(bits(a.slotSumSq), bits(b.slotSumSq), `slotSumSq, ${length}, range [${r.start}, ${r.end})`);
      }
    }
  });
}

test('the wasm reduce streams 4, 6 and 9 slots in groups and still gives the same bits', () => {
  for (const n of [4, 6, 9]) {
    const length = 777;
    const { arrays, wasm } = memoryWith([n * length, length], 9);
    const scratch = { offset: 4096, bytes: reduceScratchBytes(9) };
    const [slots, out] = arrays;
    fill(slots, n);
    const ref = new Float32Array(length);
    const a = wasm.reduceRange(slots, n, length, out, 0, length, scratch);
    const b = reduceSlotsRange(slots, n, length, ref, 0, length);
    assert.deepEqual(bits(out), bits(ref), `${n} slots`);
    assert.equal(a.sumSq, b.sumSq);
    assert.deepEqual(bits(a.slotSumSq), bits(b.slotSumSq));
  }
});

test('norms are within 1e-6 of exact float64 sums of squares, on both paths', () => {
  const length = 200_000;
  const { arrays, scratch, wasm } = memoryWith([2 * length, length]);
  const [slots, out] = arrays;
  fill(slots, 5, 20);
  const { sumSq, slotSumSq } = wasm.reduceRange(slots, 2, length, out, 0, length, scratch);
  const exact = (a: Float32Array) => a.reduce((s, x) => s + x * x, 0);
  const rel = (x: number, y: number) => Math.abs(x - y) / y;
  assert.ok(rel(sumSq, exact(out)) < 1e-6, `sum: ${rel(sumSq, exact(out))}`);
  for (let s = 0; s < 2; s++) assert.ok(rel(slotSumSq[s], exact(slots.subarray(s * length, (s + 1) * length))) < 1e-6, `slot ${s}`);
});

test('norms outside float32 squares are recomputed in float64: huge, tiny, zero, infinite, NaN', () => {
  const length = 101;
  const cases: [string, (a: Float32Array) => void, (norm: number) => boolean][] = [
    ['huge (squares overflow float32)', (a) => a.fill(3e30), (x) => Number.isFinite(x) && Math.abs(x / (101 * Math.fround(3e30) ** 2) - 1) < 1e-12],
    ['tiny (squares underflow float32)', (a) => a.fill(1e-30), (x) => Math.abs(x / (101 * Math.fround(1e-30) ** 2) - 1) < 1e-12],
    ['zero', (a) => a.fill(0), (x) => x === 0],
    ['infinite', (a) => a.fill(1).fill(Infinity, 50, 51), (x) => x === Infinity],
    ['NaN', (a) => a.fill(1).fill(Number.NaN, 7, 8), (x) => Number.isNaN(x)],
  ];
  for (const [what, set, ok] of cases) {
    const { arrays, scratch, wasm } = memoryWith([length, length]);
    const [slot, out] = arrays;
    set(slot);
    const a = wasm.reduceRange(slot, 1, length, out, 0, length, scratch);
    const b = reduceSlotsRange(slot, 1, length, new Float32Array(length), 0, length);
    assert.ok(ok(a.sumSq), `${what}: wasm ${a.sumSq}`);
    assert.ok(Object.is(a.sumSq, b.sumSq) && Object.is(a.slotSumSq[0], b.slotSumSq[0]), `${what}: wasm ${a.sumSq} vs js ${b.sumSq}`);
    if (Number.isFinite(a.sumSq)) assert.equal(a.sumSq, normSq64(slot, 0, length), what);
  }
});

test('the wasm reduce rejects ranges, short arrays, small scratch and arrays outside its memory', () => {
  const { arrays, scratch, wasm } = memoryWith([3 * 64, 64]);
  const [slots, out] = arrays;
  assert.throws(() => wasm.reduceRange(slots, 3, 64, out, 10, 65, scratch), RangeError);
  assert.throws(() => wasm.reduceRange(slots, 4, 64, out, 0, 64, scratch), RangeError);
  assert.throws(() => wasm.reduceRange(slots, 3, 64, out, 0, 64, { offset: scratch.offset, bytes: 8 }), RangeError);
  assert.throws(() => wasm.reduceRange(new Float32Array(3 * 64), 3, 64, out, 0, 64, scratch), /not a view/);
});

// ---- The out-of-place SGD update ----
