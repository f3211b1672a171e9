/**
 * The koffi FFI package (an optional dependency), imported on first use: the BLAS kernels and the
 * allocator tuning of the ws processes call C libraries through it, and a machine without it still
 * runs everything else. Typed locally (only the parts used here) so that the package stays optional.
 */
export interface KoffiLib {
  func(definition: string): (...args: unknown[]) => unknown;
}
export interface Koffi {
  load(file: string): KoffiLib;
  /** The address of a TypedArray's first element (its backing store plus its offset). */
  address(value: unknown): bigint;
}

let koffiModule: Promise<Koffi> | null = null;

/** The koffi module; rejects with the import's error (and tries again on the next call). */
export function importKoffi(): Promise<Koffi> {
  koffiModule ??= import('koffi').then(
    (m) => (m as { default?: Koffi }).default ?? (m as unknown as Koffi),
    (cause: unknown) => {
      koffiModule = null;
      throw cause;
    },
  );
  return koffiModule;
}
