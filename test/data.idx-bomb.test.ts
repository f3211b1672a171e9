// Issue 13 item 4: gzip bombs. IDX files are inflated as a stream, header first, bounded by what the
// header declares and DATA_LIMITS: a small file that inflates to gigabytes is refused in well under
// a second with bounded memory, before its zeros are inflated.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { loadDataset } from '../src/data/index.js';
import { runCli, tempDir } from './helpers.js';

const GIB = 1024 ** 3;
const MEMBER_ZEROS = 64 * 1024 ** 2;

function idxHeader(magic: number, dims: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((dim, k) => header.writeUInt32BE(dim, 4 + 4 * k));
  return header;
}

/**
 * gzip whose content is `prefix` followed by `zeroBytes` zeros: concatenated gzip members (valid
 * gzip, as `gunzip` reads it), each 64 MiB of zeros compressed to ~64 KB, so 4 GiB takes ~4 MB.
 */
function bomb(prefix: Buffer, zeroBytes: number): Buffer {
  const member = gzipSync(Buffer.alloc(MEMBER_ZEROS), { level: 9 });
  return Buffer.concat([gzipSync(prefix), ...Array.from({ length: zeroBytes / MEMBER_ZEROS }, () => member)]);
}

let dir = '';
let validHeaderBomb = '';
let badMagicBomb = '';
let hugeHeader = '';
let labels = '';

before(() => {
  dir = tempDir('dptrain-idx-bomb-');
  // A valid images header declaring 2 images of 2×2 pixels, its 8 pixels, then 4 GiB of zeros.
  validHeaderBomb = path.join(dir, 'bomb-images.gz');
  fs.writeFileSync(validHeaderBomb, bomb(Buffer.concat([idxHeader(0x803, [2, 2, 2]), Buffer.alloc(8, 7)]), 4 * GIB));
  labels = path.join(dir, 'bomb-labels.gz');
  fs.writeFileSync(labels, gzipSync(Buffer.concat([idxHeader(0x801, [2]), Buffer.from([0, 1])])));
  // A bad magic number followed by 4 GiB of zeros.
  badMagicBomb = path.join(dir, 'junk-images.gz');
  fs.writeFileSync(badMagicBomb, bomb(Buffer.from('not an IDX file'), 4 * GIB));
  // A valid magic whose dimensions declare 2^32 pixels, above the 2^28 data limit.
  hugeHeader = path.join(dir, 'huge-images.gz');
  fs.writeFileSync(hugeHeader, bomb(idxHeader(0x803, [65536, 256, 256]), GIB));
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Loads `spec` in this process: the error, the time taken and how much the peak RSS grew. */
async function refusal(spec: string): Promise<{ error: unknown; ms: number; peakGrowthMiB: number }> {
  const peakBefore = process.resourceUsage().maxRSS; // KiB
  const started = performance.now();
  const error = await loadDataset(spec).then(
    () => null,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - started, peakGrowthMiB: (process.resourceUsage().maxRSS - peakBefore) / 1024 };
}

describe('gzip bombs in IDX files', () => {
  test('the bomb files are small and really inflate to gigabytes (gunzip -l style check of one member)', () => {
    assert.ok(fs.statSync(validHeaderBomb).size < 8 * 1024 ** 2, `${fs.statSync(validHeaderBomb).size} bytes on disk`);
    const member = gzipSync(Buffer.alloc(MEMBER_ZEROS), { level: 9 });
    assert.equal(member.readUInt32LE(member.length - 4), MEMBER_ZEROS, 'each member declares 64 MiB of content');
  });

  test('a valid header declaring 8 pixels, then 4 GiB of zeros: refused as trailing data, fast, memory bounded', async () => {
    const { error, ms, peakGrowthMiB } = await refusal(`idx:${validHeaderBomb}?labels=${labels}`);
    assert.equal((error as { code?: string })?.code, 'dptrain.data.idxTrailingData', String(error));
    assert.match((error as Error).message, /holds more data than its IDX header declares \(2×2×2 = 8 values\)/);
    assert.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms`);
    assert.ok(peakGrowthMiB < 200, `peak RSS grew by ${peakGrowthMiB.toFixed(0)} MiB`);
  });

  test('a bad magic number followed by 4 GiB of zeros: badIdxMagic after reading 4 bytes, fast, memory bounded', async () => {
    const { error, ms, peakGrowthMiB } = await refusal(`idx:${badMagicBomb}?labels=${labels}`);
    assert.equal((error as { code?: string })?.code, 'dptrain.data.badIdxMagic', String(error));
    assert.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms`);
    assert.ok(peakGrowthMiB < 200, `peak RSS grew by ${peakGrowthMiB.toFixed(0)} MiB`);
  });

  test('a header declaring more values than the data limit is refused before inflating any', async () => {
    const { error, ms } = await refusal(`idx:${hugeHeader}?labels=${labels}`);
    assert.equal((error as { code?: string })?.code, 'dptrain.data.tooLarge', String(error));
    assert.match((error as Error).message, /declares 65536×256×256 = 4294967296 values, more than the limit of 268435456/);
    assert.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms`);
  });

  test('through the CLI: dptrain train --dataset idx:BOMB exits 2 with one line, in seconds', () => {
    const started = performance.now();
    const r = runCli(['train', '--dataset', `idx:${validHeaderBomb}?labels=${labels}`, '--model', 'logreg:4-2']);
    const ms = performance.now() - started;
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr.trimEnd(), /^dptrain: error: .*bomb-images\.gz holds more data than its IDX header declares.*\[dptrain\.data\.idxTrailingData\]$/);
    assert.ok(ms < 10_000, `the CLI took ${ms.toFixed(0)} ms (process start included)`);
  });
});
