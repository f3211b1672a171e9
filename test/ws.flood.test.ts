// Issue 13 item 2 through the CLI: 20 silent upgraded sockets from 127.0.0.2, reopened as they
// are closed, while a real `dptrain worker` joins a real `dptrain coordinator` (default limits)
// and trains. Before the per-address handshake cap, such a flood kept every new worker out (503).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { runCli, tempDir } from './helpers.js';
import { silentFlood } from './transport.helpers.js';
import { killAll, startCoordinator, startWorker } from './ws.helpers.js';

after(killAll);

test('a worker joins and trains while another address floods the coordinator with silent upgrades', { skip: process.platform !== 'linux' && 'needs 127.0.0.2 as a source address (Linux)', timeout: 90_000 }, async () => {
  const dir = tempDir('dptrain-ws-flood-');
  const token = path.join(dir, 'token');
  assert.equal(runCli(['token', '--out', token]).status, 0);
  const out = path.join(dir, 'run');
  const coordinator = await startCoordinator(['--token-file', token, '--dataset', 'synthetic:blobs?n=300&d=3&classes=3', '--model', 'mlp:3-8-3', '--epochs', '2', '--out', out]);
  const flood = silentFlood(Number(new URL(coordinator.url).port), { localAddress: '127.0.0.2', sockets: 20 });
  try {
    await coordinator.waitFor(/handshakes from 127\.0\.0\.2 are in progress \(maxPendingPerAddress 4\)/);
    const worker = startWorker(coordinator.url, 'w1', ['--token-file', token]);
    assert.equal(await worker.exited, 0, worker.log());
    assert.equal(await coordinator.exited, 0, coordinator.log());
  } finally {
    flood.stop();
  }
  assert.ok(fs.existsSync(path.join(out, 'final.safetensors')));
  assert.ok((flood.statuses.get('503') ?? 0) > 0, JSON.stringify([...flood.statuses]));
  fs.rmSync(dir, { recursive: true, force: true });
});
