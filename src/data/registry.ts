/**
 * The downloadable datasets: their files, mirrors, published checksums and class names.
 *
 * Each file is checked by size, then SHA-256 (the primary check, named in messages), then MD5.
 * Provenance (docs/datasets.md has the same table; test/data.registry.test.ts checks they agree):
 * - The publishers give sizes and/or MD5 only. LeCun, Cortes and Burges's MNIST page lists each
 *   file with its size in bytes; its MD5s are torchvision's (torchvision/datasets/mnist.py,
 *   `resources`). Zalando Research's fashion-mnist README lists each file's MD5 (and its size in
 *   MB). Krizhevsky's page https://www.cs.toronto.edu/~kriz/cifar.html gives the binary version's
 *   MD5 (and "162 MB"); its byte count 170,052,171 is the one TensorFlow's CIFAR-10 tutorial
 *   prints after the download.
 * - The SHA-256 are the sums recorded by widely used loaders, not by the publishers: for MNIST,
 *   those checked by users of TensorFlow's mirror storage.googleapis.com/cvdf-datasets/mnist/ and
 *   by torchvision-era loaders; for Fashion-MNIST, those in Fashion-MNIST loaders beside the
 *   README's MD5 (which also give the exact byte counts); for the CIFAR-10 binary archive, the sum
 *   in Julia's MLDatasets.jl and in Go loaders.
 * - Cross-check: every independent record found that lists both hashes pairs each SHA-256 with the
 *   publisher's MD5 and size below. The real files were not downloaded here (no network).
 */
import { readFileSync } from 'node:fs';
import { DataError } from '../errors.js';

/** One file of a dataset, as published. */
export interface RegistryFile {
  readonly name: string;
  /** Lower-case hex SHA-256 of the file as downloaded: the primary check. */
  readonly sha256: string;
  /** Lower-case hex MD5, the publisher's own checksum (every registry file has one; a test override may omit it). */
  readonly md5?: string;
  /** Its size in bytes, checked before the hashes (every registry file has one; a test override may omit it). */
  readonly bytes?: number;
}

/**
 * How a dataset's files are read: `idx` = a gzipped IDX images file and labels file per split
 * (src/data/idx.ts); `cifar10-binary` = one tar.gz holding both splits (src/data/cifar.ts).
 */
export type RegistryFormat = 'idx' | 'cifar10-binary';

export interface RegistryEntry {
  readonly name: string;
  readonly format: RegistryFormat;
  /** Base URLs tried in order; a file's URL is base + file name. */
  readonly mirrors: readonly string[];
  /** The files a split needs: idx [images, labels]; cifar10-binary [the archive] for both. */
  readonly train: readonly RegistryFile[];
  readonly test: readonly RegistryFile[];
  /** Sample shape [channels, height, width], for image layers. */
  readonly shape: readonly [number, number, number];
  readonly classNames: readonly string[];
  readonly license: string;
}

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

const CIFAR10_ARCHIVE: RegistryFile = {
  name: 'cifar-10-binary.tar.gz',
  bytes: 170_052_171,
  sha256: 'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd',
  md5: 'c32a1d4ab5d03f1284b67883e8d87530',
};

