/** `dptrain report DIR [--out FILE]`: one self-contained HTML page for a sweep or a run directory. */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { writeReport } from '../study/index.js';

export function registerReportCommand(program: Command): Command {
  return program
    .command('report')
    .description('write one self-contained HTML page (plots, opens offline) for a sweep or run directory')
    .argument('<dir>', 'a `dptrain sweep --out` or `dptrain train --out` directory')
    .option('--out <file>', 'where to write the page (default: DIR/report.html)')
    .exitOverride()
    .action(async (dir: string, options: { out?: string }) => void (await runReport(dir, options)));
}

export async function runReport(dir: string, options: { out?: string }): Promise<string> {
  if (options.out !== undefined && options.out.trim() === '') throw new ConfigError('badOption', '--out must be a file name, e.g. --out report.html (got "")');
  checkReportDir(dir);
  const { file, page } = await writeReport(dir, options.out);
  process.stdout.write(`wrote ${file} (${page.kind} report, ${page.charts.length} charts)\n`);
  return file;
}

const EXPECTED = 'dptrain report takes the --out directory of `dptrain train --out DIR` (metrics.jsonl) or `dptrain sweep --out DIR` (results.json)';

/** DIR exists and is a directory; what it holds is checked by the report itself. */
function checkReportDir(dir: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new ConfigError('reportDirNotFound', `${dir} does not exist (relative paths start at ${process.cwd()}) — ${EXPECTED}`, { cause });
    }
    throw new ConfigError('reportDirNotFound', `cannot read ${dir} (${code ?? String(cause)}) — ${EXPECTED}`, { cause });
  }
  if (!isDirectory) {
    throw new ConfigError('notAReportDir', `${dir} is a file, not a directory${path.extname(dir) === '.safetensors' ? ' (for a parameters file use dptrain inspect)' : ''} — ${EXPECTED}`);
  }
}
