/**
 * A ws process's memory tuned for the frames it receives: buffers without page faults
 * (keepFramesInHeap, glibc only; elsewhere a no-op), and V8's old generation collected at its
 * limit (collectAtTheLimit).
 *
 * ws hands over every frame that spans several socket reads (64 KiB each) in a Buffer of its
 * own, so each gradient `part` and ring piece a process receives is a fresh allocation of up to a
 * few MiB. glibc serves such a size with a fresh mmap() and unmaps it when V8 frees it, so every
 * 4 KiB page of every received frame is first faulted in and zeroed by the kernel: on this
 * project's 2-core KVM machine that was most of a ws coordinator's CPU time per W2 step (measured
 * in docs/architecture.md, "Buffers for received frames"). Raising glibc's mmap and trim
 * thresholds (mallopt) makes these buffers come from, and go back to, the heap, where the next
 * frame reuses the same pages. The cost is that up to TRIM_BYTES of freed heap stays mapped.
 */
import v8 from 'node:v8';
import { enableHugePages } from '../util/huge-pages.js';
import { importKoffi } from '../util/koffi.js';

/** Allocations below this come from the heap: the largest frame (64 MiB) does not reach it, but glibc caps it at 32 MiB. */
const MMAP_THRESHOLD = 32 * 1024 * 1024;
/** Freed heap kept mapped before glibc returns it to the kernel. */
const TRIM_BYTES = 256 * 1024 * 1024;
/** mallopt's parameters (malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** Sets the thresholds once; says what it did, or why it did nothing (no glibc, no koffi). */
export async function keepFramesInHeap(): Promise<string> {
  if (process.platform !== 'linux') return `not linux (${process.platform}): the allocator is left as it is`;
  try {
    const koffi = await importKoffi();
    const mallopt = koffi.load('libc.so.6').func('int mallopt(int param, int value)');
    const ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) === 1 && mallopt(M_TRIM_THRESHOLD, TRIM_BYTES) === 1;
    return ok ? 'glibc keeps buffers below 32 MiB in the heap' : 'glibc refused mallopt: the allocator is left as it is';
  } catch (error) {
    return `no glibc mallopt here (${(error as Error).message}): the allocator is left as it is`;
  }
}

/**
 * V8 collects the old generation when it reaches its limit, not through incremental marking started
 * ahead of it. A ws process's JS heap is small (about 11 MB) but it allocates fast (the frames'
 * wrappers, the messages), and with V8's defaults a ws coordinator began marking again right after
 * each mark-compact ended: 123 full collections in 150 W2 steps on loopback, up to 20 ms of CPU a
 * step. With incremental marking off, 3 in 150 (docs/architecture.md, "Buffers for received
 * frames"). The price: a collection marks in one pause instead of in steps, a few ms on a heap
 * this size.
 *
 * bin/dptrain.js calls this first thing for `coordinator` and `worker`, before any module loads:
 * V8 does not expect the flag to change while it marks (set after the modules and the data had
 * loaded, a ws process crashed in V8's concurrent marker twice in 11 runs; not proven the cause).
 */
export function collectAtTheLimit(): void {
  v8.setFlagsFromString('--no-incremental-marking');
  atTheLimit = true;
}

let atTheLimit = false;

function gcReport(): string {
  return atTheLimit
    ? 'V8 collects the old generation at its limit (incremental marking off since start-up)'
    : "V8's defaults (incremental marking on): only `dptrain coordinator` and `dptrain worker` turn it off, at start-up";
}

/**
 * Everything a ws process (`dptrain coordinator`, `dptrain worker`) sets up for its memory before
 * it connects: frames in the heap, samples in huge pages (docs/datasets.md, "Memory"); and whether
 * collections are at the limit (set at start-up). Returns what each did, for a debug line.
 */
export async function tuneWsProcessMemory(): Promise<{ allocator: string; gc: string; hugePages: string }> {
  return { allocator: await keepFramesInHeap(), gc: gcReport(), hugePages: await enableHugePages() };
}
