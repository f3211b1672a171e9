/**
 * This thread's CPU time, for measurements that must hold on a loaded machine. process.cpuUsage()
 * counts every thread of the process (V8's background compilers and garbage collector, other
 * workers), and wall time counts other processes; a thread's own clock counts neither.
 */
import { importKoffi } from './koffi.js';

/** clock_gettime's clock of the calling thread (Linux <time.h>). */
const CLOCK_THREAD_CPUTIME_ID = 3;

export interface CpuClock {
  /** Microseconds of CPU time so far (an arbitrary origin). */
  now(): number;
  /** 'thread' when the clock is the calling thread's, 'process' for the fallback. */
  scope: 'thread' | 'process';
}

const processClock: CpuClock = {
  now: () => {
    const t = process.cpuUsage();
    return t.user + t.system;
  },
  scope: 'process',
};

/** The calling thread's CPU clock on 64-bit Linux (through koffi), else the process's. */
export async function cpuClock(): Promise<CpuClock> {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return processClock;
  try {
    const koffi = await importKoffi();
    const clockGettime = koffi.load('libc.so.6').func('int clock_gettime(int clk, void *ts)');
    const ts = Buffer.alloc(16); // struct timespec: two 64-bit fields on 64-bit Linux
    const read = (): number => {
      if (clockGettime(CLOCK_THREAD_CPUTIME_ID, ts) !== 0) throw new Error('clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed');
      return Number(ts.readBigInt64LE(0)) * 1e6 + Number(ts.readBigInt64LE(8)) / 1e3;
    };
    read();
    return { now: read, scope: 'thread' };
  } catch {
    return processClock;
  }
}
