/** The replica check: sha256 of the parameter bytes (little-endian float32 on every platform we run on). */
import { createHash } from 'node:crypto';

export function parameterDigest(params: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(params.buffer, params.byteOffset, params.byteLength)).digest('hex');
}
