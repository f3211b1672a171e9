/** `dptrain report DIR [--out FILE]`: one self-contained HTML page for a sweep or a run directory. */
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
  const { file, page } = await writeReport(dir, options.out);
  process.stdout.write(`wrote ${file} (${page.kind} report, ${page.charts.length} charts)\n`);
  return file;
}
