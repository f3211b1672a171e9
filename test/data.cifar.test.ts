/**
 * cifar10: the CIFAR-10 binary version, served by a real HTTP server on 127.0.0.1 as a tar.gz
 * made by GNU tar in the official layout (cifar-10-batches-bin/*.bin, 3,073-byte records) with a
 * few hundred images; its SHA-256, MD5 and size replace the official ones through DPTRAIN_REGISTRY_OVERRIDE.
 * The real archive is not available here (no network).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readCifar10 } from '../src/data/cifar.js';
import { loadDataset } from '../src/data/index.js';
import { runCliAsync, tempDir } from './helpers.js';

const RECORD = 3073;
const TRAIN_PER_BATCH = 60;
const TEST_N = 100;

/** n records: label (i + seed) % 10, then 3,072 pixel bytes that depend on the record and channel. */
function batch(n: number, seed: number): Buffer {
  const bytes = Buffer.alloc(n * RECORD);
  for (let i = 0; i < n; i++) {
    bytes[i * RECORD] = (i + seed) % 10;
    for (let p = 0; p < 3072; p++) bytes[i * RECORD + 1 + p] = (p * 7 + i * 13 + seed * 29) & 0xff;
  }
  return bytes;
}

/** A tar.gz made by GNU tar from `files` (path inside the archive -> bytes). */
function tarGz(dir: string, name: string, files: Record<string, Buffer>): string {
  const root = fs.mkdtempSync(path.join(dir, 'tree-'));
  for (const [file, bytes] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), bytes);
  }
  const archive = path.join(dir, name);
  execFileSync('tar', ['-czf', archive, '-C', root, ...Object.keys(files)]);
  return archive;
}

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** dptrain with `env` added, without blocking this process: the in-process server keeps answering. */
const dptrain = (args: string[], env: Record<string, string>) => runCliAsync(args, { env });

describe('cifar10 from a local mirror', () => {
  const dir = tempDir('dptrain-cifar-');
  const batches = [1, 2, 3, 4, 5].map((k) => batch(TRAIN_PER_BATCH, k));
  const testBatch = batch(TEST_N, 9);
  let archive: Buffer;
  let server: http.Server;
  let base = '';
  const override = path.join(dir, 'override.json');

  before(async () => {
    const files: Record<string, Buffer> = { 'cifar-10-batches-bin/batches.meta.txt': Buffer.from('airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n') };
    // Stored out of order, as an archive may be: the loader orders the batches by name.
    for (const k of [3, 1, 5, 2, 4]) files[`cifar-10-batches-bin/data_batch_${k}.bin`] = batches[k - 1];
    files['cifar-10-batches-bin/test_batch.bin'] = testBatch;
    archive = fs.readFileSync(tarGz(dir, 'cifar-10-binary.tar.gz', files));
    fs.writeFileSync(override, JSON.stringify({ cifar10: { 'cifar-10-binary.tar.gz': { sha256: sha256(archive), md5: md5(archive), bytes: archive.length } } }));
    server = http.createServer((request, response) => {
      if (request.url === '/cifar/cifar-10-binary.tar.gz') response.writeHead(200, { 'content-length': archive.length }).end(archive);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cifar/`;
    process.env.DPTRAIN_REGISTRY_OVERRIDE = override;
  });
  after(() => {
    delete process.env.DPTRAIN_REGISTRY_OVERRIDE;
    server.closeAllConnections();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads both splits as [3, 32, 32] samples of k/255 with the class names, batches in order', async () => {
    const cache = path.join(dir, 'load');
    const train = await loadDataset('cifar10', { dataDir: cache, mirror: base });
    assert.equal(train.n, 5 * TRAIN_PER_BATCH);
    assert.deepEqual(train.sampleShape, [3, 32, 32]);
    assert.equal(train.classNames?.[0], 'airplane');
    assert.equal(train.classNames?.[9], 'truck');
    assert.equal(train.numClasses, 10);
    const all = Buffer.concat(batches);
    for (const i of [0, 61, 299]) {
      assert.equal(train.y[i], all[i * RECORD]);
      for (const p of [0, 1023, 1024, 2047, 2048, 3071]) assert.equal(train.x[i * 3072 + p], Math.fround(all[i * RECORD + 1 + p] / 255));
    }
    const test = await loadDataset('cifar10?split=test', { dataDir: cache, mirror: 'http://127.0.0.1:9/' });
    assert.equal(test.n, TEST_N);
    assert.equal(test.y[5], testBatch[5 * RECORD]);
    assert.ok(train.x.buffer instanceof SharedArrayBuffer, 'one shared copy for the threads engine');
  });

  it('trains with default flags, fetching on first use through --data-dir and --data-mirror; summary.json names the classes', async () => {
    const cache = path.join(dir, 'train');
    const out = path.join(dir, 'run');
    const run = await dptrain(['train', '--dataset', 'cifar10', '--epochs', '1', '--data-dir', cache, '--data-mirror', base, '--out', out], {});
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(fs.readdirSync(path.join(cache, 'cifar10')), ['cifar-10-binary.tar.gz']);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.equal(summary.model, 'mlp:3072-128-10');
    assert.equal(summary.classNames[3], 'cat');
  });

  it('--eval-on test scores the official test split from the cached archive; --model mlp:64 is sized from the images', async () => {
    const cache = path.join(dir, 'train');
    const out = path.join(dir, 'run-test');
    const run = await dptrain(['train', '--dataset', 'cifar10', '--model', 'mlp:64', '--eval-on', 'test', '--epochs', '1', '--engine', 'inline', '--data-dir', cache, '--data-mirror', 'http://127.0.0.1:9/', '--out', out], {});
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.equal(summary.model, 'mlp:3072-64-10');
    assert.deepEqual([summary.test.spec, summary.test.samples], ['cifar10?split=test', TEST_N]);
    const epoch = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((r) => r.type === 'epoch');
    assert.equal(epoch.testLoss, summary.test.loss);
  });

  it('refuses an archive that inflates beyond the bound, and one without the batches', async () => {
    const bombDir = tempDir('dptrain-cifar-bomb-');
    // A tar whose first member is 4 MiB of zeros: refused at a 1 MiB bound before the rest is inflated.
    const bomb = tarGz(bombDir, 'bomb.tar.gz', { 'cifar-10-batches-bin/padding.bin': Buffer.alloc(4 << 20), 'cifar-10-batches-bin/test_batch.bin': testBatch });
    await assert.rejects(readCifar10(bomb, 'test', 1 << 20), { code: 'dptrain.data.tooLarge' });
    const partial = tarGz(bombDir, 'partial.tar.gz', { 'cifar-10-batches-bin/test_batch.bin': testBatch });
    await assert.rejects(readCifar10(partial, 'train'), (error: Error & { code?: string }) => error.code === 'dptrain.data.badArchive' && /data_batch_1\.bin/.test(error.message));
    const ragged = tarGz(bombDir, 'ragged.tar.gz', { 'cifar-10-batches-bin/test_batch.bin': testBatch.subarray(0, RECORD * 2 + 5) });
    await assert.rejects(readCifar10(ragged, 'test'), { code: 'dptrain.data.badArchive' });
    const notTar = path.join(bombDir, 'not-tar.tar.gz');
    fs.writeFileSync(notTar, gzipSync(Buffer.alloc(2048, 65)));
    await assert.rejects(readCifar10(notTar, 'test'), { code: 'dptrain.data.badArchive' });
    fs.rmSync(bombDir, { recursive: true, force: true });
  });
});
