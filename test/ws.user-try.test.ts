// What a user try of the LAN mode met (coordinator and workers on 127.0.0.1), through the CLI with
// real processes: a worker whose data differs or is missing, a token on one side only, Ctrl-C of a
// worker that never reached its coordinator, options that have no effect, the all-reduce's stated
// reason, counts in English and summary.json's kernel report. The only address contacted is 127.0.0.1.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';
import { freePort, killAll, Proc, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';

after(killAll);

/** A CSV of `rows` samples with two features and a 0/1 label; `shift` changes the data (and so its hash). */
function csv(dir: string, shift: number, rows = 120): string {
  const lines = ['x1,x2,label'];
  for (let i = 0; i < rows; i++) lines.push(`${((i * 7) % 13) / 13},${((i * 5) % 11) / 11 + shift},${i % 2}`);
  fs.writeFileSync(path.join(dir, 'data.csv'), lines.join('\n') + '\n');
  return dir;
}

function worker(cwd: string, url: string, name: string, args: string[] = []): Proc {
  return new Proc(['worker', '--connect', url, '--name', name, '--threads', '1', '--log-format', 'json', ...args], cwd);
}

test('a worker whose data differs stops before its ring listener with one complete line naming the fix; a missing file gets the --ship-data hint; a token on the worker only is named as such; the coordinator logs each reason', { timeout: 90_000 }, async () => {
  const root = tempDir('dptrain-user-try-');
  const [here, other, empty] = ['coordinator', 'other', 'empty'].map((d) => path.join(root, d));
  for (const dir of [here, other, empty]) fs.mkdirSync(dir);
  csv(here, 0);
  csv(other, 0.001);
  const coordinator = await startCoordinator(['--dataset', 'csv:data.csv', '--allreduce', 'ring', '--max-steps', '5', '--out', path.join(root, 'run')], here);

  // Another file under the same spec: the worker knows from the hashes, and says all of it at once.
  const differs = worker(other, coordinator.url, 'differs');
  assert.equal(await differs.exited, 1, differs.log());
  assert.deepEqual(differs.text, [
    `dptrain: error: this worker cannot join the run at ${coordinator.url}: dataset csv:data.csv hashes to ${hashIn(differs.text[0], 0)} on this worker but to ${hashIn(differs.text[0], 1)} on the coordinator — give both hosts the same file, or start the coordinator with --ship-data [dptrain.engine.joinRefused]`,
  ]);
  assert.notEqual(hashIn(differs.text[0], 0), hashIn(differs.text[0], 1));
  assert.deepEqual(differs.messages(/^ready |^listening on |will refuse/), [], 'no ring listener, no "ready"');
  await coordinator.waitFor(/^worker "differs" \([^)]*\) left while joining: dataset csv:data\.csv hashes to sha256:[0-9a-f]{64} on this worker but to sha256:[0-9a-f]{64} on the coordinator — give both hosts the same file, or start the coordinator with --ship-data$/);

  // No file at all: the data error, with the way round it that a worker has.
  const missing = worker(empty, coordinator.url, 'missing');
  assert.equal(await missing.exited, 2, missing.log());
  assert.equal(missing.text.length, 1, missing.log());
  assert.match(missing.text[0], /^dptrain: error: CSV file not found: .*data\.csv.*; or start the coordinator with --ship-data to send this worker its data \[dptrain\.data\.fileNotFound\]$/);
  await coordinator.waitFor(/^worker "missing" \([^)]*\) left while joining: CSV file not found: .*--ship-data/);
  assert.deepEqual(coordinator.messages(/left while joining: connection .* is closed/), [], 'each joiner said why it left');

  // A token on the worker, none on the coordinator: both say the coordinator runs without one.
  const token = path.join(root, 'token');
  fs.writeFileSync(token, 'c0ffee0123456789abcdef0123456789fedcba9876543210aa55aa55deadbeef\n', { mode: 0o600 });
  const tokened = worker(here, coordinator.url, 'tokened', ['--token-file', token]);
  assert.equal(await tokened.exited, 1, tokened.log());
  const fix = 'give the coordinator the same --token-file as the worker, or drop --token-file on the worker (on a trusted loopback only)';
  assert.deepEqual(tokened.text, [`dptrain: error: the coordinator at ${coordinator.url} refused our token: it runs without a token (no --token-file) — ${fix} [dptrain.transport.authFailed]`]);
  await coordinator.waitFor(new RegExp(`\\(calling itself "tokened"\\) presented a token, but this coordinator runs without one \\(no --token-file\\): ${fix.replace(/[()]/g, '\\$&')}$`));
  coordinator.kill();
});

