import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { runTrain } from '../src/cli/train-command.js';
import { dashboardsStarted, startDashboard, type DashboardDelta, type DashboardSnapshot } from '../src/dashboard/index.js';
import { sweep } from '../src/study/index.js';
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
