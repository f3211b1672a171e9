// Issue 13 item 9 and issue 12 item 8 (CSV): encoding problems are named as such (byte offset and
// line), the delimiter is detected (`,` `;` tab) or set with ?delimiter=, a label/target column is
// found by name wherever it is, and missing cells are named as missing (line and column).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { loadDataset } from '../src/data/index.js';
import { runCli, tempDir } from './helpers.js';

let dir = '';
let count = 0;
before(() => {
  dir = tempDir('dptrain-csv-input-');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function csv(content: string | Uint8Array): string {
  const file = path.join(dir, `f${count++}.csv`);
  fs.writeFileSync(file, content);
  return file;
}

async function refused(spec: string, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadDataset(spec), (error: unknown) => {
    assert.equal((error as { code?: string }).code, `dptrain.data.${code}`, String(error));
    assert.match((error as Error).message, pattern);
    return true;
  });
}

const SAMPLES = Array.from({ length: 100 }, (_, i) => [i / 10, (i % 5) / 4, i % 2]);

describe('CSV encoding', () => {
  test('dptrain train on a CSV starting with invalid UTF-8: exit 2, one line about the encoding, not --val-split', () => {
    const body = Buffer.from(['a,b,label', ...SAMPLES.map((r) => r.join(','))].join('\n') + '\n');
    const file = csv(Buffer.concat([Buffer.from([0xc3, 0x28]), body]));
    const r = runCli(['train', '--dataset', `csv:${file}`, '--model', 'logreg:2-2']);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /is not valid UTF-8: byte offset 0 \(line 1\) starts 0xc3 0x28 .*— save it as UTF-8.*\[dptrain\.data\.badCsvEncoding\]/);
    assert.doesNotMatch(r.stderr, /val-split/);
  });

  test('a Latin-1 byte on line 3 is named with its byte offset and line', async () => {
    const file = csv(Buffer.concat([Buffer.from('name,x,label\n1,2,0\ncaf'), Buffer.from([0xe9]), Buffer.from(',3,1\n')]));
    await refused(`csv:${file}`, 'badCsvEncoding', /not valid UTF-8: byte offset 22 \(line 3\) starts 0xe9/);
  });

  test('UTF-16 (with a byte-order mark) and NUL bytes are refused as not UTF-8 text', async () => {
    const utf16 = csv(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a,b,label\n1,2,0\n', 'utf16le')]));
    await refused(`csv:${utf16}`, 'badCsvEncoding', /is UTF-16 LE text \(it starts with a UTF-16 LE byte-order mark\), not UTF-8/);
    const nul = csv(Buffer.from('a,b,label\n1,2,0\n3,\u00004,1\n'));
    await refused(`csv:${nul}`, 'badCsvEncoding', /NUL byte at byte offset 18 \(line 3\)/);
  });

  test('sparse files are refused before they are read: 1.5 GB from its size, 400 MB of zeros from its first bytes', async () => {
    const huge = csv('');
    fs.truncateSync(huge, 1.5 * 1024 ** 3);
    const zeros = csv('');
    fs.truncateSync(zeros, 400 * 1024 ** 2);
    const started = performance.now();
    await refused(`csv:${huge}`, 'tooLarge', /holds 1610612736 bytes; a CSV file is read as one string of at most \d+ bytes/);
    await refused(`csv:${zeros}`, 'badCsvEncoding', /NUL byte at byte offset 0 \(line 1\)/);
    assert.ok(performance.now() - started < 1000, `${(performance.now() - started).toFixed(0)} ms`);
  });

  test('a device or pipe (no size) is read in chunks and checked as a file is: /dev/zero refused at once, a FIFO read whole', async () => {
    // A user try: csv:/dev/urandom grew to 15 GB, unchecked, since a device's size reads as 0.
    const started = performance.now();
    await refused('csv:/dev/zero', 'badCsvEncoding', /NUL byte at byte offset 0 \(line 1\)/);
    await refused('csv:/dev/urandom', 'badCsvEncoding', /NUL byte at byte offset \d+/);
    assert.ok(performance.now() - started < 1000, `${(performance.now() - started).toFixed(0)} ms`);
    const fifo = path.join(dir, 'rows.fifo');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status !== 0) return; // no mkfifo: the devices above still ran
    const rows = ['a,b,label', ...SAMPLES.map((r) => r.join(','))].join('\n') + '\n';
    // Another process writes the FIFO: the loader's reads block this thread until its end.
    const source = csv(rows);
    const writer = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', source, fifo], { stdio: 'ignore' });
    const ds = await loadDataset(`csv:${fifo}`);
    await once(writer, 'exit');
    assert.equal(ds.n, SAMPLES.length);
    assert.deepEqual(Array.from(ds.x.subarray(0, 4)), [0, 0, 0.1, 0.25].map(Math.fround));
  });

  test('a UTF-8 byte-order mark is dropped: the first column keeps its name', async () => {
    const ds = await loadDataset(`csv:${csv('\ufefflabel,a,b\n1,0.5,2\n0,1.5,3\n')}`);
    assert.deepEqual(Array.from(ds.y), [1, 0]);
    assert.deepEqual(Array.from(ds.x), [0.5, 2, 1.5, 3]);
  });
});

