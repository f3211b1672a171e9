/**
 * A checkpoint's checksum, `dptrain.checksum` in its metadata (docs/formats.md): "sha256:" and the
 * hex sha256 of the whole file as written with these 64 digits all "0", so any changed byte shows.
 */
import { createHash } from 'node:crypto';
import { FormatError, shown } from '../errors.js';

export const CHECKSUM_KEY = 'dptrain.checksum';
/** The value written before the file is hashed; the digits are then replaced in place (same length). */
export const CHECKSUM_PLACEHOLDER = `sha256:${'0'.repeat(64)}`;
const SHA256 = /^sha256:[0-9a-f]{64}$/;
// Where the checksum's hex digits sit: right after this text in the header. The meta JSON cannot
// contain it, because quotes inside that string value are escaped.
const CHECKSUM_FIELD = Buffer.from(`"${CHECKSUM_KEY}":"sha256:`, 'latin1');

/** The file offset of the checksum's 64 hex digits: after the one `"dptrain.checksum":"sha256:` of the header; -1 if none or several. */
export function checksumDigitsAt(bytes: Uint8Array): number {
  const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(headerEnd, bytes.length));
  const first = header.indexOf(CHECKSUM_FIELD);
  if (first < 0 || header.indexOf(CHECKSUM_FIELD, first + 1) >= 0 || first + CHECKSUM_FIELD.length + 64 > header.length) return -1;
  return first + CHECKSUM_FIELD.length;
}

/** hex sha256 of `bytes` with the 64 bytes at `at` read as "0" digits. */
export function checksumOf(bytes: Uint8Array, at: number): string {
  return createHash('sha256')
    .update(bytes.subarray(0, at))
    .update('0'.repeat(64), 'latin1')
    .update(bytes.subarray(at + 64))
    .digest('hex');
}

/** What the whole file hashes to, `sha256:<hex>`, or null when its checksum field is not where dptrain writes it. */
export function actualChecksum(bytes: Uint8Array): string | null {
  const at = checksumDigitsAt(bytes);
  return at < 0 ? null : `sha256:${checksumOf(bytes, at)}`;
}

/**
 * FormatError `checkpointChecksum` when the file's `stated` checksum is missing or malformed, or
 * differs from the `actual` one (actualChecksum).
 */
export function checkChecksum(stated: string | undefined, actual: string | null, source: string): asserts stated is string {
  if (stated === undefined || !SHA256.test(stated) || actual === null) {
    const what = stated === undefined ? 'missing' : !SHA256.test(stated) ? `malformed (${shown(stated)})` : 'not where dptrain writes it';
    throw new FormatError('checkpointChecksum', `${source}: the checksum ("${CHECKSUM_KEY}") is ${what} — the file is damaged; use an earlier checkpoint`);
  }
  if (stated !== actual) {
    throw new FormatError('checkpointChecksum', `${source}: checksum mismatch (the file says ${stated}, its content hashes to ${actual}) — the file is damaged; use an earlier checkpoint`);
  }
}
