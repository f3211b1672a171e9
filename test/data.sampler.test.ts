import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DataError } from '../src/errors.js';
import { batchRange, epochPermutation, resolveBatchSize, shardRanges, stepsPerEpoch } from '../src/data/index.js';

describe('sampler (Keras fit semantics, N = 1050)', () => {
  const n = 1050;

  test('B = 100 gives 11 steps per epoch, the last over 50 samples', () => {
    assert.equal(stepsPerEpoch(n, 100, false), 11);
    assert.deepEqual(batchRange(10, n, 100), { start: 1000, end: 1050 });
    assert.deepEqual(batchRange(0, n, 100), { start: 0, end: 100 });
  });

  test('dropLast drops the partial batch, leaving 10 steps', () => {
    assert.equal(stepsPerEpoch(n, 100, true), 10);
  });

  test('"full" is one step over all 1050 samples', () => {
    const b = resolveBatchSize('full', n);
    assert.equal(b, 1050);
    assert.equal(stepsPerEpoch(n, b, false), 1);
    assert.deepEqual(batchRange(0, n, b), { start: 0, end: 1050 });
  });

  test('B = 1 is SGD with 1050 steps', () => {
    assert.equal(resolveBatchSize(1, n), 1);
    assert.equal(stepsPerEpoch(n, 1, false), 1050);
    assert.equal(stepsPerEpoch(n, 1, true), 1050);
  });

  test("every epoch's batches cover the permutation exactly once", () => {
    for (const b of [1, 7, 100, 1050]) {
      for (const epoch of [0, 1]) {
        const perm = epochPermutation(n, 42, epoch);
        const seen = new Uint8Array(n);
        let covered = 0;
        for (let step = 0; step < stepsPerEpoch(n, b, false); step++) {
          const { start, end } = batchRange(step, n, b);
          assert.equal(start, covered, 'batches are contiguous');
          for (let k = start; k < end; k++) seen[perm[k]]++;
          covered = end;
        }
        assert.equal(covered, n);
        assert.ok(seen.every((count) => count === 1), `B=${b}: every sample once`);
      }
    }
  });

  test('the same (seed, epoch) gives the same permutation, another epoch or seed a different one', () => {
    assert.deepEqual(epochPermutation(n, 7, 3), epochPermutation(n, 7, 3));
    assert.notDeepEqual(epochPermutation(n, 7, 3), epochPermutation(n, 7, 4));
    assert.notDeepEqual(epochPermutation(n, 7, 3), epochPermutation(n, 8, 3));
    const sorted = Array.from(epochPermutation(n, 7, 3)).sort((a, b) => a - b);
    assert.deepEqual(sorted, Array.from({ length: n }, (_, i) => i));
  });

  test('a step past the end of the epoch is an error', () => {
    assert.throws(() => batchRange(11, n, 100), { code: 'dptrain.data.badStep' });
  });

  test('shards tile the batch with sizes differing by at most 1, larger first, for 1..5 workers', () => {
    for (const [start, end] of [[0, 100], [1000, 1050], [3, 10], [0, 1], [5, 5]]) {
      for (let workers = 1; workers <= 5; workers++) {
        const shards = shardRanges(start, end, workers);
        assert.equal(shards.length, workers);
        assert.equal(shards[0].start, start);
        assert.equal(shards[workers - 1].end, end);
        for (let w = 1; w < workers; w++) assert.equal(shards[w].start, shards[w - 1].end);
        const sizes = shards.map((s) => s.end - s.start);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
        for (let w = 1; w < workers; w++) assert.ok(sizes[w] <= sizes[w - 1], 'larger shards first');
      }
    }
    assert.deepEqual(shardRanges(0, 2, 3), [{ start: 0, end: 1 }, { start: 1, end: 2 }, { start: 2, end: 2 }]);
  });

  for (const bad of [0, -3, 2.5]) {
    test(`a batch size of ${bad} is rejected, naming the option`, () => {
      assert.throws(
        () => resolveBatchSize(bad, n),
        (err: unknown) =>
          err instanceof DataError &&
          err.code === 'dptrain.data.badBatchSize' &&
          err.message === `--batch-size must be a positive integer or "full" (got ${bad})`,
      );
    });
  }

  test('a batch size above the sample count is rejected with the largest allowed value', () => {
    assert.throws(() => resolveBatchSize(2000, n), {
      name: 'DataError',
      code: 'dptrain.data.badBatchSize',
      message: '--batch-size 2000 is larger than the 1050 training samples — use at most 1050, or "full"',
    });
    assert.equal(resolveBatchSize(1050, n), 1050);
  });
});
