import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DataError } from '../src/errors.js';
import { loadDataset } from '../src/data/index.js';
import { tempDir } from './helpers.js';

const dir = tempDir('dptrain-data-csv-');

let count = 0;
function csv(text: string): string {
  const path = join(dir, `f${count++}.csv`);
  writeFileSync(path, text);
  return path;
}

describe('csv:PATH', () => {
  test('a header row is detected and the last column is the label by default', async () => {
    const ds = await loadDataset(`csv:${csv('a,b,label\n1,2,0\n3,4,1\n5,6,2\n')}`);
    assert.equal(ds.n, 3);
    assert.equal(ds.inputDim, 2);
    assert.deepEqual(Array.from(ds.x), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Array.from(ds.y), [0, 1, 2]);
    assert.equal(ds.task, 'classification');
    assert.equal(ds.numClasses, 3);
  });

  test('a file without a header uses every row as a sample', async () => {
    const ds = await loadDataset(`csv:${csv('1,2,0\n3,4,1\n')}`);
    assert.equal(ds.n, 2);
    assert.deepEqual(Array.from(ds.y), [0, 1]);
  });

  test('the label column is chosen by name or by 0-based index', async () => {
    const path = csv('target,f1,f2\n1,0.5,7\n0,1.5,8\n');
    const byName = await loadDataset(`csv:${path}?label=target`);
    const byIndex = await loadDataset(`csv:${path}?label=0`);
    for (const ds of [byName, byIndex]) {
      assert.deepEqual(Array.from(ds.y), [1, 0]);
      assert.deepEqual(Array.from(ds.x), [0.5, 7, 1.5, 8]);
    }
  });

  test('string labels become classes in sorted order, even without a header', async () => {
    const ds = await loadDataset(`csv:${csv('5.1,3.5,setosa\n7.0,3.2,versicolor\n6.3,3.3,virginica\n4.9,3.0,setosa\n')}`);
    assert.equal(ds.n, 4);
    assert.equal(ds.task, 'classification');
    assert.equal(ds.numClasses, 3);
    assert.deepEqual(Array.from(ds.y), [0, 1, 2, 0]);
  });

  test('non-integer numeric labels make it regression, and task= overrides the guess', async () => {
    const path = csv('x,y\n1,0.5\n2,1.5\n3,-2\n');
    const ds = await loadDataset(`csv:${path}`);
    assert.equal(ds.task, 'regression');
    assert.equal(ds.numClasses, 0);
    assert.deepEqual(Array.from(ds.y), [0.5, 1.5, -2]);
    const ints = csv('x,y\n1,3\n2,1\n');
    const asRegression = await loadDataset(`csv:${ints}?task=regression`);
    assert.equal(asRegression.task, 'regression');
    const signs = await loadDataset(`csv:${csv('x,y\n1,-1\n2,1\n3,-1\n')}?task=classification`);
    assert.deepEqual(Array.from(signs.y), [0, 1, 0]);
    assert.equal(signs.numClasses, 2);
  });

  test('CRLF line ends, blank trailing lines, a BOM and quoted fields with commas are handled', async () => {
    const ds = await loadDataset(`csv:${csv('\ufeff"a, the first",b,"class ""name"""\r\n1,2,"cat, big"\r\n3,"4",dog\r\n\r\n\r\n')}`);
    assert.equal(ds.n, 2);
    assert.deepEqual(Array.from(ds.x), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(ds.y), [0, 1]);
    await assert.rejects(loadDataset(`csv:${csv('a,b\n1,2\n')}?label=class "name"`), { code: 'dptrain.data.unknownLabelColumn' });
  });

  test('a missing file is fileNotFound, naming the path', async () => {
    const path = join(dir, 'missing.csv');
    await assert.rejects(loadDataset(`csv:${path}`), (err: unknown) => err instanceof DataError && err.code === 'dptrain.data.fileNotFound' && err.message.includes(path));
  });

  test('an empty file or a header without rows is emptyCsv', async () => {
    await assert.rejects(loadDataset(`csv:${csv('\n\n')}`), { code: 'dptrain.data.emptyCsv' });
    await assert.rejects(loadDataset(`csv:${csv('a,b,c\n')}`), { code: 'dptrain.data.emptyCsv', message: /no samples/ });
  });

  test('a non-numeric feature is badCsvRow, naming the line and the field', async () => {
    await assert.rejects(loadDataset(`csv:${csv('a,b,label\n1,2,0\n3,oops,1\n')}`), {
      name: 'DataError',
      code: 'dptrain.data.badCsvRow',
      message: /line 3, column "b" \(2\): field "oops" is not a number/,
    });
    await assert.rejects(loadDataset(`csv:${csv('a,b,label\n1,,0\n')}`), { code: 'dptrain.data.missingCsvValue', message: /line 2, column "b" \(2\): the value is missing \(an empty cell\)/ });
  });

  test('an unknown label column is unknownLabelColumn, listing the columns', async () => {
    await assert.rejects(loadDataset(`csv:${csv('a,b,label\n1,2,0\n')}?label=species`), {
      code: 'dptrain.data.unknownLabelColumn',
      message: /"species" is not in .* columns: "a", "b", "label", or an index 0\.\.2/,
    });
    await assert.rejects(loadDataset(`csv:${csv('1,2,0\n')}?label=7`), { code: 'dptrain.data.unknownLabelColumn' });
  });

  test('a row with the wrong number of fields is raggedCsv, naming the line', async () => {
    await assert.rejects(loadDataset(`csv:${csv('a,b,label\n1,2,0\n\n3,4\n')}`), {
      code: 'dptrain.data.raggedCsv',
      message: /line 4 has 2 fields, but the header has 3/,
    });
  });
});
