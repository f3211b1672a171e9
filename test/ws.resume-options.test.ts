// `dptrain coordinator --resume DIR` takes the coordinator's own options back from the run's record
// (config.coordinator, docs/cli.md "Checkpoints and --resume"): a bf16 run of 2 workers stopped by
// --max-steps and resumed with --resume alone waits for 2 workers, compresses to bf16 and ends
// byte-identical to the uninterrupted run; a typed --compress that differs is refused (exit 2); a
// checkpoint without a record resumes with the defaults and a warning; a relative --token-file in
// the record is read where the run started.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { runCli, tempDir } from './helpers.js';
import { killAll, Proc, startCoordinator, startWorker, trainArgs, type RunSpec } from './ws.helpers.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/index.js';

after(killAll);

// As test/ws.resume.test.ts: one kernel set for every process, 2 workers of 1 thread.
const spec: RunSpec = { dataset: 'synthetic:blobs?n=2000&d=20&classes=4&seed=1', model: 'mlp:20-32-4', batchSize: 32, maxSteps: 120, seed: 5 };
const own = ['--compress', 'bf16', '--min-workers', '2', '--kernels', 'wasm'];

/** A coordinator with `args` and workers w1, w2; resolves with it once every process exited 0. */
async function runWithTwoWorkers(args: string[]): Promise<Proc> {
  const coordinator = await startCoordinator(args);
  const workers = [startWorker(coordinator.url, 'w1'), startWorker(coordinator.url, 'w2')];
  assert.equal(await coordinator.exited, 0, coordinator.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());
  return coordinator;
}

test('coordinator --resume DIR alone takes back --compress bf16 and --min-workers 2 from the run\'s record and ends byte-identical to the uninterrupted run; a typed --compress none is refused naming both', { timeout: 120_000 }, async () => {
  const root = tempDir();
  const out = path.join(root, 'run');
  const ckpt = path.join(root, 'ckpt');
  // The uninterrupted run, and the same run stopped by --max-steps halfway.
  await Promise.all([
    runWithTwoWorkers([...own, ...trainArgs(spec, path.join(root, 'reference'))]),
    runWithTwoWorkers([...own, ...trainArgs({ ...spec, maxSteps: 60 }, out), '--checkpoint-dir', ckpt]),
  ]);
  const recorded = (JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as { coordinator: Record<string, unknown> }).coordinator;
  assert.deepEqual([recorded.compress, recorded.minWorkers, recorded.listen], ['bf16', 2, '127.0.0.1:0']);

  const refused = new Proc(['coordinator', '--resume', ckpt, '--max-steps', String(spec.maxSteps), '--compress', 'none', '--lr', '0.5']);
  const resumed = await startCoordinator(['--resume', ckpt, '--max-steps', String(spec.maxSteps)]);
  assert.equal(resumed.messages(/^resuming with --min-workers 2 --compress bf16 from the run's record$/).length, 1, resumed.log());
  assert.match(resumed.messages(/^gradients: /)[0], /--compress bf16/);
  assert.equal(resumed.messages(/^coordinator at ws:\/\/.*: waiting for 2 workers/).length, 1, resumed.log());
  const workers = [startWorker(resumed.url, 'w1'), startWorker(resumed.url, 'w2')];
  assert.equal(await resumed.exited, 0, resumed.log());
  for (const w of workers) assert.equal(await w.exited, 0, w.log());
  assert.ok(
    fs.readFileSync(path.join(out, 'final.safetensors')).equals(fs.readFileSync(path.join(root, 'reference', 'final.safetensors'))),
    'final.safetensors differs from the uninterrupted run',
  );

  assert.equal(await refused.exited, 2, refused.log());
  const error = refused.text.join('\n');
  assert.match(error, /^dptrain: error: cannot resume from .*ckpt-000000060\.safetensors: .*--compress: the checkpoint used "bf16", this run "none"/m);
  assert.match(error, /--lr: the checkpoint used [\d.]+, this run 0\.5/, 'every difference is listed');
  assert.match(error, /\[dptrain\.config\.resumeMismatch\]$/m);

  // The same checkpoint without its record (as an earlier dptrain wrote it): the defaults, and a warning.
  const old = path.join(root, 'old');
  fs.mkdirSync(old);
  const file = path.join(ckpt, 'ckpt-000000060.safetensors');
  const checkpoint = decodeCheckpoint(fs.readFileSync(file), file);
  delete checkpoint.meta.config.coordinator;
  fs.writeFileSync(path.join(old, 'ckpt-000000060.safetensors'), encodeCheckpoint(checkpoint));
  const unrecorded = await startCoordinator(['--resume', old, '--max-steps', String(spec.maxSteps), '--out', path.join(root, 'old-run')]);
  assert.equal(unrecorded.messages(/^.*ckpt-000000060\.safetensors records no coordinator options \(an earlier dptrain wrote it\): those not given now take their defaults/).length, 1, unrecorded.log());
  assert.equal(unrecorded.messages(/^coordinator at ws:\/\/.*: waiting for 1 worker /).length, 1, unrecorded.log());
  assert.doesNotMatch(unrecorded.messages(/^gradients: /)[0], /--compress/);
  unrecorded.kill('SIGINT');
  assert.equal(await unrecorded.exited, 130, unrecorded.log());

  // A relative --token-file in the record is read where the run started, not where it resumes.
  assert.equal(runCli(['token', '--out', 'token'], { cwd: root }).status, 0);
  const tokened = path.join(root, 'tokened');
  const sub = path.join(root, 'sub');
  for (const dir of [tokened, sub]) fs.mkdirSync(dir);
  const withToken = decodeCheckpoint(fs.readFileSync(file), file);
  withToken.meta.config = { ...withToken.meta.config, cwd: fs.realpathSync(root), coordinator: { ...(withToken.meta.config.coordinator as object), tokenFile: 'token' } };
  fs.writeFileSync(path.join(tokened, 'ckpt-000000060.safetensors'), encodeCheckpoint(withToken));
  const fromSub = await startCoordinator(['--resume', '../tokened', '--max-steps', String(spec.maxSteps), '--out', 'run'], sub);
  assert.equal(fromSub.messages(/^resuming with .*--token-file \S*\/token\b/).length, 1, fromSub.log());
  fromSub.kill('SIGINT');
  assert.equal(await fromSub.exited, 130, fromSub.log());
});
