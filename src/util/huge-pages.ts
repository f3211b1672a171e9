/**
 * Transparent huge pages for the training samples (Linux, through koffi; elsewhere a no-op).
 *
 * A dataset's samples are the largest memory a dptrain process holds (W2's 60,000 x 784 floats:
 * 188 MB) and a step reads them scattered. In 4 KiB pages that is 46,000 page-table entries per
 * copy: TLB misses on every gather, and a kernel that watches memory (DAMON's access sampling,
 * reclaim) walks each of them, clearing accessed bits and shooting down TLBs on the cores that
 * compute. numpy asks for huge pages for every large array (madvise MADV_HUGEPAGE), so PyTorch's
 * data sits in 2 MiB pages; dptrain's did not, and on this project's benchmark machine its ws steps
 * stalled more often under the VM's memory monitor (docs/benchmarks.md, "Tenth pass"). Advising the
 * samples' memory before it is first written makes the kernel fault it in as huge pages where
 * /sys/kernel/mm/transparent_hugepage/enabled is `madvise` (the common default) or `always`.
 */
import { readFileSync } from 'node:fs';
import { importKoffi } from './koffi.js';

/** madvise's advice (linux/mman.h). */
const MADV_HUGEPAGE = 14;
/** x86-64's and arm64's (4 KiB base pages) huge page. */
const HUGE_PAGE = 2n * 1024n * 1024n;

interface Advisor {
  address(array: Float32Array): bigint;
  madvise(address: bigint, bytes: number, advice: number): number;
}

let advisor: Advisor | null = null;
let enabling: Promise<string> | null = null;

/** The kernel's transparent huge page mode (`always`, `madvise`, `never`), or null where there is none. */
export function transparentHugePageMode(): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Binds madvise once per process; says what it did, or why advising will do nothing. */
export function enableHugePages(): Promise<string> {
  enabling ??= bind();
  return enabling;
}

async function bind(): Promise<string> {
  if (process.platform !== 'linux') return `not linux (${process.platform}): samples stay in base pages`;
  if (process.env.DPTRAIN_MADVISE_HUGEPAGE === '0') return 'DPTRAIN_MADVISE_HUGEPAGE=0: samples stay in base pages';
  const mode = transparentHugePageMode();
  if (mode === null || mode === 'never') return `transparent huge pages are ${mode ?? 'absent'} here: samples stay in base pages`;
  try {
    const koffi = await importKoffi();
    const madvise = koffi.load('libc.so.6').func('int madvise(uintptr_t addr, size_t len, int advice)');
    advisor = {
      address: (array) => koffi.address(array),
      madvise: (address, bytes, advice) => madvise(address, bytes, advice) as number,
    };
    return `samples are advised into huge pages (transparent_hugepage ${mode})`;
  } catch (error) {
    return `no madvise here (${(error as Error).message}): samples stay in base pages`;
  }
}

/**
 * Asks for huge pages over the whole 2 MiB pages inside `array`'s memory; true when the kernel
 * took the advice. Only helps before the memory is first touched (a fresh SharedArrayBuffer is),
 * and does nothing before enableHugePages has resolved or for arrays under two huge pages.
 */
export function adviseHugePages(array: Float32Array): boolean {
  if (advisor === null || array.byteLength < 2 * Number(HUGE_PAGE)) return false;
  const start = advisor.address(array);
  const first = ((start + HUGE_PAGE - 1n) / HUGE_PAGE) * HUGE_PAGE;
  const end = ((start + BigInt(array.byteLength)) / HUGE_PAGE) * HUGE_PAGE;
  return advisor.madvise(first, Number(end - first), MADV_HUGEPAGE) === 0;
}
