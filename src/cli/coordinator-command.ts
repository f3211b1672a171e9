/**
 * `dptrain coordinator`: the normal training loop (train()) with the ws engine, whose workers are
 * `dptrain worker` processes on LAN hosts. Listens on 127.0.0.1 unless --listen names another
 * address, and refuses a non-loopback address without --token-file. Waits for --min-workers,
 * then trains; a progress line every few seconds names each worker, its host, threads and last
 * step time. docs/protocol.md §6 describes what crosses the wire.
 */
import { tuneWsProcessMemory } from '../transport/heap.js';
import { Command, Option } from 'commander';
import type { CoordinatorRecord, CoordinatorStatus, ResumedCoordinatorOptions, WsCoordinatorOptions } from '../engine/index.js';
import { wsDefaults } from '../engine/ws/options.js';
import { ConfigError, DptrainError, shown, UsageError } from '../errors.js';
import { readTokenFile } from '../transport/auth.js';
import { defaultLimits, heartbeatLimits } from '../transport/limits.js';
import { cannotListenBecause } from '../util/listen-error.js';
import type { CheckpointMeta, NoEffectRule, TrainResult } from '../train/index.js';
import { flagOf, plural } from '../util/index.js';
import { createLogger, logFormatOption, type LogFormat } from './logger.js';
import { explicitOptions, parseHeartbeatTimeout, parseInteger, parseNumber } from './parse.js';
import { watchRunInterrupts } from './interrupt.js';
import { logRunEnd } from './train-command.js';
import { addTrainFlags, trainConfigFromFlags } from './train-options.js';
import { addDashboardFlags, dashboardFromFlags, withDashboard } from './dashboard-flags.js';

/** Train options that the coordinator decides itself. */
const SET_BY_COORDINATOR = new Set(['engine', 'workers']);
/** Seconds between progress lines (and at every membership change). */
const PROGRESS_EVERY_MS = 5_000;
export const DEFAULT_LISTEN = wsDefaults.listen;

export const coordinatorHelp = `
Across hosts
  On one host:    dptrain coordinator --listen 10.0.0.1:7000 --min-workers 2 \\
                    --token-file token [train options]
  On each other:  dptrain worker --connect 10.0.0.1:7000 --token-file token \\
                    --threads 4
  The token is a shared secret (dptrain token --out token; copy it to every
  host with scp -p); it never crosses the wire. Without --token-file the
  coordinator listens on loopback only. Workers load the dataset by its spec
  and prove its hash (or receive it with --ship-data); each computes its shard
  with its own threads, and the shards are all-reduced (star or ring). Workers
  may join or leave between steps; a lost worker's shard is recomputed by the
  others.
`;

/**
 * Options of the other side, given to the coordinator: each says whose it is and what to do
 * instead (as `dptrain sweep --epochs` does), not commander's bare "unknown option". docs/cli.md.
 */
const WORKER_SIDE: readonly { flags: string; why: string }[] = [
  { flags: '--workers <n>', why: "--workers: a coordinator's workers are the `dptrain worker` processes that join it — wait for more with --min-workers; a worker's threads are `dptrain worker --threads`" },
  { flags: '--engine <name>', why: '--engine: a coordinator always runs the ws engine, whose workers are `dptrain worker` processes; on one machine, `dptrain train --engine inline|threads`' },
  { flags: '--connect <address>', why: "--connect is the worker's (`dptrain worker --connect HOST:PORT`): a coordinator does not connect, it listens — give it --listen HOST:PORT" },
  { flags: '--threads <t>', why: "--threads is the worker's: each `dptrain worker` computes its shard with its own --threads; the coordinator computes none" },
  { flags: '--name <name>', why: "--name is the worker's: it names a `dptrain worker` in the coordinator's logs; give it to each worker" },
  { flags: '--rejoins <n>', why: "--rejoins is the worker's: give it to `dptrain worker`" },
  { flags: '--reconnect-timeout <seconds>', why: "--reconnect-timeout is the worker's: give it to `dptrain worker`" },
  { flags: '--ring-host <address>', why: "--ring-host is the worker's (where its ring listener binds): give it to `dptrain worker`" },
  { flags: '--ring-port <port>', why: "--ring-port is the worker's (its ring listener's port): give it to `dptrain worker`" },
];

