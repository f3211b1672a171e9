/** `dptrain predict`: CSV (file or stdin) and IDX input, streamed, bad rows, through the CLI (docs/cli.md, "predict"). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { loadDataset } from '../src/data/index.js';
import { loadModel } from '../src/index.js';
import { fitDataToModel, predictStream } from '../src/inference/index.js';
import { repoRoot, runCli, runCliAsync, tempDir } from './helpers.js';
import { FEATURES, SPECIES, parsePredictions, readCsv, writeDigitsIdx, writeFlowersCsv } from './use.helpers.js';

let flowers: { dir: string; csv: string; model: string } | null = null;
/** A model trained through the CLI on a CSV with text labels and --standardize, on all rows (--val-split 0). */
function flowersModel(): { dir: string; csv: string; model: string } {
  if (flowers) return flowers;
  const dir = tempDir('dptrain-predict-');
  const csv = writeFlowersCsv(dir);
  const out = path.join(dir, 'run');
  const trained = runCli(['train', '--dataset', `csv:${csv}`, '--standardize', '--val-split', '0', '--epochs', '10', '--out', out]);
  assert.equal(trained.status, 0, trained.stderr);
  return (flowers = { dir, csv, model: path.join(out, 'final.safetensors') });
}

test('round trip: `dptrain predict MODEL --input train.csv` gives the classes loadModel().predict and evaluate score', async () => {
  const { csv, model } = flowersModel();
  const [result, evaluated] = await Promise.all([runCliAsync(['predict', model, '--input', csv]), runCliAsync(['evaluate', model, '--json'])]);
  assert.equal(result.status, 0, result.stderr);
  const { header, rows } = parsePredictions(result.stdout);
  assert.deepEqual(header, ['class', 'index', ...SPECIES.map((s) => `p_${s}`)]);
  const data = readCsv(csv);
  assert.equal(rows.length, data.rows.length);
  assert.match(result.stderr, /predicted 300 rows of .*flowers\.csv/);
  assert.match(result.stderr, /ignoring the columns "species"/);
  // The CLI's classes are the library's, and their accuracy on the training rows is evaluate's (eval mode).
  const loaded = await loadModel(model);
  const x = data.rows.map((r) => FEATURES.map((name) => Number(r[data.header.indexOf(name)])));
  const library = await loaded.predict(x);
  assert.deepEqual(rows.map((r) => r.name), library.className);
  assert.deepEqual(rows.map((r) => r.index), Array.from(library.classIndex!));
  rows.forEach((r, i) => r.p.forEach((p, k) => assert.equal(Math.fround(p), library.outputs[i * 3 + k], `row ${i} p_${k}`)));
  const truth = data.rows.map((r) => r[data.header.indexOf('species')]);
  const accuracy = rows.filter((r, i) => r.name === truth[i]).length / rows.length;
  const evaluation = JSON.parse(evaluated.stdout);
  assert.equal(evaluation.part, 'all', 'trained with --val-split 0: evaluate takes the whole recorded dataset');
  assert.equal(accuracy, evaluation.accuracy);
  assert.ok(accuracy > 0.8, `accuracy ${accuracy}`);
});

test('predict reads CSV on stdin (--input -), without a header, with the label column or without, and writes --output', async () => {
  const { dir, csv, model } = flowersModel();
  const data = readCsv(csv);
  // Feature columns only, in the model's order, no header, on stdin.
  const bare = data.rows.map((r) => FEATURES.map((name) => r[data.header.indexOf(name)]).join(',')).join('\n') + '\n';
  // The training file's own layout without its header: the label column is where the training file had it.
  const headless = path.join(dir, 'headless.csv');
  fs.writeFileSync(headless, data.rows.map((r) => r.join(',')).join('\n') + '\n');
  const output = path.join(dir, 'predictions.csv');
  const [referenceRun, piped, written] = await Promise.all([
    runCliAsync(['predict', model, '--input', csv]),
    runCliAsync(['predict', model, '--input', '-'], { input: bare }),
    runCliAsync(['predict', model, '--input', headless, '--output', output]),
  ]);
  const reference = parsePredictions(referenceRun.stdout).rows.map((r) => r.name);
  assert.equal(piped.status, 0, piped.stderr);
  assert.deepEqual(parsePredictions(piped.stdout).rows.map((r) => r.name), reference);
  assert.equal(written.status, 0, written.stderr);
  assert.equal(written.stdout, '');
  assert.deepEqual(parsePredictions(fs.readFileSync(output, 'utf8')).rows.map((r) => r.name), reference);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
});

