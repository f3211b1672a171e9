import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from './helpers.js';

const DATA = ['--dataset', 'synthetic:teacher?n=1000&d=8&noise=0', '--model', 'linreg:8-1', '--momentum', '0', '--lr', '0.05', '--base-batch-size', '32'];

test('`dptrain sweep` trains per batch size, prints a results table and writes results; `dptrain report` draws them', () => {
  const out = path.join(tempDir('dptrain-sweep-cli-'), 'sweep');
  const result = runCli(['sweep', '--batch-sizes', '4,32,full', '--target', 'train_loss=0.01', '--max-epochs', '30', '--lr-rule', 'sqrt', '--out', out, ...DATA]);
  assert.equal(result.status, 0, result.stderr);
  // One line per finished run on stderr (no terminal: no progress bar), the table on stdout.
  assert.equal(result.stderr.match(/run \d\/3 b\S+ \(B=\d+, lr [\d.]+\): reached train_loss=0\.01 after [\d,]+ steps/g)?.length, 3, result.stderr);
  assert.doesNotMatch(result.stderr, /\r/);
  assert.match(result.stdout, /steps to train_loss=0\.01/);
  assert.match(result.stdout, /full\(900\)/);
  assert.match(result.stdout, /fit: S_min [\d.]+ steps, E_min [\d.]+ samples, B_crit/);
  assert.ok(fs.existsSync(path.join(out, 'results.csv')));
  assert.ok(fs.existsSync(path.join(out, 'results.json')));

  const again = runCli(['sweep', '--batch-sizes', '4,32,full', '--target', 'train_loss=0.01', '--max-epochs', '30', '--lr-rule', 'sqrt', '--out', out, '--resume', ...DATA]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stderr.match(/\[done earlier\]/g)?.length, 3, 'the second sweep resumes every run');

  const report = runCli(['report', out]);
  assert.equal(report.status, 0, report.stderr);
  assert.equal(report.stdout.trim(), `wrote ${path.join(out, 'report.html')} (sweep report, 7 charts)`);
  const custom = path.join(out, 'custom.html');
  assert.equal(runCli(['report', out, '--out', custom]).status, 0);
  assert.ok(fs.statSync(custom).size > 50_000);
});

test('`dptrain report` on a directory without results or metrics is a usage error naming it', () => {
  const dir = tempDir('dptrain-empty-');
  const result = runCli(['report', dir]);
  assert.equal(result.status, 2);
  assert.match(result.stderr, new RegExp(`error: ${dir} holds neither results\\.json \\(a sweep\\) nor metrics\\.jsonl \\(a run\\).*\\[dptrain\\.config\\.notAReportDir\\]`));
});

// One test per flag: exit 2 and a one-line message naming the flag.
const ok = ['--batch-sizes', '4,full', '--target', 'train_loss=0.1', '--out', '/tmp/dptrain-never-written'];
const without = (flag: string) => {
  const i = ok.indexOf(flag);
  return [...ok.slice(0, i), ...ok.slice(i + 2)];
};
const flagErrors: [string, string[], RegExp][] = [
  ['--batch-sizes missing', without('--batch-sizes'), /--batch-sizes is required, e\.g\. --batch-sizes 1,4,16,64,full/],
  ['--batch-sizes item', [...ok, '--batch-sizes', '4,,8'], /--batch-sizes must be a comma-separated list without empty items/],
  ['--batch-sizes value', [...ok, '--batch-sizes', '4,huge'], /--batch-sizes must be a positive integer or "full" \(got "huge"\)/],
  ['--batch-sizes zero', [...ok, '--batch-sizes', '0,4'], /--batch-sizes must hold positive integers or "full" \(got "0"\)/],
  ['--batch-sizes auto', [...ok, '--batch-sizes', '64,auto'], /--batch-sizes holds fixed batch sizes, and "auto" chooses B while a run trains — to compare, run dptrain train --batch-size auto --out DIR/],
  ['--target missing', without('--target'), /--target is required, e\.g\. --target val_acc=0\.95/],
  ['--target', [...ok, '--target', 'accuracy'], /--target must be METRIC=VALUE/],
  ['--max-epochs', [...ok, '--max-epochs', 'ten'], /--max-epochs must be an integer \(got "ten"\)/],
  ['--lr-rule', [...ok, '--lr-rule', 'cubic'], /--lr-rule must be one of none, linear, sqrt, tuned \(got "cubic"\)/],
  ['--seeds', [...ok, '--seeds', '0'], /--seeds must be an integer from 1 to 1000/],
  ['--out missing', without('--out'), /--out is required, e\.g\. --out sweeps\/mnist/],
  ['--lr-trials', [...ok, '--lr-rule', 'tuned', '--lr-trials', '1'], /--lr-trials must be an integer from 2 to 50 \(got 1\)/],
  ['--lr-factor', [...ok, '--lr-rule', 'tuned', '--lr-factor', 'x'], /--lr-factor must be a finite number \(got "x"\)/],
  ['--gns-samples', [...ok, '--gns-samples', '-5'], /--gns-samples must be an integer ≥ 0 \(got -5\)/],
  ['a training flag', [...ok, '--lr', '-1'], /--lr must be a finite number > 0 \(got -1\)/],
];
for (const [name, args, message] of flagErrors) {
  test(`dptrain sweep: ${name} is a usage error naming the flag`, () => {
    const result = runCli(['sweep', ...args]);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, message);
    assert.match(result.stderr, /\[dptrain\.config\.\w+\]\n$/);
    assert.ok(!fs.existsSync('/tmp/dptrain-never-written'));
  });
}

test('dptrain sweep: --epochs and --batch-size belong to train, not sweep (--epochs points at --max-epochs; commander names the other)', () => {
  const epochs = runCli(['sweep', ...ok, '--epochs', '3']);
  assert.equal(epochs.status, 2);
  assert.equal(epochs.stderr, "dptrain: error: dptrain sweep has no --epochs: each run's epoch budget is --max-epochs N (default 20) — see dptrain sweep --help [dptrain.cli.unknownOption]\n");
  const batch = runCli(['sweep', ...ok, '--batch-size', '3']);
  assert.equal(batch.status, 2);
  assert.match(batch.stderr, /unknown option '--batch-size'/);
});
