// Issue 13 item 10: property-based tests (fast-check) of the sampler, the sharding plan and the
// frame codec: invariants that must hold for every input, not only the examples in the unit tests.
// Seeded by DPTRAIN_FUZZ_SEED like the fuzz tests (printed; fast-check also prints a failing seed
// and path, replayable with that seed).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { batchRange, epochPermutation, resolveBatchSize, shardRanges, stepsPerEpoch, type Range } from '../src/data/index.js';
import { planSlots } from '../src/engine/plan.js';
import { Codec, TransportError } from '../src/transport/index.js';
import { FUZZ_SEED } from './fuzz.helpers.js';

const params = (numRuns: number): fc.Parameters<unknown> => ({ seed: FUZZ_SEED, numRuns });
console.log(`property seed ${FUZZ_SEED} (replay: DPTRAIN_FUZZ_SEED=${FUZZ_SEED})`);

/** `ranges` are contiguous, in order, and cover exactly [start, end). */
function assertTiles(ranges: readonly Range[], start: number, end: number): void {
  let at = start;
  for (const r of ranges) {
    assert.equal(r.start, at);
    assert.ok(r.end >= r.start);
    at = r.end;
  }
  assert.equal(at, end);
}

describe('the sampler (property-based)', () => {
  test('an epoch permutation is a permutation of 0..n-1, the same for the same (seed, epoch)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 1000 }), (n, seed, epoch) => {
        const p = epochPermutation(n, seed, epoch);
        assert.equal(p.length, n);
        const seen = new Uint8Array(n);
        for (const i of p) {
          assert.ok(i < n && seen[i] === 0);
          seen[i] = 1;
        }
        assert.deepEqual(epochPermutation(n, seed, epoch), p);
      }),
      params(300),
    );
  });

  test('the steps of an epoch tile [0, n) with batches of B (the last one short unless dropped)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), fc.boolean(), (n, b, dropLast) => {
        const batch = Math.min(b, n);
        assert.equal(resolveBatchSize(batch, n), batch);
        const steps = stepsPerEpoch(n, batch, dropLast);
        const ranges = Array.from({ length: steps }, (_, s) => batchRange(s, n, batch));
        for (const r of ranges.slice(0, -1)) assert.equal(r.end - r.start, batch);
        if (dropLast) {
          assert.equal(steps, Math.floor(n / batch));
          for (const r of ranges) assert.equal(r.end - r.start, batch);
        } else {
          assertTiles(ranges, 0, n);
        }
        assert.throws(() => batchRange(Math.ceil(n / batch), n, batch), { code: 'dptrain.data.badStep' });
      }),
      params(500),
    );
  });

  test('shards tile the batch, sizes differ by at most one, larger ones first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 300 }), (start, size, workers) => {
        const shards = shardRanges(start, start + size, workers);
        assert.equal(shards.length, workers);
        assertTiles(shards, start, start + size);
        const sizes = shards.map((r) => r.end - r.start);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
        for (let w = 1; w < sizes.length; w++) assert.ok(sizes[w] <= sizes[w - 1]);
      }),
      params(500),
    );
  });
});

describe('the sharding plan (property-based)', () => {
  test('slots tile the batch and do not depend on the worker count; owners tile the slots', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 64 }),
        (start, size, slotCount, workersA, workersB) => {
          const a = planSlots(start, start + size, slotCount, workersA);
          const b = planSlots(start, start + size, slotCount, workersB);
          assert.deepEqual(a.slots, b.slots, 'the rows of each slot are the same at every worker count');
          assertTiles(a.slots, start, start + size);
          assert.equal(a.owners.length, workersA);
          assertTiles(a.owners, 0, slotCount);
          // every row is computed by exactly one worker
          const rows = a.owners.flatMap((o) => a.slots.slice(o.start, o.end)).reduce((sum, r) => sum + r.end - r.start, 0);
          assert.equal(rows, size);
        },
      ),
      params(500),
    );
  });
});

describe('the frame codec (property-based; read-only use of src/transport)', () => {
  const codec = new Codec({ maxPayload: 1 << 20 });
  const key = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));
  const leaf = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)),
    fc.string({ maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
    fc.float32Array({ maxLength: 64, noNaN: true }).map((a) => Float32Array.from(a)),
    fc.float64Array({ maxLength: 16, noNaN: true }).map((a) => Float64Array.from(a)),
  );
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('value'), { maxLength: 5 }), fc.dictionary(key, tie('value'), { maxKeys: 5 })),
  }));
  const message = fc.record({ type: fc.constantFrom('grad', 'chunk', 'note'), step: fc.nat(), body: value });

  test('decode(encode(m)) equals m, typed arrays included', () => {
    fc.assert(
      fc.property(message, (m) => {
        // structuredClone: fast-check builds some objects without a prototype; the wire carries plain ones.
        assert.deepStrictEqual(codec.decode(codec.encode(m)), structuredClone(m));
      }),
      params(2000),
    );
  });

  test('any byte string decodes to a value or is refused as a counted badFrame, never another error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const before = codec.rejections.total;
        try {
          codec.decode(bytes);
        } catch (error) {
          assert.ok(error instanceof TransportError && error.problem === 'badFrame', String(error));
          assert.equal(codec.rejections.total, before + 1);
        }
      }),
      params(5000),
    );
  });

  test('a message larger than maxPayload is refused by encode with payloadTooLarge, never sent', () => {
    const small = new Codec({ maxPayload: 1024 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 600 }), (n) => {
        const m = { type: 'grad', step: 1, data: new Float32Array(n) };
        try {
          assert.ok(small.encode(m).length <= 1024);
        } catch (error) {
          assert.ok(error instanceof TransportError && error.problem === 'payloadTooLarge', String(error));
          assert.ok(n * 4 + 64 > 1024, 'refused only when the data is near the limit (at most 64 bytes of framing)');
        }
      }),
      params(300),
    );
  });
});
