/**
 * The threads engine's shared memory. The dataset and the epoch permutation are plain
 * SharedArrayBuffers; everything a step writes — both parameter versions, both optimizer-state
 * versions, the gradient slots and the reduced gradient — lives in ONE buffer laid out by
 * `planLayout`: a shared WebAssembly.Memory (so that the wasm collective kernels of every thread
 * address it in place) or, where that cannot run, a plain SharedArrayBuffer with the same layout.
 * Either way it is sized exactly once, never grows, and the Float32Array views never detach.
 */
import type { Dataset } from '../data/index.js';
import { createSharedMemory, reduceScratchBytes, MAX_WASM_PAGES, WASM_PAGE, type WasmMemory } from '../collective/index.js';
import type { SharedDataset } from './messages.js';

export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, length) * 4), 0, length);
}

export function sharedUint32(length: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(Math.max(1, length) * 4), 0, length);
}

/**
 * A dataset in shared memory, mapped by every thread without a copy. Arrays already over a
 * SharedArrayBuffer (loaders and subsets allocate them so: data/dataset.ts sampleArray) are used
 * as they are, so the process holds one copy of the samples; others are copied once.
 */
export function shareDataset(data: Dataset): SharedDataset {
  return { n: data.n, inputDim: data.inputDim, targetDim: data.targetDim, x: shared(data.x), y: shared(data.y) };
}

function shared(values: Float32Array): Float32Array {
  if (values.buffer instanceof SharedArrayBuffer) return values;
  const copy = sharedFloat32(values.length);
  copy.set(values);
  return copy;
}

/** Byte offsets of the engine's buffers in its one shared buffer; every array starts on a cache line. */
export interface SharedLayout {
  bytes: number;
  numParams: number;
  stateTensors: number;
  slotCount: number;
  /** Per thread index (worker w, then the coordinator at index `workers`): its reduce scratch. */
  scratch: number;
  scratchBytes: number;
  params: [number, number];
  state: [number, number];
  slots: number;
  reduced: number;
}

const LINE = 64;
/** First byte of the layout. */
export const LAYOUT_BASE = 4096;
const align = (n: number) => Math.ceil(n / LINE) * LINE;

/**
 * Lays out params ×2, optimizer state ×2 (stateTensors × numParams each), slotCount gradient
 * slots, the reduced gradient, and a reduce scratch region for each of `threads` threads.
 */
export function planLayout(numParams: number, stateTensors: number, slotCount: number, threads: number): SharedLayout {
  const scratchBytes = align(reduceScratchBytes(slotCount));
  // The first 4 KiB stay unused: the collective module's static area lies below (its heapBase()
  // is 1024, and it has no data), so instantiating it never touches the buffers.
  let at = LAYOUT_BASE;
  const take = (bytes: number) => {
    const start = at;
    at = align(at + Math.max(bytes, 1));
    return start;
  };
  const scratch = take(threads * scratchBytes);
  const p = numParams * 4;
  const params: [number, number] = [take(p), take(p)];
  const state: [number, number] = [take(stateTensors * p), take(stateTensors * p)];
  const slots = take(slotCount * p);
  const reduced = take(p);
  return { bytes: at, numParams, stateTensors, slotCount, scratch, scratchBytes, params, state, slots, reduced };
}

/** The engine's one buffer and its views. */
export interface SharedState {
  /** The shared WebAssembly.Memory, or null when the buffer is a plain SharedArrayBuffer. */
  memory: WasmMemory | null;
  buffer: SharedArrayBuffer;
  params: [Float32Array, Float32Array];
  state: [Float32Array, Float32Array];
  slots: Float32Array;
  reduced: Float32Array;
}

/**
 * Allocates the layout: as a shared WebAssembly.Memory of exactly the pages it needs when `wasm`
 * (it fits: a 32-bit memory holds at most 4 GiB), else as a SharedArrayBuffer. Zeroed.
 */
export function allocateShared(layout: SharedLayout, wasm: boolean): SharedState {
  const pages = Math.ceil(layout.bytes / WASM_PAGE);
  const memory = wasm && pages <= MAX_WASM_PAGES ? createSharedMemory(pages) : null;
  const buffer = (memory ? memory.buffer : new SharedArrayBuffer(layout.bytes)) as SharedArrayBuffer;
  return { memory, buffer, ...viewsOf(buffer, layout) };
}

/** The Float32Array views of a layout over its buffer (each thread builds its own). */
export function viewsOf(buffer: SharedArrayBuffer, layout: SharedLayout): Omit<SharedState, 'memory' | 'buffer'> {
  const P = layout.numParams;
  const f32 = (offset: number, length: number) => new Float32Array(buffer, offset, length);
  return {
    params: [f32(layout.params[0], P), f32(layout.params[1], P)],
    state: [f32(layout.state[0], layout.stateTensors * P), f32(layout.state[1], layout.stateTensors * P)],
    slots: f32(layout.slots, layout.slotCount * P),
    reduced: f32(layout.reduced, P),
  };
}

/** Whether a layout fits a 32-bit WebAssembly memory. */
export function fitsWasmMemory(layout: SharedLayout): boolean {
  return Math.ceil(layout.bytes / WASM_PAGE) <= MAX_WASM_PAGES;
}
