/**
 * `dptrain worker --connect HOST:PORT` (or ws://HOST:PORT): join a coordinator and compute shards
 * with a local engine over --threads threads until the run ends. Exits 0 when the coordinator ends the run,
 * 1 when it refuses this worker, drops it more than --rejoins times, or cannot be reached again
 * within --reconnect-timeout after the connection was lost (the log says why).
 * Ctrl-C leaves the run at once; the coordinator recomputes the current step without it.
 */
import { tuneWsProcessMemory } from '../transport/heap.js';
import os from 'node:os';
import { Command } from 'commander';
import type { WorkerOutcome } from '../engine/index.js';
import { wsDefaults } from '../engine/ws/options.js';
import { ConfigError } from '../errors.js';
import { readTokenFile } from '../transport/auth.js';
import { plural } from '../util/index.js';
import { watchInterrupts } from './interrupt.js';
import { createLogger, logFormatOption, type LogFormat } from './logger.js';
import { parseInteger, parseNumber } from './parse.js';

export function registerWorkerCommand(program: Command): Command {
  return program
    .command('worker')
    .description('join a `dptrain coordinator` and compute shards with this host\'s threads until the run ends')
    .option('--connect <address>', 'the coordinator, HOST:PORT or ws://HOST:PORT, e.g. 10.0.0.1:7000 (required)')
    .option('--token-file <file>', 'the shared secret file (chmod 600), the coordinator\'s')
    .option('--threads <t>', `threads of the local engine; 1 = one thread (default: this machine's ${os.availableParallelism()})`)
    .option('--name <name>', 'unique name in the run, shown in the coordinator\'s logs (default: HOSTNAME-PID)')
    .option('--rejoins <n>', `join again this many times after the coordinator dropped this worker (default: ${wsDefaults.rejoins})`)
    .option('--reconnect-timeout <seconds>', `after losing the coordinator (killed, network), keep reconnecting this long, with backoff, then exit 1 (default: ${wsDefaults.reconnectTimeoutMs / 1000})`)
    .option('--ring-host <address>', 'address the ring listener binds (default: this host\'s address on its coordinator connection, where the other workers are told to connect)')
    .option('--ring-port <port>', 'port of the ring listener, e.g. one your firewall allows (default: chosen by the OS)')
    .addOption(logFormatOption())
    .exitOverride()
    .action(async (options: Record<string, unknown>) => void (await runWorkerCommand(options)));
}

/**
 * `--connect`: the coordinator as `HOST:PORT` or `[IPv6]:PORT` (what its start-up line prints), or a
 * `ws://` / `wss://` URL; returns the URL to dial.
 */
export function parseConnect(raw: unknown): string {
  const text = typeof raw === 'string' ? raw.trim() : '';
  const bare = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const candidate = bare ? `ws://${bare[1]}:${bare[2]}/` : text;
  let url: URL | null = null;
  try {
    url = new URL(candidate);
  } catch {
    // reported below
  }
  // The port is explicit: the coordinator has no default for a URL's (80), and 0 is no port to dial.
  // (URL drops a scheme's default port, so it is read from the text.)
  const port = Number(/^wss?:\/\/(?:\[[^\]]*\]|[^/:[\]]+):(\d{1,5})(?:[/?#]|$)/i.exec(candidate)?.[1] ?? NaN);
  const valid = url !== null && (url.protocol === 'ws:' || url.protocol === 'wss:') && url.hostname !== '' && port >= 1 && port <= 65_535;
  if (!valid) {
    const what = raw === undefined ? 'it is missing' : `got ${JSON.stringify(raw)}`;
    throw new ConfigError('badOption', `--connect must be the coordinator's HOST:PORT or ws://HOST:PORT, as its start-up line prints (${what}), e.g. --connect 10.0.0.1:7000`);
  }
  return candidate;
}

/** A default worker name the transport accepts: the host name, sanitized, and the process id. */
export function defaultWorkerName(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9._:@-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 50) || 'worker';
  return `${host}-${process.pid}`;
}

export async function runWorkerCommand(flags: Record<string, unknown>): Promise<WorkerOutcome> {
  const url = parseConnect(flags.connect);
  const threads = flags.threads === undefined ? os.availableParallelism() : parseInteger('--threads', flags.threads as string);
  if (!(threads >= 1 && threads <= 1024)) throw new ConfigError('badOption', `--threads must be an integer from 1 to 1024 (got ${threads})`);
  const name = typeof flags.name === 'string' ? flags.name : defaultWorkerName();
  if (!/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/.test(name)) {
    throw new ConfigError('badOption', `--name must be 1-64 letters, digits and . _ : @ -, starting with a letter or digit (got ${JSON.stringify(name)})`);
  }
  const rejoins = flags.rejoins === undefined ? wsDefaults.rejoins : parseInteger('--rejoins', flags.rejoins as string);
  if (!(rejoins >= 0)) throw new ConfigError('badOption', `--rejoins must be an integer ≥ 0 (got ${rejoins})`);
  const reconnectSeconds = flags.reconnectTimeout === undefined ? wsDefaults.reconnectTimeoutMs / 1000 : parseNumber('--reconnect-timeout', flags.reconnectTimeout as string);
  if (!(reconnectSeconds >= 0 && reconnectSeconds <= 86_400)) {
    throw new ConfigError('badOption', `--reconnect-timeout must be a number of seconds from 0 to 86400 (got ${reconnectSeconds})`);
  }
  const ringPort = flags.ringPort === undefined ? undefined : parseInteger('--ring-port', flags.ringPort as string);
  if (ringPort !== undefined && !(ringPort >= 1 && ringPort <= 65_535)) throw new ConfigError('badOption', `--ring-port must be a port from 1 to 65535 (got ${ringPort}); leave it out for one chosen by the OS`);
  const token = typeof flags.tokenFile === 'string' ? readTokenFile(flags.tokenFile) : undefined;
  // Loaded here, not at start-up: `dptrain --help` and a mistyped flag need none of it.
  const { runWorker } = await import('../engine/index.js');
  const log = createLogger(flags.logFormat as LogFormat, null);
  const cores = os.availableParallelism();
  if (threads > cores) {
    // As train's --workers: threads above the cores share them, and each shard waits for the slowest.
    log.warn({ threads, cores }, `--threads ${threads} is more than this machine's ${cores} cores: the threads share them and each step waits for the slowest, so this worker is slower than with --threads ${cores} (the default)`);
  }
  log.debug(await tuneWsProcessMemory(), 'memory'); // docs/architecture.md, "Buffers for received frames"; docs/datasets.md, "Memory"
  // Ctrl-C leaves the run at once (the coordinator recomputes the step without us) and exits 130.
  const interrupts = watchInterrupts({
    first: (signal) => log.warn({ signal }, `${signal}: leaving the run; the coordinator recomputes the current step without this worker`),
    second: (signal) => log.warn({ signal }, `${signal} again: exiting at once`),
  });
  try {
    const outcome = await runWorker({ url, name, threads, token, rejoins, reconnectTimeoutMs: Math.round(reconnectSeconds * 1000), ringHost: flags.ringHost as string | undefined, ringPort, log }, interrupts.signal);
    const served = plural(outcome.steps, 'step');
    if (interrupts.signal.aborted) log.warn({ steps: outcome.steps }, `worker "${name}" left the run (interrupted): ${served} served`);
    else log.info({ steps: outcome.steps }, `worker "${name}" done: ${served} served`);
    return outcome;
  } finally {
    interrupts.dispose();
  }
}
