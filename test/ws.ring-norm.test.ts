// The coordinator's norm of a ring step's reduced gradient, measured part by part as the parts
// arrive (src/engine/ws/ring-norm.ts): the same bits whether the parts are whole buckets or ring
// segments and in whatever order they come, and the norm of the whole gradient.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileCollective, createSharedMemory, reduceSlotsRange, WasmCollective, WASM_PAGE, type Range } from '../src/collective/index.js';
import { RingNorm } from '../src/engine/ws/ring-norm.js';
import { bucketSegments } from '../src/engine/ws/step-buckets.js';
import { Rng } from '../src/util/rng.js';

/** Buckets in backward order, as planBuckets gives them: the last tensors first. */
const P = 10_007;
const buckets: Range[] = [
  { start: 6_000, end: P },
  { start: 2_500, end: 6_000 },
  { start: 0, end: 2_500 },
];

function gradient(): Float32Array {
  const rng = new Rng(3, 'ring-norm');
  const g = new Float32Array(P);
  for (let i = 0; i < P; i++) g[i] = rng.normal() * 2 ** Math.round((rng.next() * 2 - 1) * 10);
  return g;
}

const jsNorm = (g: Float32Array) => (start: number, end: number) => reduceSlotsRange(g, 1, P, g, start, end).sumSq;

function shuffled<T>(items: T[], seed: number): T[] {
  const rng = new Rng(seed, 'ring-norm-order');
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

for (const members of [2, 3]) {
  test(`${members} ring members: whole buckets or segments, in any order, give the same bits, the whole gradient's norm`, () => {
    const g = gradient();
    const fromBuckets = new RingNorm(buckets, members, jsNorm(g));
    for (const b of buckets) fromBuckets.add(b.start, b.end);
    const segments = bucketSegments(buckets, members).flat();
    const totals = [fromBuckets.total()];
    for (const seed of [1, 2, 3]) {
      const fromSegments = new RingNorm(buckets, members, jsNorm(g));
      for (const s of shuffled(segments, seed)) fromSegments.add(s.start, s.end);
      totals.push(fromSegments.total());
    }
    assert.equal(new Set(totals).size, 1, `one value: ${totals.join(', ')}`);
    let exact = 0;
    for (const v of g) exact += v * v;
    assert.ok(Math.abs(totals[0] - exact) / exact < 1e-6, `${totals[0]} vs ${exact}`);
  });
}

test('parts not measured when the step ends are measured then: the same total', () => {
  const g = gradient();
  const all = new RingNorm(buckets, 2, jsNorm(g));
  for (const b of buckets) all.add(b.start, b.end);
  const some = new RingNorm(buckets, 2, jsNorm(g));
  some.add(buckets[1].start, buckets[1].end);
  assert.equal(some.total(), all.total());
});

test('the wasm norm kernel gives the JS reference bits', async () => {
  const memory = createSharedMemory(Math.ceil((P * 4 + 4096) / WASM_PAGE) + 1);
  const wasm = new WasmCollective(await compileCollective(), memory);
  const g = new Float32Array(memory.buffer, 4096, P);
  g.set(gradient());
  const viaWasm = new RingNorm(buckets, 3, (start, end) => wasm.normSq(g, start, end));
  const viaJs = new RingNorm(buckets, 3, jsNorm(g));
  for (const b of buckets) {
    viaWasm.add(b.start, b.end);
    viaJs.add(b.start, b.end);
  }
  assert.equal(viaWasm.total(), viaJs.total());
});
