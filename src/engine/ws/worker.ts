/**
 * The ws engine, worker side (`dptrain worker`): join a coordinator, rebuild the run's training
 * split and prove it by hash, and serve steps with a LOCAL engine over this host's threads.
 *
 *   join     handshake (token, protocol), `setup`, the dataset (loaded by spec, or shipped),
 *            a local engine (the threads engine with T threads, even for T = 1), `ready`;
 *   state    the current parameters, optimizer state and version (sent at a step boundary);
 *   step     the local engine computes the shard's gradient sum (its threads' shared-memory
 *            reduce is the intra-host level of the hierarchy, as in Horovod); then star: send it
 *            to the coordinator; ring: all-reduce it with the other workers, send our finished
 *            segment to the coordinator;
 *   update   the reduced gradient goes into the local engine's `gradient` and the local engine
 *            applies the update, the same on every replica; `hash` asks for the parameters' sha256.
 * A newer attempt of a step cancels the current one (a worker was dropped; the step is re-run).
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, DataError, DptrainError, EngineError } from '../../errors.js';
import { plural } from '../../util/index.js';
import { cannotListenBecause } from '../../util/listen-error.js';
import { loadKernels, type KernelsName } from '../../kernels/index.js';
import { batchNormModeOf, bufferLayout, buildStack, parseModelSpec } from '../../model/index.js';
import { sumOfSquares } from '../../optim/index.js';
import { WorkerBatchNorm } from './batchnorm-step.js';
import type { Range } from '../../collective/index.js';
import { connect, isRetryable, decodeHalf, halfBytes, HalfScratch, halfOf, resolveLimits, TransportError, type Connection, type LimitOverrides, type TransportLogger } from '../../transport/index.js';
import type { EngineSetup, GradientResult } from '../engine.js';
import { ThreadsEngine, type FaultInjection } from '../threads.js';
import { ErrorFeedback } from './compression.js';
import { BucketQueue, bucketSegments, StepTimeline } from './step-buckets.js';
import { RingDemux } from './ring-demux.js';
import { coordinatorMessages, ENGINE_REVISION, type CoordinatorMessage, type MessageOf, type SetupMessage, type ShardSums, type StepMessage } from './messages.js';
import { wsDefaults } from './options.js';
import { EngineCloseCode } from './worker-link.js';
import { parameterDigest } from './param-hash.js';
import { abortable, PeerLinks, Superseded } from './peer-links.js';
import { ringAllReduce, RingLinkError } from './ring.js';
import { RingNorm } from './ring-norm.js';
import { dataChunkFloats, prepareTrainSplit, ShippedData } from './run-setup.js';

export interface WorkerOptions {
  /** `ws://host:port/` of the coordinator. */
  url: string;
  /** Unique within the run; shown in the coordinator's logs. */
  name: string;
  /** Threads of the local engine. */
  threads: number;
  token?: Uint8Array;
  /** Joins after being dropped by the coordinator (default wsDefaults.rejoins). */
  rejoins?: number;
  /**
   * After the coordinator connection is lost without the run having ended, how long to keep
   * reconnecting before giving up, ms (default wsDefaults.reconnectTimeoutMs).
   */
  reconnectTimeoutMs?: number;
  /**
   * Address the ring listener binds. Default: this worker's address on its coordinator connection,
   * which is where the coordinator tells the ring predecessor to connect (so IPv4 or IPv6, loopback
   * or LAN, as the coordinator sees it).
   */
  ringHost?: string;
  /** The ring listener's port (default 0: chosen by the OS). */
  ringPort?: number;
  limits?: LimitOverrides;
  log: TransportLogger;
  /** Told where the worker is (connecting, joining, serving, reconnecting), e.g. so that Ctrl-C can say what it leaves. */
  onPhase?: (phase: WorkerPhase) => void;
  /**
   * Fault injection for tests (docs/reliability.md), like the threads engine's
   * `faults`: each entry fires once, in whichever session reaches its version.
   */
  faults?: WorkerFault[];
}

/**
 * `perturb`: adds `perturb` to this replica's first parameter right after it applies update
 * `afterVersion` (fires once). `dropAtStep`: cuts the coordinator connection without a word
 * whenever it is sent step `dropAtStep` (every attempt: a worker that crashes on one batch and is
 * restarted; it reconnects as after any lost connection). `threadFailsAtStep`: thread `thread` of
 * this worker's pool throws halfway through its rows of that step (once).
 */
export type WorkerFault = { afterVersion: number; perturb: number } | { dropAtStep: number } | { threadFailsAtStep: number; thread: number };

/** The pool's fault injections among a worker's faults. */
function threadFaults(faults: readonly WorkerFault[]): FaultInjection[] {
  return faults.flatMap((f) => ('threadFailsAtStep' in f ? [{ step: f.threadFailsAtStep, worker: f.thread, kind: 'throw' as const }] : []));
}

/**
 * `connecting`: no coordinator reached yet; `joining`: connected, loading the data and threads;
 * `serving`: in the run (`ready` sent: a member from the next step boundary); `reconnecting`:
 * lost or dropped, joining again.
 */
export type WorkerPhase = 'connecting' | 'joining' | 'serving' | 'reconnecting';

export interface WorkerOutcome {
  /** Why the coordinator ended the session (`done.reason`). */
  reason: string;
  steps: number;
}

const FRAME_SLACK = 64 * 1024;

