// Colour only on a terminal and never with NO_COLOR (https://no-color.org); the progress line
// still draws on a terminal without colour (issue 12, item 7). A real pseudo-terminal from
// util-linux `script` stands in for the user's terminal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { binPath, repoRoot, runCli } from './helpers.js';

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const run = `${process.execPath} ${binPath} train --dataset 'synthetic:blobs?n=3000&d=2&classes=2' --model logreg:2-2 --epochs 2 --batch-size 1 --engine inline --workers 1`;
/** SGR escapes (colours); the progress line's erase-line \x1b[2K is not one. */
const COLOUR = /\x1b\[[0-9;]*m/;

/** The bytes a terminal would receive from `dptrain train …` under the given environment. */
function onTerminal(env: Record<string, string | undefined>): { status: number | null; screen: string } {
  const result = spawnSync('script', ['-qec', run, '/dev/null'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000, env: { ...process.env, TERM: 'xterm', ...env } });
  return { status: result.status, screen: result.stdout };
}

test('on a terminal, log lines are coloured unless NO_COLOR is set, and the progress line draws either way', { skip: !hasScript && 'util-linux script is not installed' }, () => {
  const coloured = onTerminal({ NO_COLOR: undefined });
  assert.equal(coloured.status, 0, coloured.screen);
  assert.match(coloured.screen, COLOUR, 'pino-pretty colours INFO on a terminal');

  const plain = onTerminal({ NO_COLOR: '1' });
  assert.equal(plain.status, 0, plain.screen);
  assert.doesNotMatch(plain.screen, COLOUR);
  assert.match(plain.screen, /\r\x1b\[2Kepoch 1\/2 \[[#.]{20}\] step \d+\/2700 {2}loss /, 'the progress line, full width');
  assert.match(plain.screen, /done: 2 epochs/);
});

test('an empty NO_COLOR does not disable colour (no-color.org)', { skip: !hasScript && 'util-linux script is not installed' }, () => {
  assert.match(onTerminal({ NO_COLOR: '' }).screen, COLOUR);
});

test('logs written to a pipe or file carry no colour and no progress line', () => {
  const result = runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=2&classes=2', '--model', 'logreg:2-2', '--epochs', '1']);
  assert.equal(result.status, 0, result.stderr);
  assert.doesNotMatch(result.stderr, /\x1b\[/);
});

/** What stays on a terminal's screen: each line as last drawn after \r and erase-line. */
function finalScreen(bytes: string): string[] {
  return bytes
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split(/\r?\n/)
    .map((line) => line.split(/\r\x1b\[2K|\r/).pop() ?? '')
    .filter(Boolean);
}

test('on a terminal, train shows a status line at once, and a mistake still leaves one line', { skip: !hasScript && 'util-linux script is not installed' }, () => {
  const start = spawnSync('script', ['-qec', `${process.execPath} ${binPath} train --dataset 'synthetic:blobs?n=200&d=2&classes=2' --model logreg:2-2 --epochs 1`, '/dev/null'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(start.status, 0, start.stdout);
  assert.ok(start.stdout.startsWith('\r\x1b[2Kdptrain '), `the first bytes are the status line: ${JSON.stringify(start.stdout.slice(0, 80))}`);
  assert.match(start.stdout, /loading the data and starting the workers/);

  const mistake = spawnSync('script', ['-qec', `${process.execPath} ${binPath} train --dataset csv:/nonexistent/data.csv`, '/dev/null'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(mistake.status, 2, mistake.stdout);
  const screen = finalScreen(mistake.stdout);
  assert.equal(screen.length, 1, JSON.stringify(screen));
  assert.match(screen[0], /^dptrain: error: CSV file not found: \/nonexistent\/data\.csv/);
});
