import type { BatchResult } from '../model/index.js';

/** Adds batch results in the order given (callers pass slot or worker order, never arrival order). */
export function sumResults(parts: readonly BatchResult[]): BatchResult {
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  for (const part of parts) {
    lossSum += part.lossSum;
    correct += part.correct;
    count += part.count;
  }
  return { lossSum, correct, count };
}
