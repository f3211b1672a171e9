/**
 * The CIFAR-10 binary version (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version"):
 * `cifar-10-binary.tar.gz` holds cifar-10-batches-bin/data_batch_1.bin … data_batch_5.bin (the
 * 50,000 training images) and test_batch.bin (10,000 test images). Each file is a run of 3,073-byte
 * records: the label (0-9), then 1,024 red, 1,024 green and 1,024 blue bytes, each 32×32 in row
 * order — PyTorch's (C, H, W) layout, so a sample is [3, 32, 32] as it stands; a byte k becomes
 * k/255 (torchvision's ToTensor). The archive is read as a stream (gunzip, then tar), nothing is
 * extracted to disk, and inflation stops at DATA_LIMITS.maxElements bytes (gzip bombs).
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DataError } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { DATA_LIMITS, sampleArray } from './dataset.js';
import { readTarMembers } from './tar.js';

export const CIFAR10_RECORD = 1 + 3 * 32 * 32;
const TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
const TEST_FILES = ['test_batch.bin'];

/** One split's samples: x [n, 3072] in a shared array, y the class indices. */
export interface Cifar10Split {
  n: number;
  x: Float32Array;
  y: Float32Array;
}

export async function readCifar10(archive: string, split: 'train' | 'test', maxInflatedBytes: number = DATA_LIMITS.maxElements): Promise<Cifar10Split> {
  const names = split === 'train' ? TRAIN_FILES : TEST_FILES;
  const source = createReadStream(archive);
  const inflated = pipeline(source, createGunzip(), () => undefined);
  const reader = new ByteReader(bounded(inflated, maxInflatedBytes, archive));
  let members: Map<string, Buffer>;
  try {
    members = await readTarMembers(reader, archive, (path) => names.includes(baseName(path)));
  } catch (cause) {
    if (cause instanceof DataError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new DataError('badGzip', `${archive} does not decompress (${(cause as Error).message}) — delete it and fetch it again`, { cause });
    }
    throw new DataError('fileNotFound', `cannot read ${archive} (${code ?? String(cause)})`, { cause });
  } finally {
    await reader.close();
    source.destroy();
  }
  const byName = new Map([...members].map(([path, bytes]) => [baseName(path), bytes]));
  const parts = names.map((name) => {
    const bytes = byName.get(name);
    if (bytes === undefined) throw new DataError('badArchive', `${archive} holds no cifar-10-batches-bin/${name} — is it the CIFAR-10 binary version?`);
    if (bytes.length === 0 || bytes.length % CIFAR10_RECORD !== 0) {
      throw new DataError('badArchive', `${name} in ${archive} has ${bytes.length} bytes, not a whole number of ${CIFAR10_RECORD}-byte records — delete the archive and fetch it again`);
    }
    return bytes;
  });
  return decode(parts, archive);
}

/** Records → pixels / 255 and labels, files in order. */
function decode(parts: Buffer[], archive: string): Cifar10Split {
  const n = parts.reduce((sum, bytes) => sum + bytes.length / CIFAR10_RECORD, 0);
  const pixels = CIFAR10_RECORD - 1;
  const x = sampleArray(n * pixels);
  const y = sampleArray(n);
  const scale = new Float32Array(256).map((_, k) => k / 255);
  let i = 0;
  for (const bytes of parts) {
    for (let at = 0; at < bytes.length; at += CIFAR10_RECORD, i++) {
      const label = bytes[at];
      if (label > 9) throw new DataError('badArchive', `record ${i} of ${archive} has label ${label}, not a class 0-9 — delete the archive and fetch it again`);
      y[i] = label;
      const row = i * pixels;
      for (let p = 0; p < pixels; p++) x[row + p] = scale[bytes[at + 1 + p]];
    }
  }
  return { n, x, y };
}

/** Passes the chunks through until `limit` bytes, then fails: the archive inflates beyond the bound. */
async function* bounded(chunks: AsyncIterable<Buffer>, limit: number, archive: string): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.length;
    if (total > limit) throw new DataError('tooLarge', `${archive} inflates to more than ${limit} bytes, beyond any CIFAR-10 archive — delete it and fetch it again`);
    yield chunk;
  }
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
