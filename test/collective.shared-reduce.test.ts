// The shared-memory reduce-scatter, checked by invariants for W in {1, 2, 3, 5} (style.md §8).
//
// The contract (src/collective/shared-reduce.ts): element j of the sum is the float32 sum in slot
// order, ((s0 + s1) + s2) + ... — no longer a float64 sum rounded once. For two slots the two are
// the same; for three or more the float32 order lets the wasm kernel keep partial sums in the
// output and stream the slots in groups (about 3x faster than a float64 accumulator), and the
// JS reference follows it so that both paths give the same bits. The squared norms are within
// 1e-6 (relative) of the exact ones: float32 squares summed in float32 for at most 8 per lane and
// chunk, then in float64 (docs/architecture.md, "The threads engine").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionRanges, reduceSlotsRange, RANGE_ALIGN } from '../src/collective/index.js';
import { Rng } from '../src/util/rng.js';

const WORLD_SIZES = [1, 2, 3, 5];

function randomSlots(workers: number, length: number, seed: number): Float32Array {
  const rng = new Rng(seed, 'slots');
  return Float32Array.from({ length: workers * length }, () => rng.normal());
}

test('ranges tile the vector, are aligned to cache lines and differ in size by at most one line', () => {
  for (const length of [0, 1, 15, 16, 17, 1000, 235_146]) {
    for (const parts of [1, 2, 3, 5, 8]) {
      const ranges = partitionRanges(length, parts);
      assert.equal(ranges.length, parts);
      assert.equal(ranges[0].start, 0);
      assert.equal(ranges.at(-1)!.end, length);
      for (let i = 1; i < parts; i++) assert.equal(ranges[i].start, ranges[i - 1].end);
      for (const r of ranges.slice(0, -1)) assert.equal(r.end % RANGE_ALIGN === 0 || r.end === length, true);
      const sizes = ranges.map((r) => r.end - r.start);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= RANGE_ALIGN, `${length}/${parts}: ${sizes}`);
    }
  }
});

for (const workers of WORLD_SIZES) {
  test(`with ${workers} worker(s), reducing every range gives the element-wise sum in worker order`, () => {
    const length = 1003;
    const slots = randomSlots(workers, length, workers);
    const out = new Float32Array(length);
    let sumSq = 0;
    const slotSumSq = new Float64Array(workers);
    for (const r of partitionRanges(length, workers)) {
      const part = reduceSlotsRange(slots, workers, length, out, r.start, r.end);
      sumSq += part.sumSq;
      part.slotSumSq.forEach((v, i) => (slotSumSq[i] += v));
    }
    for (let j = 0; j < length; j++) {
      let expected = slots[j];
      for (let w = 1; w < workers; w++) expected = Math.fround(expected + slots[w * length + j]);
      assert.equal(out[j], expected, `element ${j}`);
    }
    const norm = (v: ArrayLike<number>) => Array.from(v).reduce((s, x) => s + x * x, 0);
    assert.ok(Math.abs(sumSq - norm(out)) <= 1e-6 * norm(out));
    for (let w = 0; w < workers; w++) {
      const expected = norm(slots.subarray(w * length, (w + 1) * length));
      assert.ok(Math.abs(slotSumSq[w] - expected) <= 1e-6 * expected, `slot ${w}`);
    }
  });

  test(`with ${workers} worker(s), equal slots reduce to the slot times the world size`, () => {
    const length = 257;
    const one = randomSlots(1, length, 99);
    const slots = new Float32Array(workers * length);
    for (let w = 0; w < workers; w++) slots.set(one, w * length);
    const out = new Float32Array(length);
    reduceSlotsRange(slots, workers, length, out, 0, length);
    for (let j = 0; j < length; j++) {
      let expected = one[j];
      for (let w = 1; w < workers; w++) expected = Math.fround(expected + one[j]);
      assert.equal(out[j], expected);
      // Up to 3 slots that is the multiple rounded once (x + x is exact); beyond, it may differ in the last bit.
      if (workers <= 3) assert.equal(out[j], Math.fround(one[j] * workers));
    }
  });
}

test('a range reduce touches only its own range', () => {
  const slots = randomSlots(3, 100, 5);
  const out = new Float32Array(100).fill(-7);
  reduceSlotsRange(slots, 3, 100, out, 32, 64);
  assert.ok(out.subarray(0, 32).every((v) => v === -7));
  assert.ok(out.subarray(64).every((v) => v === -7));
  assert.ok(out.subarray(32, 64).every((v) => v !== -7));
});
