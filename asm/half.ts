/**
 * bfloat16 wire values with SIMD (`--compress bf16`; compiled by `npm run build:wasm` into
 * dist/wasm/half.wasm). src/transport/half.ts is the reference and says what the bits are: these
 * kernels give the same bits for every input, eight values at a time (the add's NaN payloads aside:
 * a sum that is NaN is a NaN in both).
 *
 * The module owns its memory (not the threads engine's shared one: copies into a private memory
 * are several times faster); the caller copies a block in, runs a kernel and copies the result
 * out. Every argument is a byte address in this memory or a count.
 */

/** float32 bits -> bf16 bits in the low 16 bits of each lane: round to nearest even, NaN quieted. */
// @ts-ignore: decorator
@inline
function toBf16x4(bits: v128): v128 {
  const rounded = i32x4.shr_u(i32x4.add(i32x4.add(bits, i32x4.splat(0x7fff)), v128.and(i32x4.shr_u(bits, 16), i32x4.splat(1))), 16);
  const quiet = v128.or(i32x4.shr_u(bits, 16), i32x4.splat(0x40));
  // NaN: exponent all ones and a fraction that is not zero, i.e. |bits| > 0x7f800000 (unsigned).
  const nan = i32x4.gt_u(v128.and(bits, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000));
  return v128.bitselect(quiet, rounded, nan);
}

/** Scalar form of toBf16x4, for the last 1-7 values. */
// @ts-ignore: decorator
@inline
function toBf16(bits: u32): u32 {
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** dst[i] (u16) = bf16 bits of src[i] (f32), i < n. */
export function encodeBf16(src: usize, dst: usize, n: i32): void {
  encode(src, dst, n, false);
}

/** dst[i] (f32) = value of the bf16 src[i] (exact), i < n. */
export function decodeBf16(src: usize, dst: usize, n: i32): void {
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const d = dst + (<usize>i << 2);
    v128.store(d, i32x4.shl(i32x4.extend_low_i16x8_u(h), 16));
    v128.store(d, i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), 16);
  }
  for (; i < n; i++) store<u32>(dst + (<usize>i << 2), (<u32>load<u16>(src + (<usize>i << 1))) << 16);
}

/** dst[i] (f32) += value of the bf16 src[i], one float32 add each, i < n. */
export function addBf16(src: usize, dst: usize, n: i32): void {
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const d = dst + (<usize>i << 2);
    v128.store(d, f32x4.add(v128.load(d), i32x4.shl(i32x4.extend_low_i16x8_u(h), 16)));
    v128.store(d, f32x4.add(v128.load(d, 16), i32x4.shl(i32x4.extend_high_i16x8_u(h), 16)), 16);
  }
  for (; i < n; i++) {
    const d = dst + (<usize>i << 2);
    store<f32>(d, load<f32>(d) + reinterpret<f32>((<u32>load<u16>(src + (<usize>i << 1))) << 16));
  }
}

/** p[i] (f32) = its nearest bf16 value, in place, i < n. */
export function roundBf16(p: usize, n: i32): void {
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const a = p + (<usize>i << 2);
    v128.store(a, i32x4.shl(toBf16x4(v128.load(a)), 16));
  }
  for (; i < n; i++) {
    const a = p + (<usize>i << 2);
    store<u32>(a, toBf16(load<u32>(a)) << 16);
  }
}

// fp16 (IEEE binary16), round to nearest even, as src/transport/half.ts's toFp16 (after F. Giesen's
// float_to_half_fast3_rtne): magnitudes from 65520 up become Infinity, NaN a quiet NaN, values
// below 2^-14 go through a float add that rounds them to the subnormal grid in hardware.

/** |x| < 2^-14 (as bits): the fp16 subnormal range. */
const FP16_MIN_NORMAL_BITS: i32 = 113 << 23;
/** 2^16 as bits: from here fp16 overflows to Infinity (values just below round up to it too). */
const FP16_OVERFLOW_BITS: i32 = 143 << 23;
/** 0.5 as bits: adding it aligns a subnormal's fp16 bits with the float's low mantissa bits. */
const FP16_DENORM_MAGIC: i32 = ((127 - 15) + (23 - 10) + 1) << 23;

// @ts-ignore: decorator
@inline
function toFp16x4(bits: v128): v128 {
  const sign = v128.and(bits, i32x4.splat(0x80000000));
  const abs = v128.xor(bits, sign);
  const nan = i32x4.gt_s(abs, i32x4.splat(0x7f800000));
  const overflow = v128.bitselect(i32x4.splat(0x7e00), i32x4.splat(0x7c00), nan);
  const magic = i32x4.splat(FP16_DENORM_MAGIC);
  const subnormal = i32x4.sub(f32x4.add(abs, magic), magic);
  const odd = v128.and(i32x4.shr_u(abs, 13), i32x4.splat(1));
  const normal = i32x4.shr_u(i32x4.add(i32x4.add(abs, i32x4.splat(((15 - 127) << 23) + 0xfff)), odd), 13);
  const small = i32x4.lt_s(abs, i32x4.splat(FP16_MIN_NORMAL_BITS));
  const big = i32x4.ge_s(abs, i32x4.splat(FP16_OVERFLOW_BITS));
  const finite = v128.bitselect(subnormal, normal, small);
  return v128.or(v128.bitselect(overflow, finite, big), i32x4.shr_u(sign, 16));
}

/** Scalar form of toFp16x4, for the last 1-7 values. */
// @ts-ignore: decorator
@inline
function toFp16(bits: u32): u32 {
  const sign = bits & 0x80000000;
  const abs = <i32>(bits ^ sign);
  let h: u32;
  if (abs >= FP16_OVERFLOW_BITS) h = abs > 0x7f800000 ? 0x7e00 : 0x7c00;
  else if (abs < FP16_MIN_NORMAL_BITS) h = <u32>(reinterpret<i32>(reinterpret<f32>(abs) + reinterpret<f32>(FP16_DENORM_MAGIC)) - FP16_DENORM_MAGIC);
  else h = (<u32>abs + (((15 - 127) << 23) + 0xfff) + ((<u32>abs >> 13) & 1)) >> 13;
  return h | (sign >> 16);
}

/** dst[i] (u16) = fp16 bits of src[i] (f32), i < n. */
export function encodeFp16(src: usize, dst: usize, n: i32): void {
  encode(src, dst, n, true);
}

/** The encoding loop of both kinds; inlined with a constant `fp16`, so no branch is left in it. */
// @ts-ignore: decorator
@inline
function encode(src: usize, dst: usize, n: i32, fp16: bool): void {
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const s = src + (<usize>i << 2);
    const lo = v128.load(s);
    const hi = v128.load(s, 16);
    v128.store(dst + (<usize>i << 1), fp16 ? i16x8.narrow_i32x4_u(toFp16x4(lo), toFp16x4(hi)) : i16x8.narrow_i32x4_u(toBf16x4(lo), toBf16x4(hi)));
  }
  for (; i < n; i++) {
    const bits = load<u32>(src + (<usize>i << 2));
    store<u16>(dst + (<usize>i << 1), <u16>(fp16 ? toFp16(bits) : toBf16(bits)));
  }
}
