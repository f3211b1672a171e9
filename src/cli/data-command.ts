/**
 * `dptrain data fetch NAME | list | verify`: download the registry's datasets into the cache,
 * show what is cached, and re-check cached files against their published size, SHA-256 and MD5
 * (docs/datasets.md).
 */
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { DataError } from '../errors.js';
import { usageErrorFrom } from './error-output.js';
import { cachedPath, dataDirOf, ensureDataset } from '../data/fetch.js';
import { digestFile, mismatchOf } from '../data/file-check.js';
import { REGISTRY, registryEntry, registryFiles, type RegistryEntry } from '../data/registry.js';

interface DataOptions {
  dataDir?: string;
  dataMirror?: string;
}

export function registerDataCommand(program: Command): Command {
  const data = program.command('data').description('download, list and verify the standard datasets');
  data
    .command('fetch')
    .description(`download a dataset into the cache (${Object.keys(REGISTRY).join(', ')})`)
    .argument('<name>', 'dataset name')
    .option('--data-dir <dir>', 'cache directory (default $XDG_CACHE_HOME/dptrain or ~/.cache/dptrain)')
    .option('--data-mirror <url>', 'a mirror tried before the published ones (also DPTRAIN_DATA_MIRROR)')
    .action(async (name: string, options: DataOptions) => {
      const entry = entryNamed(name);
      const tty = process.stderr.isTTY;
      let progressShown = false;
      try {
        await ensureDataset(entry, registryFiles(entry), {
          dataDir: options.dataDir,
          mirror: options.dataMirror,
          onProgress: tty ? (line) => (progressShown = process.stderr.write(`\r${line}\x1b[K`) || true) : undefined,
        });
      } finally {
        // End the progress line so what follows (a result or an error) starts on its own line.
        if (progressShown) process.stderr.write('\n');
      }
      process.stdout.write(`${name}: cached in ${dataDirOf(options.dataDir)}/${name}\n`);
    });
  for (const verb of ['list', 'verify'] as const) {
    data
      .command(verb)
      .description(verb === 'list' ? 'show cached datasets and their sizes' : 're-check cached files against their published size, SHA-256 and MD5')
      .option('--data-dir <dir>', 'cache directory')
      .action((options: DataOptions) => listCache(options.dataDir, verb === 'verify'));
  }
  for (const command of data.commands) command.exitOverride((error) => {
    throw usageErrorFrom(error, command);
  });
  return data;
}

function entryNamed(name: string): RegistryEntry {
  const entry = registryEntry(name);
  if (entry === undefined) {
    throw new DataError('unknownSpec', `no downloadable dataset "${name}" — use one of ${Object.keys(REGISTRY).join(', ')}`);
  }
  return entry;
}

/**
 * One line per registry file: cached or missing, its size, and (verify) `ok` or which published
 * value it fails — `SIZE|SHA-256|MD5 MISMATCH` and the detail with both SHA-256.
 */
async function listCache(dataDir: string | undefined, verify: boolean): Promise<void> {
  let bad = 0;
  // Which cache: --data-dir, $DPTRAIN_DATA_DIR or the XDG default decide it, and a user should not have to guess.
  process.stdout.write(`# cache: ${dataDirOf(dataDir)}\n`);
  for (const name of Object.keys(REGISTRY)) {
    const entry = entryNamed(name);
    for (const file of registryFiles(entry)) {
      const path = cachedPath(entry, file, dataDir);
      if (!existsSync(path)) {
        process.stdout.write(`${name}/${file.name}\tmissing\n`);
        continue;
      }
      let status = '';
      if (verify) {
        const mismatch = mismatchOf(file, await digestFile(path));
        if (mismatch !== undefined) bad++;
        status = mismatch === undefined ? '\tok' : `\t${mismatch.what.toUpperCase()} MISMATCH: ${mismatch.detail}`;
      }
      process.stdout.write(`${name}/${file.name}\t${statSync(path).size} bytes${status}\n`);
    }
  }
  if (bad > 0) throw new DataError('checksumMismatch', `${bad} cached file(s) fail verification — delete them and run dptrain data fetch again`);
}
