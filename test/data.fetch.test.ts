/**
 * Downloads through a real HTTP server on 127.0.0.1 serving fixture IDX files in the official
 * format; the registry's checksums (size, SHA-256, MD5) are swapped for the fixtures' through
 * DPTRAIN_REGISTRY_OVERRIDE.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { checkNetworkGuard } from '../src/data/fetch.js';
import { loadDataset } from '../src/data/index.js';
import { REGISTRY, registryFiles } from '../src/data/registry.js';
import { binPath, repoRoot, runCliAsync, tempDir } from './helpers.js';

const N = 300;

function idxImages(n: number, seed: number): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  header.writeUInt32BE(n, 4);
  header.writeUInt32BE(28, 8);
  header.writeUInt32BE(28, 12);
  const pixels = Buffer.alloc(n * 784);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return gzipSync(Buffer.concat([header, pixels]));
}

function idxLabels(n: number): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(0x801, 0);
  header.writeUInt32BE(n, 4);
  const labels = Buffer.alloc(n);
  for (let i = 0; i < n; i++) labels[i] = i % 10;
  return gzipSync(Buffer.concat([header, labels]));
}

const fixtures = new Map<string, Buffer>([
  ['train-images-idx3-ubyte.gz', idxImages(N, 1)],
  ['train-labels-idx1-ubyte.gz', idxLabels(N)],
  ['t10k-images-idx3-ubyte.gz', idxImages(100, 2)],
  ['t10k-labels-idx1-ubyte.gz', idxLabels(100)],
]);
const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const trainImages = fixtures.get('train-images-idx3-ubyte.gz') as Buffer;

/** dptrain with `env` added, without blocking this process: the in-process server keeps answering. */
const dptrain = (args: string[], env: Record<string, string>) => runCliAsync(args, { env });

