/**
 * 16-bit floats on the wire (`--compress fp16|bf16`, docs/protocol.md §6): float32 values are
 * rounded to nearest-even into IEEE binary16 (fp16: 5 exponent bits, 10 fraction bits; beyond
 * ±65504 it is ±Infinity) or bfloat16 (bf16: float32's 8 exponent bits, 7 fraction bits), and
 * travel as their little-endian bytes. Decoding is exact. The transport moves bytes and knows no
 * gradients; the ws engine decides what to compress and adds the decoded values in float32.
 */
import { readFileSync } from 'node:fs';

export type HalfKind = 'fp16' | 'bf16';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bits (as an int32 or a uint32) -> bf16 bits, round to nearest even; NaN stays a (quiet) NaN. */
function toBf16(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** float32 bits (as an int32 or a uint32) -> fp16 bits, round to nearest even (subnormals, overflow to Infinity, NaN). */
function toFp16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1) === 1)) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h += 1; // may carry into the exponent: still right
  return sign | h;
}

/** fp16 bits -> float32 value (exact). */
function fromFp16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : Number.NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** 65,536 fp16 bit patterns -> float32, built once. */
let fp16Table: Float32Array | null = null;
function fp16Values(): Float32Array {
  if (!fp16Table) {
    fp16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) fp16Table[h] = fromFp16(h);
  }
  return fp16Table;
}

/** The 16-bit patterns of `values` (a fresh, aligned array). */
export function encodeHalf(kind: HalfKind, values: Float32Array): Uint16Array {
  return encodeHalfInto(kind, values, new Uint16Array(values.length));
}

/** The 16-bit patterns of `values` written to the start of `out`; returns that view of `out`. */
export function encodeHalfInto(kind: HalfKind, values: Float32Array, out: Uint16Array): Uint16Array {
  if (out.length < values.length) throw new RangeError(`${values.length} values do not fit an output of ${out.length}`);
  const view = out.subarray(0, values.length);
  if (simd) simd.encode(kind, values, view);
  else halfReference.encode(kind, values, view);
  return view;
}

/**
 * A reusable output for the 16-bit patterns of messages about to be sent. Writing into a fresh
 * array costs a page fault per 4 KiB (a 1 MiB ring piece: 5x the conversion itself), so the
 * senders keep one. What `encode` returns is valid until its next call: pass it to a `send`, which
 * copies it at once (transport/connection.ts).
 */
export class HalfScratch {
  #buffer = new Uint16Array(0);

  encode(kind: HalfKind, values: Float32Array): Uint16Array {
    if (this.#buffer.length < values.length) this.#buffer = new Uint16Array(values.length);
    return encodeHalfInto(kind, values, this.#buffer);
  }
}

/** Bytes of a Uint16Array for the wire (a view, no copy). */
export function halfBytes(half: Uint16Array): Uint8Array {
  return new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
}

/** The Uint16Array of received bytes (copied when they are not 2-byte aligned). */
export function halfOf(bytes: Uint8Array): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 1);
  return new Uint16Array(bytes.slice().buffer, 0, bytes.byteLength >>> 1);
}

/** out[offset + i] = value of half[i]. */
export function decodeHalf(kind: HalfKind, half: Uint16Array, out: Float32Array, offset: number): void {
  if (kind === 'bf16' && simd) simd.decode(half, out, offset);
  else halfReference.decode(kind, half, out, offset);
}

/** out[offset + i] += value of half[i], in float32. */
export function addHalf(kind: HalfKind, half: Uint16Array, out: Float32Array, offset: number): void {
  if (kind === 'bf16' && simd) simd.add(half, out, offset);
  else halfReference.add(kind, half, out, offset);
}

/** values[i] = its nearest 16-bit value (what a receiver decodes), in place (no array allocated). */
export function roundHalf(kind: HalfKind, values: Float32Array): void {
  if (simd) simd.round(kind, values);
  else halfReference.round(kind, values);
}

/**
 * The JavaScript conversions: what the bits are. The SIMD kernels below give the same bits where
 * they load (test/transport.half.test.ts compares them): all of bf16's, and fp16's encoding (its
 * decoding is a table look-up here).
 */