/**
 * Joins and serves until the coordinator says `done`. A session that ends otherwise is joined
 * again from scratch, as a new worker (the coordinator sends it the current state at the next
 * step boundary):
 *   - dropped by the coordinator (a missed deadline, a diverged replica): up to `rejoins` times;
 *   - the connection lost without `done` (the coordinator was killed, or the network broke):
 *     reconnect with exponential backoff and jitter (the transport's reconnect policy) for up to
 *     `reconnectTimeoutMs` from the loss, then give up (`dptrain.engine.coordinatorLost`). A
 *     coordinator restarted on the same address (e.g. with --resume) takes the worker back.
 * Refusals (another dataset, a protocol violation, token or version) are final. Throws when the
 * worker gives up. Aborting `signal` (Ctrl-C) leaves the run: the outcome's reason is `interrupted`.
 */
export async function runWorker(options: WorkerOptions, signal?: AbortSignal): Promise<WorkerOutcome> {
  const served = { steps: 0 };
  try {
    return await serve(options, served, signal);
  } catch (error) {
    if (signal?.aborted) return { reason: 'interrupted', steps: served.steps };
    throw error;
  }
}

/** runWorker's loop; `total.steps` counts the steps served so far, across sessions. */
async function serve(options: WorkerOptions, total: { steps: number }, signal?: AbortSignal): Promise<WorkerOutcome> {
  options = { ...options, faults: [...(options.faults ?? [])] }; // consumed as they fire, across sessions
  const rejoins = options.rejoins ?? wsDefaults.rejoins;
  const reconnectTimeoutMs = options.reconnectTimeoutMs ?? wsDefaults.reconnectTimeoutMs;
  let dropped = 0;
  // A worker may start before its coordinator: the first connection waits as long as a lost one.
  let dims = newDims();
  options.onPhase?.('connecting');
  let connection = await connectWithin(options, dims, signal, reconnectTimeoutMs, 'first');
  for (;;) {
    options.onPhase?.('joining');
    const served = { steps: 0 };
    try {
      const outcome = await runSession(connection, options, served, signal);
      total.steps += outcome.steps;
      return { ...outcome, steps: total.steps };
    } catch (cause) {
      total.steps += served.steps;
      if (signal?.aborted) throw cause;
      const why = (cause as Error)?.message ?? String(cause);
      if (isDrop(cause)) {
        if (dropped >= rejoins) throw cause;
        dropped += 1;
        options.log.warn({ attempt: dropped, rejoins }, `${why}; joining again (${dropped} of ${rejoins})`);
      } else if (isLoss(cause)) {
        options.log.warn(
          { url: options.url, reconnectTimeoutMs, reason: why },
          `lost the coordinator at ${options.url} (${why}); reconnecting for up to ${formatSeconds(reconnectTimeoutMs)} (--reconnect-timeout)`,
        );
      } else {
        throw cause;
      }
      dims = newDims();
      options.onPhase?.('reconnecting');
      connection = await connectWithin(options, dims, signal, reconnectTimeoutMs, 'again');
    }
  }
}

/** Options for one connection's handshake; `dims.params` is filled in from the coordinator's welcome. */
function newDims(): Record<string, number> {
  return { dataChunk: dataChunkFloats(wsDefaults.dataChunkBytes) };
}

/**
 * Connects (`first`) or connects again within `timeoutMs`: one transport attempt at a time, with
 * the transport's backoff (delay = min(maxDelayMs, initialDelayMs · factor^(attempt−1)) · U(0.5, 1)),
 * each wait logged, until the deadline. Refusals are final at once.
 */
async function connectWithin(
  options: WorkerOptions,
  dims: Record<string, number>,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  phase: 'first' | 'again',
): Promise<Connection<CoordinatorMessage>> {
  const policy = resolveLimits(options.limits).reconnect;
  const once = { ...options.limits, reconnect: { ...options.limits?.reconnect, attempts: 1 } };
  const started = Date.now();
  const deadline = started + timeoutMs;
  let last = '';
  for (let attempt = 1; ; attempt++) {
    try {
      const connection = await openConnection(options, dims, signal, once);
      if (phase === 'first' && attempt === 1) return connection;
      options.log.info(
        { url: options.url, attempt, afterMs: Date.now() - started },
        phase === 'first'
          ? `connected to the coordinator at ${options.url} after ${formatSeconds(Date.now() - started)} (attempt ${attempt})`
          : `reconnected to the coordinator at ${options.url} after ${formatSeconds(Date.now() - started)} (attempt ${attempt}); joining as a new worker`,
      );
      return connection;
    } catch (error) {
      // A name taken or locked out passes after a lost connection (the coordinator has yet to see the
      // old one die); at start it is another worker's name, or the user's own wrong tokens: final.
      if (signal?.aborted || !(error instanceof TransportError) || !(isRetryable(error) || (phase === 'again' && isPassingRefusal(error)))) throw error;
      last = (error.cause as Error | undefined)?.message ?? error.message;
      const left = deadline - Date.now();
      if (left <= 0) throw noCoordinator(phase, options.url, timeoutMs, `${plural(attempt, 'attempt')}, last: ${last}`, error);
      const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
      // Jitter, so that the workers of a crashed coordinator do not all knock at once.
      const delayMs = Math.min(left, Math.round(ceiling * (0.5 + Math.random() / 2)));
      options.log.info(
        { url: options.url, attempt, delayMs, leftMs: left },
        `the coordinator at ${options.url} does not answer (${last}); attempt ${attempt + 1} in ${delayMs} ms (${formatSeconds(left)} left)`,
      );
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        throw error; // aborted (Ctrl-C)
      }
    }
  }
}


