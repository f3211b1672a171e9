/** The test helpers themselves: what `npm test` leaves behind on the machine. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const helpers = fileURLToPath(new URL('./helpers.js', import.meta.url));

/** Runs a Node process that makes a temp dir with a file in it, prints the dir and exits. */
function makeDirInChild(env: NodeJS.ProcessEnv): string {
  const script = `const { tempDir } = await import(${JSON.stringify(helpers)});
    const fs = await import('node:fs');
    const dir = tempDir('dptrain-helpers-');
    fs.mkdirSync(dir + '/run');
    fs.writeFileSync(dir + '/run/metrics.jsonl', '{}\\n');
    console.log(dir);`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

test('tempDir removes its directory and everything in it when the process exits', () => {
  const dir = makeDirInChild({ ...process.env, DPTRAIN_KEEP_TEST_DIRS: '' });
  assert.ok(dir.includes('dptrain-helpers-'), dir);
  assert.equal(fs.existsSync(dir), false);
});

test('DPTRAIN_KEEP_TEST_DIRS=1 keeps it', () => {
  const dir = makeDirInChild({ ...process.env, DPTRAIN_KEEP_TEST_DIRS: '1' });
  try {
    assert.equal(fs.readFileSync(`${dir}/run/metrics.jsonl`, 'utf8'), '{}\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
