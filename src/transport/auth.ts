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
import { TransportError } from './errors.js';

export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
/** Shortest token accepted from a token file, in bytes after trimming. */
export const MIN_TOKEN_BYTES = 16;
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

/**
 * Reads a shared token: the file's bytes without trailing whitespace. Refuses a missing file, an
 * empty or short token (< 16 bytes), and on POSIX a file that other users may read.
 * Create one with `openssl rand -hex 32 > token && chmod 600 token`.
 */
export function readTokenFile(file: string): Buffer {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(error)})`;
    throw new TransportError('tokenFile', `token file "${file}" ${why}; create one with: openssl rand -hex 32 > ${file} && chmod 600 ${file}`, {
      cause: error,
    });
  }
  if (!stat.isFile()) throw new TransportError('tokenFile', `token file "${file}" is not a regular file`);
  if (process.platform !== 'win32' && (stat.mode & 0o007) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(3, '0');
    throw new TransportError('tokenFile', `token file "${file}" is accessible to other users (mode ${mode}); run: chmod 600 ${file}`);
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
  if (end === 0) throw new TransportError('tokenFile', `token file "${file}" is empty; put a secret in it: openssl rand -hex 32 > ${file}`);
  if (end < MIN_TOKEN_BYTES) {
    throw new TransportError('tokenFile', `token in "${file}" is ${end} bytes; use at least ${MIN_TOKEN_BYTES} (openssl rand -hex 32 gives 64)`);
  }
  return Buffer.from(text.subarray(0, end));
}
