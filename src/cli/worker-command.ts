/**
 * `dptrain worker --connect HOST:PORT` (or ws://HOST:PORT): join a coordinator and compute shards
 * with a local engine over --threads threads until the run ends. Exits 0 when the coordinator ends the run,
 * 1 when it refuses this worker, drops it more than --rejoins times, or cannot be reached again
 * within --reconnect-timeout after the connection was lost (the log says why).
 * Ctrl-C leaves the run at once; the coordinator recomputes the current step without it.
 */
import { tuneWsProcessMemory } from '../transport/heap.js';
import os from 'node:os';
import { Command, Option } from 'commander';
import type { WorkerOutcome } from '../engine/index.js';
import type { WorkerPhase } from '../engine/ws/index.js';
import { wsDefaults } from '../engine/ws/options.js';
import { ConfigError } from '../errors.js';
import { readTokenFile } from '../transport/auth.js';
import { defaultLimits, heartbeatLimits } from '../transport/limits.js';
import { plural } from '../util/index.js';
import { watchInterrupts } from './interrupt.js';
import { createLogger, logFormatOption, type LogFormat } from './logger.js';
import { parseHeartbeatTimeout, parseInteger, parseNumber } from './parse.js';
import { refuseOtherSide, registerCoordinatorCommand } from './coordinator-command.js';

export function registerWorkerCommand(program: Command): Command {
  const command = program
    .command('worker')
    .description('join a `dptrain coordinator` and compute shards with this host\'s threads until the run ends')
    .option('--connect <address>', 'the coordinator, HOST:PORT or ws://HOST:PORT, e.g. 10.0.0.1:7000 (required)')
    .option('--token-file <file>', 'the shared secret file (chmod 600), the coordinator\'s')
    .option('--threads <t>', `threads of the local engine; 1 = one thread (default: this machine's ${os.availableParallelism()})`)
    .option('--name <name>', 'unique name in the run, shown in the coordinator\'s logs (default: HOSTNAME-PID)')
    .option('--rejoins <n>', `join again this many times after the coordinator dropped this worker (default: ${wsDefaults.rejoins})`)
    .option('--reconnect-timeout <seconds>', `after losing the coordinator (killed, network), keep reconnecting this long, with backoff, then exit 1 (default: ${wsDefaults.reconnectTimeoutMs / 1000})`)
    .option('--heartbeat-timeout <seconds>', `end a connection (to the coordinator or a ring neighbour) after this long without a sign of life; raise it for links slow enough that a frame takes longer to drain; the coordinator has its own (default: ${defaultLimits.heartbeatTimeoutMs / 1000})`)
    .option('--ring-host <address>', 'address the ring listener binds (default: this host\'s address on its coordinator connection, where the other workers are told to connect)')
    .option('--ring-port <port>', 'port of the ring listener, e.g. one your firewall allows (default: chosen by the OS)')
    .addOption(logFormatOption())
    .exitOverride()
    .action(async (options: Record<string, unknown>) => void (await runWorkerCommand(options, otherSide)));
  // Accepted here only to say whose they are (refuseOtherSide); commander does not suggest hidden options.
  const otherSide = coordinatorSide(command);
  for (const { option } of otherSide) command.addOption(new Option(option.flags).hideHelp());
  return command;
}

/** Why a training option is the coordinator's, for those that need more than the general reason. */
const COORDINATOR_SIDE: Record<string, string> = {
  dataset: "--dataset is the coordinator's: the coordinator decides what to train, and each worker loads the same spec (or receives the data, with the coordinator's --ship-data); give it there",
  listen: "--listen is the coordinator's: a worker does not listen for the coordinator, it connects to it — give --connect HOST:PORT (the worker's own ring listener is --ring-host, --ring-port)",
  shipData: "--ship-data is the coordinator's: start `dptrain coordinator --ship-data` and it sends its dataset to every worker",
  out: "--out is the coordinator's: the coordinator writes the run's files (summary.json, final.safetensors, metrics.jsonl); give it there",
  minWorkers: "--min-workers is the coordinator's: it waits for that many workers; give it there",
  dashboard: "--dashboard is the coordinator's: it serves the run's live page, every worker's steps included; give it there",
  workers: "--workers: a worker's threads are --threads; the run's workers are the `dptrain worker` processes that join the coordinator (it waits for --min-workers of them)",
  engine: '--engine: a worker computes its shards with its own --threads, and the coordinator runs the ws engine; neither takes --engine (on one machine, `dptrain train --engine inline|threads`)',
};

/**
 * The coordinator's options (its own and every training option) that a worker does not have,
 * each with why it is the coordinator's: the coordinator decides what and how to train, and
 * sends its workers the setup. `--workers` and `--engine` too, which neither side takes.
 */
