// Ctrl-C and SIGTERM during `dptrain train` and `dptrain sweep` (issue 12 item 4): the step in
// progress finishes, summary.json (stopReason "interrupted"), final.safetensors and a checkpoint
// are written, the process exits 130 without a stack trace, and --resume continues exactly.
// A second Ctrl-C exits at once. The library's train() takes the same AbortSignal.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { train } from '../src/train/index.js';
import { binPath, makeClassification, runCli, tempDir } from './helpers.js';
import { startCli } from './process.helpers.js';

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
const bytes = (file: string) => fs.readFileSync(file);
const FIRST_EPOCH = /epoch 1\/\d+: train loss/;
// The default run (10 epochs of the bundled digits) takes about a second on 2 cores since the
// inline engine's fixed cost was cut, less than a signal needs to arrive mid-run: the runs that are
// interrupted train the default model for LONG epochs instead, all other flags as a user types them.
const LONG = '300';

/** Exit 130, the one interrupt line, no stack trace, and a loadable final.safetensors with summary.json. */
function assertInterrupted(exit: { code: number | null; signal: NodeJS.Signals | null }, output: string, out: string): void {
  assert.equal(exit.code, 130, `exit code (signal ${exit.signal}):\n${output}`);
  assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
  assert.match(output, /: stopping after the current step and writing the outputs \(press Ctrl-C again to exit at once\)/);
  assert.match(output, new RegExp(`interrupted at epoch \\d+/\\d+ step \\d+/\\d+ \\(run step \\d+\\); wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\{summary.json,final.safetensors\\}`));
  assert.doesNotMatch(output, /done: /, 'an interrupted run does not say "done"');
  const summary = readJson(path.join(out, 'summary.json'));
  assert.equal(summary.stopReason, 'interrupted');
  const inspect = runCli(['inspect', path.join(out, 'final.safetensors')]);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.match(inspect.stdout, /parameters only \(not a checkpoint\)\n {2}model {8}mlp:784-128-10 \(the tensors match it\)/);
}

test('Ctrl-C during `dptrain train --out DIR` (default flags) after the first epoch: exit 130, summary.json says interrupted, final.safetensors loads', { timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-int-'), 'run');
  const run = startCli(['train', '--epochs', LONG, '--out', out]);
  await run.waitFor(FIRST_EPOCH);
  run.child.kill('SIGINT');
  const exit = await run.exited;
  assertInterrupted(exit, run.output(), out);
  const summary = readJson(path.join(out, 'summary.json'));
  assert.ok((summary.steps as number) > 0 && (summary.steps as number) < 300 * 141, `stopped mid-run: ${summary.steps} steps`);
  assert.match(run.output(), /wrote .*\{summary.json,final.safetensors\}$/m);
  assert.doesNotMatch(run.output(), /checkpoint/, 'no checkpoint without --checkpoint-dir');
});

