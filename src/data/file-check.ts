/**
 * Checks a dataset file against its published size, SHA-256 and MD5 (src/data/registry.ts).
 * Both hashes are computed in one pass over the bytes, so a download is hashed as it streams and
 * `dptrain data verify` reads each cached file once, in chunks (CIFAR-10's archive is 170 MB).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { RegistryFile } from './registry.js';

export interface FileDigests {
  readonly bytes: number;
  readonly sha256: string;
  readonly md5: string;
}

/** Hashes bytes as they arrive; `digests()` once at the end. */
export class FileDigester {
  private readonly sha256: Hash = createHash('sha256');
  private readonly md5: Hash = createHash('md5');
  private bytes = 0;

  update(chunk: Uint8Array): void {
    this.sha256.update(chunk);
    this.md5.update(chunk);
    this.bytes += chunk.length;
  }

  digests(): FileDigests {
    return { bytes: this.bytes, sha256: this.sha256.digest('hex'), md5: this.md5.digest('hex') };
  }
}

/** Size and both hashes of a file on disk, streamed. */
export async function digestFile(path: string): Promise<FileDigests> {
  const digester = new FileDigester();
  for await (const chunk of createReadStream(path)) digester.update(chunk as Buffer);
  return digester.digests();
}

/** The first published value a file fails, in the order checked: size, SHA-256, MD5. */
export interface Mismatch {
  readonly what: 'size' | 'SHA-256' | 'MD5';
  /** "has SHA-256 X but the published SHA-256 is Y"; every kind names both SHA-256. */
  readonly detail: string;
}

export function mismatchOf(file: RegistryFile, got: FileDigests): Mismatch | undefined {
  const sha = `SHA-256 ${got.sha256}, published ${file.sha256}`;
  if (file.bytes !== undefined && got.bytes !== file.bytes) {
    return { what: 'size', detail: `has ${got.bytes} bytes but the published size is ${file.bytes} bytes (${sha})` };
  }
  if (got.sha256 !== file.sha256) return { what: 'SHA-256', detail: `has SHA-256 ${got.sha256} but the published SHA-256 is ${file.sha256}` };
  if (file.md5 !== undefined && got.md5 !== file.md5) {
    return { what: 'MD5', detail: `has MD5 ${got.md5} but the published MD5 is ${file.md5} (its SHA-256 ${got.sha256} matches)` };
  }
  return undefined;
}

/** "SHA-256 X, N bytes": what a file put in the cache by hand must have. */
export function describePublished(file: RegistryFile): string {
  return `SHA-256 ${file.sha256}${file.bytes === undefined ? '' : `, ${file.bytes} bytes`}`;
}
