// `--resume DIR` continues a run as if it had never stopped (docs/cli.md, "Checkpoints and
// --resume"): also a run that --max-steps stopped within an epoch; it takes no other run's --out,
// warns only about the options typed now, leaves a run that had already finished as it was (also
// one whose end fell between two --checkpoint-every checkpoints), needs no JSON model file, and
// from another directory finds its relative --out and data where the run started.
// Each case is typed as a user would, on a small dataset so that a run takes about a second.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadCheckpointFile, train } from '../src/train/index.js';
import { oneErrorLine, runCli, runCliAsync, tempDir } from './helpers.js';

// 2,700 training samples in batches of 64: 43 steps per epoch, the last of 12 samples. So 20 steps
// stop within the first epoch, and 100 steps within the third (43 + 43 + 14).
const DATA = ['--dataset', 'synthetic:spirals?n=3000', '--seed', '1'];

type Row = { type: string; epoch: number; step?: number; steps?: number };
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const records = (dir: string): Row[] => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
// What a record says about the training, without the times (which differ from run to run).
const content = (r: Row) => JSON.stringify({ ...r, ms: undefined, timing: undefined, samplesPerSec: undefined });
const warnings = (stderr: string) => stderr.split('\n').filter((line) => / WARN: /.test(line));
const filesOf = (dir: string) => Object.fromEntries(fs.readdirSync(dir).sort().map((name) => [name, fs.readFileSync(path.join(dir, name)).toString('base64')]));

for (const engine of [['--engine', 'inline'], ['--workers', '2']]) {
  test(`\`--max-steps 20\`, then \`--resume --max-steps 100\` (${engine.join(' ')}): byte-identical to \`--max-steps 100\`, one record per epoch`, async () => {
    const root = tempDir();
    const [ckpt, resumedOut, straightOut] = ['ckpt', 'resumed', 'straight'].map((name) => path.join(root, name));
    const [first, straight] = await Promise.all([
      runCliAsync(['train', ...DATA, ...engine, '--max-steps', '20', '--checkpoint-dir', ckpt, '--out', resumedOut]),
      runCliAsync(['train', ...DATA, ...engine, '--max-steps', '100', '--out', straightOut]),
    ]);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(straight.status, 0, straight.stderr);
    // The stop's checkpoint keeps its place within the epoch, so the rest of that epoch's permutation comes next.
    const { meta } = await loadCheckpointFile(path.join(ckpt, 'ckpt-000000020.safetensors'));
    assert.deepEqual([meta.step, meta.epoch, meta.position], [20, 0, 20]);

    // The threads run also gives --epochs again (3 epochs hold the 100 steps).
    const more = engine[0] === '--workers' ? ['--epochs', '3'] : [];
    const resumed = await runCliAsync(['train', '--resume', ckpt, '--max-steps', '100', ...more]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming from .*ckpt-000000020\.safetensors: step 20, epoch 1, step 20 of the epoch/);
    assert.match(resumed.stderr, /done: 3 epochs, 100 steps in /);
    assert.ok(fs.readFileSync(path.join(resumedOut, 'final.safetensors')).equals(fs.readFileSync(path.join(straightOut, 'final.safetensors'))), 'final.safetensors differs from the run that went straight to 100 steps');

    // metrics.jsonl: the stopped run's record of its partial first epoch gave way to the whole epoch's.
    assert.deepEqual(records(resumedOut).map(content), records(straightOut).map(content));
    const epochs = records(resumedOut).filter((r) => r.type === 'epoch').map((r) => [r.epoch, r.steps]);
    assert.deepEqual(epochs, [[0, 43], [1, 43], [2, 14]]);
    // Without --epochs, the epochs follow --max-steps; both runs record the same config.
    assert.equal(readJson(path.join(resumedOut, 'config.json')).epochs, 3);
    const summary = readJson(path.join(resumedOut, 'summary.json'));
    assert.deepEqual([summary.steps, summary.epochs, summary.stopReason], [100, 3, 'maxSteps']);
    // The totals count both sessions; `session` is the resumed one's.
    assert.deepEqual([summary.session.fromStep, summary.session.steps], [20, 80]);
    assert.ok(summary.seconds >= summary.session.seconds, `${summary.seconds} s in all, ${summary.session.seconds} s in this session`);

    // Resumed again with nothing more: the run has reached --max-steps and is left as it is.
    const again = await runCliAsync(['train', '--resume', ckpt]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /nothing to train: the run checkpointed in .*ckpt had already finished at step 100 \(it reached --max-steps 100\), so its outputs and checkpoints are left as they were — give a larger --max-steps \(0: no limit\) to train on/);
    assert.match(again.stderr, /done: 3 epochs, 100 steps in /);
  });
}

