import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { runTrain } from '../src/cli/train-command.js';
import { dashboardsStarted, startDashboard, type DashboardDelta, type DashboardSnapshot } from '../src/dashboard/index.js';
import { sweep, type PlannedRun } from '../src/study/index.js';
import type { RunSummary, StepRecord } from '../src/train/index.js';
import { tempDir } from './helpers.js';
import { startCli } from './process.helpers.js';

const TRAIN = { dataset: 'synthetic:teacher?n=600&d=8&noise=0', model: 'linreg:8-1', lr: 0.05, momentum: 0, baseBatchSize: 16 };

test('without --dashboard a run builds nothing for it (no hub, no feed, no server)', async () => {
  const before = dashboardsStarted();
  const result = await runTrain({ logFormat: 'json', dataset: TRAIN.dataset, model: TRAIN.model, maxSteps: '5', engine: 'inline' });
  assert.equal(result.summary.steps, 5);
  assert.equal(dashboardsStarted(), before);
});

test('a sweep\'s page: the table fills in run by run and the steps-to-target chart gets a point per batch size that reached it', { timeout: 60_000 }, async () => {
  const dash = await startDashboard({ address: true, kind: 'sweep', log: { info() {} }, flushMs: 20 });
  const messages: (DashboardSnapshot | DashboardDelta)[] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${dash.server.port}/ws`);
  ws.on('message', (data) => void messages.push(JSON.parse(String(data))));
  await new Promise((resolve) => ws.once('open', resolve));
  try {
    const out = tempDir('dptrain-dash-sweep-');
    const results = await sweep({ batchSizes: [4, 32], target: 'train_loss=0.01', maxEpochs: 30, lrRule: 'linear', out, train: TRAIN }, dash.sweepHooks({}));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const last = dash.hub.snapshot();
    assert.deepEqual(last.sweep!.map((r) => [r.batchSize, r.status]), results.runs.map((r) => [r.resolvedBatchSize, r.status]));
    const reached = results.runs.filter((r) => r.stepsToTarget !== null);
    assert.ok(reached.length >= 1);
    assert.deepEqual(last.series['sweep.steps'].y, reached.map((r) => r.stepsToTarget));
    assert.ok((last.series.valLoss?.x.length ?? 0) > 0, "the run's validations reach its loss chart");
    // What the browser saw: a sweep table that went from pending to finished, and the chart's series replaced as runs ended.
    const tables = messages.flatMap((m) => (m.sweep ? [m.sweep.map((r) => r.status).join(',')] : []));
    assert.ok(tables.some((t) => t.includes('running')), tables.join(' | '));
    assert.ok(messages.some((m) => m.type === 'delta' && m.replaced['sweep.steps']?.x.length), 'steps-to-target points were sent');
    assert.ok(messages.filter((m) => m.type === 'snapshot').length >= 2, 'each run starts with a fresh snapshot of its charts');
  } finally {
    ws.close();
    await dash.close();
  }
});

test('dptrain sweep --dashboard: the page gets the sweep\'s table with the running run, and the run\'s steps', { timeout: 60_000 }, async () => {
  const out = tempDir('dptrain-dash-sweep-cli-');
  // A target the noise keeps out of reach: the first run lasts until Ctrl-C.
  const run = startCli(['sweep', '--dashboard', '--batch-sizes', '8,32', '--target', 'train_loss=0.00001', '--max-epochs', '500', '--dataset', 'synthetic:teacher?n=600&d=8&noise=0.5', '--model', 'linreg:8-1', '--out', out]);
  try {
    await run.waitFor(/dashboard at http:\/\/127\.0\.0\.1:\d+\//);
    const url = /dashboard at (http:\/\/\S+)/.exec(run.output())![1];
    const ws = new WebSocket(url.replace('http://', 'ws://') + 'ws');
    const seen = await new Promise<DashboardSnapshot | DashboardDelta>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no running sweep row:\n${run.output()}`)), 40_000);
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as DashboardSnapshot | DashboardDelta;
        if (m.sweep?.some((r) => r.status === 'running' && r.step > 0) && m.progress.step > 0) {
          clearTimeout(timer);
          resolve(m);
        }
      });
    });
    ws.close();
    assert.deepEqual(seen.sweep!.map((r) => [r.id, r.batchSize]), [['b8-seed0', 8], ['b32-seed0', 32]]);
    assert.equal(seen.sweep![1].status, 'pending');
  } finally {
    run.child.kill('SIGINT');
  }
  assert.equal((await run.exited).code, 130, run.output());
});