describe('dptrain data fetch against a local mirror', () => {
  let server: http.Server;
  let base = '';
  let requests = 0;
  const requestsByMode = new Map<string, number>();
  const dir = tempDir('dptrain-fetch-');
  const override = path.join(dir, 'override.json');
  const badOverride = path.join(dir, 'bad-override.json');
  const badMd5Override = path.join(dir, 'bad-md5-override.json');

  before(async () => {
    // Size, SHA-256 and MD5 for the images, the SHA-256 alone for the labels: both override forms.
    const published = (name: string, bytes: Buffer) => (name.includes('images') ? { sha256: sha256(bytes), md5: md5(bytes), bytes: bytes.length } : sha256(bytes));
    fs.writeFileSync(override, JSON.stringify({ 'fashion-mnist': Object.fromEntries([...fixtures].map(([name, bytes]) => [name, published(name, bytes)])) }));
    fs.writeFileSync(badOverride, JSON.stringify({ 'fashion-mnist': { 'train-images-idx3-ubyte.gz': '0'.repeat(64) } }));
    fs.writeFileSync(badMd5Override, JSON.stringify({ 'fashion-mnist': { 'train-images-idx3-ubyte.gz': { sha256: sha256(trainImages), md5: '0'.repeat(32) } } }));
    server = http.createServer((request, response) => {
      requests++;
      const [, mode, name] = (request.url ?? '').split('/');
      requestsByMode.set(mode, (requestsByMode.get(mode) ?? 0) + 1);
      const body = fixtures.get(name);
      if (mode === 'missing' || body === undefined) {
        response.writeHead(404).end();
      } else if (mode === 'stall') {
        response.writeHead(200, { 'content-length': body.length });
        response.write(body.subarray(0, 100)); // then nothing: the client must time out
      } else if (mode === 'slow') {
        // Ten pieces 100 ms apart: a second process starts while the first is still downloading.
        response.writeHead(200, { 'content-length': body.length });
        const piece = Math.ceil(body.length / 10);
        let at = 0;
        const timer = setInterval(() => {
          response.write(body.subarray(at, at + piece));
          at += piece;
          if (at >= body.length) {
            clearInterval(timer);
            response.end();
          }
        }, 100);
        response.on('close', () => clearInterval(timer));
      } else if (mode === 'truncated') {
        response.writeHead(200, { 'content-length': body.length });
        response.write(body.subarray(0, body.length >> 1), () => response.socket?.destroy());
      } else {
        response.writeHead(200, { 'content-length': body.length }).end(body);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cacheFiles = (cache: string) => (fs.existsSync(path.join(cache, 'fashion-mnist')) ? fs.readdirSync(path.join(cache, 'fashion-mnist')).sort() : []);

  it('fetches every file, verifies it, and a second use needs no network', async () => {
    const cache = path.join(dir, 'ok');
    const fetched = await dptrain(['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/ok/`], { DPTRAIN_REGISTRY_OVERRIDE: override });
    assert.equal(fetched.status, 0, fetched.stderr);
    assert.deepEqual(cacheFiles(cache), [...fixtures.keys()].sort());
    for (const [name, bytes] of fixtures) assert.ok(fs.readFileSync(path.join(cache, 'fashion-mnist', name)).equals(bytes));
    // Three readers of the finished cache at once.
    const before = requests;
    const [verified, listed, again] = await Promise.all([
      dptrain(['data', 'verify', '--data-dir', cache], { DPTRAIN_REGISTRY_OVERRIDE: override }),
      dptrain(['data', 'list', '--data-dir', cache], { DPTRAIN_REGISTRY_OVERRIDE: override }),
      dptrain(['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', 'http://127.0.0.1:9/'], { DPTRAIN_REGISTRY_OVERRIDE: override }),
    ]);
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, /fashion-mnist\/train-images-idx3-ubyte\.gz\t\d+ bytes\tok/);
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /fashion-mnist\/t10k-labels-idx1-ubyte\.gz\t\d+ bytes/);
    assert.match(listed.stdout, /mnist-full\/train-images-idx3-ubyte\.gz\tmissing/);
    // Which cache was looked at comes first (a user try could not tell).
    for (const out of [listed.stdout, verified.stdout]) assert.equal(out.split('\n')[0], `# cache: ${cache}`);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(requests, before);
  });

  it('data verify finds one flipped byte in a cached file (SHA-256) and a short file (size)', async () => {
    const cache = path.join(dir, 'corrupt');
    fs.mkdirSync(path.join(cache, 'fashion-mnist'), { recursive: true });
    const flipped = Buffer.from(trainImages);
    flipped[flipped.length >> 1] ^= 0x01;
    fs.writeFileSync(path.join(cache, 'fashion-mnist', 'train-images-idx3-ubyte.gz'), flipped);
    fs.writeFileSync(path.join(cache, 'fashion-mnist', 't10k-images-idx3-ubyte.gz'), 'not the file');
    fs.writeFileSync(path.join(cache, 'fashion-mnist', 'train-labels-idx1-ubyte.gz'), fixtures.get('train-labels-idx1-ubyte.gz') as Buffer);
    const run = await dptrain(['data', 'verify', '--data-dir', cache], { DPTRAIN_REGISTRY_OVERRIDE: override });
    assert.equal(run.status, 2);
    assert.ok(run.stdout.includes(`train-images-idx3-ubyte.gz\t${trainImages.length} bytes\tSHA-256 MISMATCH: has SHA-256 ${sha256(flipped)} but the published SHA-256 is ${sha256(trainImages)}`), run.stdout);
    assert.match(run.stdout, /t10k-images-idx3-ubyte\.gz\t12 bytes\tSIZE MISMATCH: has 12 bytes but the published size is \d+ bytes/);
    assert.match(run.stdout, /train-labels-idx1-ubyte\.gz\t\d+ bytes\tok/);
    assert.match(run.stderr, /2 cached file\(s\) fail verification/);
    assert.match(run.stderr, /dptrain\.data\.checksumMismatch/);
  });

  it('trains on fashion-mnist fetched on first use with default flags', async () => {
    const cache = path.join(dir, 'train');
    const out = path.join(dir, 'run');
    const run = await dptrain(['train', '--dataset', 'fashion-mnist', '--epochs', '1', '--out', out], {
      DPTRAIN_REGISTRY_OVERRIDE: override,
      DPTRAIN_DATA_DIR: cache,
      DPTRAIN_DATA_MIRROR: `${base}/ok/`,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(cacheFiles(cache), ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']);
  });

  it('trains cnn-mnist on the cached fashion-mnist without contacting any mirror', async () => {
    const cache = path.join(dir, 'train');
    const before = requests;
    const run = await dptrain(['train', '--dataset', 'fashion-mnist', '--model', 'cnn-mnist', '--epochs', '1', '--max-steps', '3', '--out', path.join(dir, 'run-cnn')], {
      DPTRAIN_REGISTRY_OVERRIDE: override,
      DPTRAIN_DATA_DIR: cache,
      DPTRAIN_DATA_MIRROR: `${base}/ok/`,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(requests, before);
  });

  it('tries the next mirror after a 404', async () => {
    const cache = path.join(dir, 'second');
    const run = await dptrain(['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/missing/,${base}/ok/`], { DPTRAIN_REGISTRY_OVERRIDE: override });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(cacheFiles(cache).length, 4);
  });

  it('refuses a file whose SHA-256 differs: exit 2, one line with both SHA-256, nothing cached, no temp file', async () => {
    const cache = path.join(dir, 'bad');
    const run = await dptrain(['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/ok/`], { DPTRAIN_REGISTRY_OVERRIDE: badOverride });
    assert.equal(run.status, 2);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, /dptrain\.data\.checksumMismatch/);
    assert.ok(run.stderr.includes(`${base}/ok/train-images-idx3-ubyte.gz has SHA-256 ${sha256(trainImages)} but the published SHA-256 is ${'0'.repeat(64)}`), run.stderr);
    assert.match(run.stderr, /nothing was cached/);
    assert.deepEqual(cacheFiles(cache), []);
  });

  it('refuses a file whose SHA-256 matches but whose MD5 does not', async () => {
    const cache = path.join(dir, 'bad-md5');
    const run = await dptrain(['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/ok/`], { DPTRAIN_REGISTRY_OVERRIDE: badMd5Override });
    assert.equal(run.status, 2);
    assert.ok(run.stderr.includes(`has MD5 ${md5(trainImages)} but the published MD5 is ${'0'.repeat(32)}`), run.stderr);
    assert.deepEqual(cacheFiles(cache), []);
  });

  for (const mode of ['truncated', 'stall'] as const) {
    it(`leaves nothing in the cache after a ${mode} download and says where to put the file`, async () => {
      const cache = path.join(dir, mode);
      const run = await dptrain(['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/${mode}/`], {
        DPTRAIN_REGISTRY_OVERRIDE: override,
        DPTRAIN_FETCH_TIMEOUT_MS: '500',
      });
      assert.equal(run.status, 2, run.stderr);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, /dptrain\.data\.fetchFailed/);
      assert.match(run.stderr, mode === 'stall' ? /stalled/ : /truncated|terminated|other side closed/);
      assert.ok(run.stderr.includes(path.join(cache, 'fashion-mnist', 'train-images-idx3-ubyte.gz')));
      assert.ok(run.stderr.includes(`SHA-256 ${sha256(trainImages)}, ${trainImages.length} bytes`), run.stderr);
      assert.deepEqual(cacheFiles(cache), []);
    });
  }

  it('lets two processes fetch into the same cache at once: one downloads, the other waits for it', async () => {
    const cache = path.join(dir, 'concurrent');
    const args = ['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/slow/`];
    const first = dptrain(args, { DPTRAIN_REGISTRY_OVERRIDE: override });
    await waitFor(() => cacheFiles(cache).some((name) => name.endsWith('.lock')));
    const runs = await Promise.all([first, dptrain(args, { DPTRAIN_REGISTRY_OVERRIDE: override })]);
    for (const run of runs) assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(cacheFiles(cache), [...fixtures.keys()].sort());
    for (const [name, bytes] of fixtures) assert.ok(fs.readFileSync(path.join(cache, 'fashion-mnist', name)).equals(bytes));
    assert.equal(requestsByMode.get('slow'), fixtures.size, 'each file downloaded once');
  });

  it('restarts a download killed midway (kill -9): the stale lock and .part file are removed', async () => {
    const cache = path.join(dir, 'killed');
    const child = spawn(process.execPath, [binPath, 'data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/stall/`], {
      cwd: repoRoot,
      env: { ...process.env, DPTRAIN_REGISTRY_OVERRIDE: override, DPTRAIN_FETCH_TIMEOUT_MS: '60000' },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await waitFor(() => cacheFiles(cache).some((name) => name.includes('.part-')));
    child.kill('SIGKILL');
    await exited;
    assert.deepEqual(cacheFiles(cache).map((name) => name.replace(/part-.*/, 'part')), ['train-images-idx3-ubyte.gz.lock', 'train-images-idx3-ubyte.gz.part']);
    const run = await dptrain(['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/ok/`], { DPTRAIN_REGISTRY_OVERRIDE: override });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(cacheFiles(cache), [...fixtures.keys()].sort());
    for (const [name, bytes] of fixtures) assert.ok(fs.readFileSync(path.join(cache, 'fashion-mnist', name)).equals(bytes));
  });

  it('a truncated download is started again by the next fetch', async () => {
    const cache = path.join(dir, 'truncated-then-ok');
    const broken = await dptrain(['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/truncated/`], { DPTRAIN_REGISTRY_OVERRIDE: override });
    assert.equal(broken.status, 2);
    const run = await dptrain(['data', 'fetch', 'fashion-mnist', '--data-dir', cache, '--data-mirror', `${base}/ok/`], { DPTRAIN_REGISTRY_OVERRIDE: override });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(cacheFiles(cache), [...fixtures.keys()].sort());
  });
});

/** Polls `condition` every 20 ms, failing after 60 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('offline behaviour and the network guard', () => {
  it('refuses a non-loopback host at once under DPTRAIN_NETWORK=loopback-only', () => {
    assert.equal(process.env.DPTRAIN_NETWORK, 'loopback-only');
    assert.throws(() => checkNetworkGuard('https://ossci-datasets.s3.amazonaws.com/mnist/x.gz'), { code: 'dptrain.data.networkForbidden' });
    assert.doesNotThrow(() => checkNetworkGuard('http://127.0.0.1:1/x.gz'));
  });

  it('fails in one line naming the URL, the place for the file and its SHA-256 and size when no mirror answers', async () => {
    const cache = tempDir('dptrain-offline-');
    const started = Date.now();
    const run = await dptrain(['data', 'fetch', 'mnist-full', '--data-dir', cache], {});
    assert.equal(run.status, 2);
    assert.ok(Date.now() - started < 20_000);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, /dptrain\.data\.fetchFailed/);
    assert.ok(run.stderr.includes(`${REGISTRY['mnist-full'].mirrors[0]}train-images-idx3-ubyte.gz`));
    assert.ok(run.stderr.includes(path.join(cache, 'mnist-full', 'train-images-idx3-ubyte.gz')));
    const images = registryFiles(REGISTRY['mnist-full'])[0];
    assert.ok(run.stderr.includes(`(SHA-256 ${images.sha256}, ${images.bytes} bytes)`), run.stderr);
    fs.rmSync(cache, { recursive: true, force: true });
  });

  it('stops inflating a gzip that grows beyond the dataset size limit', async () => {
    const dir = tempDir('dptrain-bomb-');
    const bomb = path.join(dir, 'bomb-images-idx3-ubyte.gz');
    fs.writeFileSync(bomb, gzipSync(Buffer.alloc(2 ** 28 + 1024), { level: 1 }));
    // The header is checked first (src/data/idx.ts reads IDX as a bounded stream): zeros are no IDX magic,
    // so it is refused after 4 inflated bytes, before the size limit is ever reached.
    await assert.rejects(loadDataset(`idx:${bomb}?labels=${bomb}`), { code: 'dptrain.data.badIdxMagic' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
