/** The hard-coded dataset checksums agree with the table a reviewer reads in docs/datasets.md. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { REGISTRY, registryFiles } from '../src/data/registry.js';
import { repoRoot } from './helpers.js';

it('lists every registry file with the same MD5 and size in docs/datasets.md and nothing else', () => {
  const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'datasets.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| ([a-z0-9-]+) \| ([\w.-]+\.gz) \| `([0-9a-f]{32})` \| ([\d,]+|not published) \|$/gm)].map((m) => `${m[1]}/${m[2]} ${m[3]} ${m[4].replaceAll(',', '')}`);
  const source = Object.values(REGISTRY).flatMap((entry) => registryFiles(entry).map((file) => `${entry.name}/${file.name} ${file.md5} ${file.bytes ?? 'not published'}`));
  assert.equal(source.length, 9);
  assert.deepEqual(rows.sort(), source.sort());
});