function coordinatorSide(worker: Command): { option: Option; why: string }[] {
  const own = new Set(worker.options.map((o) => o.long));
  const coordinator = registerCoordinatorCommand(new Command()).options.filter((o) => !o.hidden && !own.has(o.long));
  const options = [...coordinator, new Option('--workers <n>'), new Option('--engine <name>')];
  return options.map((option) => ({
    option,
    why: COORDINATOR_SIDE[option.attributeName()] ?? `${option.long} is the coordinator's: the coordinator decides how to train and sends its workers the setup; give it to \`dptrain coordinator\``,
  }));
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

/** What the first Ctrl-C does, by how far the worker got. */
const INTERRUPTED: Record<WorkerPhase, string> = {
  connecting: 'stopping before joining a run (no coordinator reached yet)',
  joining: 'leaving before joining the run; the coordinator goes on without this worker',
  serving: 'leaving the run; the coordinator recomputes the current step without this worker',
  reconnecting: 'stopping while reconnecting to the coordinator; the run goes on without this worker',
};

/**
 * --ring-host, checked before connecting: an address of this machine (or a name of one), and off
 * loopback only with a token, as every listener. Found only after joining, it cost a join and said
 * "without a token" of an address this machine does not have.
 */
async function checkRingHost(host: string, hasToken: boolean, transport: typeof import('../transport/index.js')): Promise<string> {
  const why = await transport.notOwnHost(host);
  if (why !== null) {
    throw new ConfigError('listen', `--ring-host ${host}: ${why}, so the ring listener cannot bind it — give one of this machine's addresses (${transport.ownAddresses().join(', ')}), or leave --ring-host out to listen where the coordinator sees this worker`);
  }
  if (!hasToken && !transport.isLoopback(host.replace(/^\[(.*)\]$/, '$1'))) {
    throw new ConfigError('insecureListen', `--ring-host ${host} is not a loopback address and there is no --token-file: anyone who can reach the ring listener could connect to it — pass the coordinator's --token-file, or leave --ring-host out`);
  }
  return host;
}

/** A default worker name the transport accepts: the host name, sanitized, and the process id. */
export function defaultWorkerName(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9._:@-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 50) || 'worker';
  return `${host}-${process.pid}`;
}

/** `otherSide`: the coordinator's options, accepted by the command only to be refused with their reason. */
export async function runWorkerCommand(flags: Record<string, unknown>, otherSide: readonly { option: Option; why: string }[] = []): Promise<WorkerOutcome> {
  refuseOtherSide(flags, otherSide, 'dptrain worker');
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
  const heartbeatMs = flags.heartbeatTimeout === undefined ? defaultLimits.heartbeatTimeoutMs : parseHeartbeatTimeout(String(flags.heartbeatTimeout));
  const ringPort = flags.ringPort === undefined ? undefined : parseInteger('--ring-port', flags.ringPort as string);
  if (ringPort !== undefined && !(ringPort >= 1 && ringPort <= 65_535)) throw new ConfigError('badOption', `--ring-port must be a port from 1 to 65535 (got ${ringPort}); leave it out for one chosen by the OS`);
  const token = typeof flags.tokenFile === 'string' ? readTokenFile(flags.tokenFile, { copyOf: 'coordinator' }) : undefined;
  // Loaded here, not at start-up: `dptrain --help` and a mistyped flag need none of it.
  const [{ runWorker }, transport] = await Promise.all([import('../engine/index.js'), import('../transport/index.js')]);
  const ringHost = typeof flags.ringHost === 'string' ? await checkRingHost(flags.ringHost, token !== undefined, transport) : undefined;
  const log = createLogger(flags.logFormat as LogFormat, null);
  const cores = os.availableParallelism();
  if (threads > cores) {
    // As train's --workers: threads above the cores share them, and each shard waits for the slowest.
    log.warn({ threads, cores }, `--threads ${threads} is more than this machine's ${cores} cores: the threads share them and each step waits for the slowest, so this worker is slower than with --threads ${cores} (the default)`);
  }
  log.debug(await tuneWsProcessMemory(), 'memory'); // docs/architecture.md, "Buffers for received frames"; docs/datasets.md, "Memory"
  // Ctrl-C leaves the run at once (the coordinator recomputes the step without us) and exits 130;
  // what it says depends on how far the worker got: it may not have reached a coordinator yet.
  let phase: WorkerPhase = 'connecting';
  let served = false;
  const interrupts = watchInterrupts({
    first: (signal) => log.warn({ signal, phase }, `${signal}: ${INTERRUPTED[phase]}`),
    second: (signal) => log.warn({ signal }, `${signal} again: exiting at once`),
  });
  const onPhase = (now: WorkerPhase) => {
    phase = now;
    served ||= now === 'serving';
  };
  try {
    const outcome = await runWorker({ url, name, threads, token, rejoins, reconnectTimeoutMs: Math.round(reconnectSeconds * 1000), ringHost, ringPort, limits: heartbeatLimits(heartbeatMs), log, onPhase }, interrupts.signal);
    const steps = plural(outcome.steps, 'step');
    if (!interrupts.signal.aborted) log.info({ steps: outcome.steps }, `worker "${name}" done: ${steps} served`);
    else if (served || outcome.steps > 0) log.warn({ steps: outcome.steps }, `worker "${name}" left the run (interrupted): ${steps} served`);
    else log.warn({ steps: 0 }, `worker "${name}" stopped before joining a run (interrupted)`);
    return outcome;
  } finally {
    interrupts.dispose();
  }
}
