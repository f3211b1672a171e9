/** The hard-coded dataset checksums: complete, well-formed, and the same as the table in docs/datasets.md. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, it } from 'node:test';
import { REGISTRY, registryEntry, registryFiles } from '../src/data/registry.js';
import { repoRoot, tempDir } from './helpers.js';

it('has a 64-hex SHA-256, a 32-hex MD5 and a byte count for every file of every dataset', () => {
  const files = Object.values(REGISTRY).flatMap(registryFiles);
  assert.equal(files.length, 9);
  for (const file of files) {
    assert.match(file.sha256, /^[0-9a-f]{64}$/, file.name);
    assert.match(file.md5 ?? '', /^[0-9a-f]{32}$/, file.name);
    assert.ok(Number.isSafeInteger(file.bytes) && (file.bytes as number) > 0, file.name);
  }
  assert.equal(new Set(files.map((file) => file.sha256)).size, files.length, 'no two files share a SHA-256');
});

it('lists every registry file with the same size, SHA-256 and MD5 in docs/datasets.md and nothing else', () => {
  const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'datasets.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| ([a-z0-9-]+) \| ([\w.-]+\.gz) \| ([\d,]+) \| `([0-9a-f]{64})` \| `([0-9a-f]{32})` \|$/gm)].map(
    (m) => `${m[1]}/${m[2]} ${m[3].replaceAll(',', '')} ${m[4]} ${m[5]}`,
  );
  const source = Object.values(REGISTRY).flatMap((entry) => registryFiles(entry).map((file) => `${entry.name}/${file.name} ${file.bytes} ${file.sha256} ${file.md5}`));
  assert.deepEqual(rows.sort(), source.sort());
});

afterEach(() => delete process.env.DPTRAIN_REGISTRY_OVERRIDE);

it('DPTRAIN_REGISTRY_OVERRIDE takes a SHA-256, or sha256 with optional md5 and bytes, and refuses anything else', () => {
  const dir = tempDir('dptrain-override-');
  const file = path.join(dir, 'override.json');
  const sha = 'ab'.repeat(32);
  process.env.DPTRAIN_REGISTRY_OVERRIDE = file;
  const fashionFiles = () => registryFiles(registryEntry('fashion-mnist') as NonNullable<ReturnType<typeof registryEntry>>);
  fs.writeFileSync(file, JSON.stringify({ 'fashion-mnist': { 'train-labels-idx1-ubyte.gz': sha, 't10k-labels-idx1-ubyte.gz': { sha256: sha, md5: 'cd'.repeat(16), bytes: 7 } } }));
  const [images, trainLabels, , testLabels] = fashionFiles();
  assert.deepEqual(images, REGISTRY['fashion-mnist'].train[0]);
  assert.deepEqual(trainLabels, { name: 'train-labels-idx1-ubyte.gz', sha256: sha });
  assert.deepEqual(testLabels, { name: 't10k-labels-idx1-ubyte.gz', sha256: sha, md5: 'cd'.repeat(16), bytes: 7 });
  for (const bad of ['cd'.repeat(16), { md5: 'cd'.repeat(16) }, { sha256: sha, md5: 'x' }, { sha256: sha, bytes: -1 }, null]) {
    fs.writeFileSync(file, JSON.stringify({ 'fashion-mnist': { 'train-labels-idx1-ubyte.gz': bad } }));
    assert.throws(fashionFiles, { code: 'dptrain.data.badRegistryOverride', message: /train-labels-idx1-ubyte\.gz needs/ }, JSON.stringify(bad));
  }
  fs.writeFileSync(file, '{not json');
  assert.throws(fashionFiles, { code: 'dptrain.data.badRegistryOverride' });
  fs.rmSync(dir, { recursive: true, force: true });
});