test('`--resume CKPT --out DIR` where DIR holds another run is refused, naming the difference; the run\'s own --out or a new one is fine', async () => {
  const root = tempDir();
  const [a, ckA, mix] = ['a', 'ckA', 'mix'].map((name) => path.join(root, name));
  const [runA, other] = await Promise.all([
    runCliAsync(['train', ...DATA, '--engine', 'inline', '--epochs', '2', '--out', a, '--checkpoint-dir', ckA]),
    runCliAsync(['train', ...DATA, '--engine', 'inline', '--epochs', '1', '--batch-size', '300', '--out', mix]),
  ]);
  assert.equal(runA.status, 0, runA.stderr);
  assert.equal(other.status, 0, other.stderr);
  const [mixFiles, checkpoints] = [filesOf(mix), filesOf(ckA)];

  const refused = await runCliAsync(['train', '--resume', ckA, '--epochs', '3', '--out', mix]);
  const line = oneErrorLine(refused, 2, 'dptrain.config.outDirInUse');
  assert.match(line, /--out .*mix holds another run than the one checkpointed in .*ckA \(--batch-size: 300 there, 64 in the checkpoint\) — resume with the --out that run wrote to, or give a new --out/);
  assert.deepEqual(filesOf(mix), mixFiles, 'the other run\'s files are untouched');
  assert.deepEqual(filesOf(ckA), checkpoints, 'the checkpoints are untouched');

  const own = await runCliAsync(['train', '--resume', ckA, '--epochs', '3', '--out', a]);
  assert.equal(own.status, 0, own.stderr);
  assert.equal(records(a).filter((r) => r.type === 'epoch').length, 3);
  const fresh = await runCliAsync(['train', '--resume', ckA, '--epochs', '4', '--out', path.join(root, 'new')]);
  assert.equal(fresh.status, 0, fresh.stderr);
});

test('a resumed run warns about the options typed now, not about the checkpoint\'s: `--resume --engine inline` after `--workers 2`', async () => {
  const root = tempDir();
  const ckpt = path.join(root, 'ckpt');
  const first = await runCliAsync(['train', ...DATA, '--max-steps', '20', '--batch-size', '500', '--workers', '2', '--checkpoint-dir', ckpt]);
  assert.equal(first.status, 0, first.stderr);
  const resumed = await runCliAsync(['train', '--resume', ckpt, '--engine', 'inline', '--max-steps', '40']);
  assert.equal(resumed.status, 0, resumed.stderr);
  // The typed engine wins, with its one worker; one warning says the rounding differs.
  assert.match(resumed.stderr, /INFO: training .*; inline engine, 1 worker,/);
  assert.deepEqual(warnings(resumed.stderr).map((line) => line.replace(/^.*WARN: /, '')), [
    '--engine is "inline" but the checkpoint ran with "threads": the run continues correctly, but float rounding differs from an uninterrupted run',
  ]);
  assert.match(resumed.stderr, /done: \d+ epochs, 40 steps in /);
});

