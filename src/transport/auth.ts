/**
 * Shared-token authentication: an HMAC-SHA256 challenge-response in which both sides prove that
 * they know the token and the token never crosses the wire (docs/protocol.md §Handshake).
 *
 * Each side sends a fresh 32-byte nonce from crypto.randomBytes. A proof is
 *   HMAC-SHA256(token, "dptrain/<protocol>\0<side>\0<role>\0<client name>\0<server name>\0" || clientNonce || serverNonce)
 * with side "server" or "client", so a proof cannot be replayed (fresh nonces), reflected (the
 * side is bound) or moved to another peer name or role. Names and roles are validated to exclude
 * the separator. Proofs are compared with crypto.timingSafeEqual.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TransportError } from './errors.js';

export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
/** The key used when neither side has a token (allowed on loopback only; see `listen`). */
const NO_TOKEN = Buffer.alloc(0);

export interface Transcript {
  protocol: number;
  role: string;
  clientName: string;
  serverName: string;
  clientNonce: Uint8Array;
  serverNonce: Uint8Array;
}

export function createNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** The proof that `side` knows `token`, bound to the whole handshake transcript. */
export function computeProof(token: Uint8Array | undefined, side: 'client' | 'server', t: Transcript): Buffer {
  const label = `dptrain/${t.protocol}\0${side}\0${t.role}\0${t.clientName}\0${t.serverName}\0`;
  return createHmac('sha256', token ?? NO_TOKEN)
    .update(label, 'utf8')
    .update(t.clientNonce)
    .update(t.serverNonce)
    .digest();
}

/** Constant-time comparison of a received proof with the expected one. */
export function verifyProof(expected: Uint8Array, received: Uint8Array): boolean {
  if (expected.length !== PROOF_BYTES || received.length !== PROOF_BYTES) return false;
  return timingSafeEqual(expected, received);
}

/** Bits a token must carry (as many as a 32-hex-digit or 22-base64-character random string). */
export const MIN_TOKEN_BITS = 128;
/** Largest token file read (a token is a line; anything bigger is the wrong file). */
const MAX_TOKEN_FILE_BYTES = 4096;
/** Bytes of a token made by `dptrain token` (256 bits), written as hex. */
export const GENERATED_TOKEN_BYTES = 32;

/** How to make a good token in `file`, for error messages (`--force` to replace one that exists). */
function howToMake(file: string, exists: boolean): string {
  return `make one with: dptrain token --out ${file}${exists ? ' --force' : ''} (or: openssl rand -hex 32 > ${file} && chmod 600 ${file})`;
}

/** A fresh random token (256 bits from crypto.randomBytes), as hex text with a newline. */
export function generateToken(): string {
  return `${randomBytes(GENERATED_TOKEN_BYTES).toString('hex')}\n`;
}

/**
 * An estimate of the bits of a token, from its length and the smallest character class it fits:
 * hex digits 4 bits each, base64/base64url characters 6, other printable ASCII 6.5, anything else
 * 8 per byte. It cannot see how a token was made, so it also refuses the shapes that random tokens
 * of that size practically never have: few distinct characters, or a repeated pattern
 * (`passwordpasswordpassword…`, `aaaa…`, `abcabc…`).
 * Returns the estimated bits, or a reason why the token is weak.
 */
export function tokenStrength(token: Uint8Array): { bits: number; weakness?: string } {
  const text = Buffer.from(token).toString('latin1');
  const hex = /^[0-9a-fA-F]+$/.test(text);
  const base64 = /^[A-Za-z0-9+/_-]+={0,2}$/.test(text);
  const printable = /^[\x21-\x7e]+$/.test(text);
  const symbols = base64 ? text.replace(/=+$/, '').length : text.length;
  const bitsPerSymbol = hex ? 4 : base64 ? 6 : printable ? 6.5 : 8;
  const bits = Math.floor(symbols * bitsPerSymbol);
  if (bits < MIN_TOKEN_BITS) return { bits, weakness: `${text.length} characters carry at most about ${bits} bits` };
  const distinct = new Set(text).size;
  // A random token of n symbols from an alphabet of A shows about A·(1 − (1 − 1/A)^n) distinct ones;
  // under 55% of that happened in none of 10^6 random 32-hex-digit tokens (the tightest case).
  const alphabet = hex ? 16 : base64 ? 64 : printable ? 94 : 256;
  const minDistinct = Math.ceil(0.55 * alphabet * (1 - (1 - 1 / alphabet) ** symbols));
  if (distinct < minDistinct) return { bits, weakness: `it uses only ${distinct} distinct characters, where a random token of its length has about ${Math.round(minDistinct / 0.55)}` };
  const period = shortestPeriod(text);
  if (period < text.length) return { bits, weakness: `it repeats a ${period}-character pattern` };
  return { bits };
}

/** The length of the shortest pattern whose repetition makes `text` (its own length when none). */
function shortestPeriod(text: string): number {
  for (let p = 1; p <= text.length / 2; p++) {
    let repeats = true;
    for (let i = p; i < text.length && repeats; i++) repeats = text[i] === text[i - p];
    if (repeats) return p;
  }
  return text.length;
}

/**
 * Reads a shared token: the file's bytes without trailing whitespace. Refuses a missing file, a
 * file that any other user could read (group or other permission bits, as ssh refuses private
 * keys) and a weak token (under MIN_TOKEN_BITS by `tokenStrength`). Make one with `dptrain token`.
 */
export function readTokenFile(file: string, options: { copyOf?: string } = {}): Buffer {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = path.isAbsolute(file) ? '' : ` (${path.resolve(file)})`;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(error)})`;
    // A copy of another side's token (a worker's): a token made here would not match it.
    const fix = options.copyOf ? `copy the ${options.copyOf}'s token file there (scp -p keeps its mode 600); a new token would not match the ${options.copyOf}'s` : howToMake(file, false);
    throw new TransportError('tokenFile', `token file "${file}"${where} ${why}; ${fix}`, { cause: error });
  }
  if (!stat.isFile()) throw new TransportError('tokenFile', `token file "${file}" is not a regular file`);
  if (stat.size > MAX_TOKEN_FILE_BYTES) {
    throw new TransportError('tokenFile', `token file "${file}" is ${stat.size} bytes, not a token (at most ${MAX_TOKEN_FILE_BYTES}); is it the right file?`);
  }
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(3, '0');
    throw new TransportError('tokenFile', `token file "${file}" is readable by other users (mode ${mode}); it must be readable by its owner only: chmod 600 ${file}`);
  }
  let text: Buffer;
  try {
    text = fs.readFileSync(file);
  } catch (error) {
    throw new TransportError('tokenFile', `token file "${file}" cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, {
      cause: error,
    });
  }
  let end = text.length;
  while (end > 0 && (text[end - 1] === 0x0a || text[end - 1] === 0x0d || text[end - 1] === 0x20 || text[end - 1] === 0x09)) end--;
  if (end === 0) throw new TransportError('tokenFile', `token file "${file}" is empty; ${howToMake(file, true)}`);
  const token = Buffer.from(text.subarray(0, end));
  const { weakness } = tokenStrength(token);
  if (weakness) {
    throw new TransportError('tokenFile', `token in "${file}" is too weak (${weakness}; at least ${MIN_TOKEN_BITS} random bits are needed); ${howToMake(file, true)}`, {
      reason: 'weakToken',
    });
  }
  return token;
}
