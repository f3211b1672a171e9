/**
 * Training calls whose BatchNorm statistics cross slots (docs/models.md#batchnorm): the model's
 * gradientSteps generators of one worker's slots run in lockstep, and at each exchange their
 * partial sums go out together and every generator resumes with the same totals. The totals
 * are always summed in slot order, so every worker computes the same bits, and with fixed
 * chunks they do not depend on the worker count.
 */
import { bufferLayout, buildStack, type BatchNormMode, type BatchResult, type ModelSpec } from '../model/index.js';

/** Answers one exchange: this worker's partials, in its slot order, in; the totals over every slot out. */
export type Exchange = (partials: Float64Array[]) => Float64Array;
export type AsyncExchange = (partials: Float64Array[]) => Promise<Float64Array>;

/** Runs the generators to the end; returns their results in order. */
export function runLockstep(gens: Generator<Float64Array, BatchResult, Float64Array>[], exchange: Exchange): BatchResult[] {
  let steps = gens.map((g) => g.next());
  while (!steps[0].done) {
    const totals = exchange(steps.map((s) => s.value as Float64Array));
    steps = gens.map((g) => g.next(totals));
  }
  return steps.map((s) => s.value as BatchResult);
}

/** runLockstep with an exchange that waits (the ws engine's, over the network). */
export async function runLockstepAsync(gens: Generator<Float64Array, BatchResult, Float64Array>[], exchange: AsyncExchange): Promise<BatchResult[]> {
  let steps = gens.map((g) => g.next());
  while (!steps[0].done) {
    const totals = await exchange(steps.map((s) => s.value as Float64Array));
    steps = gens.map((g) => g.next(totals));
  }
  return steps.map((s) => s.value as BatchResult);
}

/** Element-wise sums of `partials`, in their order, in float64. */
export function sumInOrder(partials: readonly Float64Array[], length = partials[0].length): Float64Array {
  const totals = new Float64Array(length);
  for (const p of partials) for (let j = 0; j < length; j++) totals[j] += p[j];
  return totals;
}

/** The longest exchange of a model's training call (0 without BatchNorm). */
export function exchangeWidth(spec: ModelSpec): number {
  const layout = bufferLayout(buildStack(spec));
  return layout.norms.length === 0 ? 0 : Math.max(layout.statsSize, ...layout.norms.map((n) => 2 * n.channels + 1));
}

/** Rows that a slot boundary must not split: a ghost batch. */
export function slotUnit(mode: BatchNormMode | undefined): number {
  return mode?.kind === 'ghost' ? mode.group : 1;
}