test('bad rows: --on-bad-row stop (the default) names the line and exits 2; skip names each and goes on', async () => {
  const { dir, model } = flowersModel();
  const file = path.join(dir, 'bad.csv');
  fs.writeFileSync(file, ['sepal_length,sepal_width,petal_length,petal_width', '5.1,3.5,1.4,20', '5.0,oops,1.4,20', '', '6.3,2.9,5.6,180', '6.0,2.2,NA,150', '5.9,3.0'].join('\n') + '\n');
  const [stop, skip] = await Promise.all([runCliAsync(['predict', model, '--input', file]), runCliAsync(['predict', model, '--input', file, '--on-bad-row', 'skip'])]);
  assert.equal(stop.status, 2);
  assert.match(stop.stderr, /bad\.csv line 3: column "sepal_width" \(2\): "oops" is not a number — fix the row, or pass --on-bad-row skip .*\[dptrain\.data\.badPredictRow\]/);
  assert.equal(skip.status, 0, skip.stderr);
  assert.equal(parsePredictions(skip.stdout).rows.length, 2);
  assert.match(skip.stderr, /line 3 skipped: column "sepal_width" \(2\): "oops" is not a number/);
  assert.match(skip.stderr, /line 6 skipped: column "petal_length" \(3\): the value is missing \("NA"\)/);
  assert.match(skip.stderr, /line 7 skipped: 2 fields, but the header has 4/);
  assert.match(skip.stderr, /predicted 2 rows .* \(3 skipped\)/);
});

test('bad input to predict is one line and exit 2: empty input, other columns, a corrupt model file', async () => {
  const { dir, model } = flowersModel();
  const check = async (args: string[], code: string, pattern: RegExp, input?: string) => {
    const r = await runCliAsync(args, { input });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.includes(`[${code}]`), r.stderr);
    assert.match(r.stderr, pattern);
    assert.equal(r.stdout, '', 'nothing on stdout, not even the header line');
  };
  const empty = path.join(dir, 'empty.csv');
  fs.writeFileSync(empty, '');
  const output = path.join(dir, 'out.csv');
  const corrupt = path.join(dir, 'corrupt.safetensors');
  fs.writeFileSync(corrupt, fs.readFileSync(model).subarray(0, 40));
  // The checks at once: each has its own input.
  await Promise.all([
    check(['predict', model, '--input', empty], 'dptrain.data.emptyInput', /empty\.csv holds no rows to predict/),
    check(['predict', model, '--input', '-'], 'dptrain.data.emptyInput', /stdin holds no rows to predict/, ''),
    check(['predict', model, '--input', '-'], 'dptrain.data.emptyInput', /only a header/, FEATURES.join(',') + '\n'),
    check(['predict', model, '--input', '-', '--output', output], 'dptrain.data.emptyInput', /stdin holds no rows to predict/, ''),
    check(['predict', model, '--input', '-'], 'dptrain.data.featuresMismatch', /has the columns "a", "b" but .* takes the features "sepal_length"/, 'a,b\n1,2\n'),
    check(['predict', model, '--input', '-'], 'dptrain.data.featuresMismatch', /line 1 has 3 columns but .* takes 4 features/, '1,2,3\n'),
    check(['predict', corrupt, '--input', '-'], 'dptrain.model.cannotLoadModel', /corrupt\.safetensors cannot be used as a model/, '1,2,3,4\n'),
  ]);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('out.csv')), [], '--output: neither the file nor its temp file');
});