/** A UsageError (exit 2, dptrain.cli.unknownOption) for the first option of the other side that was given. */
export function refuseOtherSide(flags: Record<string, unknown>, others: readonly { option: Option; why: string }[], command: string): void {
  const given = others.find(({ option }) => flags[option.attributeName()] !== undefined);
  if (given) throw new UsageError('unknownOption', `${given.why}; see ${command} --help`);
}

export function registerCoordinatorCommand(program: Command): Command {
  const command = program
    .command('coordinator')
    .description('train across LAN hosts: wait for --min-workers `dptrain worker`s, then train with them')
    .option('--listen <host:port>', `address to listen on; anything but loopback needs --token-file (default: ${DEFAULT_LISTEN})`)
    .option('--min-workers <k>', 'workers to wait for before the first step (default: 1)')
    .addOption(new Option('--allreduce <algorithm>', 'star (via the coordinator) | ring (between workers) | auto (star for small models or 1 worker, else ring)').choices(['star', 'ring', 'auto']).default('auto'))
    .option('--token-file <file>', 'shared secret file (chmod 600), the same on every host')
    .option('--ship-data', 'send the dataset to every worker instead of having it load the spec')
    .option('--hash-every <n>', `compare every replica's parameter hash every n steps; 0 = never (default: ${wsDefaults.hashEvery})`)
    .option('--step-deadline-floor <ms>', `a worker that has not answered within max(this, ${wsDefaults.deadlineFactor} × the median step time) is dropped (default: ${wsDefaults.deadlineFloorMs})`)
    .option('--bucket-mb <mb>', `gradient buckets of at least this many MiB, in backward order; 0 = one bucket (default: ${wsDefaults.bucketBytes / 2 ** 20})`)
    .option('--first-bucket-mb <mb>', `the first bucket's least size in MiB, so that the link starts early in backward (default: ${wsDefaults.firstBucketBytes / 2 ** 20}; with --compress, --bucket-mb; never above --bucket-mb)`)
    .addOption(new Option('--reduced-from <local|all>', "ring: a worker on this host sends the coordinator whole reduced buckets, the others nothing (local; as all when no worker shares this host), or every worker its segment (all); same results either way").choices(['local', 'all']).default('local'))
    .addOption(new Option('--coordinator-replica <mode>', 'full: the coordinator applies every update to its own copy (no loss of workers loses the state); on-demand: in ring steps it takes only the gradient norm and asks a worker for the state when it needs it (faster across hosts; if every worker is lost at once the run stops)').choices(['full', 'on-demand']).default('full'))
    .addOption(new Option('--overlap <on|off>', "start a bucket's all-reduce as soon as backward has finished it (on), or after the whole backward pass (off); same results either way").choices(['on', 'off']).default('on'))
    .addOption(new Option('--compress <format>', 'gradients on the wire: none (float32) | fp16 | bf16 (16-bit, summed in float32; changes the results)').choices(['none', 'fp16', 'bf16']).default('none'))
    .option('--compress-feedback', "with --compress: keep each worker's rounding residual and add it to its next gradient (error feedback)")
    .option('--rejoin-timeout <seconds>', `when no worker is left, wait this long for one to join, then end the run at the last finished step (outputs and checkpoint written) with exit 1; Ctrl-C ends it there too (default: ${wsDefaults.rejoinTimeoutMs / 1000})`)
    .option('--heartbeat-timeout <seconds>', `end a worker's connection after this long without a sign of life (a half-open connection, a host asleep); raise it for links slow enough that a frame takes longer to drain; the workers have their own (default: ${defaultLimits.heartbeatTimeoutMs / 1000})`)
    .addOption(logFormatOption())
    .addHelpText('after', coordinatorHelp)
    .exitOverride()
    .action(async (options: Record<string, unknown>, command: Command) => void (await runCoordinator(options, command)));
  for (const option of addTrainFlags(new Command()).options) {
    if (!SET_BY_COORDINATOR.has(option.attributeName())) command.addOption(option);
  }
  addDashboardFlags(command, false);
  // Accepted here only to say whose they are (refuseOtherSide); commander does not suggest hidden options.
  for (const { flags } of WORKER_SIDE) command.addOption(new Option(flags).hideHelp());
  return command;
}

/** The hidden options of the worker side that `dptrain coordinator` takes only to refuse them. */
const workerSideOptions = WORKER_SIDE.map(({ flags, why }) => ({ option: new Option(flags), why }));