/** The `n`-th `sha256:…` of a line (full length). */
function hashIn(line: string | undefined, n: number): string {
  return [...(line ?? '').matchAll(/sha256:[0-9a-f]{64}/g)][n]?.[0] ?? '(none)';
}

test('Ctrl-C of a worker still retrying its first connection says it stopped before joining a run, not that it left one (exit 130)', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const early = startWorker(`127.0.0.1:${port}`, 'early');
  await early.waitFor(/does not answer/, 30_000);
  early.kill('SIGINT');
  assert.equal(await early.exited, 130, early.log());
  assert.equal(early.messages(/^SIGINT: stopping before joining a run \(no coordinator reached yet\)$/).length, 1, early.log());
  assert.equal(early.messages(/^worker "early" stopped before joining a run \(interrupted\)$/).length, 1, early.log());
  assert.deepEqual(early.messages(/leaving the run|recomputes|steps? served/), [], early.log());
});

const big: RunSpec = { dataset: 'synthetic:blobs?n=200&d=4&classes=3&seed=1', model: 'mlp:4-512-256-3', batchSize: 40, maxSteps: 3, reduceChunks: 2 };

test('--reduce-chunks with ≥ 100k parameters: the plan names --reduce-chunks as why auto chose the star, ring-only options are warned about once, counts read as English, and summary.json reports the BLAS library as train does', { timeout: 90_000 }, async () => {
  const out = path.join(tempDir('dptrain-user-try-'), 'run');
  const coordinator = await startCoordinator(['--reduced-from', 'all', ...trainArgs(big, out)]);
  const w = startWorker(coordinator.url, 'w1');
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await w.exited, 0, w.log());
  assert.deepEqual(coordinator.messages(/^step 0: /), ['step 0: star all-reduce (auto: --reduce-chunks 2 needs the star, which adds the chunks in chunk order); shards w1 rows [0, 40)']);
  assert.deepEqual(coordinator.messages(/^--reduced-from/), ['--reduced-from all has no effect and is ignored: --reduce-chunks 2 makes every step a star all-reduce, whose gradients the coordinator adds itself; --reduced-from chooses where a ring\'s reduced gradient comes from']);
  // Counts read as English (docs/cli.md): `1 worker`, `1 thread`, never `worker(s)`.
  assert.deepEqual([...coordinator.messages(/\(s\)/), ...w.messages(/\(s\)/)], []);
  assert.equal(coordinator.messages(/joins at step 0 with parameters of version 0; 1 worker$/).length, 1, coordinator.log());
  assert.equal(w.messages(/^joining the run: .*; 1 thread$/).length, 1, w.log());
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { kernels: string; blas: { library: string } | null };
  assert.equal(summary.blas !== null, summary.kernels.startsWith('blas'), `kernels ${summary.kernels}, blas ${JSON.stringify(summary.blas)}`);
});

test('--allreduce star with the ring-only --reduced-from all and --coordinator-replica on-demand: each is warned about once, before the run', { timeout: 60_000 }, async () => {
  const out = path.join(tempDir('dptrain-user-try-'), 'run');
  const coordinator = await startCoordinator(['--allreduce', 'star', '--reduced-from', 'all', '--coordinator-replica', 'on-demand', ...trainArgs({ ...big, model: 'mlp:4-8-3', reduceChunks: 0 }, out)]);
  coordinator.kill();
  const warnings = coordinator.lines.filter((l) => l.level === 40).map((l) => l.msg);
  assert.deepEqual(warnings, [
    '--reduced-from all has no effect and is ignored: with --allreduce star every step is a star all-reduce, whose gradients the coordinator adds itself; --reduced-from chooses where a ring\'s reduced gradient comes from',
    '--coordinator-replica on-demand has no effect and is ignored: with --allreduce star every step is a star all-reduce, in which the coordinator adds the gradients and keeps the whole state; on-demand applies to ring steps only',
  ]);
});
