// The ws engine's gradient buckets (src/engine/buckets.ts; docs/architecture.md, "Buckets and
// overlap"): a small first bucket so that the link starts early in backward, later buckets of
// --bucket-mb, cuts at row boundaries inside weights and where a layer starts; the plan as the
// coordinator's start-up line shows it, and --first-bucket-mb's bad values.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Range } from '../src/collective/index.js';
import { planBuckets } from '../src/engine/buckets.js';
import { paramLayout, parseModelSpec, type ParamLayout } from '../src/model/index.js';
import { Rng } from '../src/util/rng.js';
import { killAll, Proc, startCoordinator } from './ws.helpers.js';

after(killAll);

const MiB = 2 ** 20;
const mib = (buckets: Range[]) => buckets.map((b) => ((4 * (b.end - b.start)) / MiB).toFixed(2));
const layoutOf = (model: string): ParamLayout => paramLayout(parseModelSpec(model));

/** The buckets tile [0, P) from its end backwards. */
function assertTiles(buckets: Range[], P: number): void {
  assert.equal(buckets[0].end, P);
  assert.equal(buckets[buckets.length - 1].start, 0);
  for (let b = 1; b < buckets.length; b++) assert.equal(buckets[b].end, buckets[b - 1].start);
  for (const b of buckets) assert.ok(b.start < b.end, JSON.stringify(b));
}

test('W2 (784-1024-1024-10) at the defaults: a 1 MiB first bucket inside the second layer, its rest, then the first layer', () => {
  const layout = layoutOf('mlp:784-1024-1024-10');
  const buckets = planBuckets(layout.tensors, layout.size, 4 * MiB, 1 * MiB);
  assertTiles(buckets, layout.size);
  assert.deepEqual(mib(buckets), ['1.00', '3.04', '3.07']);
  const second = layout.tensors.find((t) => t.name.endsWith('1.weight'))!;
  assert.equal(buckets[1].start, second.offset, 'the second bucket ends where the second layer starts');
  assert.equal((buckets[0].start - second.offset) % second.shape[1], 0, 'the first cut falls on a row boundary');
  // A first bucket as large as the others gives the plan before --first-bucket-mb: the second
  // bucket (11 rows) is below half a bucket at the layer's start, so it runs on into layer 1.
  assert.deepEqual(mib(planBuckets(layout.tensors, layout.size, 4 * MiB, 4 * MiB)), ['4.00', '3.11']);
  assert.deepEqual(mib(planBuckets(layout.tensors, layout.size, MiB, MiB)), ['1.00', '1.00', '1.00', '1.00', '1.00', '1.00', '1.00', '0.10']);
});

test('one bucket: a model of at most --bucket-mb, or --bucket-mb 0; a first bucket above --bucket-mb is --bucket-mb', () => {
  for (const model of ['mlp:784-256-128-10', 'mlp:784-128-10']) {
    const layout = layoutOf(model);
    assert.deepEqual(planBuckets(layout.tensors, layout.size, 4 * MiB, MiB), [{ start: 0, end: layout.size }], model);
  }
  const w2 = layoutOf('mlp:784-1024-1024-10');
  assert.deepEqual(planBuckets(w2.tensors, w2.size, 0, MiB), [{ start: 0, end: w2.size }]);
  assert.deepEqual(planBuckets(w2.tensors, w2.size, 2 * MiB, 8 * MiB), planBuckets(w2.tensors, w2.size, 2 * MiB, 2 * MiB));
});

test('random layouts: the buckets tile the gradient; each but the last holds its size, or half of it where a layer starts', () => {
  const rng = new Rng(7, 'buckets');
  for (let trial = 0; trial < 200; trial++) {
    const widths = Array.from({ length: 2 + Math.floor(rng.next() * 4) }, () => 1 + Math.floor(rng.next() * 300));
    const layout = layoutOf(`mlp:${widths.join('-')}`);
    const bucketBytes = 4 * (1 + Math.floor(rng.next() * layout.size));
    const firstBytes = 4 * (1 + Math.floor(rng.next() * layout.size));
    const buckets = planBuckets(layout.tensors, layout.size, bucketBytes, firstBytes);
    assertTiles(buckets, layout.size);
    const layerStarts = new Set(layout.tensors.filter((t) => t.name.endsWith('.weight')).map((t) => t.offset));
    const rowStarts = new Set(layout.tensors.flatMap((t) => Array.from({ length: t.shape.length >= 2 ? t.shape[0] : 1 }, (_, r) => t.offset + r * (t.size / (t.shape.length >= 2 ? t.shape[0] : 1)))));
    buckets.slice(0, -1).forEach((b, i) => {
      const target = i === 0 ? Math.min(firstBytes, bucketBytes) : bucketBytes;
      const bytes = 4 * (b.end - b.start);
      const at = JSON.stringify({ widths, bucketBytes, firstBytes, i, b });
      assert.ok(rowStarts.has(b.start), `cut on a tensor or row start: ${at}`);
      assert.ok(bytes >= target || (layerStarts.has(b.start) && 2 * bytes >= target), `large enough: ${at}`);
    });
  }
});

test('dptrain coordinator --model mlp:784-1024-1024-10 names its three buckets; --first-bucket-mb 4 gives two, and so does --compress bf16 unless --first-bucket-mb is given', { timeout: 60_000 }, async () => {
  const args = ['--model', 'mlp:784-1024-1024-10', '--dataset', 'mnist', '--min-workers', '2'];
  const plain = await startCoordinator(args);
  const line = await plain.waitFor(/^gradients: /);
  assert.match(line.msg, /^gradients: 3 buckets in backward order \(1\.00, 3\.04, 3\.07 MiB; --first-bucket-mb, --bucket-mb\), each all-reduced as soon as backward has finished it/);
  plain.kill();
  const first4 = await startCoordinator([...args, '--first-bucket-mb', '4']);
  assert.match((await first4.waitFor(/^gradients: /)).msg, /^gradients: 2 buckets in backward order \(4\.00, 3\.11 MiB;/);
  first4.kill();
  // 16-bit gradients: compute bounds the step, so the first bucket is --bucket-mb like the others.
  const bf16 = await startCoordinator([...args, '--compress', 'bf16']);
  assert.match((await bf16.waitFor(/^gradients: /)).msg, /^gradients: 2 buckets in backward order \(4\.00, 3\.11 MiB;.*--compress bf16/);
  bf16.kill();
  const bf16First1 = await startCoordinator([...args, '--compress', 'bf16', '--first-bucket-mb', '1']);
  assert.match((await bf16First1.waitFor(/^gradients: /)).msg, /^gradients: 3 buckets in backward order \(1\.00, 3\.04, 3\.07 MiB;/);
  bf16First1.kill();
});

test('--first-bucket-mb must be a number of MiB above 0 (exit 2, naming the flag)', { timeout: 30_000 }, async () => {
  for (const bad of ['soon', '0', '-1', '2000']) {
    const coordinator = new Proc(['coordinator', '--listen', '127.0.0.1:0', '--first-bucket-mb', bad]);
    assert.equal(await coordinator.exited, 2, bad);
    const text = coordinator.text.join('\n');
    assert.match(text, /--first-bucket-mb must be (a finite number|a number of MiB above 0, at most 1024) \(got .*\) \[dptrain\.config\.badOption\]/, text);
    assert.equal(coordinator.text.length, 1, `one line, no stack trace: ${text}`);
  }
});
