/** `dptrain report DIR [--out FILE] [--timeline FILE]`: one self-contained HTML page for a sweep or a run directory, and a ws run's trace. */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { outputFileProblem, replacedFileProblem } from '../io/output-dir.js';

export function registerReportCommand(program: Command): Command {
  return program
    .command('report')
    .description('write one self-contained HTML page (plots, opens offline) for a sweep or run directory')
    .argument('<dir>', 'a `dptrain sweep --out` or `dptrain train --out` directory')
    .option('--out <file>', 'where to write the page (default: DIR/report.html)')
    .option('--timeline <file>', 'also write the steps of a `dptrain coordinator` run as a trace for chrome://tracing or ui.perfetto.dev: per worker, forward + backward and each bucket\'s all-reduce')
    .exitOverride()
    .action(async (dir: string, options: { out?: string; timeline?: string }) => void (await runReport(dir, options)));
}

export async function runReport(dir: string, options: { out?: string; timeline?: string }): Promise<string> {
  for (const flag of ['out', 'timeline'] as const) {
    const file = options[flag];
    if (file !== undefined && file.trim() === '') throw new ConfigError('badOption', `--${flag} must be a file name, e.g. --${flag} ${flag === 'out' ? 'report.html' : 'timeline.json'} (got "")`);
    const problem = file === undefined ? null : (outputFileProblem(file) ?? replacedFileProblem(file, REPLACEABLE[flag].ours, REPLACEABLE[flag].what));
    if (problem !== null) throw new ConfigError('badOption', `--${flag} ${file}: ${problem}`);
  }
  checkReportDir(dir);
  const { writeReport, writeTimelineTrace } = await import('../study/index.js');
  if (options.timeline !== undefined) {
    const trace = await writeTimelineTrace(dir, options.timeline);
    process.stdout.write(`wrote ${options.timeline} (${trace.steps} steps of ${trace.workers.length} workers; open it in chrome://tracing or ui.perfetto.dev)\n`);
  }
  const { file, page } = await writeReport(dir, options.out);
  process.stdout.write(`wrote ${file} (${page.kind} report, ${page.charts.length} charts)\n`);
  return file;
}

/** What an existing --out or --timeline file may hold to be replaced: an earlier page or trace, never a run's own files. */
const REPLACEABLE = {
  out: { ours: /^\s*<!doctype html>/i, what: 'an HTML page' },
  timeline: { ours: /^\{"displayTimeUnit"/, what: 'a trace written by --timeline' },
};

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