test('predict on an IDX images file (gzip) scales pixels as training did: the classes evaluate counts; on stdin too, gzip or not', async () => {
  const out = path.join(tempDir('dptrain-predict-idx-'), 'run');
  const trained = runCli(['train', '--model', 'logreg:784-10', '--epochs', '1', '--out', out]);
  assert.equal(trained.status, 0, trained.stderr);
  const model = path.join(out, 'final.safetensors');
  const file = path.join(path.dirname(out), 'digits.csv');
  const images = path.join(repoRoot, 'data', 'mnist-10k-images-idx3-ubyte.gz');
  const gz = fs.readFileSync(images);
  const [result, evaluated, gzStdin, rawStdin] = await Promise.all([
    runCliAsync(['predict', model, '--input', images, '--output', file]),
    runCliAsync(['evaluate', model, '--dataset', 'mnist', '--json']),
    // The format is told by the first bytes (gzip, then the IDX magic), not by a file name: stdin reads as a file does.
    runCliAsync(['predict', model, '--input', '-', '--output', `${file}.gz-stdin`], { input: gz }),
    runCliAsync(['predict', model, '--input', '-', '--output', `${file}.raw-stdin`], { input: zlib.gunzipSync(gz) }),
  ]);
  assert.equal(result.status, 0, result.stderr);
  for (const [piped, written] of [[gzStdin, `${file}.gz-stdin`], [rawStdin, `${file}.raw-stdin`]] as const) {
    assert.equal(piped.status, 0, piped.stderr);
    assert.match(piped.stderr, /predicted 10,000 rows of stdin/);
    assert.equal(fs.readFileSync(written, 'utf8'), fs.readFileSync(file, 'utf8'));
  }
  const { header, rows } = parsePredictions(fs.readFileSync(file, 'utf8'));
  assert.deepEqual(header.slice(0, 3), ['class', 'index', 'p_0']);
  assert.equal(rows.length, 10_000);
  const evaluation = JSON.parse(evaluated.stdout);
  const predicted = new Array(10).fill(0);
  for (const r of rows) predicted[r.index] += 1;
  const columnSums = evaluation.confusion[0].map((_: number, c: number) => evaluation.confusion.reduce((a: number, row: number[]) => a + row[c], 0));
  // The same inputs (pixels scaled alike); the products run in other batch sizes, so a near-tie may
  // flip a row or two.
  const differ = predicted.reduce((a: number, count: number, c: number) => a + Math.abs(count - columnSums[c]), 0);
  assert.ok(differ <= 4, `predicted class counts ${predicted} vs evaluate's ${columnSums}`);
});

test('the same IDX file gives the same outputs through predict, evaluate and train --test: its pixels at the scale the model records (mnist: k/255 to 3 decimals)', async () => {
  const dir = tempDir('dptrain-predict-idx-scale-');
  const { images, indices } = writeDigitsIdx(dir, 50);
  const out = path.join(dir, 'run');
  const trained = runCli(['train', '--model', 'logreg:784-10', '--epochs', '1', '--test', `idx:${images}`, '--out', out]);
  assert.equal(trained.status, 0, trained.stderr);
  const model = path.join(out, 'final.safetensors');
  const [predicted, evaluated] = await Promise.all([runCliAsync(['predict', model, '--input', images]), runCliAsync(['evaluate', model, '--dataset', `idx:${images}`, '--json'])]);
  assert.equal(predicted.status, 0, predicted.stderr);
  assert.equal(evaluated.status, 0, evaluated.stderr);
  const loaded = await loadModel(model);
  assert.deepEqual(loaded.metadata?.preprocessing.pixelScale, { divideBy: 255, roundTo: 3 });
  // predict's probabilities are evaluate's outputs (the library's, and the CLI's loss from them).
  const { rows } = parsePredictions(predicted.stdout);
  assert.equal(rows.length, 50);
  const { outputs, targets } = await loaded.evaluateWithOutputs(`idx:${images}`, { engine: 'inline' });
  const probabilities = loaded.predictionsOf(outputs, 50).outputs;
  rows.forEach((row, r) => row.p.forEach((p, k) => assert.ok(Math.abs(p - probabilities[r * 10 + k]) <= 1e-6, `row ${r} p_${k}: predict ${p}, evaluate ${probabilities[r * 10 + k]}`)));
  const lossOfPredict = rows.reduce((a, row, r) => a - Math.log(row.p[targets[r]]), 0) / rows.length;
  const evaluation = JSON.parse(evaluated.stdout);
  assert.ok(Math.abs(evaluation.loss - lossOfPredict) <= 1e-6, `evaluate's loss ${evaluation.loss}, predict's probabilities give ${lossOfPredict}`);
  // train --test fits the file as evaluate does.
  const { test: score } = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(score.accuracy, evaluation.accuracy);
  assert.ok(Math.abs(score.loss - evaluation.loss) <= 1e-6 * evaluation.loss, `train --test loss ${score.loss} vs evaluate's ${evaluation.loss}`);
  // Evaluate's fitting gives the model the digits' training values, bit for bit, from the IDX file.
  const [digits, file] = await Promise.all([loadDataset('mnist'), loadDataset(`idx:${images}`)]);
  const fitted = fitDataToModel(loaded.shape, file);
  indices.forEach((i, r) => assert.deepEqual(fitted.x.subarray(r * 784, (r + 1) * 784), digits.x.subarray(i * 784, (i + 1) * 784), `digit ${i}`));
});

