/**
 * `dptrain bench [SUITE] [FLAGS...]`: the benchmarks of docs/benchmarks.md (the same scripts as
 * `npm run bench*`), run as a child process with the suite's own flags passed through. A suite
 * states the machine it ran on (cores, load) in its first lines.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ConfigError, UsageError } from '../errors.js';

/** Suite name → the compiled script and what it measures. */
export const benchSuites = {
  engine: { script: 'bench.js', measures: 'samples/s of the inline engine and of 1…N worker threads on W1–W3, the step split, the shared-memory all-reduce bandwidth' },
  kernels: { script: 'bench-kernels.js', measures: 'samples/s and GFLOP/s of the js, wasm and blas kernels on W1–W3' },
  transport: { script: 'bench-transport.js', measures: 'ws and dptrain Connection throughput and latency on loopback' },
  allreduce: { script: 'bench-allreduce.js', measures: 'star and ring all-reduce algbw/busbw across processes (loopback, namespace lab), end-to-end samples/s' },
  peers: { script: 'bench-peers.js', measures: 'dptrain vs PyTorch (../shared/peers) interleaved round by round: medians and ratios at 1 and 2 workers' },
} as const;

export type BenchSuite = keyof typeof benchSuites;

const scriptsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts');

export function registerBenchCommand(program: Command): Command {
  const list = Object.entries(benchSuites).map(([name, s]) => `  ${name.padEnd(10)} ${s.measures}`).join('\n');
  return program
    .command('bench')
    .description('run a benchmark suite (docs/benchmarks.md); its flags follow the suite name')
    .argument('[suite]', `one of ${Object.keys(benchSuites).join(', ')}`)
    .argument('[flags...]', "the suite's own flags, e.g. --runs 5; `dptrain bench SUITE --help` lists them")
    .allowUnknownOption()
    // --help after the suite's name is the suite's (its flags); before it, this command's.
    .helpOption(false)
    .addHelpText('after', `\nSuites:\n${list}\n\nExamples:\n  dptrain bench engine --help\n  dptrain bench engine --runs 5 --workloads W1,W2\n  dptrain bench allreduce --sections loopback --workers 2`)
    .exitOverride()
    .action(async (suite: string | undefined, flags: string[], _options: unknown, command: Command) => {
      if (suite === '--help' || suite === '-h') return command.help();
      process.exitCode = await runBench(suite, flags);
    });
}

/** Runs one suite to completion with stdio inherited; resolves to its exit code. */
export function runBench(suite: string | undefined, flags: readonly string[]): Promise<number> {
  // No default suite: the engine suite alone runs for minutes, which a bare `dptrain bench` should not start.
  if (suite === undefined) {
    throw new UsageError('missingArgument', `choose a benchmark suite: dptrain bench ${Object.keys(benchSuites).join('|')} (dptrain bench --help says what each measures)`);
  }
  if (!Object.hasOwn(benchSuites, suite)) {
    throw new ConfigError('badOption', `unknown benchmark suite "${suite}" — choose one of ${Object.keys(benchSuites).join(', ')}`);
  }
  const script = path.join(scriptsDir, benchSuites[suite as BenchSuite].script);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...flags], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}
