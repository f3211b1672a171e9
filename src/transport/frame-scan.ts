/**
 * A structural pre-scan of a msgpack frame, run before msgpackr decodes it. It walks every token
 * once without allocating and refuses what dptrain's protocol never sends, so that msgpackr only
 * ever sees small, shallow, data-only trees:
 *
 * - every header length (str, bin, ext, array, map) must fit in the bytes that remain, and arrays
 *   and maps are capped per header and per frame: a 5-byte `dd ff ff ff ff` (an array of 4 billion
 *   elements) is refused here instead of reaching `new Array(length)`;
 * - nesting depth is bounded (the scan is iterative, msgpackr's reader is recursive);
 * - map keys must be short UTF-8 strings, never `__proto__`, `constructor` or `prototype`
 *   (msgpackr would silently rename `__proto__`; we refuse it);
 * - the only extensions are msgpackr's typed array (0x74) of a fixed-width numeric type whose byte
 *   length is a multiple of its element size, and aligned-arrays.ts's Float32 array (0x61) with
 *   its padding count below 8 and its padding zero; record definitions (0x72), structured-clone ids and
 *   pointers (0x69/0x70), Error (0x65), RegExp (0x78), Set (0x73), bundled strings (0x62),
 *   timestamps (-1), BigInt (0x42) and `undefined` (0) are refused;
 * - strings must be valid UTF-8, and the frame must hold exactly one value.
 *
 * The result is `null` (acceptable) or the reason for refusal, which the codec counts.
 */
import { isUtf8 } from 'node:buffer';
import { ALIGNED_ARRAY_EXT, ALIGNED_OVERHEAD, FLOAT32_CODE } from './aligned-arrays.js';

export type FrameRejection =
  | 'empty'
  | 'tooLarge'
  | 'notBinary'
  | 'truncated'
  | 'trailingBytes'
  | 'tooDeep'
  | 'lengthTooLarge'
  | 'tooManyElements'
  | 'badToken'
  | 'badExtension'
  | 'recordDefinition'
  | 'badTypedArray'
  | 'badKey'
  | 'forbiddenKey'
  | 'badUtf8'
  | 'decodeFailed';

export const frameRejections: readonly FrameRejection[] = [
  'empty', 'tooLarge', 'notBinary', 'truncated', 'trailingBytes', 'tooDeep', 'lengthTooLarge', 'tooManyElements',
  'badToken', 'badExtension', 'recordDefinition', 'badTypedArray', 'badKey', 'forbiddenKey', 'badUtf8', 'decodeFailed',
];

export interface ScanLimits {
  maxDepth: number;
  maxCollectionLength: number;
  maxTotalElements: number;
  maxKeyBytes: number;
}

/** msgpackr's typed-array extension type ("t") and the element size of each type code it writes. */
export const TYPED_ARRAY_EXT = 0x74;
const RECORD_EXT = 0x72;
// Codes follow msgpackr's `typedArrays` list: Int8, Uint8, Uint8Clamped, Int16, Uint16, Int32,
// Uint32, Float32, Float64. BigInt64/BigUint64 (9, 10), ArrayBuffer (16) and DataView (17) are refused.
const TYPED_ARRAY_ELEMENT_BYTES = [1, 1, 1, 2, 2, 4, 4, 4, 8];

const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'].map((k) => Buffer.from(k, 'latin1'));

function isForbiddenKey(bytes: Uint8Array, start: number, length: number): boolean {
  for (const key of FORBIDDEN_KEYS) {
    if (key.length !== length) continue;
    let same = true;
    for (let i = 0; i < length; i++) {
      if (bytes[start + i] !== key[i]) {
        same = false;
        break;
      }
    }
    if (same) return true;
  }
  return false;
}