describe('CSV delimiter', () => {
  const expectedX = [1.5, 2, 3.25, 4];
  test('";" and tab are detected from the first lines', async () => {
    for (const text of ['a;b;label\n1.5;2;0\n3.25;4;1\n', 'a\tb\tlabel\n1.5\t2\t0\n3.25\t4\t1\n']) {
      const ds = await loadDataset(`csv:${csv(text)}`);
      assert.deepEqual(Array.from(ds.x), expectedX);
      assert.deepEqual(Array.from(ds.y), [0, 1]);
    }
  });

  test('a ";" file with decimal commas is split on ";" (and the commas are then named as not numbers, with the fix)', async () => {
    await refused(`csv:${csv('a;b;label\n1,5;2;0\n3,25;4;1\n')}`, 'badCsvRow', /line 2, column "a" \(1\): field "1,5" is not a number — decimal commas are not read: write 1\.5 \(export the file with "\." as the decimal separator\)$/);
  });

  test('a text cell names the fix: drop or encode the column, or a header given ?header=no', async () => {
    await refused(`csv:${csv('id,x1,target\nr0,1,0\nr1,2,1\n')}`, 'badCsvRow', /line 2, column "id" \(1\): field "r0" is not a number — features must be numbers: drop the column "id" \(an id or text\), encode it as numbers, or make it the label with \?label=id$/);
    await refused(`csv:${csv('x1,x2,label\n1,2,0\n2,3,1\n')}?header=no`, 'badCsvRow', /line 1, column 1: field "x1" is not a number — if line 1 is a header, drop \?header=no; otherwise features must be numbers: drop column 1/);
    await refused(`csv:${csv('x1,x2,label\n1,2,0\nx1,x2,label\n2,3,1\n')}`, 'badCsvRow', /line 3, column "x1" \(1\): field "x1" is not a number — this line repeats the header: remove it$/);
  });

  test('?delimiter= overrides the detection (";" "tab" "," "|")', async () => {
    const ds = await loadDataset(`csv:${csv('a|b|label\n1.5|2|0\n3.25|4|1\n')}?delimiter=|`);
    assert.deepEqual(Array.from(ds.x), expectedX);
    const tab = await loadDataset(`csv:${csv('a\tb\tlabel\n1.5\t2\t0\n3.25\t4\t1\n')}?delimiter=tab`);
    assert.deepEqual(Array.from(tab.x), expectedX);
    await refused(`csv:${csv('a;b;label\n1;2;0\n')}?delimiter=,`, 'emptyCsv', /has 1 column/);
    await assert.rejects(loadDataset(`csv:${csv('a,b\n1,2\n')}?delimiter=x`), { code: 'dptrain.data.badOption', message: /delimiter="x" .* must be "," ";" "\|" or "tab"/ });
  });

  test('dptrain train --dataset csv:SEMICOLON.csv trains with default flags', () => {
    const file = csv(['f1;f2;label', ...SAMPLES.map((r) => r.join(';'))].join('\n') + '\n');
    const r = runCli(['train', '--dataset', `csv:${file}`, '--model', 'logreg:2-2', '--epochs', '2']);
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('CSV label column and missing cells', () => {
  test('a column named label or target (any case) is the label wherever it is; otherwise the last column', async () => {
    const first = await loadDataset(`csv:${csv('Target,f1,f2\n1,0.5,7\n0,1.5,8\n')}`);
    assert.deepEqual(Array.from(first.y), [1, 0]);
    assert.deepEqual(Array.from(first.x), [0.5, 7, 1.5, 8]);
    const middle = await loadDataset(`csv:${csv('f1,LABEL,f2\n0.5,1,7\n1.5,0,8\n')}`);
    assert.deepEqual(Array.from(middle.y), [1, 0]);
    assert.deepEqual(Array.from(middle.x), [0.5, 7, 1.5, 8]);
    const last = await loadDataset(`csv:${csv('f1,f2,species\n0.5,7,1\n1.5,8,0\n')}`);
    assert.deepEqual(Array.from(last.y), [1, 0]);
    const byOption = await loadDataset(`csv:${csv('f1,Kind,f2\n0.5,1,7\n1.5,0,8\n')}?label=kind`);
    assert.deepEqual(Array.from(byOption.y), [1, 0]);
  });

  test('both a label and a target column: refused, naming them and ?label= (either guess would train on the other)', async () => {
    await refused(`csv:${csv('label,x1,target\n0,1,0\n1,2,10\n')}`, 'ambiguousLabelColumn', /has the columns "label" and "target", and either could be the label — name it with \?label=NAME/);
    const chosen = await loadDataset(`csv:${csv('label,x1,target\n0,1,0\n1,2,10\n')}?label=label`);
    assert.deepEqual(Array.from(chosen.x), [1, 0, 2, 10]);
  });

  test('an empty cell or an NA marker is missingCsvValue, naming line and column', async () => {
    await refused(`csv:${csv('a,b,label\n1,2,0\n3,,1\n')}`, 'missingCsvValue', /line 3, column "b" \(2\): the value is missing \(an empty cell\)/);
    await refused(`csv:${csv('a,b,label\n1,NA,0\n3,4,1\n')}`, 'missingCsvValue', /line 2, column "b" \(2\): the value is missing \("NA"\)/);
    await refused(`csv:${csv('a,b,label\n1,2,\n3,4,1\n')}`, 'missingCsvValue', /line 2: the label \(column "label" \(3\)\) is missing/);
  });

  test('a NaN (or other missing-value marker) label is missingCsvValue naming file, line and column, not a class "NaN"', async () => {
    const nan = csv('a,b,label\n1,2,0\n3,4,1\n5,6,NaN\n');
    await refused(`csv:${nan}`, 'missingCsvValue', /\/f\d+\.csv line 4: the label \(column "label" \(3\)\) is missing \("NaN"\) — every row needs a label/);
    await refused(`csv:${csv('a,b,species\n1,2,setosa\n3,4,NA\n')}`, 'missingCsvValue', /line 3: the label \(column "species" \(3\)\) is missing \("NA"\)/);
    // Regression labels too: named as missing, not as "not a number".
    await refused(`csv:${csv('a,b,y\n1,2,0.5\n3,4,nan\n')}?task=regression`, 'missingCsvValue', /line 3: the label \(column "y" \(3\)\) is missing \("nan"\)/);
    // Through the CLI with default flags: one line, exit 2.
    const r = runCli(['train', '--dataset', `csv:${nan}`]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /line 4: the label \(column "label" \(3\)\) is missing \("NaN"\).*\[dptrain\.data\.missingCsvValue\]/);
  });

  test('a directory given as a CSV or IDX file says it is a directory', async () => {
    await refused(`csv:${dir}`, 'fileNotFound', /is a directory — pass the path of a \.csv file/);
    await refused(`idx:${dir}?labels=${dir}`, 'fileNotFound', /images file .* is a directory, not an IDX file/);
  });

  test('a short row names the missing columns', async () => {
    await refused(`csv:${csv('a,b,c,label\n1,2,3,0\n4,5\n')}`, 'raggedCsv', /line 3 has 2 fields, but the header has 4 \(columns "c", "label" missing\)/);
  });
});
