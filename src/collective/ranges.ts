/** Splitting a parameter vector into contiguous per-worker ranges. */

export interface Range {
  start: number;
  end: number;
}

/** 16 float32 = one 64-byte cache line: ranges never share a line, so workers never false-share. */
export const RANGE_ALIGN = 16;

/**
 * `parts` contiguous ranges tiling [0, length), boundaries on multiples of `align`, sizes as equal
 * as the alignment allows (later ranges take the extra blocks, since the last block may be
 * partial). Empty ranges only when length is smaller than parts × align.
 */
export function partitionRanges(length: number, parts: number, align = RANGE_ALIGN): Range[] {
  if (!Number.isInteger(parts) || parts < 1) throw new RangeError(`parts must be a positive integer (got ${parts})`);
  const blocks = Math.ceil(length / align);
  const base = Math.floor(blocks / parts);
  const extra = blocks % parts;
  const ranges: Range[] = [];
  let block = 0;
  for (let i = 0; i < parts; i++) {
    const count = base + (i >= parts - extra ? 1 : 0);
    const start = Math.min(length, block * align);
    block += count;
    ranges.push({ start, end: Math.min(length, block * align) });
  }
  return ranges;
}