/** `HOST:PORT`, `[v6]:PORT` or `PORT` (on 127.0.0.1); port 0 picks a free one. */
export function parseListen(raw: string): { host: string; port: number } {
  const text = raw.trim();
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(text) ?? (/^(\d+)$/.test(text) ? [text, undefined, '127.0.0.1', text] : null);
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2]) || '127.0.0.1' : '';
  if (!m || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigError('badOption', `--listen must be HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:7000 or 10.0.0.1:7000 (got ${JSON.stringify(raw)})`);
  }
  return { host, port };
}

/** `flags`: every option value; `command`, when given, tells which were typed (the others are defaults). */
export async function runCoordinator(flags: Record<string, unknown>, command?: Command): Promise<TrainResult> {
  refuseOtherSide(flags, workerSideOptions, 'dptrain coordinator');
  const typedFlags = command ? explicitOptions(command) : flags;
  const typedOwn = typedCoordinatorOptions(typedFlags);
  // Loaded here, not at start-up: `dptrain --help` and a mistyped flag need none of them.
  const [{ loadDataset }, { withCoordinator, recordedCoordinatorOptions, resolveCoordinatorOptions }, { isLoopback }, { resolveRunConfig, runPathResolver, train, inertOptions, warningFields }] = await Promise.all([
    import('../data/index.js'),
    import('../engine/index.js'),
    import('../transport/index.js'),
    import('../train/index.js'),
  ]);
  // Only the options given reach train(), so that it tells defaults from choices (docs/cli.md,
  // "Defaults and explicit options"); resolved here too (with --resume, the checkpoint's options
  // under the flags given now), because the dataset is loaded before train() runs. The
  // coordinator's own options likewise: the run's record (config.coordinator) under those typed,
  // a typed --compress that differs from it refused with any training option that differs.
  const given = { ...trainConfigFromFlags(typedFlags), engine: 'ws' as const };
  const ownOf = (meta: CheckpointMeta | null) => resolveCoordinatorOptions(typedOwn, meta && withRecordedTokenFile(recordedCoordinatorOptions(meta.config), runPathResolver(meta)));
  const { config, resumed } = await resolveRunConfig(given, (meta) => ownOf(meta).problems);
  const own = ownOf(resumed?.checkpoint.meta ?? null);
  const o = own.options;
  const { host, port } = parseListen(o.listen);
  if (!isLoopback(host) && !o.tokenFile) {
    throw new ConfigError(
      'insecureListen',
      `--listen ${host}:${port} is not a loopback address, and there is no --token-file: anyone who can reach the port could join the run. ` +
        `Create a token (dptrain token --out token), copy it to every host (scp -p) and pass --token-file token — or listen on 127.0.0.1`,
    );
  }
  if (o.compressFeedback && o.compress === 'none') {
    throw new ConfigError('badOption', '--compress-feedback keeps the residual of 16-bit rounding: it needs --compress fp16 or bf16');
  }
  const token = o.tokenFile ? readTokenFile(o.tokenFile) : undefined;

  const logger = createLogger(flags.logFormat as LogFormat, null);
  if (resumed) reportResumedOptions(own, resumed.path, resumed.checkpoint.meta, logger);
  // The coordinator's own options that have no effect in this run, warned about once (docs/cli.md).
  const typed = new Set(Object.keys(typedFlags));
  const settings = coordinatorSettings(o, config.reduceChunks ?? 0);
  for (const warning of inertOptions(coordinatorNoEffectRules, settings, typed, (key) => coordinatorDefaultOf(key, settings), flagOf)) {
    logger.warn(warningFields(warning), warning.message);
  }
  logger.debug(await tuneWsProcessMemory(), 'memory'); // docs/architecture.md, "Buffers for received frames"; docs/datasets.md, "Memory"
  // --dashboard listens before the data loads, so that a port in use fails at once.
  const dashboard = await dashboardFromFlags(flags, 'coordinator', logger);
  // Ctrl-C: the step in progress finishes, the outputs are written, the workers are told (done "interrupted").
  // Before the first step it is still waiting for --min-workers: there is no step to finish.
  let begun = false;
  const interrupts = watchRunInterrupts(logger, null, () => (begun ? 'after the current step' : 'before the first step (still waiting for workers)'));
  const loaded = await loadDataset(config.dataset, { dataDir: config.dataDir ?? undefined, mirror: config.dataMirror ?? undefined });
  let lastProgress = 0;
  let lastMembers = '';
  let unlogged: CoordinatorStatus | null = null;
  const options: WsCoordinatorOptions = {
    host,
    port,
    minWorkers: o.minWorkers,
    allreduce: o.allreduce,
    token,
    shipData: o.shipData,
    loaded,
    datasetSpec: config.dataset,
    valSplit: config.valSplit,
    standardize: config.standardize,
    hashEvery: o.hashEvery,
    deadlineFloorMs: o.stepDeadlineFloor,
    rejoinTimeoutMs: Math.round(1000 * o.rejoinTimeout),
    limits: heartbeatLimits(Math.round(1000 * o.heartbeatTimeout)),
    bucketBytes: Math.round(o.bucketMb * 2 ** 20),
    ...(o.firstBucketMb !== null && { firstBucketBytes: Math.round(o.firstBucketMb * 2 ** 20) }),
    overlap: o.overlap !== 'off',
    reducedFrom: o.reducedFrom,
    coordinatorReplica: o.coordinatorReplica,
    compress: o.compress,
    compressFeedback: o.compressFeedback,
    record: o,
    log: logger,
    signal: interrupts.signal,
    onMembership: dashboard?.coordinator.onMembership,
    onWaiting: dashboard?.coordinator.onWaiting,
    onStatus: (status) => {
      dashboard?.coordinator.onStatus(status);
      const members = status.workers.map((w) => w.name).join(',');
      const now = performance.now();
      unlogged = status;
      if (members === lastMembers && now - lastProgress < PROGRESS_EVERY_MS) return;
      lastMembers = members;
      lastProgress = now;
      unlogged = null;
      logger.info({ progress: status }, describeStatus(status));
    },
  };
  // The last steps' view (shares of step time over the last steps), unless it was just logged:
  // before train()'s closing lines (the end of an interrupted run), not after them.
  const flushStatus = () => {
    const last = unlogged as CoordinatorStatus | null;
    unlogged = null;
    if (last) logger.info({ progress: last }, describeStatus(last));
  };
  const callbacks = [...(dashboard ? [dashboard.callback] : []), { onTrainBegin: () => void (begun = true), onTrainEnd: flushStatus }];
  const result = await withDashboard(dashboard, () => withCoordinator(options, () => train(given, { logger, data: loaded, signal: interrupts.signal, callbacks })))
    .catch((error: unknown) => {
      throw listenProblem(error, host, port, dashboard?.url);
    })
    .finally(() => interrupts.dispose());
  logRunEnd(logger, result);
  return result;
}

