// Issue 13 item 5: read before validating. Safetensors files (--init, --resume, inspect) are read
// header first; the header is checked against the file's size and the model before any data is
// read, so a sparse 1.5 GB file (ftruncate: no disk used) is refused in well under a second.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { encodeSafetensors } from '../src/io/index.js';
import { CheckpointStore, encodeCheckpoint, findLatestCheckpoint, loadParameters } from '../src/train/index.js';
import { paramLayout, parseModelSpec } from '../src/model/index.js';
import { SAMPLE_MODEL, sampleCheckpoint } from './fixtures/checkpoints.js';
import { runCli, tempDir } from './helpers.js';

const SPARSE_BYTES = 1.5 * 1024 ** 3;
const MODEL = 'mlp:4-8-3';
const layout = paramLayout(parseModelSpec(MODEL));

let dir = '';
before(() => {
  dir = tempDir('dptrain-sparse-');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** `prefix`, then holes up to 1.5 GB: a file of that size that takes no disk space. */
function sparseFile(name: string, prefix: Uint8Array = new Uint8Array(0)): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, prefix);
  fs.truncateSync(file, SPARSE_BYTES);
  assert.equal(fs.statSync(file).size, SPARSE_BYTES);
  return file;
}

function parametersFile(extra: { name: string; bytes: number } | null): Uint8Array {
  const tensors = layout.tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: [...t.shape], data: new Float32Array(t.size).fill(0.5) }));
  if (extra) tensors.push({ name: extra.name, dtype: 'U8' as never, shape: [extra.bytes], data: new Uint8Array(0) as never });
  return encodeSafetensors(tensors, { format: 'pt', 'dptrain.model': MODEL });
}

/** A parameters header declaring a junk U8 tensor that fills the rest of a 1.5 GB file (its data written as holes). */
function headerDeclaring(junkBytes: number): Uint8Array {
  const real = parametersFile(null);
  const headerLength = Number(new DataView(real.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(real.subarray(8, 8 + headerLength)));
  const dataBytes = real.length - 8 - headerLength;
  header.junk = { dtype: 'U8', shape: [junkBytes], data_offsets: [dataBytes, dataBytes + junkBytes] };
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(real.subarray(8 + headerLength), 8 + text.length);
  return out;
}

/** Runs `fn`: its value or error, the time it took, and how much it raised the process's peak RSS (MiB). */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T | null; error: unknown; ms: number; peakGrowthMiB: number }> {
  const peakBefore = process.resourceUsage().maxRSS; // KiB
  const started = performance.now();
  const measure = () => ({ ms: performance.now() - started, peakGrowthMiB: (process.resourceUsage().maxRSS - peakBefore) / 1024 });
  try {
    const value = await fn();
    return { value, error: null, ...measure() };
  } catch (error) {
    return { value: null, error, ...measure() };
  }
}

