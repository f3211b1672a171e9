// Checkpoints and exact resume (issue 6): a run interrupted at any checkpoint — by a SIGKILL of the
// real process, mid-run or in the middle of a checkpoint write — and resumed with --resume ends with
// a final.safetensors byte-identical to the uninterrupted run with the same worker count.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { train } from '../src/index.js';
import { DptrainError } from '../src/errors.js';
import { binPath, makeClassification, repoRoot, runCliAsync, tempDir } from './helpers.js';

const data = makeClassification(300, 7, 4);
// 270 training samples (val 0.1 of 300) in batches of 32: 9 steps per epoch, the last of 14 samples; 27 steps in all.
const options = { model: 'mlp:7-9-4', batchSize: 32, epochs: 3, lr: 0.1, momentum: 0.9, valSplit: 0.1, seed: 3 } as const;

const bytes = (file: string) => fs.readFileSync(file);
const checkpoints = (dir: string) => fs.readdirSync(dir).filter((f) => /^ckpt-\d+\.safetensors$/.test(f)).sort();

for (const setup of [
  { name: 'threads, 2 workers', engine: 'threads', workers: 2, optimizer: 'sgd' },
  { name: 'threads, 2 workers, Adam, cosine schedule, eval every 4 steps', engine: 'threads', workers: 2, optimizer: 'adam', momentum: 0, lr: 0.01, lrSchedule: 'cosine', evalEvery: 4 },
  { name: 'inline', engine: 'inline', workers: 1, optimizer: 'sgd' },
] as const) {
  test(`${setup.name}: resuming from every checkpoint gives the uninterrupted run's bytes`, async () => {
    const { name: _, ...rest } = setup;
    const opts = { ...options, ...rest };
    const root = tempDir();
    const full = path.join(root, 'full');
    const uninterrupted = await train({ ...opts, out: full, checkpointDir: path.join(full, 'ckpt'), checkpointEvery: '4steps', keep: 100 }, { data });
    const saved = checkpoints(path.join(full, 'ckpt'));
    // Every 4 steps, and the run's end (step 27), which a resume finds finished (cli.resume-continue).
    assert.deepEqual(saved, ['ckpt-000000004.safetensors', 'ckpt-000000008.safetensors', 'ckpt-000000012.safetensors', 'ckpt-000000016.safetensors', 'ckpt-000000020.safetensors', 'ckpt-000000024.safetensors', 'ckpt-000000027.safetensors']);
    for (const [i, file] of saved.slice(0, -1).entries()) {
      // A directory holding checkpoints up to this one: as if the run had died right after writing it.
      const dir = path.join(root, `resume-${i}`);
      fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
      for (const earlier of saved.slice(0, i + 1)) fs.copyFileSync(path.join(full, 'ckpt', earlier), path.join(dir, 'ckpt', earlier));
      // The dead run's metrics.jsonl went on past its last checkpoint: the resumed run drops those records and writes them again.
      fs.copyFileSync(path.join(full, 'metrics.jsonl'), path.join(dir, 'metrics.jsonl'));
      const resumed = await train({ resume: path.join(dir, 'ckpt'), out: dir }, { data });
      assert.equal(resumed.summary.resumedFrom?.path, path.join(dir, 'ckpt', file));
      // It checkpoints on into the directory it resumed from (not the one recorded in the checkpoint).
      assert.deepEqual(checkpoints(path.join(dir, 'ckpt')), saved);
      assert.ok(bytes(path.join(dir, 'final.safetensors')).equals(bytes(path.join(full, 'final.safetensors'))), `resumed from ${file}: final.safetensors differs`);
      // The run's history and summary continue as if nothing happened.
      assert.equal(resumed.summary.steps, 27);
      const epochs = (h: typeof resumed.history) => h.map((e) => [e.epoch, e.steps, e.samples, e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy]);
      assert.deepEqual(epochs(resumed.history), epochs(uninterrupted.history));
      const fullRecords = fs.readFileSync(path.join(full, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const records = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      // metrics.jsonl: every step once, in order; the same epoch losses as the uninterrupted run.
      const steps = (rs: { type: string; step?: number }[]) => rs.filter((r) => r.type === 'step').map((r) => r.step);
      const epochLosses = (rs: { type: string; trainLoss?: number; valLoss?: number }[]) => rs.filter((r) => r.type === 'epoch').map((r) => [r.trainLoss, r.valLoss]);
      assert.deepEqual(steps(records), steps(fullRecords));
      assert.deepEqual(epochLosses(records), epochLosses(fullRecords));
    }
  });
}

test('checkpoints by epoch, --keep, and a resume that extends the run with more epochs', async () => {
  const root = tempDir();
  const ckpt = path.join(root, 'ckpt');
  await train({ ...options, epochs: 4, checkpointDir: ckpt, checkpointEvery: '1epoch', keep: 2 }, { data });
  assert.deepEqual(checkpoints(ckpt), ['ckpt-000000027.safetensors', 'ckpt-000000036.safetensors']);
  // 6 epochs in one go = 4 epochs, then 2 more from the epoch-4 checkpoint (a constant rate: the schedule does not depend on --epochs).
  const six = await train({ ...options, epochs: 6 }, { data });
  const extended = await train({ resume: ckpt, epochs: 6 }, { data });
  assert.deepEqual(Buffer.from(extended.params.buffer), Buffer.from(six.params.buffer));
  assert.equal(extended.history.length, 6);
});

test('a new run refuses a checkpoint directory that holds another run\'s checkpoints, before touching --out', async () => {
  const root = tempDir();
  const ckpt = path.join(root, 'ckpt');
  const out = path.join(root, 'out');
  await train({ ...options, epochs: 1, checkpointDir: ckpt, out }, { data });
  const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'));
  await assert.rejects(train({ ...options, epochs: 1, checkpointDir: ckpt, out }, { data }), (error: unknown) => {
    assert.ok(error instanceof DptrainError);
    assert.equal(error.code, 'dptrain.config.checkpointDirInUse');
    assert.match(error.message, /already holds checkpoints of a run \(the latest at step 9\) — continue that run with --resume/);
    return true;
  });
  assert.ok(fs.readFileSync(path.join(out, 'metrics.jsonl')).equals(metrics), 'metrics.jsonl is untouched');
});

test('a checkpoint of another model, dataset or learning rate is refused, naming the difference', async () => {
  const ckpt = path.join(tempDir(), 'ckpt');
  await train({ ...options, epochs: 1, checkpointDir: ckpt }, { data });
  const refused = async (opts: object, hooks: object, pattern: RegExp) =>
    assert.rejects(train({ resume: ckpt, ...opts }, hooks), (error: unknown) => {
      assert.ok(error instanceof DptrainError, String(error));
      assert.equal(error.code, 'dptrain.config.resumeMismatch');
      assert.match(error.message, pattern);
      return true;
    });
  await refused({ model: 'mlp:7-12-4' }, { data }, /model: the checkpoint holds mlp:7-9-4, this run builds mlp:7-12-4/);
  await refused({}, { data: makeClassification(300, 7, 4, 2) }, /dataset: the checkpoint was trained on test:classification\?n=300&d=7 \(sha256:[0-9a-f]{64}\), this run loaded .* \(sha256:[0-9a-f]{64}\)/);
  await refused({ lr: 0.2 }, { data }, /--lr: the checkpoint used 0\.1, this run 0\.2/);
  await assert.rejects(train({ resume: path.join(tempDir(), 'nothing-here') }, { data }), /--resume|does not exist|no valid checkpoint/);
});

test('a truncated or bit-flipped latest checkpoint is reported and the previous one is used: still the same bytes', async () => {
  const root = tempDir();
  const full = path.join(root, 'full');
  await train({ ...options, out: full, checkpointDir: path.join(full, 'ckpt'), checkpointEvery: '5steps', keep: 10 }, { data });
  for (const damage of ['truncate', 'flip'] as const) {
    const dir = path.join(root, damage);
    fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
    for (const f of ['ckpt-000000010.safetensors', 'ckpt-000000015.safetensors']) fs.copyFileSync(path.join(full, 'ckpt', f), path.join(dir, 'ckpt', f));
    const latest = path.join(dir, 'ckpt', 'ckpt-000000015.safetensors');
    const b = bytes(latest);
    if (damage === 'truncate') fs.writeFileSync(latest, b.subarray(0, b.length - 100));
    else {
      b[b.length - 7] ^= 0x10; // a bit in the last tensor's data
      fs.writeFileSync(latest, b);
    }
    const warnings: string[] = [];
    const logger = { info() {}, warn: (_f: object, message: string) => void warnings.push(message) };
    const resumed = await train({ resume: path.join(dir, 'ckpt'), out: dir }, { data, logger });
    assert.equal(resumed.summary.resumedFrom?.step, 10, damage);
    assert.ok(warnings.some((w) => /ckpt-000000015\.safetensors.*using the checkpoint before it/.test(w)), warnings.join("\n"));
    assert.ok(bytes(path.join(dir, 'final.safetensors')).equals(bytes(path.join(full, 'final.safetensors'))), damage);
  }
});

/** Spawns `dptrain train ...args` and kills it with SIGKILL once a log line matches `when`. */
function killWhen(args: string[], when: RegExp): Promise<{ signal: NodeJS.Signals | null; log: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args, '--log-format', 'json'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      log += chunk;
      if (when.test(log) && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve({ signal, log }));
  });
}

