export { partitionRanges, RANGE_ALIGN, type Range } from './ranges.js';
export { reduceSlotsRange, slotNormSq, type ReduceRangeResult } from './shared-reduce.js';
export {
  compileCollective,
  createSharedMemory,
  reduceScratchBytes,
  WasmCollective,
  WASM_PAGE,
  MAX_WASM_PAGES,
  type WasmMemory,
  type WasmModule,
} from './wasm.js';