describe('sparse 1.5 GB files are refused from their header', () => {
  test('--init of a sparse file of zeros: badInitFile (notSafetensors) in well under a second', async () => {
    const file = sparseFile('zeros.safetensors');
    const { error, ms } = await timed(() => loadParameters(file, layout, MODEL));
    assert.equal((error as { code?: string })?.code, 'dptrain.model.badInitFile', String(error));
    assert.equal(((error as Error).cause as { code?: string })?.code, 'dptrain.format.notSafetensors', String(error));
    assert.match((error as Error).message, /not a safetensors file: it starts with zero bytes/);
    assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
  });

  test('--init of a valid parameters file extended to 1.5 GB: the bytes no tensor owns are refused, fast', async () => {
    const file = sparseFile('extended.safetensors', parametersFile(null));
    const { error, ms } = await timed(() => loadParameters(file, layout, MODEL));
    assert.equal((error as { code?: string })?.code, 'dptrain.model.badInitFile', String(error));
    assert.equal(((error as Error).cause as { code?: string })?.code, 'dptrain.format.badSafetensorsLayout', String(error));
    assert.match((error as Error).message, /bytes after the last tensor belong to no tensor/);
    assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
  });

  test('--init of a file whose header declares a 1.5 GB extra tensor: only the model\'s tensors are read', async () => {
    // The header's length with a 10-digit junk size, then the junk size that fills 1.5 GB exactly.
    const junk = SPARSE_BYTES - headerDeclaring(1_000_000_000).length;
    const file = sparseFile('junk-tensor.safetensors', headerDeclaring(junk));
    const { value, error, ms, peakGrowthMiB } = await timed(() => loadParameters(file, layout, MODEL));
    assert.equal(error, null, String(error));
    assert.equal(value!.length, layout.size);
    assert.ok(value!.every((v) => v === 0.5));
    assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
    assert.ok(peakGrowthMiB < 100, `peak RSS grew by ${peakGrowthMiB.toFixed(0)} MiB`);
  });

  test('--resume past a bogus sparse newest checkpoint (zeros, or a checkpoint extended to 1.5 GB): the fallback is immediate', async () => {
    for (const kind of ['zeros', 'extended'] as const) {
      const ckptDir = path.join(dir, `ckpt-${kind}`);
      const store = await CheckpointStore.open(ckptDir, { keep: 5 });
      await store.save(sampleCheckpoint(4));
      sparseFile(path.join(`ckpt-${kind}`, 'ckpt-000000009.safetensors'), kind === 'zeros' ? undefined : encodeCheckpoint(sampleCheckpoint(9)));
      const { value, error, ms, peakGrowthMiB } = await timed(() => findLatestCheckpoint(ckptDir));
      assert.equal(error, null, String(error));
      assert.ok(peakGrowthMiB < 100, `peak RSS grew by ${peakGrowthMiB.toFixed(0)} MiB`);
      assert.equal(value!.checkpoint.meta.step, 4);
      assert.equal(value!.rejected.length, 1);
      assert.equal(value!.rejected[0].code, 'dptrain.format.checkpointInvalid', value!.rejected[0].reason);
      assert.ok(ms < 500, `${kind}: ${ms.toFixed(0)} ms`);
    }
  });

  test('a checkpoint header declaring tensors its model does not have is refused before the data is read', async () => {
    const ckptDir = path.join(dir, 'ckpt-foreign');
    const store = await CheckpointStore.open(ckptDir, { keep: 5 });
    await store.save(sampleCheckpoint(4));
    // A real checkpoint's header (model mlp:3-4-2) with an extra 1.5 GB optimizer tensor declared.
    const real = encodeCheckpoint(sampleCheckpoint(9));
    const n = Number(new DataView(real.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(real.subarray(8, 8 + n)));
    const dataBytes = real.length - 8 - n;
    header['optimizer.huge'] = { dtype: 'F32', shape: [SPARSE_BYTES / 8], data_offsets: [dataBytes, dataBytes + SPARSE_BYTES / 2] };
    const text = new TextEncoder().encode(JSON.stringify(header));
    const prefix = new Uint8Array(8 + text.length);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(text.length), true);
    prefix.set(text, 8);
    const file = path.join(ckptDir, 'ckpt-000000009.safetensors');
    fs.writeFileSync(file, prefix);
    fs.truncateSync(file, prefix.length + dataBytes + SPARSE_BYTES / 2);
    const { value, ms } = await timed(() => findLatestCheckpoint(ckptDir));
    assert.equal(value!.checkpoint.meta.step, 4);
    assert.match(value!.rejected[0].reason, new RegExp(`tensor "optimizer.huge" is F32 \\[${SPARSE_BYTES / 8}\\]; a checkpoint of ${SAMPLE_MODEL} holds`));
    assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
  });

  test('through the CLI: train --init SPARSE and inspect SPARSE each answer with one line in about a second', () => {
    const file = sparseFile('cli-zeros.safetensors');
    // --init or inspect of a file that is not safetensors is a mistake in the command (exit 2); inspect says what the file is.
    for (const [args, status, code] of [
      [['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', MODEL, '--init', file], 2, 'dptrain\\.model\\.badInitFile'],
      [['inspect', file], 2, 'dptrain\\.format\\.notSafetensors'],
    ] as const) {
      const started = performance.now();
      const r = runCli([...args]);
      const ms = performance.now() - started;
      assert.equal(r.status, status, r.stderr);
      assert.match(r.stderr.trimEnd(), new RegExp(`^dptrain: error: .*cli-zeros\\.safetensors: not a safetensors file: it starts with zero bytes.*\\[${code}\\]$`));
      assert.ok(ms < 10_000, `${args[0]}: ${ms.toFixed(0)} ms (process start included)`);
    }
  });

  test('through the CLI: dptrain train --resume past a sparse 1.5 GB newest checkpoint warns, uses the one before, and finishes', () => {
    const ckptDir = path.join(dir, 'cli-resume');
    const first = runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'logreg:4-3', '--epochs', '1', '--checkpoint-dir', ckptDir]);
    assert.equal(first.status, 0, first.stderr);
    const newest = path.join(ckptDir, 'ckpt-999999999.safetensors');
    fs.writeFileSync(newest, '');
    fs.truncateSync(newest, SPARSE_BYTES);
    const started = performance.now();
    const resumed = runCli(['train', '--resume', ckptDir, '--epochs', '2']);
    const ms = performance.now() - started;
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /ckpt-999999999\.safetensors is not a valid safetensors file \(not a safetensors file: it starts with zero bytes.*using the checkpoint before it/);
    assert.ok(ms < 15_000, `the resumed run took ${ms.toFixed(0)} ms`);
  });
});
