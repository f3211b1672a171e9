// What `dptrain` loads before it does anything (docs/architecture.md, cli/): start-up loads the
// flags only; a command loads its implementation when it runs, and only a ws run loads the ws
// engine. A loader hook records every module the process loads.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { binPath, tempDir } from './helpers.js';

/** Runs `dptrain ARGS` with a module loader hook; resolves to the modules it loaded (paths under the repository). */
async function modulesLoaded(args: string[]): Promise<{ status: number | null; modules: string[] }> {
  const dir = tempDir('dptrain-startup-');
  const list = path.join(dir, 'loaded.txt');
  fs.writeFileSync(path.join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(list)}, url + '\\n'); return next(url, context); }\n`);
  fs.writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});\n`);
  const status = await new Promise<number | null>((resolve) => {
    execFile(process.execPath, ['--import', pathToFileURL(path.join(dir, 'register.mjs')).href, binPath, ...args], { cwd: dir }, (error) => resolve(error ? (typeof error.code === 'number' ? error.code : null) : 0));
  });
  const modules = fs.readFileSync(list, 'utf8').trim().split('\n').filter((url) => url.startsWith('file:')).map((url) => url.replace(/^.*\/(dist\/src|node_modules)\//, '$1/'));
  return { status, modules };
}

const heavy = /^(node_modules\/(ws|msgpackr|piscina|pino|pino-pretty)\/|dist\/src\/(engine\/ws\/(coordinator|worker|index)|transport\/server|train\/loop|study\/sweep\.js|dashboard|model\/model))/;

test('--version, --help, a command\'s --help and a mistyped flag load the flags only: no training loop, engine, ws, msgpackr, piscina or pino', { timeout: 60_000 }, async () => {
  const runs = await Promise.all([['--version'], ['--help'], ['coordinator', '--help'], ['sweep', '--bogus']].map(async (args) => ({ args, ...(await modulesLoaded(args)) })));
  for (const { args, status, modules } of runs) {
    assert.equal(status, args[1] === '--bogus' ? 2 : 0, args.join(' '));
    assert.ok(modules.includes('dist/src/cli/main.js'), `the hook saw the CLI load: ${modules.slice(0, 5).join(', ')}`);
    assert.deepEqual(modules.filter((m) => heavy.test(m)), [], `dptrain ${args.join(' ')} loaded them`);
  }
});

test('a training run on threads loads the training loop and piscina but not the ws engine, ws or msgpackr', { timeout: 60_000 }, async () => {
  const { status, modules } = await modulesLoaded(['train', '--epochs', '1', '--model', 'logreg:784-10', '--workers', '2']);
  assert.equal(status, 0);
  assert.ok(modules.includes('dist/src/train/loop.js') && modules.some((m) => m.startsWith('node_modules/piscina/')), 'the loop and the pool');
  assert.deepEqual(modules.filter((m) => /^(node_modules\/(ws|msgpackr)\/|dist\/src\/(engine\/ws\/(coordinator|worker|index)|transport\/server))/.test(m)), []);
});
