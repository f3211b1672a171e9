/** `dptrain evaluate`: through the CLI, with default flags first (docs/cli.md, "evaluate"). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, runCliAsync, tempDir } from './helpers.js';
import { CHROMIUM, noBrowser } from './browser.helpers.js';
import { writeFlowersCsv, writeSeparableCsv } from './use.helpers.js';

let mnistRun: string | null = null;
/** One short run on the bundled digits (default model, engine and workers), shared by the tests below. */
function trainedOnMnist(): string {
  if (mnistRun) return mnistRun;
  const out = path.join(tempDir('dptrain-evaluate-'), 'run');
  const result = runCli(['train', '--epochs', '1', '--out', out], { timeoutMs: 300_000 });
  assert.equal(result.status, 0, result.stderr);
  return (mnistRun = out);
}

test('`dptrain evaluate runs/x/final.safetensors` scores the held-out digits exactly as the run\'s final validation', async () => {
  const out = trainedOnMnist();
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  const model = path.join(out, 'final.safetensors');
  const [table, json, inlineRun] = await Promise.all([
    runCliAsync(['evaluate', model]),
    runCliAsync(['evaluate', model, '--json']),
    runCliAsync(['evaluate', model, '--json', '--engine', 'inline']),
  ]);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /on the held-out part of mnist \(1,000 of 10,000 samples, the split the model was trained with\)/);
  assert.match(table.stdout, new RegExp(`accuracy  ${(summary.final.valAccuracy * 100).toFixed(2)}%  \\(${Math.round(summary.final.valAccuracy * 1000)} of 1,000\\)`));
  assert.match(table.stdout, /class +precision +recall +f1 +support\n/);
  assert.match(table.stdout, /macro avg/);
  assert.match(table.stdout, /confusion matrix \(rows: true class, columns: predicted class\)/);

  assert.equal(json.status, 0, json.stderr);
  const e = JSON.parse(json.stdout);
  // Same engine and workers as the run (the kernel set `auto` picks may differ between processes
  // under load, so the loss is compared up to float rounding; it is bit-identical with --kernels fixed).
  assert.equal(e.accuracy, summary.final.valAccuracy);
  assert.ok(Math.abs(e.loss - summary.final.valLoss) <= 1e-6 * summary.final.valLoss, `${e.loss} vs ${summary.final.valLoss}`);
  assert.equal(e.samples, 1000);
  assert.equal(e.confusion.flat().reduce((a: number, b: number) => a + b, 0), 1000);
  assert.equal(e.correct, Math.round(e.accuracy * 1000));
  // One worker (another split of the rows): the same up to float rounding.
  const inline = JSON.parse(inlineRun.stdout);
  assert.equal(inline.accuracy, e.accuracy);
  assert.ok(Math.abs(inline.loss - e.loss) <= 1e-6 * e.loss, `${inline.loss} vs ${e.loss}`);
});

