/** Counting NaN and ±Infinity in loaded tensors, so a file of them is refused (or flagged) by name. */
import type { TensorData } from '../io/index.js';

/** NaN and ±Infinity values in `data` (0 for integer arrays). */
export function countNonFinite(data: TensorData): number {
  if (!(data instanceof Float32Array || data instanceof Float64Array)) return 0;
  let count = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) count++;
  return count;
}

/** "layers.0.weight: 3, optimizer.exp_avg: 1" for a message. */
export function describeCounts(counts: readonly { name: string; nonFinite: number }[]): string {
  const shownCounts = counts.slice(0, 6).map((t) => `${t.name}: ${t.nonFinite}`);
  return shownCounts.join(', ') + (counts.length > 6 ? `, and ${counts.length - 6} more tensors` : '');
}
