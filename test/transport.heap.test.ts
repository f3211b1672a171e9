/**
 * The ws processes' memory tuning (src/transport/heap.ts). keepFramesInHeap: buffers the size of
 * received frames come from the heap, whose pages the next frame reuses, instead of a fresh mmap()
 * each; checked with glibc's own accounting (mallinfo2: bytes in mmapped chunks, bytes allocated in
 * the heap) in a child process that keeps ten 4 MiB Buffers alive, with and without the call.
 * collectAtTheLimit: a real coordinator's mark-compacts, counted by V8's --trace-gc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { binPath, repoRoot, tempDir } from './helpers.js';
import { killAll, startWorker } from './ws.helpers.js';

const heapModule = fileURLToPath(new URL('../src/transport/heap.js', import.meta.url));

interface Growth {
  said: string;
  /** Growth of glibc's bytes in mmapped chunks, and of the bytes allocated in the main heap. */
  mmapped: number;
  heap: number;
}

function growth(tuned: boolean): Growth {
  const script = `
    const said = ${tuned} ? await (await import(${JSON.stringify(heapModule)})).keepFramesInHeap() : '';
    const { default: koffi } = await import('koffi');
    const fields = ['arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost'];
    koffi.struct('mallinfo2', Object.fromEntries(fields.map((f) => [f, 'size_t'])));
    const mallinfo2 = koffi.load('libc.so.6').func('mallinfo2 mallinfo2()');
    const before = mallinfo2();
    const kept = Array.from({ length: 10 }, () => Buffer.allocUnsafe(4 << 20).fill(1));
    const after = mallinfo2();
    console.log(JSON.stringify({ said, mmapped: Number(after.hblkhd) - Number(before.hblkhd), heap: Number(after.uordblks) - Number(before.uordblks), kept: kept.length }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: repoRoot });
  if (r.status !== 0) return { said: `the probe failed: ${r.stderr.split('\n').find((l) => l.trim()) ?? r.status}`, mmapped: 0, heap: 0 };
  return JSON.parse(r.stdout) as Growth;
}

test('with glibc, 4 MiB buffers come from the heap, not from mmap(), once the frames are kept in the heap', { skip: process.platform !== 'linux' && 'glibc mallopt is Linux-only' }, (t) => {
  const tuned = growth(true);
  if (!tuned.said.startsWith('glibc keeps')) return t.skip(`not applied here: ${tuned.said}`);
  // For comparison: glibc's default serves each 4 MiB buffer with its own mmap() (42 MB mmapped
  // here), unless the process happened to free such a chunk first (the threshold then rises).
  // The heap side counts bytes allocated (uordblks), not the arena's size: freed heap left by
  // start-up (which depends on what was imported) is reused without growing the arena. Net of
  // what the process frees meanwhile (a few KiB), hence the 1 MiB of slack.
  const plain = growth(false);
  const forty = 40 * 2 ** 20;
  const compare = `(without the call: ${plain.mmapped} bytes mmapped, heap +${plain.heap})`;
  assert.equal(tuned.mmapped, 0, `with the call, ${tuned.mmapped} bytes were still mmapped ${compare}`);
  assert.ok(tuned.heap >= forty - 2 ** 20, `with the call, the heap's allocated bytes grew by ${tuned.heap} for 40 MiB of buffers ${compare}`);
});

test('a ws coordinator runs few full collections (collectAtTheLimit): W2 with two workers on loopback, counted by V8 --trace-gc', { timeout: 120_000 }, async () => {
  const steps = 40;
  const args = ['coordinator', '--listen', '127.0.0.1:0', '--log-format', 'json', '--min-workers', '2', '--dataset', 'synthetic:blobs?n=4096&d=784&classes=10', '--model', 'mlp:784-1024-1024-10', '--batch-size', '512', '--lr', '0.01', '--momentum', '0', '--val-split', '0', '--max-steps', String(steps), '--out', `${tempDir()}/run`];
  const coordinator = spawn(process.execPath, ['--trace-gc', binPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  coordinator.stdout.on('data', (chunk) => (stdout += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    coordinator.stderr.on('data', (chunk) => {
      stderr += chunk;
      const found = /coordinator at (ws:\/\/[^/\s]+\/)/.exec(stderr);
      if (found) resolve(found[1]);
    });
    coordinator.on('exit', () => reject(new Error(`the coordinator exited before listening:\n${stderr}`)));
  });
  const workers = [startWorker(url, 'w1'), startWorker(url, 'w2')];
  try {
    const code = await new Promise<number | null>((resolve) => coordinator.on('exit', resolve));
    assert.equal(code, 0, stderr);
    for (const w of workers) assert.equal(await w.exited, 0, w.log());
  } finally {
    coordinator.kill();
    await killAll();
  }
  // With V8's incremental marking, this coordinator ran about one mark-compact a step.
  const fullCollections = stdout.split('\n').filter((l) => l.includes('Mark-Compact')).length;
  assert.ok(fullCollections <= steps / 4, `${fullCollections} mark-compacts in ${steps} steps`);
});
