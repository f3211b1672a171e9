import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, runCliAsync, tempDir } from './helpers.js';

/** 900 training rows of a linear teacher: each run takes well under a second. */
const DATA = ['--dataset', 'synthetic:teacher?n=1000&d=16', '--model', 'linreg:16-1'];

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const stepRecords = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"step"')).length;
/** The results table's row for batch size `b`, split into cells. */
const tableRow = (stdout: string, b: string) => stdout.split('\n').find((l) => l.trim().startsWith(`${b} `))?.trim().split(/\s{2,}/);

test('dptrain sweep: a run whose loss became NaN is "diverged" at the step it diverged, with advice to lower --lr, not to raise --max-epochs', async () => {
  const out = path.join(tempDir('dptrain-sweep-cli-'), 'sw');
  const result = await runCliAsync(['sweep', '--batch-sizes', '8,64', '--target', 'train_loss=0.01', '--lr', '1000', '--max-epochs', '2', '--out', out, ...DATA]);
  assert.equal(result.status, 0, result.stderr);
  for (const [i, id] of ['b8-seed0', 'b64-seed0'].entries()) {
    const dir = path.join(out, 'runs', id);
    const steps = stepRecords(dir);
    assert.ok(steps > 0, `${id} logged ${steps} steps before diverging`);
    // outcome.json's error names the step that became non-finite: the first one not logged.
    assert.match(readJson(path.join(dir, 'outcome.json')).error, new RegExp(`\\(run step ${steps}\\)`));
    assert.match(result.stderr, new RegExp(`run ${i + 1}/2 ${id} \\(B=\\d+, lr 1000\\): diverged at step ${steps} \\(the loss or gradient became NaN or infinite\\)`));
  }
  assert.match(result.stderr, /WARN: diverged \(the loss or gradient became NaN or infinite\) at batch size\(s\) 8, 64 — lower --lr/);
  assert.doesNotMatch(result.stderr, /not reached|raise --max-epochs/);
  assert.equal(tableRow(result.stdout, '8')?.[2], 'diverged', result.stdout);
  assert.equal(tableRow(result.stdout, '64')?.[2], 'diverged', result.stdout);
  const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n');
  assert.match(csv[1], /^8,8,113,1000,1,0,diverged,diverged,diverged,diverged,/);
  const json = readJson(path.join(out, 'results.json'));
  assert.deepEqual(json.batchSizes.map((r: { outcome: string }) => r.outcome), ['diverged', 'diverged']);
  assert.deepEqual(json.runs.map((r: { stoppedBy: string }) => r.stoppedBy), ['nonFinite', 'nonFinite']);
  // The report's table says so too.
  const report = await runCliAsync(['report', out]);
  assert.equal(report.status, 0, report.stderr);
  const page = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.match(page, /"diverged"/);
  assert.doesNotMatch(page, /"not reached"/);
});

test('dptrain sweep: a run that missed the target names the limit that stopped it, --max-steps or --max-epochs, and its flag', async () => {
  const out = path.join(tempDir('dptrain-sweep-cli-'), 'sw');
  // B=16: 57 steps per epoch, so --max-steps 100 stops it first; B=64: 15 per epoch, so 2 epochs (30 steps) do.
  const result = await runCliAsync(['sweep', '--batch-sizes', '16,64', '--target', 'val_loss=1e-12', '--max-epochs', '2', '--max-steps', '100', '--gns-samples', '0', '--out', out, ...DATA]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /at most 2 epochs or 100 steps each/);
  assert.match(result.stderr, /run 1\/2 b16-seed0 \(B=16, lr [\d.]+\): not reached in 100 steps \(--max-steps 100\)/);
  assert.match(result.stderr, /run 2\/2 b64-seed0 \(B=64, lr [\d.]+\): not reached in 2 epochs \(--max-epochs 2\)/);
  assert.match(result.stderr, /WARN: not reached within --max-steps 100 at batch size\(s\) 16 — raise --max-steps or ease --target/);
  assert.match(result.stderr, /WARN: not reached within --max-epochs 2 at batch size\(s\) 64 — raise --max-epochs or ease --target/);
  const json = readJson(path.join(out, 'results.json'));
  assert.deepEqual(json.runs.map((r: { stoppedBy: string; stepsRun: number }) => [r.stoppedBy, r.stepsRun]), [['maxSteps', 100], ['maxEpochs', 30]]);
  assert.deepEqual(json.batchSizes.map((r: { outcome: string }) => r.outcome), ['not reached', 'not reached']);
});

