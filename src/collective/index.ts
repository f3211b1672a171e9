export { partitionRanges, RANGE_ALIGN, type Range } from './ranges.js';
export { reduceSlotsRange, type ReduceRangeResult } from './shared-reduce.js';