/** The ring listener could not be bound (--ring-host, --ring-port): the user's to fix, ConfigError `listen` (exit 2). */
function ringListenError(error: unknown, host: string, port: number): unknown {
  if (!(error instanceof TransportError && error.problem === 'listenFailed' && error.cause instanceof Error)) return error;
  const why = cannotListenBecause(error.cause, 'choose another --ring-port, or leave it out for one the OS picks');
  return new ConfigError('listen', `the ring listener (--ring-host, --ring-port): cannot listen on ${host}:${port}: ${why}`, { cause: error });
}

/** No coordinator answered within --reconnect-timeout: at start (`first`) or after losing it (`again`). */
function noCoordinator(phase: 'first' | 'again', url: string, timeoutMs: number, tries: string, cause: unknown): EngineError {
  const within = `within ${formatSeconds(timeoutMs)} (--reconnect-timeout; ${tries})`;
  return phase === 'first'
    ? new EngineError('coordinatorLost', `no coordinator answered at ${url} ${within} — start \`dptrain coordinator\` there first, or check --connect`, { cause })
    : new EngineError(
        'coordinatorLost',
        `gave up reconnecting to the coordinator at ${url}: none answered ${within} — restart the coordinator on that address (with --resume DIR to continue the run) and start this worker again`,
        { cause },
      );
}

/**
 * Our name is still taken: a live coordinator has not yet noticed that our old connection died
 * (a network break seen first on our side). It will within its heartbeat timeout, so retry. Or our
 * name is locked out after attempts that timed out during the break: that ends within a minute.
 */
function isPassingRefusal(error: TransportError): boolean {
  return error.problem === 'nameTaken' || error.problem === 'lockedOut';
}

/** `12 s`, `1.5 s`, `2 min`. */
function formatSeconds(ms: number): string {
  const s = ms / 1000;
  if (s >= 120 && Number.isInteger(s / 60)) return `${s / 60} min`;
  return `${s >= 10 ? Math.round(s) : Number(s.toFixed(1))} s`;
}

/** The coordinator dropped this worker (late, or its replica diverged): worth a new join, within --rejoins. */
function isDrop(error: unknown): boolean {
  return error instanceof EngineError && error.code === 'dptrain.engine.evicted';
}

/** The connection ended without `done` and without a refusal: the coordinator or the network is gone. */
function isLoss(error: unknown): boolean {
  if (error instanceof EngineError) return error.code === 'dptrain.engine.sessionEnded';
  return error instanceof TransportError && (error.problem === 'closed' || error.problem === 'timeout') && !isEngineCloseCode(error.closeCode);
}

/** 4100-4999: a close code of the ws engine (docs/protocol.md §6.4), not of the transport. */
function isEngineCloseCode(code: number | undefined): code is number {
  return code !== undefined && code >= 4100 && code <= 4999;
}

/**
 * The handshake with the coordinator; its welcome must state our engine revision and the parameter
 * count. A token mismatch is told from our side: the coordinator refused our token.
 */
async function openConnection(options: WorkerOptions, dims: Record<string, number>, signal: AbortSignal | undefined, limits: LimitOverrides | undefined): Promise<Connection<CoordinatorMessage>> {
  try {
    return await connectOnce(options, dims, signal, limits);
  } catch (error) {
    if (error instanceof TransportError && error.problem === 'authFailed' && error.reason === 'tokenRefused') {
      // Without a token of ours it has one; with one, its reason says whether it has none or another.
      const why = options.token === undefined
        ? 'it requires a token and this worker has none — pass --token-file with a copy of the coordinator\'s token file'
        : error.closeReason || 'the token files differ — check --token-file matches the coordinator\'s';
      throw new TransportError('authFailed', `the coordinator at ${options.url} refused our token: ${why}`, { reason: 'tokenRefused', cause: error });
    }
    throw error;
  }
}

function connectOnce(options: WorkerOptions, dims: Record<string, number>, signal: AbortSignal | undefined, limits: LimitOverrides | undefined): Promise<Connection<CoordinatorMessage>> {
  return connect<CoordinatorMessage>(options.url, {
    name: options.name,
    role: 'worker',
    token: options.token,
    messages: coordinatorMessages,
    dims,
    meta: { threads: options.threads, host: os.hostname(), engine: ENGINE_REVISION },
    limits,
    log: options.log,
    signal,
    admit: (server: { meta: Record<string, unknown> }) => {
      if (server.meta.engine !== ENGINE_REVISION) {
        const theirs = server.meta.engine === undefined ? 1 : JSON.stringify(server.meta.engine);
        return `it speaks revision ${theirs} of the ws engine's messages, this worker revision ${ENGINE_REVISION}; run the same dptrain version on every host`;
      }
      const P = server.meta.numParams;
      if (typeof P !== 'number' || !Number.isInteger(P) || P < 1) return `its welcome does not state the parameter count (got ${JSON.stringify(P)})`;
      dims.params = P;
      return undefined;
    },
  });
}

/** Runs one session; `served.steps` holds the steps it served, whether it ends or throws. */
async function runSession(connection: Connection<CoordinatorMessage>, options: WorkerOptions, served: { steps: number }, signal?: AbortSignal): Promise<WorkerOutcome> {
  const session = new WorkerSession(connection, options);
  const onAbort = () => void session.leave('stopped by the user');
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  try {
    return await session.run();
  } finally {
    served.steps = session.steps;
    signal?.removeEventListener('abort', onAbort);
    await session.close();
  }
}

interface Current {
  step: number;
  attempt: number;
  controller: AbortController;
  done: Promise<void>;
}

