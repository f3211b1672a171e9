/**
 * The downloadable datasets: their files, mirrors, published checksums and class names.
 * Checksums are MD5 because that is what the publishers and torchvision publish; provenance:
 * torchvision/datasets/mnist.py (classes MNIST and FashionMNIST, `resources` and `mirrors`).
 * docs/datasets.md carries the same table; test/data.registry.test.ts checks they agree.
 */
import { readFileSync } from 'node:fs';

/** One file of a dataset, as published. */
export interface RegistryFile {
  readonly name: string;
  /** Lower-case hex MD5 of the file as downloaded. */
  readonly md5: string;
}

export interface RegistryEntry {
  readonly name: string;
  /** Base URLs tried in order; a file's URL is base + file name. */
  readonly mirrors: readonly string[];
  readonly train: { readonly images: RegistryFile; readonly labels: RegistryFile };
  readonly test: { readonly images: RegistryFile; readonly labels: RegistryFile };
  /** Sample shape [channels, height, width], for image layers. */
  readonly shape: readonly [number, number, number];
  readonly classNames: readonly string[];
  readonly license: string;
}

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export const REGISTRY: Readonly<Record<string, RegistryEntry>> = {
  'mnist-full': {
    name: 'mnist-full',
    mirrors: ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'],
    train: {
      images: { name: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
      labels: { name: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
    },
    test: {
      images: { name: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3' },
      labels: { name: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
    },
    shape: [1, 28, 28],
    classNames: DIGITS,
    license: 'CC BY-SA 3.0 (as stated by the MNIST authors)',
  },
  'fashion-mnist': {
    name: 'fashion-mnist',
    mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
    train: {
      images: { name: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
      labels: { name: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
    },
    test: {
      images: { name: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
      labels: { name: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
    },
    shape: [1, 28, 28],
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    license: 'MIT (zalandoresearch/fashion-mnist)',
  },
};

/** The files of an entry, train first. */
export function registryFiles(entry: RegistryEntry): RegistryFile[] {
  return [entry.train.images, entry.train.labels, entry.test.images, entry.test.labels];
}

/**
 * The registry, with md5s replaced from the JSON file named by DPTRAIN_REGISTRY_OVERRIDE
 * (`{"fashion-mnist": {"file name": "md5"}}`). Test-only: it lets fixtures stand in for the real files.
 */
export function registryEntry(name: string): RegistryEntry | undefined {
  const entry = REGISTRY[name];
  const overridePath = process.env.DPTRAIN_REGISTRY_OVERRIDE;
  if (entry === undefined || !overridePath) return entry;
  const md5s = (JSON.parse(readFileSync(overridePath, 'utf8')) as Record<string, Record<string, string>>)[name] ?? {};
  const swap = (file: RegistryFile): RegistryFile => ({ name: file.name, md5: md5s[file.name] ?? file.md5 });
  return {
    ...entry,
    train: { images: swap(entry.train.images), labels: swap(entry.train.labels) },
    test: { images: swap(entry.test.images), labels: swap(entry.test.labels) },
  };
}
