/**
 * Finding and opening the system BLAS for the blas kernel set (blas.ts): the library search
 * order, the FFI binding of `cblas_sgemm` through the `koffi` package (an optional dependency
 * with prebuilt binaries, loaded only when BLAS is asked for), and one BLAS thread per calling
 * thread. docs/kernels.md, "BLAS", says why each step is there.
 */
import os from 'node:os';
import path from 'node:path';
import { ConfigError, DptrainError } from '../errors.js';
import type { BlasReport } from './kernels.js';
import { importKoffi, type Koffi, type KoffiLib } from '../util/koffi.js';

/** cblas enums (cblas.h): row-major storage, and whether an operand is transposed. */
export const ROW_MAJOR = 101;
export const NO_TRANS = 111;
export const TRANS = 112;

/**
 * `cblas_sgemm`: C (m x n) = alpha·op(A)·op(B) + beta·C. The arrays are passed to C as pointers
 * to their own memory (koffi hands a TypedArray's backing store to the callee, no copy).
 */
export type Sgemm = (
  order: number,
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/** `cblas_sgemv`: y = alpha·op(A)·x + beta·y, A m x n. */
export type Sgemv = (order: number, trans: number, m: number, n: number, alpha: number, a: Float32Array, lda: number, x: Float32Array, incx: number, beta: number, y: Float32Array, incy: number) => void;

/** An opened library with what it says about itself (the self-test and speed are blas.ts's). */
export interface BlasLibrary {
  readonly sgemm: Sgemm;
  /**
   * For one-row products (B = 1), where gemm first packs all of W: y = W·x and dx = Wᵀ·dy read W
   * once (6 µs vs 33-38 µs at 784x128, measured in CPU time); null if the library lacks it.
   */
  readonly sgemv: Sgemv | null;
  readonly report: Omit<BlasReport, 'selfTestError' | 'speedup'>;
}

type Vendor = BlasReport['vendor'];

/** One place to look: a file name for the dynamic loader or an absolute path, and what it should be. */
interface Candidate {
  file: string;
  vendor: Vendor;
}

/** `--blas-library none` / `DPTRAIN_BLAS=none`: no BLAS (auto runs wasm), e.g. to compare or to pin a run to wasm. */
export const BLAS_NONE = 'none';

/** How to get the fast path, for messages (Debian and Ubuntu package names). */
export const BLAS_INSTALL_HINT = 'apt-get install libopenblas0-pthread (Debian/Ubuntu), or pass --blas-library PATH';

/** Multiarch directory of Debian's alternatives (openblas-pthread/, openblas-openmp/). */
function multiarchDir(): string | null {
  const triplet = ({ x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', ppc64: 'powerpc64le-linux-gnu', s390x: 's390x-linux-gnu', riscv64: 'riscv64-linux-gnu' } as Record<string, string>)[os.arch()];
  return triplet ? `/usr/lib/${triplet}` : null;
}

/**
 * The search list, in order: OpenBLAS (the default soname, then the pthread and openmp builds
 * that Debian and Fedora install beside it), MKL, Apple Accelerate (macOS), then the generic
 * BLAS sonames (whatever the system's alternatives point at; may be reference BLAS).
 */
export function blasCandidates(platform: NodeJS.Platform = process.platform): Candidate[] {
  const list: Candidate[] = [];
  const add = (vendor: Vendor, ...files: string[]) => files.forEach((file) => list.push({ file, vendor }));
  if (platform === 'darwin') {
    add('openblas', '/opt/homebrew/opt/openblas/lib/libopenblas.dylib', '/usr/local/opt/openblas/lib/libopenblas.dylib', 'libopenblas.dylib');
    add('mkl', 'libmkl_rt.dylib', 'libmkl_rt.2.dylib');
    add('accelerate', '/System/Library/Frameworks/Accelerate.framework/Accelerate');
    add('generic', 'libcblas.dylib', 'libblas.dylib');
    return list;
  }
  if (platform === 'win32') {
    add('openblas', 'libopenblas.dll', 'openblas.dll');
    add('mkl', 'mkl_rt.2.dll', 'mkl_rt.dll');
    add('generic', 'cblas.dll', 'blas.dll');
    return list;
  }
  const lib = multiarchDir();
  add('openblas', 'libopenblas.so.0');
  if (lib) add('openblas', `${lib}/openblas-pthread/libopenblas.so.0`, `${lib}/openblas-openmp/libopenblas.so.0`);
  add('openblas', 'libopenblasp.so.0', 'libopenblaso.so.0', 'libopenblas.so');
  add('mkl', 'libmkl_rt.so.2', 'libmkl_rt.so');
  add('generic', 'libcblas.so.3', 'libblas.so.3');
  return list;
}

/** The koffi package, or why BLAS cannot be used without it (a machine without it still runs js and wasm). */
function loadKoffi(): Promise<Koffi> {
  return importKoffi().catch((cause: unknown) => {
    throw new DptrainError('dptrain.kernels.blasUnavailable', `the koffi package (the FFI that calls BLAS) does not load here: ${(cause as Error).message} — run npm ci, or use --kernels wasm`, { cause });
  });
}

/** `lib.func(definition)`, or null when the library lacks the symbol. */
function optionalFunc(lib: KoffiLib, definition: string): ((...args: unknown[]) => unknown) | null {
  try {
    return lib.func(definition);
  } catch {
    return null;
  }
}

const SGEMM =
  'void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)';

/**
 * Opens `candidate` and binds cblas_sgemm; sets the library to one thread per call before any
 * product (dptrain runs one worker thread per core, and each calls BLAS from its own thread).
 * Throws when the file does not load or has no cblas_sgemm.
 */
function open(koffi: Koffi, candidate: Candidate, source: BlasReport['source']): BlasLibrary {
  let vendor = candidate.vendor;
  // Thread settings some libraries read from the environment when they load (main thread only:
  // a worker thread's process.env is its own copy). Never overrides what the user set.
  if (vendor === 'accelerate') process.env.VECLIB_MAXIMUM_THREADS ??= '1';
  const lib = koffi.load(candidate.file);
  const sgemm = lib.func(SGEMM) as unknown as Sgemm;
  const getConfig = optionalFunc(lib, 'const char *openblas_get_config()');
  const getCore = optionalFunc(lib, 'const char *openblas_get_corename()');
  const setOpenblasThreads = optionalFunc(lib, 'void openblas_set_num_threads(int n)');
  const getOpenblasThreads = optionalFunc(lib, 'int openblas_get_num_threads()');
  // Only where OpenBLAS's own call is missing: a lookup that fails throws from native code, and a
  // thread terminated during that throw (a pool closing while a thread starts) aborts the process.
  const setMklThreads = setOpenblasThreads ? null : (optionalFunc(lib, 'int MKL_Set_Num_Threads_Local(int n)') ?? optionalFunc(lib, 'void MKL_Set_Num_Threads(int n)'));
  const mklCbwrSet = setMklThreads ? optionalFunc(lib, 'int mkl_cbwr_set(int settings)') : null;
  if (setOpenblasThreads) vendor = 'openblas';
  else if (setMklThreads) vendor = 'mkl';

  let threads: string;
  if (setOpenblasThreads) {
    setOpenblasThreads(1);
    const now = getOpenblasThreads ? Number(getOpenblasThreads()) : 1;
    if (now !== 1) throw new Error(`openblas_set_num_threads(1) left ${now} threads`);
    threads = 'openblas_set_num_threads(1)';
  } else if (setMklThreads) {
    // Conditional numerical reproducibility: without it MKL may pick code paths by alignment and
    // CPU at run time. MKL_CBWR=AUTO fixes one path per CPU (docs/kernels.md, determinism).
    if (process.env.MKL_CBWR === undefined && mklCbwrSet) mklCbwrSet(2 /* MKL_CBWR_AUTO */);
    setMklThreads(1);
    threads = 'MKL_Set_Num_Threads(1), MKL_CBWR=' + (process.env.MKL_CBWR ?? 'AUTO');
  } else if (vendor === 'accelerate') {
    threads = `VECLIB_MAXIMUM_THREADS=${process.env.VECLIB_MAXIMUM_THREADS}`;
  } else {
    threads = 'no thread control (assumed single-threaded)';
  }
  const config = getConfig ? String(getConfig()).trim() : null;
  const core = getCore ? String(getCore()).trim() : null;
  const sgemv = optionalFunc(lib, 'void cblas_sgemv(int order, int trans, int m, int n, float alpha, const float *a, int lda, const float *x, int incx, float beta, float *y, int incy)') as unknown as Sgemv | null;
  return { sgemm, sgemv, report: { library: candidate.file, source, vendor, config, core, threads } };
}

/** Opened libraries of this thread, by file (each thread binds its own functions). */
const opened = new Map<string, BlasLibrary>();

/**
 * The BLAS library to use: `explicit` (from --blas-library) or else DPTRAIN_BLAS, opened as given;
 * otherwise the first of blasCandidates() that opens. Cached per thread and file.
 * Throws ConfigError `dptrain.config.badBlasLibrary` when the named library cannot be used, and
 * DptrainError `dptrain.kernels.blasUnavailable` when the search finds none (or koffi is missing).
 */
export async function openBlas(explicit?: string | null): Promise<BlasLibrary> {
  const env = process.env.DPTRAIN_BLAS;
  const given = explicit ? { file: explicit, source: 'option' as const } : env ? { file: env, source: 'env' as const } : null;
  if (given?.file === BLAS_NONE) {
    throw new DptrainError('dptrain.kernels.blasUnavailable', `BLAS is turned off (${given.source === 'option' ? '--blas-library ' : 'DPTRAIN_BLAS='}${BLAS_NONE}) — name a library, or use --kernels wasm`);
  }
  const koffi = await loadKoffi();
  if (given) {
    const cached = opened.get(given.file);
    if (cached) return cached;
    const flag = given.source === 'option' ? '--blas-library' : 'DPTRAIN_BLAS';
    try {
      const library = open(koffi, { file: given.file, vendor: guessVendor(given.file) }, given.source);
      opened.set(given.file, library);
      return library;
    } catch (cause) {
      // The user named it: a mistake to fix (exit 2), not a missing optional speed-up.
      throw new ConfigError('badBlasLibrary', `${flag} ${given.file} cannot be used: ${firstLine(cause)} — give a CBLAS library such as libopenblas.so.0 or its full path`, { cause });
    }
  }
  const tried: string[] = [];
  for (const candidate of blasCandidates()) {
    const cached = opened.get(candidate.file);
    if (cached) return cached;
    try {
      const library = open(koffi, candidate, 'search');
      opened.set(candidate.file, library);
      return library;
    } catch (error) {
      tried.push(`${path.basename(candidate.file)}: ${firstLine(error)}`);
    }
  }
  throw new DptrainError('dptrain.kernels.blasUnavailable', `no BLAS library found (tried ${blasCandidates().length} names) — ${BLAS_INSTALL_HINT}`, { cause: new Error(tried.join('; ')) });
}

function guessVendor(file: string): Vendor {
  const base = path.basename(file).toLowerCase();
  if (base.includes('openblas')) return 'openblas';
  if (base.includes('mkl')) return 'mkl';
  if (base === 'accelerate') return 'accelerate';
  return 'generic';
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0];
}