export const halfReference = {
  encode(kind: HalfKind, values: Float32Array, out: Uint16Array): void {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    if (kind === 'bf16') for (let i = 0; i < values.length; i++) out[i] = toBf16(bits[i]);
    else for (let i = 0; i < values.length; i++) out[i] = toFp16(bits[i]);
  },
  decode(kind: HalfKind, half: Uint16Array, out: Float32Array, offset: number): void {
    if (kind === 'bf16') {
      const bits = new Uint32Array(out.buffer, out.byteOffset + 4 * offset, half.length);
      for (let i = 0; i < half.length; i++) bits[i] = half[i] << 16;
    } else {
      const table = fp16Values();
      for (let i = 0; i < half.length; i++) out[offset + i] = table[half[i]];
    }
  },
  add(kind: HalfKind, half: Uint16Array, out: Float32Array, offset: number): void {
    if (kind === 'bf16') {
      for (let i = 0; i < half.length; i++) {
        u32[0] = half[i] << 16;
        out[offset + i] += f32[0];
      }
    } else {
      const table = fp16Values();
      for (let i = 0; i < half.length; i++) out[offset + i] += table[half[i]];
    }
  },
  round(kind: HalfKind, values: Float32Array): void {
    const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
    if (kind === 'bf16') {
      for (let i = 0; i < bits.length; i++) bits[i] = toBf16(bits[i]) << 16;
    } else {
      const table = fp16Values();
      for (let i = 0; i < bits.length; i++) values[i] = table[toFp16(bits[i])];
    }
  },
};

/** Floats per block of the SIMD kernels: 64 KiB of float32 at byte 0, their 16-bit values after. */
const BLOCK = 16_384;

interface HalfExports {
  encodeBf16(src: number, dst: number, n: number): void;
  encodeFp16(src: number, dst: number, n: number): void;
  decodeBf16(src: number, dst: number, n: number): void;
  addBf16(src: number, dst: number, n: number): void;
  roundBf16(p: number, n: number): void;
  memory: { buffer: ArrayBuffer };
}

/**
 * The kernels of asm/half.ts (dist/wasm/half.wasm), eight values per SIMD step: about 5x
 * faster than the loops above, their copies in and out included (docs/benchmarks.md, "Third
 * pass"). Null where the file is not built or the runtime lacks WebAssembly SIMD: then the loops.
 */
const simd = (() => {
  const wasm = (globalThis as unknown as { WebAssembly?: { validate(b: Uint8Array): boolean; Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: unknown } } }).WebAssembly;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(new URL('../../wasm/half.wasm', import.meta.url));
  } catch {
    return null;
  }
  if (!wasm || !wasm.validate(bytes)) return null;
  const x = new wasm.Instance(new wasm.Module(bytes), {}).exports as HalfExports;
  const F = 0; // byte address of the float32 block
  const H = 4 * BLOCK; // and of its 16-bit values
  const floats = new Float32Array(x.memory.buffer, F, BLOCK);
  const halves = new Uint16Array(x.memory.buffer, H, BLOCK);
  const blocks = (n: number, each: (i: number, k: number) => void) => {
    for (let i = 0; i < n; i += BLOCK) each(i, Math.min(BLOCK, n - i));
  };
  return {
    encode: (kind: HalfKind, values: Float32Array, out: Uint16Array) =>
      blocks(values.length, (i, k) => {
        floats.set(values.subarray(i, i + k));
        if (kind === 'bf16') x.encodeBf16(F, H, k);
        else x.encodeFp16(F, H, k);
        out.set(halves.subarray(0, k), i);
      }),
    decode: (half: Uint16Array, out: Float32Array, offset: number) =>
      blocks(half.length, (i, k) => {
        halves.set(half.subarray(i, i + k));
        x.decodeBf16(H, F, k);
        out.set(floats.subarray(0, k), offset + i);
      }),
    add: (half: Uint16Array, out: Float32Array, offset: number) =>
      blocks(half.length, (i, k) => {
        halves.set(half.subarray(i, i + k));
        floats.set(out.subarray(offset + i, offset + i + k));
        x.addBf16(H, F, k);
        out.set(floats.subarray(0, k), offset + i);
      }),
    round: (kind: HalfKind, values: Float32Array) =>
      blocks(values.length, (i, k) => {
        floats.set(values.subarray(i, i + k));
        if (kind === 'bf16') {
          x.roundBf16(F, k);
          values.set(floats.subarray(0, k), i);
        } else {
          x.encodeFp16(F, H, k);
          halfReference.decode('fp16', halves.subarray(0, k), values, i);
        }
      }),
  };
})();

/** Which bf16 conversion this process uses (for the benchmarks' header lines). */
export const halfKernel: 'wasm-simd' | 'js' = simd ? 'wasm-simd' : 'js';
