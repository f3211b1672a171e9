import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { runTrain } from '../src/cli/train-command.js';
import { dashboardsStarted, startDashboard, type DashboardDelta, type DashboardSnapshot } from '../src/dashboard/index.js';
import { sweep } from '../src/study/index.js';
import { tempDir } from './helpers.js';

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