// The kernel set is given: the uninterrupted run and the killed one are separate processes, and
// --kernels auto could choose differently in each under load (the resumed run keeps its checkpoint's).
const cliRun = ['train', '--dataset', 'synthetic:blobs?n=3000&d=20&classes=4&seed=1', '--model', 'mlp:20-64-4', '--batch-size', '16', '--epochs', '6', '--lr', '0.05', '--engine', 'threads', '--workers', '2', '--kernels', 'wasm', '--seed', '7'];

let uninterrupted: Promise<string> | undefined;
/** final.safetensors of cliRun run without interruption: once, for both kill tests below. */
function uninterruptedFinal(): Promise<string> {
  uninterrupted ??= (async () => {
    const out = path.join(tempDir(), 'full');
    const full = await runCliAsync([...cliRun, '--out', out]);
    assert.equal(full.status, 0, full.stderr);
    return path.join(out, 'final.safetensors');
  })();
  return uninterrupted;
}

test('kill -9 of `dptrain train` mid-run, then --resume: final.safetensors byte-identical (threads engine)', async () => {
  const root = tempDir();
  const ckpt = path.join(root, 'ckpt');
  const killed = await killWhen([...cliRun, '--out', path.join(root, 'run'), '--checkpoint-dir', ckpt, '--checkpoint-every', '40steps'], /"step":200\b/);
  assert.equal(killed.signal, 'SIGKILL', 'the run must still be going when killed');
  assert.ok(!fs.existsSync(path.join(root, 'run', 'final.safetensors')));
  const [resumed, full] = await Promise.all([runCliAsync(['train', '--resume', ckpt, '--log-format', 'json']), uninterruptedFinal()]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from .*ckpt-0000002\d0\.safetensors/);
  assert.ok(bytes(path.join(root, 'run', 'final.safetensors')).equals(bytes(full)));
});

