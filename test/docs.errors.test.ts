// docs/errors.md stays true to the code: every error code raised in src/ is listed there.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers.js';

const areaOfClass: Record<string, string> = {
  ConfigError: 'config',
  DataError: 'data',
  ModelError: 'model',
  FormatError: 'format',
  TrainError: 'train',
  EngineError: 'engine',
  TransportError: 'transport',
  StudyError: 'study',
  UsageError: 'cli',
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function codesUsed(): Map<string, string> {
  const codes = new Map<string, string>();
  for (const file of sourceFiles(path.join(repoRoot, 'src'))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/new (\w+Error)\(\s*'(\w+)'/g)) {
      const area = areaOfClass[m[1]];
      if (area) codes.set(`dptrain.${area}.${m[2]}`, file);
    }
    for (const m of text.matchAll(/'(dptrain\.[a-z]+\.\w+)'/g)) codes.set(m[1], file);
  }
  return codes;
}

test('docs/errors.md lists every error code raised in src/', () => {
  const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'errors.md'), 'utf8');
  // A row may abbreviate codes after the first: `dptrain.config.badBeta1`, `badBeta2`.
  const listed = new Set<string>();
  for (const row of doc.split('\n').filter((line) => line.startsWith('|'))) {
    const full = [...row.matchAll(/`(dptrain\.([a-z]+)\.\w+)`/g)];
    if (full.length === 0) continue;
    const area = full[0][2];
    for (const m of row.split('|')[1].matchAll(/`([\w.]+)`/g)) listed.add(m[1].startsWith('dptrain.') ? m[1] : `dptrain.${area}.${m[1]}`);
  }
  const missing = [...codesUsed()].filter(([code]) => !listed.has(code)).map(([code, file]) => `${code} (${path.relative(repoRoot, file)})`);
  assert.deepEqual(missing, [], 'codes missing from docs/errors.md');
});
