/**
 * Large typed arrays on the wire at an aligned offset, so the receiver can read them in place.
 *
 * msgpackr's typed-array extension (0x74) puts the array's bytes right after its header, at any
 * offset, so its decoder must copy them into an aligned buffer of their own: a second copy of every
 * gradient piece on top of the one ws makes when a frame spans several socket reads (a 1 MiB piece
 * always does), and a fresh 1 MiB allocation per piece for the garbage collector. An array of
 * ALIGNED_MIN_BYTES or more is written instead as extension ALIGNED_ARRAY_EXT:
 *
 *   c9 <u32 length = 9 + L> 61 | code | k | k zero bytes | L bytes of the array | 7 - k zero bytes
 *
 * where `code` is msgpackr's type code (7 = Float32) and k (0-7) puts the array's first byte at a
 * multiple of 8 from the start of the frame. msgpackr starts every frame at an 8-byte boundary of its
 * output buffer (pack.js: `position = (position + 7) & ~7`), so the offset that extension's `pack`
 * is given is the frame offset modulo 8. ws hands a received frame over in a buffer of its own that
 * starts at offset 0, so the decoder returns a view of that buffer: no copy, no allocation. It
 * copies only where the bytes are not aligned or the view would pin a buffer more than twice the
 * array's size. Smaller arrays keep msgpackr's 0x74 layout (the copy is cheap, and a view of a small
 * array would pin a whole 64 KiB socket read).
 *
 * msgpackr's extension tables are module-wide: importing this module changes how every Packr and
 * Unpackr of the process writes and reads a Float32Array, and dptrain's Codec is the only one.
 * frame-scan.ts checks the layout above before the decoder runs.
 */
import { addExtension, type Packr } from 'msgpackr';

/** The extension type of an aligned typed array ("a"). */
export const ALIGNED_ARRAY_EXT = 0x61;
/** Arrays at least this large are written aligned. */
export const ALIGNED_MIN_BYTES = 64 * 1024;
/** Bytes an aligned array's extension data holds besides the array: code, k and 7 bytes of padding. */
export const ALIGNED_OVERHEAD = 9;

/** msgpackr's type code (unpack.js `typedArrays`) of Float32Array, the one type written aligned. */
export const FLOAT32_CODE = 7;

type Allocate = (size: number) => { target: Uint8Array; position: number };

/** msgpackr's 0x74 layout, as its writeExtBuffer writes it (for arrays below ALIGNED_MIN_BYTES). */
function writeTypedArrayExt(array: Float32Array, allocate: Allocate): void {
  const length = array.byteLength + 1; // plus the type-code byte
  const header = length < 0x100 ? 3 : length < 0x10000 ? 4 : 6;
  const { target, position } = allocate(header + length);
  let p = position;
  if (header === 3) target[p++] = 0xc7;
  else if (header === 4) target[p++] = 0xc8;
  else target[p++] = 0xc9;
  for (let shift = 8 * (header - 3); shift >= 0; shift -= 8) target[p++] = (length >>> shift) & 0xff;
  target[p++] = 0x74;
  target[p++] = FLOAT32_CODE;
  target.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), p);
}

function writeAlignedExt(array: Float32Array, allocate: Allocate): void {
  const length = array.byteLength + ALIGNED_OVERHEAD;
  const { target, position } = allocate(6 + length);
  let p = position;
  target[p++] = 0xc9;
  target[p++] = length >>> 24;
  target[p++] = (length >>> 16) & 0xff;
  target[p++] = (length >>> 8) & 0xff;
  target[p++] = length & 0xff;
  target[p++] = ALIGNED_ARRAY_EXT;
  target[p++] = FLOAT32_CODE;
  const k = (8 - ((p + 1) % 8)) % 8; // the array starts at p + 1 + k
  target[p++] = k;
  target.fill(0, p, p + k);
  p += k;
  target.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), p);
  p += array.byteLength;
  target.fill(0, p, p + 7 - k);
}

/** Decodes the data of an ALIGNED_ARRAY_EXT extension (already checked by frame-scan.ts). */
export function readAlignedExt(data: Uint8Array): Float32Array {
  if (data[0] !== FLOAT32_CODE) throw new Error(`aligned typed array of type code ${data[0]} (only Float32, 7, is written)`);
  const k = data[1];
  const bytes = data.length - ALIGNED_OVERHEAD;
  const offset = data.byteOffset + 2 + k;
  if (offset % 4 === 0 && data.buffer.byteLength <= 2 * bytes + 64) return new Float32Array(data.buffer, offset, bytes / 4);
  // Uint8Array's slice copies (a Buffer's would return a view)
  return new Float32Array(Uint8Array.prototype.slice.call(data, 2 + k, 2 + k + bytes).buffer);
}

addExtension({
  Class: Float32Array,
  type: ALIGNED_ARRAY_EXT,
  pack(this: Packr, array: Float32Array, allocate: Allocate): void {
    if (array.byteLength >= ALIGNED_MIN_BYTES) writeAlignedExt(array, allocate);
    else writeTypedArrayExt(array, allocate);
  },
  unpack: readAlignedExt,
} as unknown as Parameters<typeof addExtension>[0]);
