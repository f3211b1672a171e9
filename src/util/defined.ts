/** `o` without its undefined fields, so that spreading it over defaults keeps the defaults for those. */
export function definedFields<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** Index of the first NaN or ±Infinity in `values`, or -1 when every value is finite. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let k = 0; k < values.length; k++) if (!Number.isFinite(values[k])) return k;
  return -1;
}