test('kill -9 in the middle of a checkpoint write leaves the previous checkpoint valid; resume is exact', async () => {
  const root = tempDir();
  // The two phases in separate directories, at once: each run kills itself at a given write.
  await Promise.all((['tempWritten', 'renamed'] as const).map(async (phase) => {
    const ckpt = path.join(root, `ckpt-${phase}`);
    const out = path.join(root, `run-${phase}`);
    // A real run in a child process whose third checkpoint write is killed at `phase`.
    const config = { dataset: 'synthetic:blobs?n=3000&d=20&classes=4&seed=1', model: 'mlp:20-64-4', batchSize: 16, epochs: 6, lr: 0.05, engine: 'threads', workers: 2, kernels: 'wasm', seed: 7, out, checkpointDir: ckpt, checkpointEvery: '50steps' };
    const script = `
      import { train } from ${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'index.js'))};
      let writes = 0;
      const onPhase = (phase) => { if (phase === ${JSON.stringify(phase)} && ++writes === 3) process.kill(process.pid, 'SIGKILL'); };
      await train(${JSON.stringify(config)}, { checkpointWrites: { onPhase } });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const signal = await new Promise((resolve) => child.on('exit', (_c, s) => resolve(s)));
    assert.equal(signal, 'SIGKILL', stderr);
    const left = fs.readdirSync(ckpt);
    if (phase === 'tempWritten') {
      // The rename never happened: two checkpoints and the third's temp file, which is never loaded.
      assert.deepEqual(checkpoints(ckpt), ['ckpt-000000050.safetensors', 'ckpt-000000100.safetensors']);
      assert.ok(left.some((f) => f.endsWith('.tmp')), left.join(' '));
    } else {
      // Rename is the commit point: the third checkpoint is there and whole.
      assert.deepEqual(checkpoints(ckpt), ['ckpt-000000050.safetensors', 'ckpt-000000100.safetensors', 'ckpt-000000150.safetensors']);
    }
    const resumed = await runCliAsync(['train', '--resume', ckpt, '--log-format', 'json']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`resuming from .*ckpt-0000001${phase === 'tempWritten' ? '00' : '50'}\\.safetensors`));
    assert.ok(!fs.readdirSync(ckpt).some((f) => f.endsWith('.tmp')), 'the stale temp file is removed');
    assert.ok(bytes(path.join(out, 'final.safetensors')).equals(bytes(await uninterruptedFinal())), phase);
  }));
});