test('Ctrl-C during a bare `dptrain train` (no flags at all): exit 130 and one line saying that nothing was written and how to keep outputs', { timeout: 120_000 }, async () => {
  const run = startCli(['train', '--epochs', LONG], { cwd: tempDir('dptrain-int-') });
  await run.waitFor(FIRST_EPOCH);
  run.child.kill('SIGINT');
  const exit = await run.exited;
  assert.equal(exit.code, 130, run.output());
  assert.match(run.output(), /interrupted at epoch \d+\/300 step \d+\/141 \(run step \d+\); wrote nothing \(--out DIR keeps a run's outputs, --checkpoint-dir DIR lets it resume\)\n/);
  assert.doesNotMatch(run.output(), /\n\s+at /, 'no stack trace');
});

test('Ctrl-C typed at a terminal (a pty): the progress line is ended before the interrupt is logged; exit 130', { timeout: 120_000 }, async (t) => {
  if (spawnSync('script', ['--version']).status !== 0) {
    t.skip('util-linux `script` (a pty for the test) is not installed');
    return;
  }
  const out = path.join(tempDir('dptrain-int-'), 'run');
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const child = spawn('script', ['-qfec', `${quote(process.execPath)} ${quote(binPath)} train --epochs ${LONG} --out ${quote(out)}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  let typed = false;
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    // Ctrl-C once the progress bar is drawn: the terminal turns it into SIGINT for dptrain.
    if (!typed && /\r\x1b\[2Kepoch 1\/300/.test(text)) {
      typed = true;
      child.stdin.write('\x03');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 130, JSON.stringify(text));
  assert.match(text, /\r\x1b\[2K\[\d\d:\d\d:\d\d\] \S*WARN\S*: \S*SIGINT: stopping after the current step/, JSON.stringify(text.slice(-600)));
  assert.equal(readJson(path.join(out, 'summary.json')).stopReason, 'interrupted');
});

test('Ctrl-C with --checkpoint-dir writes a checkpoint of the step it stopped at; --resume finishes byte-identical to an uninterrupted run', { timeout: 180_000 }, async () => {
  const root = tempDir('dptrain-int-');
  // Default flags but 30 epochs (long enough to interrupt, short enough to run three times) and a
  // fixed --workers: auto's probe may choose differently for two runs, which then differ in
  // rounding (docs/cli.md, "--workers auto"); the resumed run keeps its checkpoint's engine.
  const ckpt = path.join(root, 'ckpt');
  const out = path.join(root, 'run');
  const run = startCli(['train', '--epochs', '30', '--workers', '2', '--out', out, '--checkpoint-dir', ckpt]);
  await run.waitFor(FIRST_EPOCH);
  run.child.kill('SIGINT');
  const exit = await run.exited;
  assertInterrupted(exit, run.output(), out);
  const interrupted = readJson(path.join(out, 'summary.json'));
  const steps = interrupted.steps as number;
  const checkpoint = path.join(ckpt, `ckpt-${String(steps).padStart(9, '0')}.safetensors`);
  assert.ok(fs.existsSync(checkpoint), `a checkpoint at the interrupted step ${steps}: ${fs.readdirSync(ckpt).join(', ')}`);
  assert.match(run.output(), new RegExp(`and checkpoint .*ckpt-${String(steps).padStart(9, '0')}\\.safetensors \\(continue with --resume `));

  // --resume alone keeps the kernel set --kernels auto chose (its speed probe may choose another
  // under load); the uninterrupted run is given that set, which is all auto can choose. Neither
  // probes anything, so the two run at once.
  const kernels = String(interrupted.kernels).split(' ')[0];
  const resumed = startCli(['train', '--resume', ckpt]);
  const full = startCli(['train', '--epochs', '30', '--workers', '2', '--kernels', kernels, '--out', path.join(root, 'full')]);
  const [resumedExit, fullExit] = await Promise.all([resumed.exited, full.exited]);
  assert.equal(resumedExit.code, 0, resumed.output());
  const summary = readJson(path.join(out, 'summary.json'));
  assert.equal(summary.stopReason, 'epochs');
  assert.equal(String(summary.kernels).split(' ')[0], kernels, `the resumed run kept the kernel set: ${summary.kernels}`);
  assert.equal(fullExit.code, 0, full.output());
  assert.ok(bytes(path.join(out, 'final.safetensors')).equals(bytes(path.join(root, 'full', 'final.safetensors'))), `final.safetensors differs from the uninterrupted run (kernels ${kernels})`);
});

test('SIGTERM during `dptrain train` is handled like Ctrl-C: outputs written, exit 130', { timeout: 120_000 }, async () => {
  const out = path.join(tempDir('dptrain-int-'), 'run');
  const run = startCli(['train', '--epochs', LONG, '--out', out, '--log-format', 'json']);
  await run.waitFor(/"msg":"epoch 1\/300/);
  run.child.kill('SIGTERM');
  const exit = await run.exited;
  assert.match(run.output(), /"signal":"SIGTERM"/);
  assertInterrupted(exit, run.output().replace(/\\"/g, '"'), out);
});

test('a second Ctrl-C exits 130 at once, without waiting for the step in progress and without a stack trace', { timeout: 120_000 }, async () => {
  // One full-batch step of a wide MLP takes seconds: the first Ctrl-C would wait for it. A fixed
  // --workers skips --workers auto's probe, which times that step on both engines before training.
  const out = path.join(tempDir('dptrain-int-'), 'run');
  const run = startCli(['train', '--model', 'mlp:784-1024-1024-10', '--batch-size', 'full', '--workers', '2', '--out', out]);
  await run.waitFor(/INFO: training mlp:784-1024-1024-10/);
  run.child.kill('SIGINT');
  await run.waitFor(/SIGINT: stopping after the current step/);
  const second = performance.now();
  run.child.kill('SIGINT');
  const exit = await run.exited;
  assert.equal(exit.code, 130, run.output());
  assert.ok(exit.at - second < 1_500, `exited ${Math.round(exit.at - second)} ms after the second Ctrl-C`);
  assert.match(run.output(), /SIGINT again: exiting at once/);
  assert.doesNotMatch(run.output(), /\n\s+at /, 'no stack trace');
  assert.ok(!fs.existsSync(path.join(out, 'final.safetensors')), 'the step in progress was not waited for');
});

test('the library: train(options, { signal }) stops at the next step with stopReason "interrupted" and resolves', async () => {
  const data = makeClassification(400, 4, 3);
  const controller = new AbortController();
  let steps = 0;
  const result = await train(
    { model: 'mlp:4-8-3', batchSize: 10, epochs: 5, engine: 'inline', workers: 1, valSplit: 0 },
    { data, signal: controller.signal, callbacks: [{ onStep: () => void (++steps === 7 && controller.abort()) }] },
  );
  assert.equal(result.summary.stopReason, 'interrupted');
  assert.equal(result.summary.steps, 7);
  assert.equal(result.history.length, 0, 'no record for the partial epoch');
});

for (const when of ['mid-epoch', 'epoch end'] as const) {
  test(`the library: interrupted at ${when === 'mid-epoch' ? 'step 13 (mid-epoch)' : 'the end of epoch 2'}, checkpointed, resumed: the same bits as an uninterrupted run`, async () => {
    const data = makeClassification(300, 4, 3);
    const options = { model: 'mlp:4-8-3', batchSize: 16, epochs: 4, engine: 'inline' as const, workers: 1, lrSchedule: 'cosine' as const, evalEvery: 5 };
    const full = await train(options, { data });
    const dir = tempDir('dptrain-int-');
    const controller = new AbortController();
    const trigger = when === 'mid-epoch'
      ? { onStep: (r: { step: number }) => void (r.step === 12 && controller.abort()) }
      : { onEpochEnd: (r: { epoch: number }) => void (r.epoch === 1 && controller.abort()) };
    const stopped = await train({ ...options, checkpointDir: dir, checkpointEvery: '1000steps' }, { data, signal: controller.signal, callbacks: [trigger] });
    assert.equal(stopped.summary.stopReason, 'interrupted');
    assert.equal(stopped.summary.steps, when === 'mid-epoch' ? 13 : 34);
    assert.deepEqual(fs.readdirSync(dir), [`ckpt-${String(stopped.summary.steps).padStart(9, '0')}.safetensors`]);
    const resumed = await train({ resume: dir }, { data });
    assert.equal(resumed.summary.stopReason, 'epochs');
    assert.deepEqual(resumed.params, full.params);
    assert.deepEqual(resumed.history, full.history.map((e, i) => ({ ...e, ms: resumed.history[i].ms, samplesPerSec: resumed.history[i].samplesPerSec })));
  });
}

test('Ctrl-C during `dptrain sweep`: the run in progress is written as interrupted, results.json says which batch sizes finished, the report builds, and the same sweep again trains only that run', { timeout: 180_000 }, async () => {
  const out = path.join(tempDir('dptrain-int-'), 'sweep');
  const args = [
    'sweep', '--batch-sizes', '8,64,1', '--target', 'val_acc=0.99', '--max-epochs', '3', '--dataset', 'synthetic:blobs?n=2000&d=8&classes=3&seed=1',
    '--model', 'mlp:8-16-3', '--workers', '1', '--gns-samples', '0', '--out', out,
  ];
  const run = startCli(args);
  // The third run (B = 1, 1800 steps per epoch) is interrupted.
  await run.waitFor(/run 2\/3 .*\n/);
  run.child.kill('SIGINT');
  const exit = await run.exited;
  const output = run.output();
  assert.equal(exit.code, 130, output);
  assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
  assert.match(output, /sweep interrupted during run b1-seed0: finished batch sizes 8, 64; not finished: 1/);
  const results = readJson(path.join(out, 'results.json'));
  assert.deepEqual(results.interrupted, { run: 'b1-seed0', finished: [8, 64], unfinished: [1] });
  assert.deepEqual((results.batchSizes as { batchSize: number }[]).map((b) => b.batchSize), [8, 64]);
  assert.equal(readJson(path.join(out, 'runs', 'b1-seed0', 'summary.json')).stopReason, 'interrupted');
  assert.ok(!fs.existsSync(path.join(out, 'runs', 'b1-seed0', 'outcome.json')), 'an interrupted run has no outcome: a later sweep trains it again');
  const report = runCli(['report', out]);
  assert.equal(report.status, 0, report.stderr);

  // The same sweep again with --resume (a used --out is refused without it): the finished runs
  // are kept, the interrupted one is trained again.
  const again = runCli([...args, '--resume']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /run 1\/3 b8-seed0 .*\[done earlier\]\n.*run 2\/3 b64-seed0 .*\[done earlier\]\n(?:.*\n)*?.*run 3\/3 b1-seed0 \(B=1, [^\n]*\n/);
  assert.doesNotMatch(again.stderr, /run 3\/3 .*\[done earlier\]/);
  assert.doesNotMatch(again.stderr, /--overwrite/, 'the user never typed --overwrite: the sweep clears its own unfinished run');
  const complete = readJson(path.join(out, 'results.json'));
  assert.equal(complete.interrupted, undefined);
  assert.deepEqual((complete.batchSizes as { batchSize: number }[]).map((b) => b.batchSize), [8, 64, 1]);
});