test('resuming a run that had already finished trains nothing and leaves its files as they were; --resume with --init is refused before anything is said', async () => {
  const root = tempDir();
  const [out, ckpt] = ['run', 'ckpt'].map((name) => path.join(root, name));
  const first = await runCliAsync(['train', ...DATA, '--engine', 'inline', '--epochs', '2', '--out', out, '--checkpoint-dir', ckpt]);
  assert.equal(first.status, 0, first.stderr);
  const [outFiles, checkpoints] = [filesOf(out), filesOf(ckpt)];

  const again = await runCliAsync(['train', '--resume', ckpt]);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(warnings(again.stderr).map((line) => line.replace(/^.*WARN: /, '')), [
    `nothing to train: the run checkpointed in ${ckpt} had already finished at step 86 (it ran its 2 epochs, --epochs 2), so its outputs and checkpoints are left as they were — give a larger --epochs to train on`,
  ]);
  assert.doesNotMatch(again.stderr, /resuming from|INFO: training |INFO: epoch /);
  assert.match(again.stderr, /done: 2 epochs, 86 steps in /);
  assert.deepEqual(filesOf(out), outFiles, 'the outputs are untouched');
  assert.deepEqual(filesOf(ckpt), checkpoints, 'the checkpoints are untouched');
  // The library says so too, with the run's figures as its checkpoint holds them.
  const library = await train({ resume: ckpt });
  assert.equal(library.alreadyFinished, true);
  assert.deepEqual([library.summary.steps, library.summary.epochs, library.summary.session.steps], [86, 2, 0]);
  assert.deepEqual(filesOf(out), outFiles, 'the outputs are untouched');

  const init = await runCliAsync(['train', '--resume', ckpt, '--init', path.join(out, 'final.safetensors')]);
  assert.match(oneErrorLine(init, 2, 'dptrain.config.badOption'), /--resume continues a run from its checkpoint; --init starts a new run from parameters — use one of them/);
});

