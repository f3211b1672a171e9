/**
 * Reads the members of a tar archive (POSIX ustar, with GNU long names and pax `path` records) from
 * a stream of its bytes, keeping only the members a caller wants; the others are read through in
 * small pieces and dropped. Format: POSIX.1-2001 `pax`/ustar (512-byte header blocks, octal sizes,
 * data padded to 512 bytes, two zero blocks at the end).
 */
import { DataError } from '../errors.js';
import type { ByteReader } from './byte-reader.js';

const BLOCK = 512;
/** Bytes read at once when skipping a member. */
const SKIP_PIECE = 1 << 20;

/** The wanted members' bytes by path (as stored, e.g. `cifar-10-batches-bin/data_batch_1.bin`). */
export async function readTarMembers(reader: ByteReader, archive: string, wanted: (path: string) => boolean): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  let longName: string | null = null;
  for (;;) {
    const header = await reader.read(BLOCK);
    if (header.length === 0 || isZeroBlock(header)) return found;
    if (header.length < BLOCK) throw truncated(archive);
    if (!checksumOk(header)) throw new DataError('badArchive', `${archive} is not a tar archive (a header checksum does not match) — download it again`);
    const size = octal(header, 124, 12, archive);
    const type = String.fromCharCode(header[156] || 0x30);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L' || type === 'x') {
      // A GNU long name, or a pax record list whose `path` names the next member.
      const body = Buffer.from(await reader.read(padded)).subarray(0, size);
      if (body.length < size) throw truncated(archive);
      longName = type === 'L' ? cString(body, 0, size) : (paxPath(body.toString('utf8')) ?? longName);
      continue;
    }
    const path = longName ?? ustarPath(header);
    longName = null;
    if (type === '0' && wanted(path)) {
      const body = await reader.read(size);
      if (body.length < size) throw truncated(archive);
      found.set(path, Buffer.from(body));
      await skip(reader, padded - size, archive);
    } else {
      await skip(reader, padded, archive);
    }
  }
}

async function skip(reader: ByteReader, count: number, archive: string): Promise<void> {
  for (let left = count; left > 0; ) {
    const piece = await reader.read(Math.min(left, SKIP_PIECE));
    if (piece.length === 0) throw truncated(archive);
    left -= piece.length;
  }
}

function truncated(archive: string): DataError {
  return new DataError('truncatedFile', `${archive} ends inside a tar member — download it again`);
}

function isZeroBlock(block: Uint8Array): boolean {
  return block.length === BLOCK && block.every((b) => b === 0);
}

/** The header checksum: the byte sum with its own 8-byte field counted as spaces. */
function checksumOk(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  const stored = parseInt(cString(header, 148, 8).trim(), 8);
  return stored === sum;
}

function octal(header: Uint8Array, at: number, length: number, archive: string): number {
  const text = cString(header, at, length).trim();
  const value = /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
  if (!Number.isSafeInteger(value)) throw new DataError('badArchive', `${archive} has a tar member of unreadable size "${text}" — download it again`);
  return value;
}

function cString(bytes: Uint8Array, at: number, length: number): string {
  const field = bytes.subarray(at, at + length);
  const end = field.indexOf(0);
  return Buffer.from(field.subarray(0, end < 0 ? field.length : end)).toString('utf8');
}

/** ustar splits long paths into prefix (at 345) and name (at 0). */
function ustarPath(header: Uint8Array): string {
  const name = cString(header, 0, 100);
  const isUstar = cString(header, 257, 6).startsWith('ustar');
  const prefix = isUstar ? cString(header, 345, 155) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** The `path` of pax records "LEN path=VALUE\n". */
function paxPath(records: string): string | null {
  const match = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(records);
  return match ? match[1] : null;
}
