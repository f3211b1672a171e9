/**
 * Loaders put large sample arrays in transparent huge pages (src/util/huge-pages.ts): the kernel
 * marks the memory as advised (VmFlags `hg`) and faults it in as 2 MiB pages; with
 * DPTRAIN_MADVISE_HUGEPAGE=0 it does neither.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { loadDataset } from '../src/data/index.js';
import { enableHugePages, transparentHugePageMode } from '../src/util/huge-pages.js';
import { tempDir } from './helpers.js';
import { startCli } from './process.helpers.js';

const require = createRequire(import.meta.url);

function koffiAddress(): ((array: Float32Array) => bigint) | null {
  try {
    const koffi = require('koffi') as { address(value: unknown): bigint };
    return (array) => koffi.address(array);
  } catch {
    return null;
  }
}

/**
 * The VmFlags and AnonHugePages (kB) of the mapping that holds `address`, from a smaps text. The
 * advice covers the whole 2 MiB pages inside an array, so the kernel splits its mapping: callers
 * look at the array's middle.
 */
function mappingOf(smaps: string, address: bigint): { flags: string[]; hugeKb: number } {
  let inside = false;
  const found = { flags: [] as string[], hugeKb: 0 };
  for (const line of smaps.split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) {
      if (inside) break;
      inside = BigInt(`0x${range[1]}`) <= address && address < BigInt(`0x${range[2]}`);
    } else if (inside && line.startsWith('AnonHugePages:')) {
      found.hugeKb = Number(line.split(/\s+/)[1]);
    } else if (inside && line.startsWith('VmFlags:')) {
      found.flags = line.slice('VmFlags:'.length).trim().split(/\s+/);
    }
  }
  return found;
}

const ownSmaps = (): string => fs.readFileSync('/proc/self/smaps', 'utf8');

const address = koffiAddress();
const mode = transparentHugePageMode();
const skip =
  process.platform !== 'linux' ? 'not Linux: no transparent huge pages'
  : mode === null || mode === 'never' ? `transparent huge pages are ${mode ?? 'absent'} on this machine`
  : address === null ? 'koffi (the optional FFI) does not load here'
  : false;

test('a loaded dataset larger than a few huge pages sits in advised 2 MiB pages', { skip }, async () => {
  const said = await enableHugePages();
  assert.match(said, /advised into huge pages/);
  const ds = await loadDataset('synthetic:blobs?n=4000&d=784&classes=10&seed=1'); // 12.5 MB of x
  const x = mappingOf(ownSmaps(), address!(ds.x) + BigInt(ds.x.byteLength / 2));
  assert.ok(x.flags.includes('hg'), `the samples' mapping is advised (VmFlags ${x.flags.join(' ')})`);
  assert.ok(x.hugeKb >= 2048, `the samples are faulted in as huge pages (AnonHugePages ${x.hugeKb} kB)`);
  const y = mappingOf(ownSmaps(), address!(ds.y)); // 16 KB: too small to advise
  assert.ok(!y.flags.includes('hg') || y.hugeKb === 0, 'a small array is left alone');
});

test('DPTRAIN_MADVISE_HUGEPAGE=0 leaves the samples in base pages', { skip }, () => {
  // A process of its own: the advice is bound once per process.
  const url = (file: string) => JSON.stringify(new URL(file, import.meta.url).href);
  const script = `
    const { loadDataset } = await import(${url('../src/data/index.js')});
    const { enableHugePages } = await import(${url('../src/util/huge-pages.js')});
    const koffi = (await import('koffi')).default;
    const fs = await import('node:fs');
    const ds = await loadDataset('synthetic:blobs?n=4000&d=784&classes=10&seed=1');
    console.log(JSON.stringify({ said: await enableHugePages(), at: String(koffi.address(ds.x) + BigInt(ds.x.byteLength / 2)) }));
    console.log(fs.readFileSync('/proc/self/smaps', 'utf8'));`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, DPTRAIN_MADVISE_HUGEPAGE: '0' },
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const newline = output.indexOf('\n');
  const { said, at } = JSON.parse(output.slice(0, newline)) as { said: string; at: string };
  assert.match(said, /DPTRAIN_MADVISE_HUGEPAGE=0/);
  const x = mappingOf(output.slice(newline + 1), BigInt(at));
  assert.ok(x.flags.length > 0, 'the mapping is found');
  assert.ok(!x.flags.includes('hg'), `the samples' mapping is not advised (VmFlags ${x.flags.join(' ')})`);
  assert.equal(x.hugeKb, 0, 'nor in huge pages');
});

/** AnonHugePages (kB) of a `dptrain train` with default flags on 12.5 MB of samples, read after its first epoch. */
async function trainingHugeKb(env: Record<string, string>): Promise<number> {
  const run = startCli(['train', '--dataset', 'synthetic:blobs?n=4000&d=784&classes=10', '--epochs', '10000', '--out', tempDir('dptrain-huge-')], { env });
  try {
    await run.waitFor(/epoch 1\/10000:/);
    const rollup = fs.readFileSync(`/proc/${run.child.pid}/smaps_rollup`, 'utf8');
    return Number(/AnonHugePages:\s+(\d+)/.exec(rollup)?.[1] ?? NaN);
  } finally {
    run.child.kill('SIGKILL');
    await run.exited;
  }
}

test('dptrain train with default flags holds its samples in huge pages, and not with DPTRAIN_MADVISE_HUGEPAGE=0', { skip }, async () => {
  const advised = await trainingHugeKb({});
  const off = await trainingHugeKb({ DPTRAIN_MADVISE_HUGEPAGE: '0' });
  // The loaded 12.5 MB and the 11.3 MB training split: at least 8 whole 2 MiB pages.
  assert.ok(advised >= 16_384, `a default run's samples are in huge pages (AnonHugePages ${advised} kB)`);
  assert.ok(off <= advised - 16_384, `with DPTRAIN_MADVISE_HUGEPAGE=0 they are not (${off} kB against ${advised} kB)`);
});