/** A recorded --token-file, from where the run started, as its training options' paths (docs/cli.md, "Checkpoints and --resume"). */
function withRecordedTokenFile(record: Partial<CoordinatorRecord> | null, resolve: (file: string) => string): Partial<CoordinatorRecord> | null {
  return record && typeof record.tokenFile === 'string' ? { ...record, tokenFile: resolve(record.tokenFile) } : record;
}

/** The coordinator's own options that can be inert, as given (resolved defaults where not). */
interface CoordinatorSettings {
  allreduce: string;
  reducedFrom: string;
  coordinatorReplica: string;
  overlap: string;
  bucketMb: number | undefined;
  firstBucketMb: number | undefined;
  compress: string;
  reduceChunks: number;
}

function coordinatorSettings(o: CoordinatorRecord, reduceChunks: number): CoordinatorSettings {
  const { allreduce, reducedFrom, coordinatorReplica, overlap, bucketMb, compress } = o;
  return { allreduce, reducedFrom, coordinatorReplica, overlap, bucketMb, firstBucketMb: o.firstBucketMb ?? undefined, compress, reduceChunks };
}

/**
 * The coordinator's options typed now, checked (each message names its flag); the others come
 * from the run's record (--resume) or their defaults (resolveCoordinatorOptions).
 */
