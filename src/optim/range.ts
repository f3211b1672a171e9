import type { UpdateArgs } from './optimizer.js';

/** Checks the arrays and the [start, end) range of one update; returns [start, end]. */
export function updateRange(numParams: number, params: Float32Array, grad: Float32Array, args: UpdateArgs): [number, number] {
  if (params.length !== numParams || grad.length !== numParams) {
    throw new RangeError(`optimizer built for ${numParams} parameters got params[${params.length}] and grad[${grad.length}]`);
  }
  const start = args.start ?? 0;
  const end = args.end ?? numParams;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > numParams) {
    throw new RangeError(`update range [${start}, ${end}) is not within [0, ${numParams})`);
  }
  return [start, end];
}
