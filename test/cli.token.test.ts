// `dptrain token` and token hygiene through the CLI, the way a user types it (issue 13 item 3):
// make a token, train with it on a coordinator and a worker; a weak or group-readable token file
// is refused by both commands with one line and exit 2.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { runCli, tempDir } from './helpers.js';
import { killAll, startCoordinator, startWorker } from './ws.helpers.js';

after(killAll);

const dir = tempDir('dptrain-cli-token-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

test('dptrain token prints a fresh 256-bit token as 64 hex digits', () => {
  const a = runCli(['token']);
  const b = runCli(['token']);
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /^[0-9a-f]{64}\n$/);
  assert.notEqual(a.stdout, b.stdout);
});

test('dptrain token --out FILE writes it readable by its owner only, and does not overwrite without --force', { skip: process.platform === 'win32' }, () => {
  const file = path.join(dir, 'made');
  const made = runCli(['token', '--out', file], { cwd: dir });
  assert.equal(made.status, 0, made.stderr);
  assert.equal(made.stdout, `wrote a 256-bit token to ${file} (mode 600); copy it to every host and pass --token-file ${file}\n`);
  assert.equal(modeOf(file), 0o600);
  const first = fs.readFileSync(file, 'utf8');
  assert.match(first, /^[0-9a-f]{64}\n$/);

  const again = runCli(['token', '--out', file], { cwd: dir });
  assert.equal(again.status, 2);
  assert.equal(again.stderr, `dptrain: error: --out ${file} already exists; pass --force to replace it, or choose another file [dptrain.config.tokenFileExists]\n`);
  assert.equal(fs.readFileSync(file, 'utf8'), first, 'the existing token is untouched');

  fs.chmodSync(file, 0o644);
  const forced = runCli(['token', '--out', file, '--force'], { cwd: dir });
  assert.equal(forced.status, 0, forced.stderr);
  assert.notEqual(fs.readFileSync(file, 'utf8'), first);
  assert.equal(modeOf(file), 0o600, 'a replaced token file is 0600 whatever the old one was');
});

test('a coordinator and a worker train with a token from dptrain token --out', { timeout: 90_000 }, async () => {
  const token = path.join(dir, 'token');
  assert.equal(runCli(['token', '--out', token]).status, 0);
  const out = path.join(dir, 'run');
  const coordinator = await startCoordinator(['--token-file', token, '--dataset', 'synthetic:blobs?n=200&d=3&classes=3', '--model', 'mlp:3-8-3', '--epochs', '1', '--out', out]);
  const worker = startWorker(coordinator.url, 'w1', ['--token-file', token]);
  assert.equal(await coordinator.exited, 0, coordinator.log());
  assert.equal(await worker.exited, 0, worker.log());
  assert.ok(fs.existsSync(path.join(out, 'final.safetensors')));
});

test('a weak token and a group-readable token file are refused by coordinator and worker with one line and exit 2', { skip: process.platform === 'win32' }, () => {
  const weak = path.join(dir, 'weak');
  fs.writeFileSync(weak, 'passwordpassword\n', { mode: 0o600 });
  const shared = path.join(dir, 'shared');
  fs.writeFileSync(shared, `${crypto.randomBytes(32).toString('hex')}\n`);
  fs.chmodSync(shared, 0o640);
  const cases: [string[], RegExp][] = [
    [['coordinator', '--token-file', weak, '--max-steps', '1'], new RegExp(`^dptrain: error: token in "${weak}" is too weak \\(16 characters carry at most about 96 bits; at least 128 random bits are needed\\); make one with: dptrain token --out ${weak} --force .* \\[dptrain\\.transport\\.tokenFile\\]\\n$`)],
    [['worker', '--connect', 'ws://127.0.0.1:9', '--token-file', weak], /^dptrain: error: token in .* is too weak .* \[dptrain\.transport\.tokenFile\]\n$/],
    [['coordinator', '--token-file', shared, '--max-steps', '1'], new RegExp(`^dptrain: error: token file "${shared}" is readable by other users \\(mode 640\\); it must be readable by its owner only: chmod 600 ${shared} \\[dptrain\\.transport\\.tokenFile\\]\\n$`)],
    [['worker', '--connect', 'ws://127.0.0.1:9', '--token-file', shared], /^dptrain: error: token file .* \(mode 640\); .*chmod 600 .* \[dptrain\.transport\.tokenFile\]\n$/],
  ];
  for (const [args, expected] of cases) {
    const result = runCli(args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, expected);
    assert.equal(result.stderr.split('\n').length, 2, 'one line');
  }
});