// ---- the feeds, driven with records (no training): what the header, captions and roster say ----

const INFO = { model: 'mlp:784-128-10', numParams: 101770, dataset: 'mnist', trainSamples: 9000, valSamples: 1000, batchSize: 64, stepsPerEpoch: 141, epochs: 40, totalSteps: 5640, logEvery: 10, lr: 0.05, engine: 'threads', workers: 2 };
const stepRecord = (step: number, batchSize: number, samples: number, gns: StepRecord['gns'], lr = 0.05): StepRecord => ({
  type: 'step', epoch: Math.floor(samples / 9000), step, batchSize, samples, loss: 1, accuracy: 0.5, lr, gradNorm: 1, clip: 1, ms: 2,
  timing: { computeMs: [1, 1], reduceMs: 0.5, updateMs: 0.2, idleMs: 0 }, gns,
});
const fact = (snap: DashboardSnapshot, label: string) => snap.facts.find(([l]) => l === label)?.[1];

test('--batch-size auto: the header shows B and the learning rate now, progress counts samples, and the bar is full at the end', async () => {
  const dash = await startDashboard({ address: true, kind: 'train', log: { info() {} }, adaptiveBatch: true });
  try {
    dash.callback.onTrainBegin!(INFO);
    dash.callback.onStep!(stepRecord(0, 64, 64, null));
    dash.callback.onStep!(stepRecord(1, 512, 576, null, 0.7));
    const snap = dash.hub.snapshot();
    assert.equal(fact(snap, 'batch size B'), '512 now (64–512 so far; chosen while training, --batch-size auto)');
    assert.match(fact(snap, 'learning rate')!, /^0\.7 now \(--lr 0\.05 × the gain/);
    assert.equal(snap.progress.totalSamples, 40 * 9000);
    assert.equal(snap.progress.totalSteps, null, 'no step total: it depends on the B to come');
    dash.callback.onTrainEnd!({ stopReason: 'epochs', steps: 5640, seconds: 8.8, samplesPerSec: 40000 } as RunSummary);
    assert.equal(dash.hub.snapshot().progress.message, 'finished (epochs) after 5,640 steps in 8.8 s');
  } finally {
    await dash.close();
  }
});

test('a fixed B: "1 step per epoch"; the noise-scale caption tells missing slots from an undefined estimate', async () => {
  const dash = await startDashboard({ address: true, kind: 'train', log: { info() {} } });
  try {
    dash.callback.onTrainBegin!({ ...INFO, batchSize: 9000, stepsPerEpoch: 1, totalSteps: 40 });
    assert.equal(fact(dash.hub.snapshot(), 'batch size B'), '9000 (1 step per epoch)');
    dash.callback.onStep!(stepRecord(0, 9000, 9000, null));
    assert.match(dash.hub.snapshot().captions.gns, /^Not measured: B_simple needs two or more gradient slots/);
    dash.callback.onStep!(stepRecord(1, 9000, 18000, { bSimple: 900, trSigma: 9, gradSq: 0.01 }));
    dash.callback.onStep!(stepRecord(2, 9000, 27000, { bSimple: null, trSigma: 9, gradSq: -0.002 }));
    const caption = dash.hub.snapshot().captions.gns;
    assert.match(caption, /^Undefined at the moment: the moving average of \|G\|² is -0\.002/);
    assert.match(caption, /Last defined: B_simple ≈ 900 at step 2\./);
    assert.doesNotMatch(caption, /workers|reduce-chunks/);
  } finally {
    await dash.close();
  }
});

test('coordinator: a worker stopped with Ctrl-C during a step is "left", keeps its byte counts, and the header counts the members now', async () => {
  const dash = await startDashboard({ address: true, kind: 'coordinator', log: { info() {} }, facts: [['model', 'mlp']], message: 'waiting for workers: 2 needed' });
  try {
    assert.equal(dash.hub.snapshot().progress.message, 'waiting for workers: 2 needed');
    dash.coordinator.onWaiting([{ name: 'wA', host: 'h', threads: 1 }], 2);
    let snap = dash.hub.snapshot();
    assert.equal(snap.progress.message, 'waiting for workers: 1 of 2 ready');
    assert.deepEqual(snap.roster!.map((r) => [r.name, r.state]), [['wA', 'ready']]);
    dash.callback.onTrainBegin!({ ...INFO, engine: 'ws', workers: 1 });
    const worker = (name: string) => ({ name, host: 'h', threads: 1, lastComputeMs: 1, lastRows: 32, joinedAtStep: 0, bytesSent: 2_000_000, bytesReceived: 1_000_000 });
    dash.coordinator.onStatus({ step: 5, workers: [worker('wA'), worker('wB')], waiting: [], allreduce: null });
    assert.equal(fact(dash.hub.snapshot(), 'engine'), 'ws, 2 workers');
    dash.coordinator.onMembership({ kind: 'leave', worker: 'wB', host: 'h', threads: 1, step: 838, reason: 'it left the run (stopped by the user)' });
    dash.coordinator.onStatus({ step: 839, workers: [worker('wA')], waiting: [], allreduce: null });
    snap = dash.hub.snapshot();
    const wB = snap.roster!.find((r) => r.name === 'wB')!;
    assert.equal(wB.state, 'left');
    assert.equal(wB.bytesSent, 2_000_000);
    assert.match(snap.events.at(-1)!.text, /^wB \(h, 1 thread\) left at step 838: it left the run \(stopped by the user\)$/);
    assert.equal(fact(snap, 'engine'), 'ws, 1 worker');
  } finally {
    await dash.close();
  }
});

test('a sweep interrupted: the running run is "interrupted", the pending ones "not run", and the page stops counting', async () => {
  const dash = await startDashboard({ address: true, kind: 'sweep', log: { info() {} } });
  const abort = new AbortController();
  try {
    const hooks = dash.sweepHooks({ signal: abort.signal });
    const planned = (id: string, b: number) => ({ id, resolvedBatchSize: b, seed: 0, gridLr: 0.1 }) as unknown as PlannedRun;
    hooks.onPlan!([planned('b8', 8), planned('b32', 32)]);
    hooks.onRunStart!(planned('b8', 8), 0, 2);
    hooks.onStep!(stepRecord(0, 8, 8, null), planned('b8', 8), INFO);
    abort.abort();
    const snap = dash.hub.snapshot();
    assert.deepEqual(snap.sweep!.map((r) => r.status), ['interrupted', 'not run']);
    assert.equal(snap.progress.state, 'interrupted');
    assert.equal(snap.progress.etaSeconds, null);
    assert.match(snap.progress.message, /^interrupted \(Ctrl-C\) after 0 of 2 runs/);
  } finally {
    await dash.close();
  }
});

test('when it closes, the dashboard says so and names `dptrain report OUT`', async () => {
  const lines: string[] = [];
  const dash = await startDashboard({ address: true, kind: 'train', log: { info: (_f, m) => void lines.push(m) }, out: 'runs/a' });
  assert.equal(dash.hub.snapshot().afterEnd, '`dptrain report runs/a` draws its charts');
  await dash.close();
  await dash.close();
  assert.equal(lines.filter((l) => l.includes('closed')).length, 1, lines.join('\n'));
  assert.match(lines.at(-1)!, /^dashboard at http:\/\/127\.0\.0\.1:\d+\/ closed \(the run ended\): reloading the page will not work; `dptrain report runs\/a` draws its charts$/);
});

test('train --dashboard with an --out that holds a run: refused before any dashboard URL is printed', { timeout: 30_000 }, async () => {
  const out = tempDir('dptrain-dash-used-out-');
  for (const name of ['config.json', 'summary.json']) fs.writeFileSync(path.join(out, name), '{}');
  const run = startCli(['train', '--dashboard', '--out', out, '--dataset', TRAIN.dataset, '--model', TRAIN.model]);
  const exit = await run.exited;
  assert.equal(exit.code, 2, run.output());
  assert.match(run.output(), /already holds a run .*\[dptrain\.config\.outDirInUse\]/);
  assert.doesNotMatch(run.output(), /dashboard at/);
});