test('dptrain sweep --lr-rule tuned: a batch size where no rate reached the target has no best rate, and a warning says which rate came closest', async () => {
  const out = path.join(tempDir('dptrain-sweep-cli-'), 'sw');
  // One full-batch epoch is one step: no rate gets there.
  const result = await runCliAsync(['sweep', '--batch-sizes', '16,full', '--target', 'train_loss=0.01', '--lr-rule', 'tuned', '--lr-trials', '2', '--max-epochs', '2', '--gns-samples', '0', '--out', out, ...DATA]);
  assert.equal(result.status, 0, result.stderr);
  const json = readJson(path.join(out, 'results.json'));
  const full = json.batchSizes.find((r: { batchSize: unknown }) => r.batchSize === 'full');
  assert.equal(full.reached, false);
  assert.equal(full.lr, null, 'no best rate');
  assert.equal(full.lrGrid.length, 2);
  assert.equal(tableRow(result.stdout, 'full(900)')?.[1], '-', result.stdout);
  assert.match(fs.readFileSync(path.join(out, 'results.csv'), 'utf8'), /\nfull,900,1,,1,0,not reached,/);
  assert.match(result.stderr, /WARN: B=full: no rate on the grid \([\d.]+ … [\d.]+\) reached train_loss=0\.01; the closest \(train_loss [\d.]+\) was the (smallest|largest), [\d.]+ — the optimum may lie beyond the grid/);
});

test('dptrain sweep --resume with a harder target says a finished run is re-trained because it stopped at the earlier target', async () => {
  const out = path.join(tempDir('dptrain-sweep-cli-'), 'sw');
  const args = ['sweep', '--batch-sizes', '32', '--max-epochs', '20', '--gns-samples', '0', '--out', out, ...DATA, '--momentum', '0'];
  const first = await runCliAsync([...args, '--target', 'train_loss=0.5']);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /reached train_loss=0\.5/);
  const harder = await runCliAsync([...args, '--target', 'train_loss=0.0001', '--resume']);
  assert.equal(harder.status, 0, harder.stderr);
  assert.match(harder.stderr, /b32-seed0: re-training: it stopped at the earlier target train_loss=0\.5, before meeting train_loss=0\.0001 \(its config\.json, metrics\.jsonl, summary\.json, final\.safetensors removed\)/);
  assert.doesNotMatch(harder.stderr, /had not finished/);
  // A changed training option names the option.
  const changed = await runCliAsync([...args, '--target', 'train_loss=0.0001', '--resume', '--lr', '0.01']);
  assert.equal(changed.status, 0, changed.stderr);
  assert.match(changed.stderr, /b32-seed0: re-training: its training options changed \(--lr\)/);
});

test('dptrain sweep --out refuses the run directory of dptrain train, with or without report.html, and leaves it intact', () => {
  const run = path.join(tempDir('dptrain-sweep-cli-'), 'run');
  const trained = runCli(['train', '--epochs', '1', '--out', run, '--engine', 'inline', ...DATA]);
  assert.equal(trained.status, 0, trained.stderr);
  const before = fs.readdirSync(run).sort();
  const sweepArgs = ['sweep', '--batch-sizes', '8,64', '--target', 'train_loss=0.01', '--max-epochs', '1', '--out', run, ...DATA];
  const expected = new RegExp(`^dptrain: error: --out ${run} is the run directory of \`dptrain train\` \\(it holds config\\.json, metrics\\.jsonl, summary\\.json, final\\.safetensors\\), not a sweep — give the sweep another --out \\(--overwrite replaces only an earlier sweep\\) \\[dptrain\\.config\\.outDirInUse\\]\\n$`);
  for (const extra of [[], ['--overwrite'], ['--resume']]) {
    const result = runCli([...sweepArgs, ...extra]);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, expected);
  }
  fs.writeFileSync(path.join(run, 'report.html'), '<!doctype html>');
  const withReport = runCli(sweepArgs);
  assert.equal(withReport.status, 2, withReport.stderr);
  assert.match(withReport.stderr, expected);
  assert.deepEqual(fs.readdirSync(run).sort(), [...before, 'report.html'].sort(), 'nothing written into the run directory');
});