export const REGISTRY: Readonly<Record<string, RegistryEntry>> = {
  'mnist-full': {
    name: 'mnist-full',
    format: 'idx',
    mirrors: ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'],
    train: [
      {
        name: 'train-images-idx3-ubyte.gz',
        bytes: 9_912_422,
        sha256: '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
        md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
      },
      {
        name: 'train-labels-idx1-ubyte.gz',
        bytes: 28_881,
        sha256: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
        md5: 'd53e105ee54ea40749a09fcbcd1e9432',
      },
    ],
    test: [
      {
        name: 't10k-images-idx3-ubyte.gz',
        bytes: 1_648_877,
        sha256: '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
        md5: '9fb629c4189551a2d022fa330f9573f3',
      },
      {
        name: 't10k-labels-idx1-ubyte.gz',
        bytes: 4_542,
        sha256: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
        md5: 'ec29112dd5afa0611ce80d1b7f02629c',
      },
    ],
    shape: [1, 28, 28],
    classNames: DIGITS,
    license: 'CC BY-SA 3.0 (as stated by the MNIST authors)',
  },
  'fashion-mnist': {
    name: 'fashion-mnist',
    format: 'idx',
    mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
    train: [
      {
        name: 'train-images-idx3-ubyte.gz',
        bytes: 26_421_880,
        sha256: '3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84',
        md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
      },
      {
        name: 'train-labels-idx1-ubyte.gz',
        bytes: 29_515,
        sha256: 'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845',
        md5: '25c81989df183df01b3e8a0aad5dffbe',
      },
    ],
    test: [
      {
        name: 't10k-images-idx3-ubyte.gz',
        bytes: 4_422_102,
        sha256: '346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073',
        md5: 'bef4ecab320f06d8554ea6380940ec79',
      },
      {
        name: 't10k-labels-idx1-ubyte.gz',
        bytes: 5_148,
        sha256: '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5',
        md5: 'bb300cfdad3c16e7a12a480ee83cd310',
      },
    ],
    shape: [1, 28, 28],
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    license: 'MIT (zalandoresearch/fashion-mnist)',
  },
  cifar10: {
    name: 'cifar10',
    format: 'cifar10-binary',
    mirrors: ['https://www.cs.toronto.edu/~kriz/'],
    train: [CIFAR10_ARCHIVE],
    test: [CIFAR10_ARCHIVE],
    shape: [3, 32, 32],
    classNames: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
    license: 'no license stated; the authors ask that work using it cite Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images"',
  },
};

/** The files of an entry, train first, each once. */
export function registryFiles(entry: RegistryEntry): RegistryFile[] {
  const byName = new Map<string, RegistryFile>();
  for (const file of [...entry.train, ...entry.test]) if (!byName.has(file.name)) byName.set(file.name, file);
  return [...byName.values()];
}

/**
 * The registry, with a file's checksums replaced from the JSON file named by
 * DPTRAIN_REGISTRY_OVERRIDE: `{"fashion-mnist": {"FILE": "SHA256"}}`, or
 * `{"FILE": {"sha256": ..., "md5": ..., "bytes": ...}}` (md5 and bytes optional; what is left out
 * is not checked). Test-only: it lets fixtures stand in for the real files.
 */
export function registryEntry(name: string): RegistryEntry | undefined {
  const entry = Object.hasOwn(REGISTRY, name) ? REGISTRY[name] : undefined;
  const overridePath = process.env.DPTRAIN_REGISTRY_OVERRIDE;
  if (entry === undefined || !overridePath) return entry;
  const overrides = readOverrides(overridePath)[name] ?? {};
  const swap = (file: RegistryFile): RegistryFile => {
    const value = overrides[file.name];
    return value === undefined ? file : overrideFile(file.name, value, overridePath);
  };
  return { ...entry, train: entry.train.map(swap), test: entry.test.map(swap) };
}

function readOverrides(path: string): Record<string, Record<string, unknown>> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, unknown>>;
  } catch (error) {
    throw new DataError('badRegistryOverride', `DPTRAIN_REGISTRY_OVERRIDE=${path} is not a readable JSON file (${(error as Error).message})`);
  }
}

/** One override value checked: a bare string or `sha256` must be 64 hex digits, `md5` 32, `bytes` a size. */
function overrideFile(name: string, value: unknown, path: string): RegistryFile {
  const fields = (typeof value === 'string' ? { sha256: value } : value) as Partial<Record<'sha256' | 'md5' | 'bytes', unknown>> | null;
  const bad = (what: string) =>
    new DataError('badRegistryOverride', `DPTRAIN_REGISTRY_OVERRIDE=${path}: ${name} needs ${what} — write "FILE": "SHA256" or {"sha256": …, "md5": …, "bytes": …}`);
  if (fields === null || typeof fields !== 'object') throw bad('a SHA-256 string or an object');
  const { sha256, md5, bytes } = fields;
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw bad('a sha256 of 64 lower-case hex digits');
  if (md5 !== undefined && (typeof md5 !== 'string' || !/^[0-9a-f]{32}$/.test(md5))) throw bad('an md5 of 32 lower-case hex digits');
  if (bytes !== undefined && !(Number.isSafeInteger(bytes) && (bytes as number) >= 0)) throw bad('bytes as a whole number');
  return { name, sha256, ...(md5 === undefined ? {} : { md5 }), ...(bytes === undefined ? {} : { bytes: bytes as number }) };
}
