/**
 * Choosing the kernel set, once per thread (the threads engine calls loadKernels in each worker).
 * The one place in kernels/ that does I/O: it reads the compiled .wasm file and opens the BLAS library.
 */
import { ConfigError, DptrainError, shown } from '../errors.js';
import { cpuClock } from '../util/thread-cpu.js';
import { AUTO_MIN_SPEEDUP, createBlasKernels, delegateAll, describeBlas, selfTest, selfTestError, speedProbe, SELF_TEST_TOLERANCE } from './blas.js';
import { BLAS_INSTALL_HINT, BLAS_NONE, openBlas } from './blas-loader.js';
import { jsKernels, kernelsChoices, type BlasReport, type Kernels, type KernelsChoice, type KernelsReport } from './kernels.js';
import { loadWasmKernels, type WasmKernelSet } from './wasm.js';

export interface LoadKernelsOptions {
  /**
   * The BLAS library for 'blas' and 'auto' (`--blas-library`): a file name for the dynamic loader
   * or a path. Default: the DPTRAIN_BLAS environment variable, else the search of docs/kernels.md.
   */
  blasLibrary?: string | null;
  /** false: 'auto' resolves to wasm or js only (the ws engine's coordinator). Default true. */
  preferBlas?: boolean;
}

/** This thread's resolved sets, by choice and library (loading BLAS self-tests and probes it once). */
const cache = new Map<string, Promise<Kernels>>();

/**
 * The kernel set for `choice`: 'js' (plain TypeScript), 'wasm' (WebAssembly SIMD; throws
 * DptrainError `dptrain.kernels.wasmUnavailable` when it cannot run here), 'blas' (the system
 * BLAS for the dense products; throws `dptrain.kernels.blasUnavailable` or `blasSelfTest`), or
 * 'auto' (default: blas where a library passes its self-test at >= 1.5x the wasm speed, else wasm,
 * else js; `detail` and `report` say which and why).
 * The first call in each thread loads; later calls with the same arguments return the same set.
 */
export async function loadKernels(choice: KernelsChoice = 'auto', options: LoadKernelsOptions = {}): Promise<Kernels> {
  if (!kernelsChoices.includes(choice)) {
    throw new ConfigError('badKernels', `kernels must be one of ${kernelsChoices.join(', ')} (got ${shown(choice)})`);
  }
  if (choice === 'js') return jsKernels;
  if (choice === 'wasm' || (choice === 'auto' && options.preferBlas === false)) return loadWasmOrJs(choice);
  const key = `${choice}\0${options.blasLibrary ?? ''}\0${process.env.DPTRAIN_BLAS ?? ''}`;
  let loaded = cache.get(key);
  if (!loaded) {
    loaded = choice === 'blas' ? loadBlas(options.blasLibrary) : loadAuto(options.blasLibrary);
    cache.set(key, loaded);
    // A failed load is not cached, so that a later call reports the same error afresh.
    loaded.catch(() => cache.delete(key));
  }
  return loaded;
}

/** 'wasm', or 'auto' without BLAS: wasm where it runs, else (auto) js with the reason. */
async function loadWasmOrJs(choice: 'wasm' | 'auto'): Promise<Kernels> {
  if (choice === 'wasm') return loadWasmKernels();
  try {
    return await loadWasmKernels();
  } catch (error) {
    if (!(error instanceof DptrainError && error.code === 'dptrain.kernels.wasmUnavailable')) throw error;
    return jsFallback(error);
  }
}

function jsFallback(error: DptrainError): Kernels {
  const detail = `js (wasm unavailable: ${error.message})`;
  return Object.freeze({ ...jsKernels, detail, report: { name: 'js' as const, detail, blas: null, fallback: error.message } });
}

/** `--kernels blas`: the library self-tested, no speed probe (the user chose it). */
async function loadBlas(blasLibrary: string | null | undefined): Promise<Kernels> {
  const wasm = await loadWasmKernels();
  const library = await openBlas(blasLibrary);
  const report: BlasReport = { ...library.report, selfTestError: 0, speedup: null };
  const kernels = blasSet(wasm, library, report);
  report.selfTestError = selfTest(kernels, wasm);
  if (!(report.selfTestError < SELF_TEST_TOLERANCE)) throw selfTestError(report.library, report.selfTestError, report.core);
  return kernels;
}