class WorkerSession {
  readonly #connection: Connection<CoordinatorMessage>;
  readonly #options: WorkerOptions;
  readonly #log: TransportLogger;
  #engine: ThreadsEngine | null = null;
  /** --compress-feedback: this worker's rounding residual. */
  #feedback: ErrorFeedback | null = null;
  #peers: PeerLinks | null = null;
  #setup: SetupMessage | null = null;
  #version = -1;
  #current: Current | null = null;
  #steps = 0;
  #fatal: Error | null = null;
  /** A model with BatchNorm computes its steps here, exchanging statistics through the coordinator. */
  #bn: WorkerBatchNorm | null = null;
  /** Why this worker cannot join, in the words the coordinator logs (`leave`). */
  #cannotJoin: string | null = null;
  /** --compress: the 16-bit output of `part`s, reused (send copies it at once). */
  readonly #halfScratch = new HalfScratch();

  get steps(): number {
    return this.#steps;
  }

  constructor(connection: Connection<CoordinatorMessage>, options: WorkerOptions) {
    this.#connection = connection;
    this.#options = options;
    this.#log = options.log;
  }

  async run(): Promise<WorkerOutcome> {
    try {
      await this.#join();
      for await (const m of this.#connection) {
        if (this.#fatal) break;
        switch (m.type) {
          case 'state':
            await this.#finishCurrent();
            await this.#engine!.synchronize();
            this.#engine!.params.set(m.params);
            this.#version = m.version;
            this.#log.info({ version: m.version }, `received the parameters of version ${m.version}; serving steps`);
            break;
          case 'optimizerState': {
            await this.#engine!.synchronize();
            const target = this.#engine!.optimizerState[m.name];
            if (!target) return this.#violation(`optimizer state "${m.name}" does not exist for ${this.#setup!.optimizer.name}`);
            target.set(m.values);
            break;
          }
          case 'step':
            if (this.#options.faults?.some((f) => 'dropAtStep' in f && f.dropAtStep === m.step)) {
              this.#log.warn({ step: m.step, attempt: m.attempt }, `fault injection: cutting the connection at step ${m.step} (attempt ${m.attempt})`);
              this.#connection.terminate();
              break;
            }
            if (this.#current) {
              this.#current.controller.abort();
              await this.#current.done;
            }
            if (m.version !== this.#version) return this.#violation(`step ${m.step} needs parameters of version ${m.version}, this worker holds ${this.#version}`);
            this.#current = this.#startStep(m);
            break;
          case 'update':
            await this.#finishCurrent();
            await this.#applyUpdate(m);
            break;
          case 'skip':
            // A non-finite step: keep this version's parameters and optimizer state, as every replica does.
            await this.#finishCurrent();
            if (m.version !== this.#version) return this.#violation(`skip of step ${m.step} at version ${m.version}, this worker holds ${this.#version}`);
            await this.#engine!.skipUpdate();
            this.#log.info({ step: m.step, version: m.version }, `step ${m.step} skipped (non-finite loss or gradient); parameters stay at version ${m.version}`);
            break;
          case 'probe':
            await this.#connection.send({ type: 'probeReply', step: m.step, attempt: m.attempt });
            break;
          case 'fetchState':
            await this.#sendState(m.version);
            break;
          case 'bnTotal':
            this.#bn?.onTotal(m);
            break;
          case 'done':
            // No count here: this session's steps are not the run's after a rejoin; the caller says the total.
            await this.#finishCurrent();
            this.#log.info({ reason: m.reason }, `the coordinator ended the run (${m.reason})`);
            return { reason: m.reason, steps: this.#steps };
          default:
            return this.#violation(`the coordinator sent "${m.type}", which only workers send`);
        }
      }
      if (this.#fatal) throw this.#fatal;
      throw new EngineError('sessionEnded', `the coordinator closed the connection without ending the run`, { recoverable: true });
    } catch (error) {
      if (this.#fatal) throw this.#fatal;
      if (error instanceof TransportError && error.problem === 'closed' && isEngineCloseCode(error.closeCode)) {
        const why = error.closeReason ?? '';
        if (error.closeCode === EngineCloseCode.refused) throw new EngineError('joinRefused', `the coordinator refused this worker: ${why}`, { cause: error });
        if (error.closeCode === EngineCloseCode.protocol) throw new EngineError('protocolViolation', `the coordinator closed the session: ${why}`, { cause: error });
        throw new EngineError('evicted', `the coordinator dropped this worker: ${why}`, { cause: error, recoverable: true });
      }
      throw error;
    }
  }

  /** Sends `leave` and closes (Ctrl-C): the coordinator re-runs the current step without us. */
  async leave(reason: string): Promise<void> {
    this.#current?.controller.abort();
    try {
      await this.#connection.send({ type: 'leave', reason });
      await this.#connection.flush();
    } catch {
      // closing anyway
    }
    await this.#connection.close(1000, reason);
  }

  async close(): Promise<void> {
    this.#current?.controller.abort();
    await this.#current?.done.catch(() => {});
    if (this.#connection.isOpen) await this.#connection.close(1000, 'worker exiting');
    await this.#peers?.close();
    await this.#engine?.close();
    this.#bn?.close();
  }

  #violation(why: string): never {
    void this.#connection.close(4104, `protocol violation: ${why}`.slice(0, 120));
    throw new EngineError('protocolViolation', `protocol violation: ${why}`);
  }

  /** --coordinator-replica on-demand: the coordinator asks for this replica's state between steps. */
  async #sendState(version: number): Promise<void> {
    await this.#finishCurrent();
    const engine = this.#engine!;
    await engine.synchronize();
    if (version !== this.#version) return this.#violation(`the coordinator asked for the state of version ${version}, this worker holds ${this.#version}`);
    await this.#connection.send({ type: 'state', version, params: engine.params });
    for (const [name, values] of Object.entries(engine.optimizerState)) await this.#connection.send({ type: 'optimizerState', name, values });
  }

  async #finishCurrent(): Promise<void> {
    const current = this.#current;
    this.#current = null;
    await current?.done;
  }

  async #join(): Promise<void> {
    const first = await this.#connection.receive();
    if (first.type !== 'setup') this.#violation(`expected "setup" first, got "${first.type}"`);
    const setup = first as SetupMessage;
    this.#setup = setup;
    this.#log.info(
      { model: setup.model, numParams: setup.numParams, dataset: setup.dataset, shipped: Boolean(setup.shipped) },
      `joining the run: ${setup.model} (${setup.numParams.toLocaleString('en-US')} parameters) on ${setup.shipped ? 'the dataset shipped by the coordinator' : setup.dataset}; ${plural(this.#options.threads, 'thread')}`,
    );
    try {
      await this.#prepare(setup);
    } catch (error) {
      // Tell the coordinator why, so that its log says more than a closed connection.
      if (!(error instanceof EngineError && error.code === 'dptrain.engine.protocolViolation')) {
        const reason = this.#cannotJoin ?? (error as Error)?.message ?? String(error);
        await this.#connection.send({ type: 'leave', reason: reason.slice(0, 1000) }).catch(() => {});
        await this.#connection.flush().catch(() => {});
      }
      throw error;
    }
  }

  /**
   * The data, the kernels, the local engine and the ring listener, then `ready`. What the
   * coordinator would refuse (another dataset, split or kernel set) ends the join here, before
   * the threads and the ring listener start, with the whole reason and its fix.
   */
  async #prepare(setup: SetupMessage): Promise<void> {
    let shipped: ShippedData | null = null;
    if (setup.shipped) {
      shipped = new ShippedData(setup.shipped, 2 ** 29);
      while (!shipped.complete) {
        const m = await this.#connection.receive();
        if (m.type !== 'dataChunk') this.#violation(`expected "dataChunk", got "${m.type}"`);
        const piece = m as MessageOf<'dataChunk'>;
        shipped.add(piece.array, piece.offset, piece.values);
      }
    }
    const data = await prepareTrainSplit(setup, shipped?.dataset() ?? null).catch((error: unknown) => {
      throw setup.shipped ? error : withShipDataHint(error);
    });
    if (data.loadedHash !== setup.datasetHash) {
      throw this.#refusal(`dataset ${setup.dataset} hashes to ${data.loadedHash} on this worker but to ${setup.datasetHash} on the coordinator`, 'give both hosts the same file, or start the coordinator with --ship-data');
    }
    if (data.trainHash !== setup.trainHash) {
      throw this.#refusal(`the training split of ${setup.dataset} hashes to ${data.trainHash} on this worker but to ${setup.trainHash} on the coordinator (same data, another preparation)`, 'run the same dptrain version on both hosts');
    }

    const kernels: KernelsName = setup.kernels;
    try {
      await loadKernels(kernels);
    } catch (error) {
      // Name the best set that does load: what to pass to the coordinator.
      const best = kernels === 'blas' ? ((await loadKernels('auto', { preferBlas: false }).catch(() => ({ name: 'js' }))).name as KernelsName) : 'js';
      throw this.#refusal(`the run uses the ${kernels} kernels, which do not load on this worker's host (${(error as Error).message})`, `pass --kernels ${best} to the coordinator`);
    }
    const engineSetup: EngineSetup = {
      model: parseModelSpec(setup.model),
      train: data.train,
      params: new Float32Array(setup.numParams),
      optimizer: setup.optimizer,
      seed: setup.seed,
      validation: null,
      microBatch: setup.microBatch > 0 ? setup.microBatch : undefined,
      kernels,
    };
    // Fixed chunks are computed one at a time (each exactly as the inline engine does), so one thread.
    // The threads engine even for one thread: the compute then never blocks this thread, which must
    // answer heartbeats and probes (a step longer than the heartbeat timeout would look like a hang).
    const threads = setup.chunks > 0 ? 1 : this.#options.threads;
    const why = checkBuckets(setup.buckets, setup.numParams);
    if (why) this.#violation(`setup: ${why}`);
    this.#engine = await ThreadsEngine.create(engineSetup, {
      workers: threads,
      ...(setup.chunks === 0 && { buckets: setup.buckets }),
      // With overlap the ring may already have reduced a bucket in place when a thread fails, so
      // the pool must not re-run the step over it: the step fails here and the coordinator
      // recomputes it without this worker (docs/architecture.md, "Buckets and overlap").
      ...(setup.chunks === 0 && setup.overlap && { maxAttempts: 1 }),
      ...(this.#options.faults && { faults: threadFaults(this.#options.faults) }),
      onWarning: (message, fields) => this.#log.warn(fields, message),
    });
    this.#feedback = setup.compress !== 'none' && setup.compressFeedback && setup.chunks === 0 ? new ErrorFeedback(setup.compress, setup.numParams) : null;
    if (setup.chunks > 0 && this.#options.threads > 1) {
      this.#log.info({ chunks: setup.chunks }, `--reduce-chunks: this worker computes its chunks one at a time in one thread (bit-identical results at the cost of its other threads)`);
    }

    const spec = parseModelSpec(setup.model);
    if (bufferLayout(buildStack(spec)).size > 0) {
      const mode = batchNormModeOf(setup.batchnorm ?? 'sync');
      if (mode === null) this.#violation(`setup has batchnorm ${JSON.stringify(setup.batchnorm)}`);
      this.#bn = new WorkerBatchNorm(spec, await loadKernels(kernels), mode, data.train, setup.seed, engineSetup.microBatch);
    }

    let ringPort: number | undefined;
    if (setup.ring) {
      const host = this.#options.ringHost ?? this.#connection.localIp ?? (isLoopbackUrl(this.#options.url) ? '127.0.0.1' : '0.0.0.0');
      this.#peers = await PeerLinks.open({
        name: this.#options.name,
        host,
        port: this.#options.ringPort,
        token: this.#options.token,
        dims: { params: setup.numParams },
        limits: { ...this.#options.limits, maxPayload: Math.max(1 << 20, 4 * setup.ringChunkFloats + FRAME_SLACK) },
        log: this.#log,
      }).catch((error: unknown) => {
        throw ringListenError(error, host, this.#options.ringPort ?? 0);
      });
      ringPort = this.#peers.port;
    }
    await this.#connection.send({
      type: 'ready',
      datasetHash: data.loadedHash,
      trainHash: data.trainHash,
      numParams: this.#engine.params.length,
      kernels,
      ...(ringPort !== undefined && { ringPort }),
    });
    this.#options.onPhase?.('serving');
    this.#log.info({ ringPort }, `ready (${this.#engine.kind} engine, ${this.#engine.kernels} kernels${ringPort ? `, ring port ${ringPort}` : ''}); waiting for the next step boundary`);
  }

  /** This worker cannot join: what the coordinator would refuse, found here first (joinRefused, as its refusal). */
  #refusal(why: string, fix: string): EngineError {
    this.#cannotJoin = `${why} — ${fix}`;
    return new EngineError('joinRefused', `this worker cannot join the run at ${this.#options.url}: ${why} — ${fix}`);
  }

  #startStep(m: StepMessage): Current {
    const controller = new AbortController();
    const done = this.#runStep(m, controller.signal).catch((error: unknown) => {
      if (error instanceof Superseded || controller.signal.aborted) return;
      // A local failure we cannot recover from: tell the coordinator by leaving.
      this.#fatal = error instanceof Error ? error : new Error(String(error));
      this.#log.warn({ step: m.step }, `step ${m.step} failed here: ${this.#fatal.message}`);
      void this.#connection.close(1011, `step ${m.step} failed: ${this.#fatal.message}`.slice(0, 120));
    });
    return { step: m.step, attempt: m.attempt, controller, done };
  }

  async #runStep(m: StepMessage, signal: AbortSignal): Promise<void> {
    const engine = this.#engine!;
    const started = performance.now();
    if (this.#bn) return this.#runBatchNormStep(m, signal);
    if (m.chunks) {
      // Fixed chunks: one gradient per chunk, computed exactly as the inline engine computes it.
      for (let i = 0; i < m.chunks.rows.length; i++) {
        const rows = m.chunks.rows[i];
        const chunkStarted = performance.now();
        const r = await engine.computeGradients({ epoch: m.epoch, step: m.step, start: rows.start, end: rows.end });
        if (signal.aborted) return;
        await this.#connection.send({ type: 'chunkGrad', step: m.step, attempt: m.attempt, chunk: m.chunks.first + i, ...sums(r, performance.now() - chunkStarted), gradient: engine.gradient });
      }
      this.#steps++;
      return;
    }
    const plan = { epoch: m.epoch, step: m.step, start: m.start, end: m.end };
    // With overlap the pool hands over each bucket as soon as it is reduced; else all at the end.
    const overlap = this.#setup!.overlap;
    let reduced: Float32Array | null = null;
    const timeline = new StepTimeline(this.#setup!.buckets.length);
    const queue = new BucketQueue();
    const computing = engine.computeGradients(plan, overlap ? (b, buffer) => {
      reduced = buffer;
      timeline.ready(b, engine.bucketReadyAt(b));
      queue.readyUpTo(b + 1);
    } : undefined);
    const result = computing.then((r) => {
      reduced ??= engine.gradient;
      return r;
    });
    // Backward's end is when the last bucket was reduced, not when this thread hears the step is done.
    await this.#deliverBuckets(m, signal, result, () => reduced!, timeline, queue, (b) => engine.bucketReadyAt(b));
  }

  /** A step of a BatchNorm model (batchnorm-step.ts): computed here, then delivered as any other. */
  async #runBatchNormStep(m: StepMessage, signal: AbortSignal): Promise<void> {
    const engine = this.#engine!;
    await engine.synchronize();
    const started = performance.now();
    const P = engine.params.length;
    const grads = m.chunks ? m.chunks.rows.map(() => new Float32Array(P)) : [engine.gradient];
    const send = (index: number, values: number[]) => this.#connection.send({ type: 'bnPartial', step: m.step, attempt: m.attempt, index, values }).then(() => undefined);
    const computing = this.#bn!.compute(m, engine.params, grads, send, signal);
    if (m.chunks) {
      let results;
      try {
        results = await computing;
      } catch (error) {
        if (error instanceof Superseded || signal.aborted) return;
        throw error;
      }
      if (signal.aborted) return;
      const computeMs = performance.now() - started;
      for (let i = 0; i < results.length; i++) {
        const gradSumSq = sumOfSquares(grads[i]);
        await this.#connection.send({ type: 'chunkGrad', step: m.step, attempt: m.attempt, chunk: m.chunks.first + i, ...sums({ ...results[i], gradSumSq }, computeMs / results.length), gradient: grads[i] });
      }
      this.#steps++;
      return;
    }
    // The BatchNorm exchanges sit inside forward and backward, so the buckets go after the whole backward.
    const result = computing.then((results) => ({ ...results[0], gradSumSq: sumOfSquares(engine.gradient) }));
    await this.#deliverBuckets(m, signal, result, () => engine.gradient, new StepTimeline(this.#setup!.buckets.length), new BucketQueue(), () => Number.NaN);
  }

  /**
   * Delivers the shard's gradient bucket by bucket, to the coordinator (star) or through the ring,
   * as the queue releases buckets (at once when `result` settles, if nothing released them before),
   * then the shard's sums. `readyAt(b)`: when bucket b was final (a sharedClock() reading, NaN = now).
   */
  async #deliverBuckets(
    m: StepMessage,
    signal: AbortSignal,
    result: Promise<GradientSums>,
    reduced: () => Float32Array,
    timeline: StepTimeline,
    queue: BucketQueue,
    readyAt: (bucket: number) => number,
  ): Promise<void> {
    if (m.algorithm === 'ring' && (!m.ring || !this.#peers)) this.#violation(`step ${m.step} asks for the ring without a ring plan or listener`);
    const buckets = this.#setup!.buckets;
    const settled = result.then(
      (r) => {
        timeline.computed(readyAt(buckets.length - 1));
        for (let b = queue.released; b < buckets.length; b++) timeline.ready(b, readyAt(b));
        queue.readyUpTo(buckets.length);
        return r;
      },
      (error: unknown) => {
        queue.fail(error);
        throw error;
      },
    );
    try {
      let reducedSumSq: number | undefined;
      if (m.algorithm === 'star') await this.#starBuckets(m, queue, reduced, timeline, signal);
      else reducedSumSq = await this.#ringBuckets(m, queue, reduced, timeline, settled, signal);
      const r = await settled;
      if (signal.aborted) return;
      const shard = { ...sums(r, timeline.toJSON().computeMs), timeline: timeline.toJSON() };
      if (m.algorithm === 'star') await this.#connection.send({ type: 'grad', step: m.step, attempt: m.attempt, ...shard });
      else {
        // A reduced norm that is not finite makes the step non-finite (the field may not carry it).
        const norm = reducedSumSq === undefined ? {} : Number.isFinite(reducedSumSq) ? { reducedSumSq } : { nonFinite: true };
        await this.#connection.send({ type: 'ringResult', step: m.step, attempt: m.attempt, ...shard, ...norm });
      }
      this.#steps++;
    } catch (error) {
      if (error instanceof Superseded || signal.aborted) return;
      throw error;
    } finally {
      // The local engine must be idle before the next step or a state message uses it.
      await settled.catch(() => {});
    }
  }

  /** Star: each bucket of the shard's gradient sum goes to the coordinator as soon as it is final. */
  async #starBuckets(m: StepMessage, queue: BucketQueue, reduced: () => Float32Array, timeline: StepTimeline, signal: AbortSignal): Promise<void> {
    const buckets = this.#setup!.buckets;
    for (let b = 0; b < buckets.length; b++) {
      await abortable(queue.take(b), signal, 'waiting for a bucket');
      timeline.started(b);
      this.#feedback?.apply(reduced(), buckets[b]);
      await this.#connection.send({ type: 'part', step: m.step, attempt: m.attempt, offset: buckets[b].start, ...this.#wire(reduced().subarray(buckets[b].start, buckets[b].end)) });
      timeline.ended(b);
    }
  }

  /**
   * Ring: each bucket is all-reduced with the other workers as soon as it is final here (buckets
   * in order, so every worker runs the same sequence of rings), and this worker's reduced segment
   * of it goes to the coordinator. With the report `norm`, returns |reduced gradient|² (ring-norm.ts).
   */
  async #ringBuckets(m: StepMessage, queue: BucketQueue, reduced: () => Float32Array, timeline: StepTimeline, result: Promise<unknown>, signal: AbortSignal): Promise<number | undefined> {
    const ring = m.ring!;
    const setup = this.#setup!;
    // Lets the coordinator tell a slow compute from a stalled ring.
    const computed = result
      .then(() => this.#connection.send({ type: 'computed', step: m.step, attempt: m.attempt, computeMs: timeline.toJSON().computeMs }))
      .catch(() => {}); // a failed compute or a closed connection is reported by the step itself
    const fail = async (peer: string, error: unknown): Promise<never> => {
      if (error instanceof Superseded || signal.aborted) throw new Superseded('this step');
      const reason = (error as Error)?.message ?? String(error);
      this.#log.warn({ step: m.step, peer }, `ring link with "${peer}" failed at step ${m.step}: ${reason}`);
      await this.#connection.send({ type: 'ringFailed', step: m.step, attempt: m.attempt, peer, reason: reason.slice(0, 1000) }).catch(() => {});
      throw new Superseded('this step'); // the coordinator re-runs the step
    };
    const [next, prev] = await Promise.all([
      this.#peers!.outgoing(ring.nextName, ring.nextUrl, signal).catch((e: unknown) => fail(ring.nextName, e)),
      this.#peers!.incoming(ring.prevName, signal).catch((e: unknown) => fail(ring.prevName, e)),
    ]);
    const segments = bucketSegments(setup.buckets, ring.size);
    const compress = setup.compress === 'none' ? null : setup.compress;
    const report = ring.report ?? 'segment';
    const engine = this.#engine!;
    const norm = report === 'norm' ? new RingNorm(setup.buckets, ring.size, (start, end) => engine.normSq(reduced(), start, end)) : null;
    const demux = new RingDemux(prev, segments.length, m.step, m.attempt);
    const failures: unknown[] = []; // of the rings started so far
    let previousScattered: Promise<unknown> = Promise.resolve();
    const settled: Promise<unknown>[] = [];
    let inOrder: Promise<void> = Promise.resolve();
    for (let b = 0; b < segments.length; b++) {
      await abortable(queue.take(b), signal, 'waiting for a bucket');
      // At most two buckets on the link: b's ring starts once b-1's reduce-scatter is done (its
      // all-gather may still travel: ring-demux.ts) and b-2's ring is over.
      await Promise.all([previousScattered, settled[b - 2]]);
      if (failures.length > 0) throw failures[0];
      timeline.started(b);
      this.#feedback?.apply(reduced(), setup.buckets[b]);
      let finished: Range | null = null;
      let scattered!: () => void;
      const reduceScattered = new Promise<void>((resolve) => (scattered = resolve));
      const done = ringAllReduce(reduced(), {
        step: m.step,
        attempt: m.attempt,
        bucket: b,
        rank: ring.rank,
        size: ring.size,
        segments: segments[b],
        chunkFloats: setup.ringChunkFloats,
        next,
        prev: demux.forBucket(b),
        signal,
        compress,
        onReduced: (segment) => {
          finished = segment;
          scattered();
        },
      }).catch(async (error: unknown) => {
        if (error instanceof RingLinkError) await fail(ring.prevName, error);
        if (error instanceof Superseded) throw error;
        return fail(ring.nextName, error); // a failed send: the link to the successor
      });
      done.then(() => timeline.ended(b), (error: unknown) => failures.push(error));
      settled[b] = done.catch(() => {});
      previousScattered = Promise.race([reduceScattered, settled[b]]);
      // In bucket order, once its all-gather is complete: a result sent after the reduce-scatter
      // would let the coordinator apply the update while a successor's all-gather is incomplete.
      inOrder = inOrder.then(async () => {
        await done;
        const seg = finished as Range | null;
        if (!seg || signal.aborted) throw new Superseded('this step');
        // The coordinator takes the reduced bucket from this worker's segment, from all of it (this
        // worker shares its host), from another worker (--reduced-from), or only its norm (on demand).
        if (norm) norm.add(setup.buckets[b].start, setup.buckets[b].end);
        if (report === 'none' || report === 'norm') return;
        const sent = report === 'bucket' ? setup.buckets[b] : seg;
        await this.#connection.send({ type: 'part', step: m.step, attempt: m.attempt, offset: sent.start, ...this.#wire(reduced().subarray(sent.start, sent.end)) });
      });
      inOrder.catch(() => {}); // awaited below; a failure meanwhile is not unhandled
    }
    await inOrder;
    await computed;
    return norm?.total();
  }

  /** Values as they travel: float32, or 16-bit floats with --compress. */
  #wire(values: Float32Array): { values: Float32Array } | { packed: Uint8Array } {
    const kind = this.#setup!.compress;
    return kind === 'none' ? { values } : { packed: halfBytes(this.#halfScratch.encode(kind, values)) };
  }

  async #applyUpdate(m: MessageOf<'update'>): Promise<void> {
    const engine = this.#engine!;
    // A pending update still reads the gradient: complete it before the gradient is replaced.
    await engine.synchronize();
    if (m.gradient) engine.gradient.set(m.gradient);
    if (m.packed) {
      const kind = this.#setup!.compress;
      if (kind === 'none' || m.packed.length !== 2 * engine.gradient.length) return this.#violation(`update ${m.step} carries ${m.packed.length} bytes of 16-bit values; expected ${kind === 'none' ? 'none' : 2 * engine.gradient.length}`);
      decodeHalf(kind, halfOf(m.packed), engine.gradient, 0);
    }
    await engine.applyUpdate({ lr: m.lr, gradScale: m.gradScale, t: m.t });
    this.#version = m.version;
    const fault = this.#options.faults?.findIndex((f) => 'afterVersion' in f && f.afterVersion === m.version) ?? -1;
    if (fault >= 0 || m.hash) await engine.synchronize();
    if (fault >= 0) {
      const [{ perturb }] = this.#options.faults!.splice(fault, 1) as { perturb: number }[];
      engine.params[0] += perturb;
      this.#log.warn({ version: m.version, perturb }, `fault injection: parameter 0 of this replica perturbed by ${perturb} after version ${m.version}`);
    }
    if (m.hash) await this.#connection.send({ type: 'hash', version: m.version, digest: parameterDigest(engine.params) });
  }
}

