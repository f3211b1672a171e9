// Issue 13 item 7: a full disk under --out (a real 300 KB tmpfs) while writing config.json,
// metrics.jsonl or final.safetensors is one error line with a code, naming what was and was not
// written, exit 1; what was written before stays whole.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, tempDir, type CliResult } from './helpers.js';

const PAGE = 4096;
let mountPoint = '';
let skipReason: string | false = false;

before(() => {
  mountPoint = tempDir('dptrain-disk-full-');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=300k', 'tmpfs', mountPoint], { encoding: 'utf8' });
  if (mounted.status !== 0) skipReason = `cannot mount a 300 KB tmpfs here (${(mounted.stderr || mounted.error?.message || 'mount failed').trim()}); needs root`;
});

after(() => {
  if (!skipReason) spawnSync('umount', [mountPoint]);
  fs.rmSync(mountPoint, { recursive: true, force: true });
});

/** A fresh --out inside the tmpfs, with a filler file leaving about `freeBytes` free. */
function outWithFree(name: string, freeBytes: number | null): string {
  for (const entry of fs.readdirSync(mountPoint)) fs.rmSync(path.join(mountPoint, entry), { recursive: true, force: true });
  const out = path.join(mountPoint, name);
  fs.mkdirSync(out);
  if (freeBytes !== null) {
    const stats = fs.statfsSync(mountPoint);
    const available = stats.bavail * stats.bsize;
    fs.writeFileSync(path.join(mountPoint, 'filler'), Buffer.alloc(Math.max(0, available - freeBytes)));
  }
  return out;
}

function assertOutWriteError(r: CliResult, file: string): string {
  assert.equal(r.status, 1, `exit 1: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  const line = lines[lines.length - 1];
  assert.match(line, /^dptrain: error: /);
  assert.ok(line.endsWith('[dptrain.train.outWrite]'), line);
  assert.match(line, new RegExp(`cannot write ${file.replace('.', '\\.')} in --out .*: no space left on device \\(ENOSPC\\); ${file.replace('.', '\\.')} was not written`));
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, 'no stack trace');
  return line;
}

function assertNoTempFiles(out: string): void {
  assert.deepEqual(fs.readdirSync(out).filter((name) => name.endsWith('.tmp')), [], 'no temp file left');
}

function jsonLines(file: string): unknown[] {
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), 'metrics.jsonl ends with a whole line');
  return text === '' ? [] : text.trimEnd().split('\n').map((line) => JSON.parse(line));
}

describe('a full disk under --out', () => {
  test('final.safetensors that does not fit: exit 1, one line naming it and what was written before it', (t) => {
    if (skipReason) return t.skip(skipReason);
    const out = outWithFree('run', null);
    // 4·20000 + 20000 + 20000·3 + 3 = 160,003 parameters: 640 KB of F32 on a 300 KB disk.
    const r = runCli(['train', '--dataset', 'synthetic:blobs?n=64&d=4&classes=3', '--model', 'mlp:4-20000-3', '--epochs', '1', '--batch-size', '32', '--out', out]);
    const line = assertOutWriteError(r, 'final.safetensors');
    assert.match(line, /written before it: config\.json, metrics\.jsonl \(\d+ records\), summary\.json/);
    assert.deepEqual(fs.readdirSync(out).sort(), ['config.json', 'metrics.jsonl', 'summary.json']);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).model, 'mlp:4-20000-3');
    assert.ok(jsonLines(path.join(out, 'metrics.jsonl')).length >= 2);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).steps, 2);
  });

  test('metrics.jsonl filling the disk mid-run: exit 1, one line; the file keeps whole records only', (t) => {
    if (skipReason) return t.skip(skipReason);
    const out = outWithFree('run', 3 * PAGE);
    // 40 epochs: enough records to fill the disk even if step records were logged less often.
    const r = runCli(['train', '--dataset', 'synthetic:blobs?n=400&d=4&classes=3', '--model', 'logreg:4-3', '--epochs', '40', '--batch-size', '8', '--out', out]);
    const line = assertOutWriteError(r, 'metrics.jsonl');
    const kept = Number(/it keeps its first (\d+) records whole/.exec(line)?.[1]);
    assert.match(line, /written before it: config\.json/);
    const records = jsonLines(path.join(out, 'metrics.jsonl'));
    assert.equal(records.length, kept);
    assert.ok(kept > 0, `some records fit (${kept})`);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).model, 'logreg:4-3');
    assert.ok(!fs.existsSync(path.join(out, 'final.safetensors')));
    assertNoTempFiles(out);
  });

  test('config.json on a disk with no space left: exit 1, one line saying nothing was written', (t) => {
    if (skipReason) return t.skip(skipReason);
    const out = outWithFree('run', 0);
    const r = runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'logreg:4-3', '--epochs', '1', '--out', out]);
    const line = assertOutWriteError(r, 'config.json');
    assert.match(line, /nothing was written before it/);
    assert.ok(!fs.existsSync(path.join(out, 'config.json')));
    assertNoTempFiles(out);
  });

  test('dptrain sweep --out on a disk with no space left: exit 1, one outWrite line, no stack trace', (t) => {
    if (skipReason) return t.skip(skipReason);
    const out = outWithFree('sweep', 0);
    const r = runCli(['sweep', '--batch-sizes', '8,32', '--target', 'train_loss=0.5', '--max-epochs', '2', '--out', out, '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'logreg:4-3']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trimEnd().split('\n').at(-1)!, /^dptrain: error: cannot write [a-z.]+ in --out .*: no space left on device \(ENOSPC\).*\[dptrain\.train\.outWrite\]$/);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
    assertNoTempFiles(out);
  });
});