function typedCoordinatorOptions(flags: Record<string, unknown>): Partial<CoordinatorRecord> {
  const typed: Partial<CoordinatorRecord> = {};
  const text = (key: string) => (flags[key] === undefined ? undefined : String(flags[key]));
  const listen = text('listen');
  if (listen !== undefined) {
    parseListen(listen);
    typed.listen = listen;
  }
  if (flags.minWorkers !== undefined) typed.minWorkers = parseInteger('--min-workers', String(flags.minWorkers));
  if (flags.hashEvery !== undefined) typed.hashEvery = parseInteger('--hash-every', String(flags.hashEvery));
  if (flags.stepDeadlineFloor !== undefined) typed.stepDeadlineFloor = parseInteger('--step-deadline-floor', String(flags.stepDeadlineFloor));
  if (flags.rejoinTimeout !== undefined) {
    const seconds = parseNumber('--rejoin-timeout', String(flags.rejoinTimeout));
    if (!(seconds >= 0 && seconds <= 86_400)) throw new ConfigError('badOption', `--rejoin-timeout must be a number of seconds from 0 to 86400 (got ${JSON.stringify(flags.rejoinTimeout)})`);
    typed.rejoinTimeout = seconds;
  }
  if (flags.heartbeatTimeout !== undefined) typed.heartbeatTimeout = parseHeartbeatTimeout(String(flags.heartbeatTimeout)) / 1000;
  if (flags.bucketMb !== undefined) {
    const mb = parseNumber('--bucket-mb', String(flags.bucketMb));
    if (!(mb >= 0 && mb <= 1024)) throw new ConfigError('badOption', `--bucket-mb must be a number of MiB from 0 to 1024 (0 = one bucket; got ${JSON.stringify(flags.bucketMb)})`);
    typed.bucketMb = mb;
  }
  if (flags.firstBucketMb !== undefined) {
    const mb = parseNumber('--first-bucket-mb', String(flags.firstBucketMb));
    if (!(mb > 0 && mb <= 1024)) throw new ConfigError('badOption', `--first-bucket-mb must be a number of MiB above 0, at most 1024 (got ${JSON.stringify(flags.firstBucketMb)})`);
    typed.firstBucketMb = mb;
  }
  if (flags.tokenFile !== undefined) typed.tokenFile = String(flags.tokenFile);
  if (flags.shipData !== undefined) typed.shipData = flags.shipData === true;
  if (flags.compressFeedback !== undefined) typed.compressFeedback = flags.compressFeedback === true;
  // Choices commander has checked.
  if (flags.allreduce !== undefined) typed.allreduce = flags.allreduce as CoordinatorRecord['allreduce'];
  if (flags.reducedFrom !== undefined) typed.reducedFrom = flags.reducedFrom as CoordinatorRecord['reducedFrom'];
  if (flags.coordinatorReplica !== undefined) typed.coordinatorReplica = flags.coordinatorReplica as CoordinatorRecord['coordinatorReplica'];
  if (flags.overlap !== undefined) typed.overlap = flags.overlap as CoordinatorRecord['overlap'];
  if (flags.compress !== undefined) typed.compress = flags.compress as CoordinatorRecord['compress'];
  return typed;
}

/**
 * A resumed run's coordinator options: one line naming those taken from the run's record (unless
 * all are defaults), a warning per typed option that changes float rounding only, and one when
 * a ws run's checkpoint recorded none (written before dptrain recorded them: defaults stand in).
 */
function reportResumedOptions(own: ResumedCoordinatorOptions, file: string, meta: CheckpointMeta, logger: ReturnType<typeof createLogger>): void {
  if (meta.config.coordinator === undefined && meta.config.engine === 'ws') {
    logger.warn({ path: file }, `${file} records no coordinator options (an earlier dptrain wrote it): those not given now take their defaults — give the coordinator options the run was started with (--compress, --min-workers, …) again`);
  }
  if (own.restored.length > 0) logger.info({ restored: own.restored }, `resuming with ${own.restored.join(' ')} from the run's record`);
  for (const { flag, recorded, now } of own.rounding) {
    logger.warn({ option: flag, checkpoint: recorded, now }, `${flag} is ${shown(now)} but the checkpoint ran with ${shown(recorded)}: the run continues correctly, but float rounding differs from an uninterrupted run`);
  }
}


function coordinatorDefaultOf(key: keyof CoordinatorSettings, s: CoordinatorSettings): unknown {
  const bucketMb = wsDefaults.bucketBytes / 2 ** 20;
  const defaults: Partial<CoordinatorSettings> = { reducedFrom: 'local', coordinatorReplica: 'full', overlap: 'on', bucketMb, firstBucketMb: s.compress === 'none' ? wsDefaults.firstBucketBytes / 2 ** 20 : (s.bucketMb ?? bucketMb) };
  return defaults[key];
}

