/**
 * The downloadable datasets: their files, mirrors, published checksums and class names.
 * Checksums are MD5 because that is what the publishers and torchvision publish; provenance:
 * torchvision/datasets/mnist.py (classes MNIST and FashionMNIST, `resources` and `mirrors`) for
 * the IDX files; for CIFAR-10 the dataset's own page, https://www.cs.toronto.edu/~kriz/cifar.html
 * (the table of versions lists "CIFAR-10 binary version (suitable for C programs)", 162 MB, MD5
 * c32a1d4ab5d03f1284b67883e8d87530), and the byte count 170,052,171 that TensorFlow's CIFAR-10
 * tutorial prints after downloading it ("Successfully downloaded cifar-10-binary.tar.gz").
 * docs/datasets.md carries the same table; test/data.registry.test.ts checks they agree.
 */
import { readFileSync } from 'node:fs';

/** One file of a dataset, as published. */
export interface RegistryFile {
  readonly name: string;
  /** Lower-case hex MD5 of the file as downloaded. */
  readonly md5: string;
  /** Its size in bytes where published (checked before the MD5); undefined = not published. */
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

const CIFAR10_ARCHIVE: RegistryFile = { name: 'cifar-10-binary.tar.gz', md5: 'c32a1d4ab5d03f1284b67883e8d87530', bytes: 170_052_171 };

export const REGISTRY: Readonly<Record<string, RegistryEntry>> = {
  'mnist-full': {
    name: 'mnist-full',
    format: 'idx',
    mirrors: ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'],
    train: [
      { name: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
      { name: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
    ],
    test: [
      { name: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3' },
      { name: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
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
      { name: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
      { name: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
    ],
    test: [
      { name: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
      { name: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
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
 * The registry, with md5s (and sizes) replaced from the JSON file named by DPTRAIN_REGISTRY_OVERRIDE
 * (`{"fashion-mnist": {"file name": "md5"}}`; a value `{"md5": ..., "bytes": ...}` replaces both).
 * Test-only: it lets fixtures stand in for the real files.
 */
export function registryEntry(name: string): RegistryEntry | undefined {
  const entry = Object.hasOwn(REGISTRY, name) ? REGISTRY[name] : undefined;
  const overridePath = process.env.DPTRAIN_REGISTRY_OVERRIDE;
  if (entry === undefined || !overridePath) return entry;
  type Override = string | { md5: string; bytes?: number };
  const overrides = (JSON.parse(readFileSync(overridePath, 'utf8')) as Record<string, Record<string, Override>>)[name] ?? {};
  const swap = (file: RegistryFile): RegistryFile => {
    const o = overrides[file.name];
    if (o === undefined) return file;
    return typeof o === 'string' ? { name: file.name, md5: o } : { name: file.name, md5: o.md5, ...(o.bytes === undefined ? {} : { bytes: o.bytes }) };
  };
  return { ...entry, train: entry.train.map(swap), test: entry.test.map(swap) };
}