test('a run that ended on its epochs between two --checkpoint-every checkpoints: its end is checkpointed, so --resume trains nothing, and more epochs continue byte-identical', async () => {
  const root = tempDir();
  const [out, ckpt, straight] = ['run', 'ckpt', 'straight'].map((name) => path.join(root, name));
  // 3 epochs of 43 steps end at step 129, after the checkpoint of step 100.
  const [first, five] = await Promise.all([
    runCliAsync(['train', ...DATA, '--engine', 'inline', '--epochs', '3', '--checkpoint-every', '100steps', '--checkpoint-dir', ckpt, '--out', out]),
    runCliAsync(['train', ...DATA, '--engine', 'inline', '--epochs', '5', '--out', straight]),
  ]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(five.status, 0, five.stderr);
  assert.deepEqual(fs.readdirSync(ckpt).sort(), ['ckpt-000000100.safetensors', 'ckpt-000000129.safetensors']);
  const [outFiles, checkpoints] = [filesOf(out), filesOf(ckpt)];

  const again = await runCliAsync(['train', '--resume', ckpt, '--out', out]);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(warnings(again.stderr).map((line) => line.replace(/^.*WARN: /, '')), [
    `nothing to train: the run checkpointed in ${ckpt} had already finished at step 129 (it ran its 3 epochs, --epochs 3), so its outputs and checkpoints are left as they were — give a larger --epochs to train on`,
  ]);
  assert.doesNotMatch(again.stderr, /resuming from|INFO: epoch /);
  assert.deepEqual(filesOf(out), outFiles, 'the outputs are untouched');
  assert.deepEqual(filesOf(ckpt), checkpoints, 'the checkpoints are untouched');

  const more = await runCliAsync(['train', '--resume', ckpt, '--epochs', '5', '--out', out]);
  assert.equal(more.status, 0, more.stderr);
  assert.match(more.stderr, /resuming from .*ckpt-000000129\.safetensors: step 129, epoch 4, step 0 of the epoch/);
  assert.ok(fs.readFileSync(path.join(out, 'final.safetensors')).equals(fs.readFileSync(path.join(straight, 'final.safetensors'))), 'final.safetensors differs from the run that went straight to 5 epochs');
});

test('a run whose --model was a JSON file resumes with the model it recorded: the file moved, from another directory; a file given again must hold the same model', () => {
  const root = tempDir();
  const sub = path.join(root, 'sub');
  fs.mkdirSync(sub);
  const net = (units: number) => JSON.stringify({ input: [2], layers: [{ type: 'dense', units }, { type: 'relu' }, { type: 'dense', units: 2 }] });
  fs.writeFileSync(path.join(root, 'net.json'), net(16));
  // Relative paths, as typed in the run's directory.
  const first = runCli(['train', ...DATA, '--engine', 'inline', '--model', 'net.json', '--epochs', '1', '--checkpoint-dir', 'ck', '--out', 'run'], { cwd: root });
  assert.equal(first.status, 0, first.stderr);
  fs.renameSync(path.join(root, 'net.json'), path.join(root, 'moved.json'));

  const resumed = runCli(['train', '--resume', '../ck', '--epochs', '2', '--out', '../run'], { cwd: sub });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from \.\.\/ck\/ckpt-000000043\.safetensors/);
  assert.match(resumed.stderr, /done: 2 epochs, 86 steps in /);

  // Given again, the file is read and its model compared: another model is refused, the same one resumes.
  fs.writeFileSync(path.join(root, 'net.json'), net(8));
  const other = runCli(['train', '--resume', 'ck', '--epochs', '3', '--model', 'net.json'], { cwd: root });
  assert.match(oneErrorLine(other, 2, 'dptrain.config.resumeMismatch'), /model: the checkpoint holds cnn:2 dense16 relu dense2, this run builds cnn:2 dense8 relu dense2/);
  const same = runCli(['train', '--resume', 'ck', '--epochs', '3', '--model', 'moved.json', '--out', 'run'], { cwd: root });
  assert.equal(same.status, 0, same.stderr);
  assert.match(same.stderr, /done: 3 epochs, 129 steps in /);
});

test('`--resume DIR` alone from another directory continues the run where it started: its relative --out and CSV file start there; a path typed again starts here', () => {
  const root = tempDir();
  const sub = path.join(root, 'sub');
  fs.mkdirSync(sub);
  const rows = Array.from({ length: 200 }, (_, i) => [(i % 17) / 17, (i % 5) / 5]).map(([x, y]) => `${x},${y},${x > y ? 'a' : 'b'}`);
  fs.writeFileSync(path.join(root, 'data.csv'), `x,y,label\n${rows.join('\n')}\n`);
  // Relative paths, as typed in the run's directory.
  const first = runCli(['train', '--dataset', 'csv:data.csv', '--model', 'logreg', '--engine', 'inline', '--epochs', '1', '--checkpoint-dir', 'ck', '--out', 'run'], { cwd: root });
  assert.equal(first.status, 0, first.stderr);
  assert.equal(readJson(path.join(root, 'run', 'config.json')).cwd, fs.realpathSync(root));

  const resumed = runCli(['train', '--resume', '../ck', '--epochs', '2'], { cwd: sub });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /done: 2 epochs, /);
  assert.deepEqual(fs.readdirSync(sub), [], 'nothing is written below the current directory');
  assert.equal(readJson(path.join(root, 'run', 'summary.json')).epochs, 2);
  assert.deepEqual(records(path.join(root, 'run')).filter((r) => r.type === 'epoch').map((r) => r.epoch), [0, 1]);

  // Typed again, --out starts in the current directory.
  const here = runCli(['train', '--resume', '../ck', '--epochs', '3', '--out', 'here'], { cwd: sub });
  assert.equal(here.status, 0, here.stderr);
  assert.equal(readJson(path.join(sub, 'here', 'summary.json')).epochs, 3);
});
