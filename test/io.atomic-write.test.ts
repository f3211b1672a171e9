// writeFileAtomic (src/io/atomic-write.ts): a process that exits in the middle of a write (a second
// Ctrl-C calls process.exit) leaves no temp file beside its outputs, and the target untouched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from './helpers.js';

const moduleUrl = new URL('../src/io/atomic-write.js', import.meta.url).href;

test('process.exit during a write (its temp file written, not yet renamed) removes the temp file; the old target stays', () => {
  const dir = tempDir();
  const target = path.join(dir, 'final.safetensors');
  fs.writeFileSync(target, 'old');
  const script = `
    const { writeFileAtomic } = await import(${JSON.stringify(moduleUrl)});
    await writeFileAtomic(${JSON.stringify(target)}, new Uint8Array(8 << 20), {
      onPhase: (phase, file) => { if (phase === 'tempWritten') { console.log(file); process.exit(130); } },
    });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 130, r.stderr);
  const temp = r.stdout.trim();
  assert.match(path.basename(temp), /^final\.safetensors\.\d+-[0-9a-f]{12}\.tmp$/, 'the exit came with the temp file written');
  assert.deepEqual(fs.readdirSync(dir), ['final.safetensors']);
  assert.equal(fs.readFileSync(target, 'utf8'), 'old');
});