test('the stream parser: quoted fields across chunk boundaries, CRLF, one-byte chunks, small batches give the same lines', async () => {
  const { model } = flowersModel();
  const loaded = await loadModel(model);
  const text = ['"sepal_length","species",sepal_width,petal_length,petal_width', '5.1,"set,osa",3.5,1.4,20', '6.3,"virg\r\ninica",2.9,5.6,180', '5.9,x,3.0,4.2,130'].join('\r\n') + '\r\n';
  const run = async (chunks: Buffer[], batchRows: number) => {
    let output = '';
    const sink = new Writable({ write: (chunk, _e, done) => ((output += String(chunk)), done()) });
    const summary = await predictStream(loaded, Readable.from(chunks), 'test.csv', sink, { onBadRow: 'stop', batchRows });
    return { output, summary };
  };
  const whole = await run([Buffer.from(text)], 1024);
  assert.equal(whole.summary.rows, 3);
  const oneByteChunks = [...Buffer.from(text)].map((b) => Buffer.from([b]));
  assert.equal((await run(oneByteChunks, 1024)).output, whole.output);
  // Batches of 2 rows: the same classes; the products of another batch size may round differently.
  const small = parsePredictions((await run(oneByteChunks, 2)).output).rows;
  const reference = parsePredictions(whole.output).rows;
  assert.deepEqual(small.map((r) => r.name), reference.map((r) => r.name));
  small.forEach((r, i) => r.p.forEach((p, k) => assert.ok(Math.abs(p - reference[i].p[k]) < 1e-6)));
  assert.deepEqual(reference.map((r) => r.name), ['setosa', 'virginica', 'versicolor']);
});

test('predict with a regression model: one column named after the training label, the values evaluate scores', async () => {
  const dir = tempDir('dptrain-predict-reg-');
  const csv = path.join(dir, 'houses.csv');
  const lines = ['rooms,age,price'];
  for (let i = 0; i < 400; i++) {
    const rooms = 1 + (i % 7);
    const age = (i * 37) % 50;
    lines.push(`${rooms},${age},${(30 * rooms - 0.8 * age + 100 + Math.sin(i)).toFixed(3)}`);
  }
  fs.writeFileSync(csv, lines.join('\n') + '\n');
  const out = path.join(dir, 'run');
  const trained = runCli(['train', '--dataset', `csv:${csv}`, '--standardize', '--epochs', '30', '--out', out, '--engine', 'inline']);
  assert.equal(trained.status, 0, trained.stderr);
  const model = path.join(out, 'final.safetensors');
  const [result, evaluated] = await Promise.all([runCliAsync(['predict', model, '--input', csv]), runCliAsync(['evaluate', model, '--dataset', `csv:${csv}`, '--json'])]);
  assert.equal(result.status, 0, result.stderr);
  const [header, ...rows] = result.stdout.trim().split('\n');
  assert.equal(header, 'price');
  const predicted = rows.map(Number);
  const truth = lines.slice(1).map((l) => Number(l.split(',')[2]));
  const mse = predicted.reduce((a, p, i) => a + (p - truth[i]) ** 2, 0) / truth.length;
  const evaluation = JSON.parse(evaluated.stdout);
  assert.equal(evaluation.task, 'regression');
  assert.ok(Math.abs(mse - evaluation.mse) <= 1e-4 * evaluation.mse, `predict's MSE ${mse} vs evaluate's ${evaluation.mse}`);
  assert.ok(evaluation.r2 > 0.9, `R² ${evaluation.r2}`);
});
