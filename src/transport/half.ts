/**
 * 16-bit floats on the wire (`--compress fp16|bf16`, docs/protocol.md §6): float32 values are
 * rounded to nearest-even into IEEE binary16 (fp16: 5 exponent bits, 10 fraction bits; beyond
 * ±65504 it is ±Infinity) or bfloat16 (bf16: float32's 8 exponent bits, 7 fraction bits), and
 * travel as their little-endian bytes. Decoding is exact. The transport moves bytes and knows no
 * gradients; the ws engine decides what to compress and adds the decoded values in float32.
 */
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
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  if (kind === 'bf16') for (let i = 0; i < view.length; i++) view[i] = toBf16(bits[i]);
  else for (let i = 0; i < view.length; i++) view[i] = toFp16(bits[i]);
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
  if (kind === 'bf16') {
    const bits = new Uint32Array(out.buffer, out.byteOffset + 4 * offset, half.length);
    for (let i = 0; i < half.length; i++) bits[i] = half[i] << 16;
  } else {
    const table = fp16Values();
    for (let i = 0; i < half.length; i++) out[offset + i] = table[half[i]];
  }
}

/** out[offset + i] += value of half[i], in float32. */
export function addHalf(kind: HalfKind, half: Uint16Array, out: Float32Array, offset: number): void {
  if (kind === 'bf16') {
    for (let i = 0; i < half.length; i++) {
      u32[0] = half[i] << 16;
      out[offset + i] += f32[0];
    }
  } else {
    const table = fp16Values();
    for (let i = 0; i < half.length; i++) out[offset + i] += table[half[i]];
  }
}

/** values[i] = its nearest 16-bit value (what a receiver decodes), in place (no array allocated). */
export function roundHalf(kind: HalfKind, values: Float32Array): void {
  const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
  if (kind === 'bf16') {
    for (let i = 0; i < bits.length; i++) bits[i] = toBf16(bits[i]) << 16;
  } else {
    const table = fp16Values();
    for (let i = 0; i < bits.length; i++) values[i] = table[toFp16(bits[i])];
  }
}