/** `auto`: blas if found, correct and fast enough; else wasm; else js; the reason in `report.fallback`. */
async function loadAuto(blasLibrary: string | null | undefined): Promise<Kernels> {
  let wasm: WasmKernelSet;
  try {
    wasm = await loadWasmKernels();
  } catch (error) {
    if (!(error instanceof DptrainError && error.code === 'dptrain.kernels.wasmUnavailable')) throw error;
    return jsFallback(error);
  }
  let library;
  try {
    library = await openBlas(blasLibrary);
  } catch (error) {
    // A library the user named must load; the search finding none is the ordinary case.
    const named = blasLibrary || process.env.DPTRAIN_BLAS;
    if (named === BLAS_NONE) return withFallback(wasm, null, (error as Error).message.replace(/ — .*$/, ''));
    if (named || !(error instanceof DptrainError && error.code === 'dptrain.kernels.blasUnavailable')) throw error;
    return withFallback(wasm, null, `${error.message.replace(/ — .*$/, '')}; for ~3x faster products: ${BLAS_INSTALL_HINT}`);
  }
  const report: BlasReport = { ...library.report, selfTestError: 0, speedup: null };
  const kernels = blasSet(wasm, library, report);
  report.selfTestError = selfTest(kernels, wasm);
  if (!(report.selfTestError < SELF_TEST_TOLERANCE)) {
    return withFallback(wasm, report, selfTestError(report.library, report.selfTestError, report.core).message.replace(/ — .*$/, ''));
  }
  report.speedup = speedProbe(kernels, wasm, await cpuClock());
  if (report.speedup < AUTO_MIN_SPEEDUP) {
    return withFallback(wasm, report, `${report.library} ran at ${report.speedup.toFixed(1)}x the wasm kernels (auto needs ${AUTO_MIN_SPEEDUP}x; reference BLAS is slower than wasm); --kernels blas uses it anyway`);
  }
  kernels.report!.detail = describeBlas(report);
  return kernels;
}

function blasSet(wasm: WasmKernelSet, library: Awaited<ReturnType<typeof openBlas>>, blas: BlasReport): Kernels {
  const detail = describeBlas(blas);
  return createBlasKernels(wasm, library, { name: 'blas', detail, blas, fallback: null });
}

/** The wasm set, with why BLAS was not used in its report (logged at start-up, in summary.json). */
function withFallback(wasm: WasmKernelSet, blas: BlasReport | null, why: string): Kernels {
  const detail = wasm.detail;
  const report: KernelsReport = { name: 'wasm', detail, blas, fallback: why };
  return Object.freeze(Object.assign(delegateAll(wasm), { detail, report })) as unknown as Kernels;
}

/**
 * The start-up line about the BLAS library (logged once per run): what it says about itself, the
 * self-test, and why auto chose it or did not.
 */
export function blasChoiceLine(report: KernelsReport, chosenBy: 'option' | 'checkpoint' = 'option'): string {
  const blas = report.blas;
  if (!blas) return report.fallback ? `BLAS not used: ${report.fallback}` : `${report.detail} kernels`;
  const about = `${blas.config ?? blas.vendor}${blas.core ? ` (core ${blas.core})` : ''}, ${blas.library} from the ${blas.source === 'search' ? 'library search' : blas.source === 'option' ? '--blas-library option' : 'DPTRAIN_BLAS variable'}, ${blas.threads}`;
  const test = `self-test max relative error ${blas.selfTestError.toExponential(1)}`;
  if (report.name === 'blas') {
    const given = chosenBy === 'checkpoint' ? "the checkpoint's kernel set, kept by --resume" : 'chosen with --kernels blas';
    const why = blas.speedup === null ? given : `auto chose it: ${blas.speedup.toFixed(1)}x the wasm kernels on a 256x784x256 product`;
    return `BLAS: ${about}; ${test}; ${why}`;
  }
  return `BLAS not used: ${report.fallback} (${about}; ${test})`;
}
