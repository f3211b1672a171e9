import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { BoundedSeries, DashboardHub, hubLimits, parseDashboardAddress, seriesLimits, TrainFeed, type DashboardDelta, type DashboardSnapshot } from '../src/dashboard/index.js';
import type { RunInfo, StepRecord } from '../src/train/index.js';

const INFO: RunInfo = { model: 'mlp:8-4-2', numParams: 46, dataset: 'synthetic:blobs', trainSamples: 1000, valSamples: 100, batchSize: 64, stepsPerEpoch: 16, epochs: 1_000_000, totalSteps: 16_000_000, logEvery: 1, lr: 0.05, engine: 'threads', workers: 2 };

function stepRecord(step: number): StepRecord {
  return {
    type: 'step', epoch: Math.floor(step / 16), step, batchSize: 64, samples: 64 * (step + 1), loss: 1 / (1 + step), accuracy: 0.5, lr: 0.05, gradNorm: 1, clip: 1, ms: 2,
    timing: { computeMs: [1, 1.2], reduceMs: 0.3, updateMs: 0.2, idleMs: 0.3 },
    gns: { trSigma: 100, gradSq: 1, bSimple: 100 },
  };
}

test('a series keeps at most maxPoints: the newest tail at full resolution, the older history in even buckets', () => {
  const s = new BoundedSeries(100, 20);
  for (let i = 0; i < 100_000; i++) {
    s.push(i, i * 2);
    assert.ok(s.length <= 100);
  }
  const { x, y } = s.points();
  assert.deepEqual(x.slice(-20), Array.from({ length: 20 }, (_, i) => 99_980 + i), 'the last 20 points exactly');
  assert.ok(x[0] < 4000, `the oldest history is still there (first x ${x[0]})`);
  for (let i = 1; i < x.length; i++) assert.ok(x[i] > x[i - 1], 'x increasing');
  const gaps = new Set(x.slice(0, 20).map((v, i, a) => (i > 0 ? v - a[i - 1] : 0)).slice(1));
  assert.equal(gaps.size, 1, `older buckets are even (gaps ${[...gaps].join(', ')})`);
  assert.ok(y.every((v, i) => Math.abs(v - 2 * x[i]) < 1e-6), 'pairs are merged as means of x and y');
  assert.equal(s.since(99_990)!.x.length, 9);
  assert.equal(s.since(10), null, 'points merged away: the caller sends the whole series');
});

test('the hub stays bounded over 400,000 steps: the snapshot has at most maxPoints per series and the last steps in full', () => {
  const hub = new DashboardHub('train', 'test');
  const feed = new TrainFeed(hub);
  feed.onTrainBegin(INFO);
  const before = process.memoryUsage().heapUsed;
  let sizes: number[] = [];
  for (let step = 0; step < 400_000; step++) {
    feed.onStep(stepRecord(step));
    if (step % 100_000 === 99_999) sizes.push(JSON.stringify(hub.snapshot()).length);
  }
  const snapshot = hub.snapshot();
  for (const [key, s] of Object.entries(snapshot.series)) assert.ok(s.x.length <= seriesLimits.maxPoints, `${key}: ${s.x.length} points`);
  assert.equal(snapshot.series.loss.x.at(-1), 400_000, 'the newest step');
  assert.equal(snapshot.series.loss.x.at(-seriesLimits.tail), 400_000 - seriesLimits.tail + 1, 'the tail at full resolution');
  assert.ok(snapshot.series.loss.x[0] < 500, 'and the start of the run, coarser');
  assert.equal(snapshot.timeline.length, hubLimits.timelineSteps);
  // The snapshot's size does not grow with the run's length.
  sizes = sizes.map((n) => Math.round(n / 1000));
  assert.ok(Math.max(...sizes) < 250, `snapshot kB after 100k, 200k, 300k, 400k steps: ${sizes.join(', ')}`);
  const grewMb = (process.memoryUsage().heapUsed - before) / 1e6;
  assert.ok(grewMb < 64, `heap grew ${grewMb.toFixed(1)} MB`);
});

test('deltas carry the points since the last one; too many to send as a tail become a whole series', () => {
  const hub = new DashboardHub('train', 'test');
  const feed = new TrainFeed(hub);
  feed.onTrainBegin(INFO);
  hub.takeDelta();
  for (let step = 0; step < 10; step++) feed.onStep(stepRecord(step));
  const first = hub.takeDelta() as DashboardDelta;
  assert.equal(first.type, 'delta');
  assert.deepEqual(first.series.loss.x, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(first.timeline.length, 10);
  assert.equal(hub.takeDelta(), null, 'nothing new');
  for (let step = 10; step < 10 + seriesLimits.maxPoints * 2; step++) feed.onStep(stepRecord(step));
  const big = hub.takeDelta() as DashboardDelta;
  assert.equal(big.series.loss, undefined);
  assert.ok(big.replaced.loss.x.length <= seriesLimits.maxPoints);
  assert.equal(big.timeline.length, hubLimits.timelineSteps);
});

test('a sweep\'s next run resets the run charts, and the next update is a snapshot', () => {
  const hub = new DashboardHub('sweep', 'test');
  const feed = new TrainFeed(hub);
  feed.onTrainBegin(INFO);
  feed.onStep(stepRecord(0));
  hub.takeDelta();
  hub.resetRun();
  const next = hub.takeDelta() as DashboardSnapshot;
  assert.equal(next.type, 'snapshot');
  assert.equal(next.series.loss.x.length, 0);
});

test('--dashboard takes PORT, HOST:PORT, [IPv6]:PORT or nothing; anything else is refused naming the flag', () => {
  assert.deepEqual(parseDashboardAddress(true), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseDashboardAddress('8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseDashboardAddress('0.0.0.0:9000'), { host: '0.0.0.0', port: 9000 });
  assert.deepEqual(parseDashboardAddress('localhost:9000'), { host: 'localhost', port: 9000 });
  assert.deepEqual(parseDashboardAddress('[::1]:9000'), { host: '::1', port: 9000 });
  for (const bad of ['', 'x', '70000', 'bad host:80', '999.1.1.1:80', '[nope]:80', 'host:', ':80', 'a:b:80']) {
    assert.throws(() => parseDashboardAddress(bad), (e: unknown) => e instanceof ConfigError && e.code === 'dptrain.config.badOption' && /--dashboard/.test(e.message), bad);
  }
});