/** What a shard's compute sums up, before its timing. */
type GradientSums = { lossSum: number; correct: number; count: number; gradSumSq: number };

function sums(r: GradientSums, computeMs: number): ShardSums {
  const nonFinite = !Number.isFinite(r.lossSum) || !Number.isFinite(r.gradSumSq);
  return {
    lossSum: nonFinite ? 0 : r.lossSum,
    correct: r.correct,
    count: r.count,
    gradSumSq: nonFinite ? 0 : r.gradSumSq,
    nonFinite,
    computeMs,
  };
}

/**
 * The dataset did not load here: the same error (class, code), with the way round it a worker
 * has that `dptrain train` has not: the coordinator can send its data.
 */
function withShipDataHint(error: unknown): unknown {
  if (!(error instanceof DptrainError && error.code.startsWith('dptrain.data.'))) return error;
  const hint = '; or start the coordinator with --ship-data to send this worker its data';
  return new DataError(error.code.slice('dptrain.data.'.length), `${error.message}${hint}`, { cause: error });
}

/** Why `buckets` is not a tiling of [0, numParams) in backward order (null if it is). */
function checkBuckets(buckets: readonly Range[], numParams: number): string | null {
  let end = numParams;
  for (const [b, r] of buckets.entries()) {
    if (r.end !== end || r.start >= r.end) return `bucket ${b} is [${r.start}, ${r.end}); expected a non-empty range ending at ${end}`;
    end = r.start;
  }
  return end === 0 ? null : `the buckets end at ${end}, not at 0`;
}

function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\./.test(host);
  } catch {
    return false;
  }
}