/** Why the ring's options do nothing in a star run: --allreduce star, or --reduce-chunks (which only the star reduces in order). */
function starOnly(s: CoordinatorSettings): string | null {
  if (s.reduceChunks > 0) return `--reduce-chunks ${s.reduceChunks} makes every step a star all-reduce`;
  return s.allreduce === 'star' ? 'with --allreduce star every step is a star all-reduce' : null;
}

/** The coordinator's "has no effect when" rows (docs/cli.md, "Options that have no effect"). */
const coordinatorNoEffectRules: NoEffectRule<CoordinatorSettings>[] = [
  { option: 'reducedFrom', inert: (s) => starOnly(s) && `${starOnly(s)}, whose gradients the coordinator adds itself; --reduced-from chooses where a ring's reduced gradient comes from` },
  { option: 'coordinatorReplica', inert: (s) => starOnly(s) && `${starOnly(s)}, in which the coordinator adds the gradients and keeps the whole state; on-demand applies to ring steps only` },
  { option: 'overlap', inert: (s) => (s.reduceChunks > 0 ? `--reduce-chunks ${s.reduceChunks} sends whole chunk gradients once each is computed, with no buckets to overlap` : null) },
  { option: 'bucketMb', inert: (s) => (s.reduceChunks > 0 ? `--reduce-chunks ${s.reduceChunks} sends whole chunk gradients, not buckets` : null) },
  { option: 'firstBucketMb', inert: (s) => (s.reduceChunks > 0 ? `--reduce-chunks ${s.reduceChunks} sends whole chunk gradients, not buckets` : null) },
];

/** The coordinator's listener could not open: a ConfigError naming --listen and the fix (exit 2); any other error as it is. */
function listenProblem(error: unknown, host: string, port: number, dashboardUrl: string | undefined): unknown {
  if (!(error instanceof DptrainError && error.code === 'dptrain.transport.listenFailed' && error.cause instanceof Error)) return error;
  const cause = error.cause as NodeJS.ErrnoException;
  const taken = cause.code === 'EADDRINUSE' && dashboardUrl !== undefined && new URL(dashboardUrl).port === String(port);
  const inUse = taken ? 'the dashboard holds it (--dashboard names the same port): give the two different ports' : 'choose another with --listen HOST:PORT, or stop what holds it';
  return new ConfigError('listen', `--listen ${host}:${port}: cannot listen: ${cannotListenBecause(cause, inUse)}`, { cause: error });
}

/**
 * `step 120, star, step 14.2 ms, 2 workers: w1 (host-a, 2 threads, 43 rows, compute 12.3 ms, answers in 13.0 ms = 92% of the step) | w2 (...); slowest: w1 (92%)`.
 * A worker's share is its mean time from `step` to its result over recent steps, as a share of
 * the gradient phase: the slowest worker's share is what the others spend waiting for it.
 */
export function describeStatus(status: CoordinatorStatus): string {
  const workers = status.workers
    .map((w) => {
      // The last step's compute, then the recent steps' means (as stepMs): one slow step shows in the first only.
      const pace = w.responseMs === null || w.responseMs === undefined ? '' : `, answers in ${w.responseMs.toFixed(1)} ms = ${Math.round(100 * (w.share ?? 0))}% of the step on average`;
      return `${w.name} (${w.host}, ${plural(w.threads, 'thread')}, ${plural(w.lastRows, 'row')}, last compute ${w.lastComputeMs === null ? '-' : `${w.lastComputeMs.toFixed(1)} ms`}${pace})`;
    })
    .join(' | ');
  const stepMs = status.stepMs === null || status.stepMs === undefined ? '' : `, step ${status.stepMs.toFixed(1)} ms on average`;
  const slowest = status.workers.find((w) => w.name === status.slowest);
  const slow = slowest ? `; slowest: ${slowest.name} (${Math.round(100 * (slowest.share ?? 0))}% of step time)` : '';
  const waiting = status.waiting.length > 0 ? `; waiting to join: ${status.waiting.join(', ')}` : '';
  return `step ${status.step}, ${status.allreduce ?? '-'}${stepMs}, ${plural(status.workers.length, 'worker')}: ${workers}${slow}${waiting}`;
}