/** An aligned Float32 array's data (aligned-arrays.ts): code 7, k < 8, k + 7 - k zero bytes of padding. */
function isAlignedFloat32(bytes: Uint8Array, pos: number, ext: number): boolean {
  if (ext < ALIGNED_OVERHEAD || (ext - ALIGNED_OVERHEAD) % 4 !== 0 || bytes[pos] !== FLOAT32_CODE) return false;
  const k = bytes[pos + 1];
  if (k > 7) return false;
  for (let i = pos + 2; i < pos + 2 + k; i++) if (bytes[i] !== 0) return false;
  for (let i = pos + ext - (7 - k); i < pos + ext; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Checks one frame; returns null when msgpackr may decode it, else the reason it may not. */
export function scanFrame(bytes: Uint8Array, limits: ScanLimits): FrameRejection | null {
  const end = bytes.length;
  if (end === 0) return 'empty';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let elements = 0;
  // One entry per open container: items still to read (a map counts keys and values), and
  // whether it is a map (then an even count left means the next item is a key).
  const left: number[] = [1];
  const isMap: boolean[] = [false];

  while (left.length > 0) {
    const top = left.length - 1;
    if (left[top] === 0) {
      left.pop();
      isMap.pop();
      continue;
    }
    const keyExpected = isMap[top] && left[top] % 2 === 0;
    left[top]--;
    if (pos >= end) return 'truncated';
    const token = bytes[pos++];

    if (keyExpected) {
      let length: number;
      if (token >= 0xa0 && token <= 0xbf) length = token - 0xa0;
      else if (token === 0xd9) {
        if (pos + 1 > end) return 'truncated';
        length = bytes[pos];
        pos += 1;
      } else if (token === 0xda) {
        if (pos + 2 > end) return 'truncated';
        length = view.getUint16(pos);
        pos += 2;
      } else if (token === 0xdb) {
        if (pos + 4 > end) return 'truncated';
        length = view.getUint32(pos);
        pos += 4;
      } else return 'badKey';
      if (length > limits.maxKeyBytes) return 'badKey';
      if (length > end - pos) return 'lengthTooLarge';
      if (isForbiddenKey(bytes, pos, length)) return 'forbiddenKey';
      if (!isUtf8(bytes.subarray(pos, pos + length))) return 'badUtf8';
      pos += length;
      continue;
    }

    // positive fixint (0x40-0x7f are ints too: no record structures exist on our Unpackr), nil, booleans, negative fixint
    if (token <= 0x7f || token === 0xc0 || token === 0xc2 || token === 0xc3 || token >= 0xe0) continue;

    let length = -1; // a string/bin payload to skip
    let count = -1; // a container's element count
    let map = false;
    let ext = -1; // an extension's data length (type byte excluded)
    if (token >= 0x80 && token <= 0x8f) {
      count = token - 0x80;
      map = true;
    } else if (token >= 0x90 && token <= 0x9f) count = token - 0x90;
    else if (token >= 0xa0 && token <= 0xbf) length = token - 0xa0;
    else {
      // fixed-width headers: [bytes of the length field, then what it describes]
      let need: number;
      switch (token) {
        case 0xc4: case 0xc7: case 0xcc: case 0xd0: case 0xd9: need = 1; break;
        case 0xc5: case 0xc8: case 0xcd: case 0xd1: case 0xda: case 0xdc: case 0xde: need = 2; break;
        case 0xc6: case 0xc9: case 0xca: case 0xce: case 0xd2: case 0xdb: case 0xdd: case 0xdf: need = 4; break;
        case 0xcb: case 0xcf: case 0xd3: need = 8; break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: need = 1; break; // the type byte
        default: return 'badToken'; // 0xc1, "never used"
      }
      if (pos + need > end) return 'truncated';
      switch (token) {
        case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf:
        case 0xd0: case 0xd1: case 0xd2: case 0xd3:
          pos += need; // numbers
          continue;
        case 0xc4: case 0xd9: length = bytes[pos]; break;
        case 0xc5: case 0xda: length = view.getUint16(pos); break;
        case 0xc6: case 0xdb: length = view.getUint32(pos); break;
        case 0xc7: ext = bytes[pos]; break;
        case 0xc8: ext = view.getUint16(pos); break;
        case 0xc9: ext = view.getUint32(pos); break;
        case 0xdc: count = view.getUint16(pos); break;
        case 0xdd: count = view.getUint32(pos); break;
        case 0xde: count = view.getUint16(pos); map = true; break;
        case 0xdf: count = view.getUint32(pos); map = true; break;
        case 0xd4: ext = 1; pos -= need; break; // fixext: no length field, the type byte follows
        case 0xd5: ext = 2; pos -= need; break;
        case 0xd6: ext = 4; pos -= need; break;
        case 0xd7: ext = 8; pos -= need; break;
        case 0xd8: ext = 16; pos -= need; break;
      }
      pos += need;
    }

    if (length >= 0) {
      if (length > end - pos) return 'lengthTooLarge';
      if (token < 0xc4 || token > 0xc6) {
        if (!isUtf8(bytes.subarray(pos, pos + length))) return 'badUtf8';
      }
      pos += length;
      continue;
    }

    if (ext >= 0) {
      if (pos >= end) return 'truncated';
      const type = bytes[pos++];
      if (type === RECORD_EXT) return 'recordDefinition';
      if (type !== TYPED_ARRAY_EXT && type !== ALIGNED_ARRAY_EXT) return 'badExtension';
      if (ext > end - pos) return 'lengthTooLarge';
      if (type === ALIGNED_ARRAY_EXT) {
        if (!isAlignedFloat32(bytes, pos, ext)) return 'badTypedArray';
        pos += ext;
        continue;
      }
      if (ext < 1) return 'badTypedArray';
      const code = bytes[pos];
      const size = TYPED_ARRAY_ELEMENT_BYTES[code];
      if (size === undefined || (ext - 1) % size !== 0) return 'badTypedArray';
      pos += ext;
      continue;
    }

    // a container
    const items = map ? 2 * count : count;
    if (count > limits.maxCollectionLength || items > end - pos) return 'lengthTooLarge';
    elements += count;
    if (elements > limits.maxTotalElements) return 'tooManyElements';
    if (count === 0) continue;
    if (left.length > limits.maxDepth) return 'tooDeep';
    left.push(items);
    isMap.push(map);
  }
  return pos === end ? null : 'trailingBytes';
}