test('evaluate --out writes evaluation.json and an HTML heat map that renders in headless Chromium', { skip: noBrowser('the rendering test'), timeout: 300_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const out = trainedOnMnist();
  const dir = path.join(tempDir('dptrain-evaluate-out-'), 'eval');
  // The browser starts while evaluate runs.
  const browser = chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  try {
    const result = await runCliAsync(['evaluate', path.join(out, 'final.safetensors'), '--dataset', 'mnist', '--out', dir]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /on mnist \(10,000 samples\)/);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'evaluation.json'), 'utf8'));
    assert.equal(json.samples, 10_000);
    assert.equal(json.part, 'all');
    const html = fs.readFileSync(path.join(dir, 'evaluation.html'), 'utf8');
    assert.doesNotMatch(html, /<script|<link|url\(/, 'self-contained: no script or external resource');
    const page = await (await browser).newPage({ viewport: { width: 900, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => void (!r.url().startsWith('file://') && requests.push(r.url())));
    await page.goto('file://' + path.join(dir, 'evaluation.html'));
    const shot = path.join(dir, 'evaluation.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10_000, 'a screenshot');
    // The diagonal is dark (most digits right), off-diagonal cells light: read the rendered colours.
    const cells = (await page.evaluate(`[...document.querySelectorAll('table.confusion tr')].slice(1).map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => getComputedStyle(td).backgroundColor))`)) as string[][];
    assert.equal(cells.length, 10);
    const red = (css: string) => Number(/rgb\((\d+)/.exec(css)![1]);
    for (let t = 0; t < 10; t++) {
      assert.ok(red(cells[t][t]) < 100, `cell ${t},${t} is dark (${cells[t][t]})`);
      assert.ok(red(cells[t][(t + 1) % 10]) > 200, `cell ${t},${(t + 1) % 10} is light (${cells[t][(t + 1) % 10]})`);
    }
    assert.deepEqual(requests, []);
  } finally {
    await (await browser).close();
  }
});

test('evaluate a regression model: MSE (= the loss), RMSE, MAE and R²', async () => {
  const out = path.join(tempDir('dptrain-evaluate-reg-'), 'run');
  const spec = 'synthetic:teacher?n=2000&d=5&noise=0.1&seed=4';
  const trained = runCli(['train', '--dataset', spec, '--epochs', '5', '--out', out, '--engine', 'inline']);
  assert.equal(trained.status, 0, trained.stderr);
  const [result, table] = await Promise.all([runCliAsync(['evaluate', path.join(out, 'final.safetensors'), '--json']), runCliAsync(['evaluate', path.join(out, 'final.safetensors')])]);
  assert.equal(result.status, 0, result.stderr);
  const e = JSON.parse(result.stdout);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(e.task, 'regression');
  assert.ok(Math.abs(e.loss - summary.final.valLoss) <= 1e-6 * summary.final.valLoss, `${e.loss} vs ${summary.final.valLoss}`);
  assert.ok(Math.abs(e.mse - e.loss) <= 1e-6 * e.loss, 'one output: the MSE is the loss');
  assert.ok(Math.abs(e.rmse - Math.sqrt(e.mse)) < 1e-12);
  assert.ok(e.mae > 0 && e.mae <= e.rmse + 1e-12);
  assert.ok(e.r2 > 0.9 && e.r2 <= 1, `R² ${e.r2}`);
  assert.match(table.stdout, /mse +\d\.\d{6}\n +rmse +\d\.\d{6}\n +mae +\d\.\d{6}\n +r2 +0\.9\d+/);
  // On classes: mnist takes no ?task=, so the fix is data of the model's task, not a spec option.
  const digits = await runCliAsync(['evaluate', path.join(out, 'final.safetensors'), '--dataset', 'mnist']);
  assert.equal(digits.status, 2, digits.stderr);
  assert.match(digits.stderr, /is a regression model but dataset mnist is a classification task — the tasks differ, so evaluate it on regression data, such as the data it was trained on \(synthetic:teacher\?n=2000&d=5&noise=0\.1&seed=4\) \[dptrain\.data\.taskMismatch\]\n$/);
  assert.doesNotMatch(digits.stderr, /\?task=/);
});

test('bad input to evaluate is one line and exit 2: another model\'s data, other columns, no label column, a corrupt or foreign file; an extra id column is left out', async () => {
  const dir = tempDir('dptrain-evaluate-bad-');
  const csv = writeFlowersCsv(dir);
  const out = path.join(dir, 'run');
  const trained = runCli(['train', '--dataset', `csv:${csv}`, '--standardize', '--epochs', '2', '--out', out, '--engine', 'inline']);
  assert.equal(trained.status, 0, trained.stderr);
  const model = path.join(out, 'final.safetensors');
  const oneLine = async (args: string[], code: string, pattern: RegExp) => {
    const r = await runCliAsync(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.includes(`[${code}]`), r.stderr);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  };
  // The files of the checks below, which then run at once.
  const other = path.join(dir, 'other.csv');
  fs.writeFileSync(other, 'a,b,c,d,species\n1,2,3,4,setosa\n2,3,4,5,virginica\n');
  const rose = path.join(dir, 'rose.csv');
  fs.writeFileSync(rose, 'sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4,rose\n2,3,4,5,setosa\n');
  const corrupt = path.join(dir, 'corrupt.safetensors');
  const bytes = fs.readFileSync(model);
  fs.writeFileSync(corrupt, bytes.subarray(0, bytes.length - 7));
  // Columns reordered by name are fine: the same figures as the file itself.
  const reordered = path.join(dir, 'reordered.csv');
  const [head, ...rows] = fs.readFileSync(csv, 'utf8').trim().split('\n').map((l) => l.split(','));
  const order = [4, 3, 2, 1, 0];
  fs.writeFileSync(reordered, [head, ...rows].map((r) => order.map((j) => r[j]).join(',')).join('\n') + '\n');
  // An id column in front (a user try: refused before, where predict ignores it) is left out, named in a warning.
  const withId = path.join(dir, 'with-id.csv');
  fs.writeFileSync(withId, [['id', ...head], ...rows.map((r, i) => [String(i), ...r])].map((r) => r.join(',')).join('\n') + '\n');
  // Without the label column: the loader's fallback (the last column) would make petal_width the label.
  const unlabelled = path.join(dir, 'unlabelled.csv');
  fs.writeFileSync(unlabelled, [head, ...rows].map((r) => r.slice(0, 4).join(',')).join('\n') + '\n');
  // An id and the features, no label: petal_width would be the label, and the id a feature.
  const idNoLabel = path.join(dir, 'id-no-label.csv');
  fs.writeFileSync(idNoLabel, [['id', ...head], ...rows.map((r, i) => [String(i), ...r])].map((r) => r.slice(0, 5).join(',')).join('\n') + '\n');
  // The same rows with the classes as indices (a user try: scored by position against the names, 21 %).
  const indexed = path.join(dir, 'indexed.csv');
  const species = [...new Set(rows.map((r) => r[4]))];
  fs.writeFileSync(indexed, [head, ...rows.map((r) => [...r.slice(0, 4), String(species.indexOf(r[4]))])].map((r) => r.join(',')).join('\n') + '\n');
  const [a, b, c] = await Promise.all([
    runCliAsync(['evaluate', model, '--dataset', `csv:${csv}`, '--json']),
    runCliAsync(['evaluate', model, '--dataset', `csv:${reordered}?label=species`, '--json']),
    runCliAsync(['evaluate', model, '--dataset', `csv:${withId}`, '--json']),
    // The model's features only, by name: the rows predict takes.
    oneLine(['evaluate', model, '--dataset', `csv:${unlabelled}`], 'dptrain.data.labelColumnMissing', /^dptrain: error: dataset csv:.*unlabelled\.csv has no label column: its columns are the features of .*final\.safetensors \("sepal_length", "sepal_width", "petal_length", "petal_width"\), so it cannot be evaluated — use dptrain predict .*final\.safetensors --input .*unlabelled\.csv for its predictions, or add the label column "species" with the true values to evaluate \[/),
    oneLine(['evaluate', model, '--dataset', `csv:${idNoLabel}`], 'dptrain.data.labelColumnMissing', /^dptrain: error: dataset csv:.*id-no-label\.csv has no column "species", the label .* was trained to predict \(columns: "id", "sepal_length", "sepal_width", "petal_length", "petal_width"\) — add the true values as a column "species" to evaluate, or use dptrain predict for rows without labels \[/),
    // A dataset with other columns: both sides named.
    oneLine(['evaluate', model, '--dataset', `csv:${other}`], 'dptrain.data.featuresMismatch', /has the features "a", "b", "c", "d" but .* takes "sepal_length", "sepal_width", "petal_length", "petal_width"/),
    // Another model's data (the digits for a flowers model).
    oneLine(['evaluate', model, '--dataset', 'mnist'], 'dptrain.data.featuresMismatch', /784 features.* takes 4 .*\(4 features/),
    oneLine(['evaluate', model, '--dataset', `csv:${indexed}`], 'dptrain.data.classesMismatch', /gives its labels as class indices, but .* names its classes \("setosa", "versicolor", "virginica"\) — write the labels as those names/),
    // A class the model does not know.
    oneLine(['evaluate', model, '--dataset', `csv:${rose}`], 'dptrain.data.classesMismatch', /classes "rose" that .* does not know/),
    // A corrupt model file, a CSV given as the model, a missing file.
    oneLine(['evaluate', corrupt, '--dataset', `csv:${csv}`], 'dptrain.model.cannotLoadModel', /corrupt\.safetensors cannot be used as a model: .*/),
    oneLine(['evaluate', csv, '--dataset', `csv:${csv}`], 'dptrain.model.cannotLoadModel', /looks like CSV/),
    oneLine(['evaluate', path.join(dir, 'nope.safetensors')], 'dptrain.model.modelFileNotFound', /not found/),
  ]);
  assert.equal(JSON.parse(a.stdout).accuracy, JSON.parse(b.stdout).accuracy);
  assert.deepEqual(JSON.parse(a.stdout).confusion, JSON.parse(b.stdout).confusion);
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual(JSON.parse(c.stdout).confusion, JSON.parse(a.stdout).confusion);
  assert.match(c.stderr, /WARN: dataset csv:.*with-id\.csv: ignoring the columns "id" \(not features of the model\)/);
});

test('evaluate --dataset csv:FILE of the model\'s pixel columns only (no label column, no feature names) says so and names predict, which takes the file', async () => {
  const dir = tempDir('dptrain-evaluate-nolabel-');
  const out = path.join(dir, 'run');
  const trained = runCli(['train', '--model', 'logreg:784-10', '--max-steps', '2', '--engine', 'inline', '--out', out]);
  assert.equal(trained.status, 0, trained.stderr);
  const model = path.join(out, 'final.safetensors');
  // 784 scaled pixels a row, as a user exports the digits for predict (the last column read as a label would leave 783).
  const row = (i: number) => Array.from({ length: 784 }, (_, j) => String(((i * 784 + j) % 7) / 8)).join(',');
  const bare = path.join(dir, 'p_scaled.csv');
  fs.writeFileSync(bare, [0, 1, 2].map(row).join('\n') + '\n');
  const named = path.join(dir, 'p_named.csv');
  fs.writeFileSync(named, [Array.from({ length: 784 }, (_, j) => `px${j}`).join(','), ...[0, 1, 2].map(row)].join('\n') + '\n');
  const [a, b, predicted] = await Promise.all([
    runCliAsync(['evaluate', model, '--dataset', `csv:${bare}`]),
    runCliAsync(['evaluate', model, '--dataset', `csv:${named}`]),
    runCliAsync(['predict', model, '--input', bare]),
  ]);
  for (const [r, file] of [[a, 'p_scaled'], [b, 'p_named']] as const) {
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^dptrain: error: dataset csv:.*${file}\\.csv has no label column: it has 784 columns, as many as the features .*final\\.safetensors takes, so it cannot be evaluated — use dptrain predict .*final\\.safetensors --input .*${file}\\.csv for its predictions, or add the label column with the true values to evaluate \\[dptrain\\.data\\.labelColumnMissing\\]`));
  }
  // The command it names takes the file.
  assert.equal(predicted.status, 0, predicted.stderr);
  assert.equal(predicted.stdout.trim().split('\n').length, 4);
});

test('evaluate without --dataset, from another directory than the run\'s relative csv: path: one line saying the model recorded it and to give --dataset', () => {
  const dir = tempDir('dptrain-evaluate-recorded-');
  writeSeparableCsv(dir, 'train.csv', 60, 1);
  const trained = runCli(['train', '--dataset', 'csv:train.csv', '--max-steps', '1', '--engine', 'inline', '--out', 'run'], { cwd: dir });
  assert.equal(trained.status, 0, trained.stderr);
  const sub = path.join(dir, 'sub');
  fs.mkdirSync(sub);
  const missing = runCli(['evaluate', '../run/final.safetensors'], { cwd: sub });
  assert.equal(missing.status, 2, missing.stderr);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  assert.match(
    missing.stderr,
    /CSV file not found: .*\/sub\/train\.csv — the dataset csv:train\.csv is the one \.\.\/run\/final\.safetensors records from its training run \(a relative path in it starts where that run was started; here it starts at .*\/sub\); give --dataset csv:PATH with the data's path from here \[dptrain\.data\.fileNotFound\]\n$/,
  );
  // The fix the line gives; a --dataset given and missing keeps the loader's own message.
  assert.equal(runCli(['evaluate', '../run/final.safetensors', '--dataset', 'csv:../train.csv'], { cwd: sub }).status, 0);
  assert.doesNotMatch(runCli(['evaluate', '../run/final.safetensors', '--dataset', 'csv:train.csv'], { cwd: sub }).stderr, /records from its training run/);
});

let separableRun: { dir: string; model: string } | null = null;
/** `dptrain train --dataset csv:train.csv` with default flags on iris-like separable data (3 classes, `species` the last column). */
function trainedOnSeparable(): { dir: string; model: string } {
  if (separableRun) return separableRun;
  const dir = tempDir('dptrain-evaluate-label-');
  const train = writeSeparableCsv(dir, 'train.csv', 60, 1);
  const out = path.join(dir, 'run');
  const trained = runCli(['train', '--dataset', `csv:${train}`, '--out', out]);
  assert.equal(trained.status, 0, trained.stderr);
  return (separableRun = { dir, model: path.join(out, 'final.safetensors') });
}

test('evaluate --dataset csv:TEST finds the label column the model file records, wherever it is; an explicit ?label= still wins', async () => {
  const { dir, model } = trainedOnSeparable();
  const same = writeSeparableCsv(dir, 'same.csv', 30, 2);
  // The same rows with `species` first (where the default guess, the last column, does not look).
  const moved = writeSeparableCsv(dir, 'moved.csv', 30, 2, { order: [3, 0, 1, 2] });
  const [a, b, explicit] = await Promise.all([
    runCliAsync(['evaluate', model, '--dataset', `csv:${same}`, '--json']),
    runCliAsync(['evaluate', model, '--dataset', `csv:${moved}`, '--json']),
    // ?label= names another column: that one is the label, and `species` a (non-numeric) feature.
    runCliAsync(['evaluate', model, '--dataset', `csv:${moved}?label=petal_length`]),
  ]);
  assert.equal(b.status, 0, b.stderr);
  assert.deepEqual(JSON.parse(b.stdout).confusion, JSON.parse(a.stdout).confusion);
  assert.equal(JSON.parse(b.stdout).accuracy, JSON.parse(a.stdout).accuracy);
  assert.equal(explicit.status, 2, explicit.stderr);
  assert.match(explicit.stderr, /column "species" \(1\): field "setosa" is not a number.*\[dptrain\.data\.badCsvRow\]/);
});

test('a class neither in the data nor predicted is left out of the report and the macro average, as scikit-learn does', async () => {
  const { dir, model } = trainedOnSeparable();
  // Two of the model's three classes.
  const two = writeSeparableCsv(dir, 'two.csv', 20, 3, { classes: ['setosa', 'versicolor'] });
  const [json, table] = await Promise.all([runCliAsync(['evaluate', model, '--dataset', `csv:${two}`, '--json']), runCliAsync(['evaluate', model, '--dataset', `csv:${two}`])]);
  assert.equal(json.status, 0, json.stderr);
  const e = JSON.parse(json.stdout);
  assert.equal(e.accuracy, 1, 'separable data');
  assert.deepEqual(e.classes.map((c: { name: string }) => c.name), ['setosa', 'versicolor']);
  assert.deepEqual(e.macro, { precision: 1, recall: 1, f1: 1 });
  assert.deepEqual(e.confusion, [[10, 0], [0, 10]]);
  assert.equal(table.status, 0, table.stderr);
  assert.doesNotMatch(table.stdout, /virginica/);
  assert.match(table.stdout, /macro avg +1\.0000 +1\.0000 +1\.0000 +20\n/);
});

test('the regression page\'s predicted-against-true scatter has readable ticks on both axes', { skip: noBrowser('the rendering test'), timeout: 300_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const root = tempDir('dptrain-evaluate-scatter-');
  const run = path.join(root, 'run');
  const trained = runCli(['train', '--dataset', 'synthetic:teacher?n=600&d=3', '--model', 'linreg:3-1', '--epochs', '3', '--engine', 'inline', '--out', run]);
  assert.equal(trained.status, 0, trained.stderr);
  const dir = path.join(root, 'eval');
  const result = await runCliAsync(['evaluate', path.join(run, 'final.safetensors'), '--out', dir]);
  assert.equal(result.status, 0, result.stderr);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
    await page.goto('file://' + path.join(dir, 'evaluation.html'));
    await page.screenshot({ path: path.join(dir, 'evaluation.png'), fullPage: true });
    type Box = { value: number; left: number; right: number; top: number; bottom: number };
    // The numbers written below the plot's frame (x axis) and left of it (y axis), and the dots.
    const { xs, ys, dots } = (await page.evaluate(`(() => {
      const box = (e) => { const b = e.getBoundingClientRect(); return { left: b.left, right: b.right, top: b.top, bottom: b.bottom }; };
      const frame = box(document.querySelector('svg rect'));
      const numbers = [...document.querySelectorAll('svg text')].filter((t) => t.textContent.trim() !== '' && Number.isFinite(Number(t.textContent))).map((t) => ({ value: Number(t.textContent), ...box(t) }));
      return {
        frame,
        xs: numbers.filter((n) => n.top >= frame.bottom - 1).sort((a, b) => a.left - b.left),
        ys: numbers.filter((n) => n.right <= frame.left + 1).sort((a, b) => b.top - a.top),
        dots: [...document.querySelectorAll('svg circle')].map((c) => { const b = box(c); return { x: (b.left + b.right) / 2, y: (b.top + b.bottom) / 2 }; }),
      };
    })()`)) as { xs: Box[]; ys: Box[]; dots: { x: number; y: number }[]; frame: Omit<Box, 'value'> };
    for (const [axis, ticks] of [['x', xs], ['y', ys]] as const) {
      assert.ok(ticks.length >= 4, `${axis}: ${ticks.length} tick values (${ticks.map((t) => t.value).join(', ')})`);
      const step = ticks[1].value - ticks[0].value;
      const centre = (t: Box) => (axis === 'x' ? (t.left + t.right) / 2 : (t.top + t.bottom) / 2);
      const gap = centre(ticks[1]) - centre(ticks[0]);
      ticks.slice(1).forEach((t, i) => {
        assert.ok(Math.abs(t.value - ticks[i].value - step) < 1e-9 * Math.max(1, Math.abs(step)) && step > 0, `${axis}: evenly spaced values, increasing along the axis`);
        assert.ok(Math.abs(centre(t) - centre(ticks[i]) - gap) < 1.5, `${axis}: evenly placed`);
        // Apart: a label ends before the next begins.
        assert.ok(axis === 'x' ? ticks[i].right < t.left : t.bottom < ticks[i].top, `${axis}: ${ticks[i].value} and ${t.value} do not overlap`);
      });
    }
    // Every dot lies within the range the ticks label.
    const [x0, x1] = [xs[0], xs.at(-1)!].map((t) => (t.left + t.right) / 2);
    const [y0, y1] = [ys[0], ys.at(-1)!].map((t) => (t.top + t.bottom) / 2);
    assert.ok(dots.length > 0);
    for (const d of dots) assert.ok(d.x >= x0 - 1 && d.x <= x1 + 1 && d.y <= y0 + 1 && d.y >= y1 - 1, `dot at ${d.x}, ${d.y} within the ticks`);
  } finally {
    await browser.close();
  }
});
