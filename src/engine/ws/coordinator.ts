/**
 * The ws engine, coordinator side: the training loop's Engine whose workers are processes on
 * other hosts (`dptrain worker`), each running a local engine over its threads.
 *
 * One step (computeGradients, then applyUpdate):
 *   boundary  workers that became ready since the last step get the parameters, the optimizer
 *             state and the version, and join the membership (worker order = join order);
 *   plan      the step's rows are split among the members in proportion to their threads;
 *   compute   every member computes its shard's gradient SUM with its local engine (the
 *             intra-host reduce), then the inter-host all-reduce:
 *               star  members send their sums here; they are added in worker order (float64,
 *                     rounded once), and the sum goes back with the update plan;
 *               ring  members all-reduce among themselves (ring.ts) and send their finished
 *                     segments here, so this replica gets the same bits;
 *   update    every member applies the same update to the same reduced gradient, and so does
 *             this process to its own replica (parameters and optimizer state never live only on
 *             a worker: docs/architecture.md, "One truth for the parameters"). This replica's
 *             update waits until the next step's `step` messages are out, so it runs while the
 *             workers compute instead of between their steps; `synchronize()` (and anything that
 *             reads the parameters here: joiners' state, evaluation) completes it first. Every
 *             `hashEvery` updates the members send a hash of their parameters; a replica that
 *             differs is named and dropped. With --coordinator-replica on-demand, ring steps'
 *             updates are the members' alone: this replica takes only the gradient's norm, is
 *             stale until something reads it, and then fetches the state from a member
 *             (#refresh); the members' hashes are compared with each other (#comparePeers).
 * A member that disconnects, misses the adaptive deadline or breaks the protocol is dropped and
 * the step is run again by the others, so its result is the same up to float rounding
 * (bit-identical with --reduce-chunks, whose chunks do not depend on who computes them).
 */
import { datasetHash, type Dataset } from '../../data/index.js';
import { ConfigError, EngineError, StepNotRun } from '../../errors.js';
import { loadKernels, type KernelsReport } from '../../kernels/index.js';
import { initBuffers, Model, updateRunningStats, type BatchResult } from '../../model/index.js';
import { BnExchangeRound, exchangeStats } from './bn-exchange.js';
import { slotUnit } from '../lockstep.js';
import { createOptimizer, inPlaceOptimizer, restoreOptimizerState, stateTensorCount, sumOfSquares, WasmUpdateKernels, type Optimizer } from '../../optim/index.js';
import { compileCollective, partitionRanges, reduceSlotsRange, slotNormSq, WasmCollective, type Range, type WasmModule } from '../../collective/index.js';
import { allocateShared, fitsWasmMemory, planLayout } from '../shared-memory.js';
import { encodeHalf, halfBytes, hostPort, isLoopback, listen, reachableHosts, roundHalf, type Server, type TransportLogger } from '../../transport/index.js';
import { planBuckets } from '../buckets.js';
import { expectedParts, type RingReport } from './step-buckets.js';
import { plural } from '../../util/index.js';
import type { Engine, EngineSetup, GradientResult, StepPlan, UpdatePlan, UpdateTiming, WorkerReport, WorkerTimeline } from '../engine.js';
import { StepDeadline, Stragglers } from './deadline.js';
import { coordinatorMessages, ENGINE_REVISION, type CoordinatorMessage, type MessageOf } from './messages.js';
import { chooseAllreduce, checkCoordinatorOptions, wsDefaults, type Allreduce, type Compress, type CoordinatorStatus, type MembershipEvent, type WsCoordinatorOptions } from './options.js';
import { parameterDigest } from './param-hash.js';
import { AttemptRound, type Assignment } from './round.js';
import { RingNorm } from './ring-norm.js';
import { checkHelloMeta, Roster } from './roster.js';
import { dataChunkFloats, setupMessage } from './run-setup.js';
import { assignShards } from './shards.js';
import { EngineCloseCode, type WorkerLink } from './worker-link.js';

type ResolvedOptions = Required<Pick<WsCoordinatorOptions, 'hashEvery' | 'maxAttempts' | 'rejoinTimeoutMs'>> & WsCoordinatorOptions;

const silent: TransportLogger = { info() {}, warn() {} };
/** Room for a message's fields around its largest array. */
const FRAME_SLACK = 64 * 1024;
/** The workers' frame limit (transport default); state and gradients must fit one frame. */
const WORKER_MAX_PAYLOAD = 64 * 1024 * 1024;
/** Parameter hashes kept for late `hash` replies. */
const DIGESTS_KEPT = 8;

export class WsEngine implements Engine {
  readonly kind = 'ws' as const;
  readonly kernels: string;
  /** How the kernel set was chosen (summary.json's `blas`, the start-up line), as the other engines report it. */
  readonly kernelsReport?: KernelsReport;
  readonly coordinatorRecord?: Readonly<Record<string, unknown>>;
  readonly params: Float32Array;
  readonly gradient: Float32Array;
  /** The BatchNorm running statistics: this replica's (workers compute with batch statistics only). */
  readonly buffers: Float32Array;
  /** The batch statistics of the last computed step, applied to the buffers by its update. */
  #pendingStats: Float64Array | null = null;
  readonly #setup: EngineSetup;
  readonly #options: ResolvedOptions;
  readonly #log: TransportLogger;
  readonly #server: Server<CoordinatorMessage>;
  readonly #roster: Roster;
  readonly #optimizer: Optimizer;
  readonly #model: Model;
  readonly #deadline: StepDeadline;
  readonly #stragglers: Stragglers;
  /** Recent gradient-phase wall times, ms (the progress view's step time). */
  readonly #stepTimes: number[] = [];
  /** The worker last reported as slow (warned once when it becomes slow, told when it recovers). */
  #slowName: string | null = null;
  readonly #chunkCount: number;
  readonly #slots: Float32Array | null;
  /** The wasm reduce kernels on this replica's memory (the gradient's norm), null where wasm cannot run. */
  readonly #collective: WasmCollective | null;
  readonly #digests = new Map<number, string>();
  /** Members' digests of versions this replica has not reached yet (its update is pending). */
  readonly #earlyDigests = new Map<number, { link: WorkerLink; digest: string }[]>();
  /** The update sent to the members that this replica has yet to apply (see the header); `ring`: of a ring step. */
  #pending: { update: UpdatePlan; version: number; hash: boolean; ring: boolean } | null = null;
  /** --coordinator-replica on-demand: this replica skips ring steps' updates and fetches the state when it needs it. */
  readonly #onDemand: boolean;
  /** On demand: the parameters and optimizer state here lag #version (the members hold the current ones). */
  #stale = false;
  /** On demand: the `fetchState` in flight. */
  #fetch: StateFetch | null = null;
  /** On demand: members' digests of versions this replica skipped, compared with each other once all are in. */
  readonly #peerDigests = new Map<number, Map<WorkerLink, string>>();
  /** On demand: the members' replicas differ and no majority tells which is right; the run stops with this. */
  #diverged: EngineError | null = null;
  /** Gradient buckets in backward order (the same list every worker got in `setup`). */
  readonly #buckets: Range[];
  readonly #compress: Compress;
  #version = 0;
  #round: AttemptRound | null = null;
  #lastAlgorithm: Allreduce | null = null;
  #lastMembers: readonly WorkerLink[] = [];
  #lastPlanKey = '';
  #step = 0;
  #closed = false;

  private constructor(
    setup: EngineSetup,
    options: ResolvedOptions,
    kernels: { name: string; detail: string; report?: KernelsReport; model: Model; collective: WasmModule | null },
    server: Server<CoordinatorMessage>,
    rosterFor: (engine: WsEngine) => Roster,
    buckets: Range[],
  ) {
    this.#setup = setup;
    this.#buckets = buckets;
    this.#compress = options.compress ?? 'none';
    this.#onDemand = options.coordinatorReplica === 'on-demand';
    this.#options = options;
    this.#log = options.log ?? silent;
    this.kernels = kernels.detail;
    this.kernelsReport = kernels.report;
    this.coordinatorRecord = options.record && { ...options.record };
    this.#model = kernels.model;
    // As the inline engine: parameters, gradient and optimizer state in one WebAssembly memory, so
    // that this replica's update is the wasm SGD kernel the workers' threads run (same bits as
    // the JS update, a third of its time); the JS update where wasm cannot run.
    const P = setup.params.length;
    const layout = planLayout(P, stateTensorCount(setup.optimizer), 1, 1);
    const module = kernels.collective && fitsWasmMemory(layout) ? kernels.collective : null;
    const views = allocateShared(layout, module !== null);
    this.params = views.params[0];
    this.params.set(setup.params);
    this.gradient = views.reduced;
    this.buffers = setup.buffers ? Float32Array.from(setup.buffers) : initBuffers(this.#model.bufferLayout);
    let tensors = 0;
    const js = createOptimizer(setup.optimizer, P, (length) => {
      const view = views.state[0].subarray(tensors * P, tensors * P + length);
      tensors += 1;
      return view;
    });
    this.#optimizer = inPlaceOptimizer(js, module && views.memory ? new WasmUpdateKernels(module, views.memory) : null);
    if (setup.optimizerState) restoreOptimizerState(this.#optimizer.state, setup.optimizerState);
    this.#collective = module && views.memory ? new WasmCollective(module, views.memory) : null;
    this.#chunkCount = setup.chunks ?? 0;
    this.#slots = this.#chunkCount > 0 ? new Float32Array(this.#chunkCount * this.params.length) : null;
    this.#deadline = new StepDeadline({
      window: wsDefaults.deadlineWindow,
      factor: options.deadlineFactor ?? wsDefaults.deadlineFactor,
      floorMs: options.deadlineFloorMs ?? wsDefaults.deadlineFloorMs,
    });
    this.#stragglers = new Stragglers({ window: wsDefaults.slowWindow, factor: wsDefaults.slowFactor, minMs: wsDefaults.slowMinMs });
    this.#server = server;
    this.#roster = rosterFor(this);
  }

  /**
   * Listens, waits for `minWorkers` workers to be ready, and returns the engine. Throws
   * ConfigError for options that cannot work (a non-loopback address without a token, ring with
   * fixed chunks, a model too large for one frame).
   */
  static async create(setup: EngineSetup, options: WsCoordinatorOptions): Promise<WsEngine> {
    checkCoordinatorOptions(options);
    const host = options.host ?? '127.0.0.1';
    if (!isLoopback(host) && (options.token === undefined || options.token.length === 0)) {
      throw new ConfigError('insecureListen', `--listen ${host} is not a loopback address and there is no --token-file: anyone who can reach it could join — create a token (openssl rand -hex 32 > token && chmod 600 token) and pass --token-file token, or listen on 127.0.0.1`);
    }
    const chunks = setup.chunks ?? 0;
    const choice = options.allreduce ?? 'auto';
    if (chunks > 0 && choice === 'ring') {
      throw new ConfigError('badOption', '--reduce-chunks needs --allreduce star (or auto): the ring adds partial sums in ring order, not in chunk order');
    }
    const P = setup.params.length;
    if (4 * P + FRAME_SLACK > WORKER_MAX_PAYLOAD) {
      throw new ConfigError('badOption', `the model has ${P.toLocaleString('en-US')} parameters; the ws engine sends parameters and gradients in one frame of at most ${WORKER_MAX_PAYLOAD / 1024 / 1024} MiB, so at most ${Math.floor((WORKER_MAX_PAYLOAD - FRAME_SLACK) / 4).toLocaleString('en-US')} parameters`);
    }
    // auto resolves here, as for the other engines (same bits as the inline engine on this
    // machine); every worker must then load the same set, or is refused naming the one it has.
    const kernels = await loadKernels(setup.kernels, { blasLibrary: setup.blasLibrary });
    const collective = kernels.name === 'js' ? null : await compileCollective().catch(() => null);
    const model = new Model(setup.model, { kernels });
    const ringChunkBytes = options.ringChunkBytes ?? wsDefaults.ringChunkBytes;
    const chunkFloats = dataChunkFloats(wsDefaults.dataChunkBytes);
    const resolved = {
      ...options,
      hashEvery: options.hashEvery ?? wsDefaults.hashEvery,
      maxAttempts: options.maxAttempts ?? wsDefaults.maxAttempts,
      rejoinTimeoutMs: options.rejoinTimeoutMs ?? wsDefaults.rejoinTimeoutMs,
    };
    const log = options.log ?? silent;
    const overlap = options.overlap ?? true;
    const compress = options.compress ?? 'none';
    const bucketBytes = options.bucketBytes ?? wsDefaults.bucketBytes;
    // A small first bucket starts the link early, which pays where the link bounds the step; with
    // 16-bit gradients compute does, and the earlier ring only competes with it (docs/benchmarks.md, "Eighth pass").
    const firstBucketBytes = options.firstBucketBytes ?? (compress === 'none' ? wsDefaults.firstBucketBytes : bucketBytes);
    const buckets = planBuckets(model.layout.tensors, P, bucketBytes, firstBucketBytes);
    const setupMsg = setupMessage({
      setup,
      kernels: kernels.name,
      datasetSpec: options.datasetSpec,
      datasetHash: datasetHash(options.loaded),
      valSplit: options.valSplit,
      standardize: options.standardize,
      ring: choice !== 'star' && chunks === 0,
      ringChunkFloats: Math.max(1, Math.floor(ringChunkBytes / 4)),
      buckets,
      overlap,
      compress,
      compressFeedback: compress !== 'none' && (options.compressFeedback ?? false),
      loaded: options.loaded,
      shipData: options.shipData ?? false,
    });
    // Frames no larger than this run needs: a peer cannot make us buffer more.
    const maxPayload = Math.min(WORKER_MAX_PAYLOAD, Math.max(1 << 20, 4 * P + FRAME_SLACK, options.shipData ? 4 * chunkFloats + FRAME_SLACK : 0));
    const server = await listen<CoordinatorMessage>({
      host,
      port: options.port ?? 0,
      name: 'coordinator',
      token: options.token,
      messages: coordinatorMessages,
      dims: { params: P, dataChunk: chunkFloats },
      meta: { model: setup.model.text, numParams: P, datasetHash: setupMsg.datasetHash, engine: ENGINE_REVISION },
      admit: (peer) => (peer.role === 'worker' ? checkHelloMeta(peer.meta) : `only workers connect here (got role "${peer.role}")`),
      limits: { maxPayload, ...options.limits },
      log,
    });
    const engine = new WsEngine(setup, resolved, { name: kernels.name, detail: kernels.detail, report: kernels.report, model, collective }, server, (self) =>
      new Roster(server, { setup: setupMsg, loaded: options.loaded, dataChunkFloats: chunkFloats, joinTimeoutMs: options.joinTimeoutMs ?? wsDefaults.joinTimeoutMs }, log, {
        message: (link, m) => self.#onMessage(link, m),
        gone: (link, reason) => self.#onGone(link, reason),
      }),
      buckets,
    );
    engine.#roster.start();
    // The hint names an address a worker can dial: never the unspecified 0.0.0.0 the server may bind.
    const dial = reachableHosts(server.host).map((h) => hostPort(h, server.port));
    const others = dial.length > 1 ? `; this host's other addresses: ${dial.slice(1).join(', ')}` : '';
    const everywhere = dial[0] !== hostPort(server.host, server.port) && !isLoopback(server.host) ? ' (listening on every interface)' : '';
    log.info({ buckets: buckets.length, bucketBytes, overlap, compress, compressFeedback: setupMsg.compressFeedback }, describeGradients(buckets, overlap, compress, setupMsg.compressFeedback, chunks));
    log.info({ url: `ws://${dial[0]}/`, minWorkers: options.minWorkers, allreduce: choice }, `coordinator at ws://${dial[0]}/${everywhere}: waiting for ${plural(options.minWorkers, 'worker')} (dptrain worker --connect ${dial[0]}${options.token ? ' --token-file FILE' : ''}${others})`);
    try {
      // An interrupt ends the wait: train() then stops before its first step.
      const enough = await engine.#roster.waitFor(options.minWorkers, Number.POSITIVE_INFINITY, () => {
        const have = engine.#roster.waiting.length;
        log.info({ ready: have, minWorkers: options.minWorkers }, `waiting for workers: ${have} of ${options.minWorkers} ready`);
        options.onWaiting?.(engine.#roster.waiting.map((w) => ({ name: w.name, host: w.host, threads: w.threads })), options.minWorkers);
      }, options.signal);
      if (!enough) {
        const have = engine.#roster.waiting.length;
        log.warn({ ready: have, minWorkers: options.minWorkers }, `stopped waiting for workers (interrupted): ${have} of ${options.minWorkers} ready, so the run ends before its first step`);
      }
    } catch (error) {
      await engine.close();
      throw error;
    }
    return engine;
  }

  /** Current members (it changes as workers join and leave). */
  get workers(): number {
    return Math.max(1, this.#roster.members.length + this.#roster.waiting.length);
  }

  get optimizerState(): Readonly<Record<string, Float32Array>> {
    return this.#optimizer.state;
  }

  /** For a progress view. */
  status(): CoordinatorStatus {
    const paces = new Map(this.#stragglers.paces().map((p) => [p.name, p]));
    const members = this.#roster.members;
    const slowest = members.length < 2 ? null : members.reduce<{ name: string; share: number } | null>((best, m) => {
      const share = paces.get(m.name)?.share ?? -1;
      return best === null || share > best.share ? { name: m.name, share } : best;
    }, null);
    return {
      step: this.#step,
      workers: members.map((m) => ({
        name: m.name,
        host: m.host,
        threads: m.threads,
        lastComputeMs: m.lastComputeMs,
        lastRows: m.lastRows,
        joinedAtStep: m.joinedAtStep,
        responseMs: paces.get(m.name)?.ms ?? null,
        share: paces.get(m.name)?.share ?? null,
        bytesSent: m.connection.stats().bytesSent,
        bytesReceived: m.connection.stats().bytesReceived,
      })),
      waiting: this.#roster.waiting.map((m) => m.name),
      allreduce: this.#lastAlgorithm,
      stepMs: this.#stepTimes.length > 0 ? this.#stepTimes.reduce((a, b) => a + b, 0) / this.#stepTimes.length : null,
      slowest: slowest && slowest.share >= 0 ? slowest.name : null,
    };
  }

  async computeGradients(plan: StepPlan): Promise<GradientResult> {
    this.#step = plan.step;
    const P = this.params.length;
    for (let attempt = 1; ; attempt++) {
      if (this.#diverged) throw this.#diverged;
      await this.#boundary(plan.step, attempt === 1);
      const members = [...this.#roster.members];
      const threads = members.map((m) => m.threads);
      const shards = assignShards(plan.start, plan.end, threads, this.#chunkCount, slotUnit(this.#setup.batchNorm));
      const algorithm = chooseAllreduce(this.#options.allreduce ?? 'auto', members.length, P, this.#chunkCount);
      const onDemand = this.#onDemand && algorithm === 'ring';
      if (!onDemand && this.#stale) {
        // This step's update is applied here too (star, chunks): first the state the members hold.
        this.#completeUpdate();
        await this.#refresh();
      }
      const segments = algorithm === 'ring' ? partitionRanges(P, members.length) : null;
      const reporter = algorithm !== 'ring' ? -1 : onDemand ? Math.max(0, members.findIndex((m) => m.onThisHost)) : this.#localReporter(members);
      const reports = members.map((_, i): RingReport => (onDemand ? (i === reporter ? 'norm' : 'none') : reporter < 0 ? 'segment' : i === reporter ? 'bucket' : 'none'));
      const assignments = new Map<WorkerLink, Assignment>();
      members.forEach((link, i) => {
        assignments.set(link, {
          rows: shards.rows[i],
          chunks: shards.owners ? shards.owners[i] : null,
          chunkRows: shards.chunks,
          parts: shards.owners ? [] : expectedParts(this.#buckets, algorithm, i, members.length, reports[i]),
          reportsNorm: reports[i] === 'norm',
        });
        link.lastRows = shards.rows[i].end - shards.rows[i].start;
      });
      this.#describePlan(plan.step, attempt, algorithm, members, shards.rows, reporter, onDemand);

      const round = new AttemptRound(plan.step, attempt, algorithm, members, assignments, EngineCloseCode, {
        compress: this.#compress === 'none' ? null : this.#compress,
        numParams: P,
        ringTarget: this.gradient,
        ringNorm: algorithm === 'ring' && !onDemand ? new RingNorm(this.#buckets, members.length, (start, end) => slotNormSq(this.gradient, start, end, this.#collective)) : null,
      });
      if (this.#model.numBuffers > 0) {
        const slotsOf = new Map(members.map((link, i) => [link, shards.owners ? shards.owners[i] : { start: i, end: i + 1 }]));
        round.bn = new BnExchangeRound(plan.step, attempt, slotsOf, shards.owners ? this.#chunkCount : members.length);
      }
      this.#round = round;
      const sent = Promise.all(
        members.map((link, i) => {
          const a = assignments.get(link)!;
          return link.send({
            type: 'step',
            epoch: plan.epoch,
            step: plan.step,
            attempt,
            version: this.#version,
            start: a.rows.start,
            end: a.rows.end,
            algorithm,
            ...(a.chunks && { chunks: { first: a.chunks.start, rows: shards.chunks!.slice(a.chunks.start, a.chunks.end) } }),
            ...(segments && {
              ring: {
                rank: i,
                size: members.length,
                segments,
                nextName: members[(i + 1) % members.length].name,
                nextUrl: members[(i + 1) % members.length].ringUrl ?? '',
                prevName: members[(i + members.length - 1) % members.length].name,
                report: reports[i],
              },
            }),
          });
        }),
      );
      // The members compute now; this replica's pending update runs meanwhile. It is synchronous,
      // so no reply (a `part` writing the gradient it reads) is handled before it ends.
      await Promise.resolve(); // the queued sends reach the sockets (one microtask hop; link.ts)
      this.#completeUpdate();
      await sent;
      for (const link of members) if (link.isGone) round.onGone(link, 'it left before the step started');
      const deadlineMs = this.#deadline.ms;
      round.onStall({
        probe: (link) => void link.send({ type: 'probe', step: plan.step, attempt }),
        graceMs: Math.min(5_000, Math.max(1_000, deadlineMs)),
        extraMs: wsDefaults.ringStallExtraMs,
      });
      round.armDeadline(deadlineMs);
      await round.settled;
      this.#round = null;
      if (this.#closed) throw new EngineError('coordinatorClosed', `the coordinator closed during step ${plan.step}`);
      if (this.#diverged) throw this.#diverged;

      if (round.failures.length === 0) {
        const result = this.#reduce(round, shards.chunks);
        this.#pendingStats = round.bn ? exchangeStats(this.#setup.batchNorm ?? { kind: 'sync' }, this.#model.bufferLayout, round.bn.totals) : null;
        const stepMs = performance.now() - round.started;
        this.#deadline.record(stepMs);
        this.#watchPace(plan.step, members, stepMs);
        this.#lastAlgorithm = algorithm;
        this.#lastMembers = members;
        this.#options.onStatus?.(this.status());
        return result;
      }
      const dropped = new Set<WorkerLink>();
      for (const f of round.failures) {
        if (dropped.has(f.link)) continue;
        dropped.add(f.link);
        this.#roster.remove(f.link);
        f.link.drop(f.code, f.reason);
        this.#log.warn({ worker: f.link.name, host: f.link.host, step: plan.step, attempt, reason: f.reason }, `dropping worker ${f.link.label} at step ${plan.step}: ${f.reason}`);
        // A worker that asked to leave (Ctrl-C) during the step left; the others were dropped.
        this.#membership(f.link.leaving !== null ? 'leave' : 'drop', f.link, plan.step, f.reason);
      }
      if (attempt >= this.#options.maxAttempts) {
        throw new EngineError('workerFailed', `step ${plan.step} failed ${attempt} times (last: ${round.failures.map((f) => `worker "${f.link.name}": ${f.reason}`).join('; ')}) — see the warnings above; the run stopped before applying this step`);
      }
      const left = this.#roster.members.length;
      this.#log.warn({ step: plan.step, attempt: attempt + 1, workers: left }, `recomputing step ${plan.step} ${left > 0 ? `with ${plural(left, 'worker')}` : 'once a worker joins (none is left)'} (attempt ${attempt + 1})`);
    }
  }

  /**
   * Drops the step just computed (non-finite, --on-nonfinite skip): this replica keeps its
   * parameters and optimizer state, and so does every member, told by `skip`. The version does
   * not move, so the next step's `version` check still holds on every replica. The decision is
   * made here, once, and broadcast: a worker never decides alone (docs/protocol.md §6).
   */
  async skipUpdate(): Promise<void> {
    this.#completeUpdate(); // the previous step's, if computeGradients did not get to it
    this.#pendingStats = null;
    const message: CoordinatorMessage = { type: 'skip', step: this.#step, version: this.#version };
    await Promise.all(this.#lastMembers.filter((m) => !m.isGone).map((m) => m.send(message)));
  }

  /** Completes this replica's pending update (see the header). */
  async synchronize(): Promise<void> {
    this.#completeUpdate();
    await this.#refresh();
  }

  /**
   * Sends the update to the members and returns: this replica applies it after the next step's
   * `step` messages are out (computeGradients), or at `synchronize()`, whichever comes first.
   */
  async applyUpdate(update: UpdatePlan): Promise<UpdateTiming> {
    const started = performance.now();
    this.#completeUpdate(); // never two pending (a caller that skipped computeGradients)
    const version = this.#version + 1;
    const hash = this.#options.hashEvery > 0 && version % this.#options.hashEvery === 0;
    const message: CoordinatorMessage = {
      type: 'update',
      step: update.t - 1,
      version,
      lr: update.lr,
      gradScale: update.gradScale,
      t: update.t,
      hash,
      ...(this.#lastAlgorithm === 'star' && (this.#compress === 'none' ? { gradient: this.gradient } : { packed: halfBytes(encodeHalf(this.#compress, this.gradient)) })),
    };
    // The message is encoded (copied) at send, so the gradient may change after this call. The
    // update is pending before any reply can arrive, so an early `hash` is kept, not ignored.
    const sent = Promise.all(this.#lastMembers.filter((m) => !m.isGone).map((m) => m.send(message)));
    this.#pending = { update, version, hash, ring: this.#lastAlgorithm === 'ring' };
    this.#version = version;
    await sent;
    return { updateMs: performance.now() - started };
  }

  /** Applies the pending update to this replica: parameters, optimizer state, running statistics, digest. */
  #completeUpdate(): void {
    const pending = this.#pending;
    if (pending === null) return;
    this.#pending = null;
    // On demand, a ring step's update is the members' alone: this replica has no gradient for it.
    const skipped = this.#onDemand && pending.ring;
    if (skipped) this.#stale = true;
    else this.#optimizer.update(this.params, this.gradient, pending.update);
    if (this.#pendingStats) updateRunningStats(this.#model.bufferLayout, this.buffers, this.#pendingStats);
    this.#pendingStats = null;
    if (!pending.hash) return;
    if (skipped) {
      const early = this.#earlyDigests.get(pending.version) ?? [];
      this.#earlyDigests.delete(pending.version);
      for (const { link, digest } of early) this.#comparePeers(link, pending.version, digest);
      return;
    }
    const digest = parameterDigest(this.params);
    this.#digests.set(pending.version, digest);
    for (const v of this.#digests.keys()) if (this.#digests.size > DIGESTS_KEPT) this.#digests.delete(v);
    const early = this.#earlyDigests.get(pending.version) ?? [];
    this.#earlyDigests.delete(pending.version);
    for (const { link, digest: theirs } of early) this.#checkDigest(link, pending.version, theirs);
  }

  async evaluate(data: Dataset, outputs?: Float32Array): Promise<BatchResult> {
    await this.synchronize();
    const rows = Uint32Array.from({ length: data.n }, (_, i) => i);
    return this.#model.evaluate(this.params, data, rows, this.#setup.microBatch, this.buffers, outputs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#round?.abandon();
    const links = [...this.#roster.members, ...this.#roster.waiting];
    await Promise.all(
      links.map(async (link) => {
        await link.send({ type: 'done', reason: this.#options.signal?.aborted ? 'interrupted' : 'finished' });
        await link.connection.close(1000, 'run finished');
      }),
    );
    await this.#server.close();
    this.#model.dispose();
  }

  /** A step boundary: members that asked to leave go, ready workers join (with the current state). */
  async #boundary(step: number, firstAttempt: boolean): Promise<void> {
    for (const link of [...this.#roster.members]) {
      if (link.leaving !== null) {
        this.#roster.remove(link);
        link.drop(1000, 'left');
        this.#log.info({ worker: link.name, host: link.host, step }, `worker ${link.label} left before step ${step} (${link.leaving}); ${remaining(this.#roster.members.length)}`);
        this.#membership('leave', link, step, link.leaving);
      }
    }
    if (this.#roster.members.length === 0) this.#noCopyLeft();
    if (this.#roster.members.length === 0 && this.#roster.waiting.length === 0) {
      this.#log.warn({ step }, `no workers left at step ${step}; waiting up to ${Math.round(this.#options.rejoinTimeoutMs / 1000)} s for one to join (Ctrl-C ends the run here)`);
      // An interrupt ends the wait: no worker is left to finish this step, so the run ends before it.
      const joined = await this.#roster.waitFor(1, this.#options.rejoinTimeoutMs, undefined, this.#options.signal);
      if (this.#options.signal?.aborted) throw new StepNotRun(step);
      // None joined in time: the run ends before this step too, with its outputs written (train() then throws this).
      if (!joined || this.#closed) {
        throw new StepNotRun(step, 'noWorkers', `no worker was left to compute step ${step}, and none joined within ${Math.round(this.#options.rejoinTimeoutMs / 1000)} s (--rejoin-timeout; the warnings above say why they left)`);
      }
    }
    // Joiners come in at the start of a step, or whenever nobody else is left.
    if (!firstAttempt && this.#roster.members.length > 0) return;
    // Workers admitted together are ordered by name, so the same names give the same worker order
    // (and the same bits) whatever order they connected in.
    const joining = this.#roster.waiting.splice(0).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (joining.length > 0) await this.synchronize(); // joiners get the parameters of this.#version
    for (const link of joining) {
      if (link.isGone) continue;
      let sent = await link.send({ type: 'state', version: this.#version, params: this.params });
      for (const [name, values] of Object.entries(this.#optimizer.state)) sent &&= await link.send({ type: 'optimizerState', name, values });
      if (!sent) continue;
      link.joinedAtStep = step;
      this.#roster.members.push(link);
      this.#log.info({ worker: link.name, host: link.host, threads: link.threads, step, workers: this.#roster.members.length }, `worker ${link.label} joins at step ${step} with parameters of version ${this.#version}; ${plural(this.#roster.members.length, 'worker')}`);
      this.#membership('join', link, step, `joined with parameters of version ${this.#version}`);
    }
  }

  /**
   * Records each member's response time and warns when one is consistently much slower than the
   * median (once when it becomes slow, and when it recovers). A slow worker is not dropped: the
   * deadline is for workers that stopped answering; a straggler only costs time.
   */
  #watchPace(step: number, members: readonly WorkerLink[], stepMs: number): void {
    this.#stepTimes.push(stepMs);
    if (this.#stepTimes.length > wsDefaults.slowWindow) this.#stepTimes.shift();
    this.#stragglers.record(members.map((m) => ({ name: m.name, ms: m.lastResponseMs ?? stepMs })), stepMs);
    const slow = this.#stragglers.slow(this.#slowName);
    if (slow && slow.worker.name !== this.#slowName) {
      const link = members.find((m) => m.name === slow.worker.name)!;
      const { worker, referenceMs } = slow;
      this.#log.warn(
        { worker: worker.name, host: link.host, step, responseMs: worker.ms, referenceMs, share: worker.share, steps: worker.steps },
        `worker ${link.label} is slow: over the last ${plural(worker.steps, 'step')} it answered in ${worker.ms.toFixed(1)} ms on average, ` +
          `${(worker.ms / referenceMs).toFixed(1)}x the ${members.length === 2 ? 'other' : 'median'} worker's ${referenceMs.toFixed(1)} ms, and took ${Math.round(100 * worker.share)}% of the step time while the others waited for it. ` +
          `It is not dropped (the step deadline is ${this.#deadline.ms} ms); ${slowWorkerHint(link.threads)}`,
      );
    } else if (!slow && this.#slowName !== null && members.some((m) => m.name === this.#slowName)) {
      this.#log.info({ worker: this.#slowName, step }, `worker "${this.#slowName}" keeps pace again at step ${step}`);
    }
    this.#slowName = slow?.worker.name ?? null;
  }

  /** Logs the shards when the membership or the algorithm changed (the first step of a new plan). */
  /** `reporter`: the ring member that sends whole reduced buckets (#localReporter), -1 for none. */
  #describePlan(step: number, attempt: number, algorithm: Allreduce, members: readonly WorkerLink[], rows: Range[], reporter: number, onDemand: boolean): void {
    const key = `${algorithm}|${members.map((m) => m.name).join(',')}`;
    if (key === this.#lastPlanKey) return;
    this.#lastPlanKey = key;
    const shards = members.map((m, i) => `${m.name} rows [${rows[i].start}, ${rows[i].end})`).join(', ');
    const why = this.#options.allreduce === 'auto' || this.#options.allreduce === undefined ? ` (auto: ${autoReason(members.length, this.params.length, this.#chunkCount)})` : '';
    const from = algorithm !== 'ring'
      ? ''
      : onDemand
        ? `; the coordinator takes only the gradient's norm, from ${members[reporter].name} (--coordinator-replica on-demand)`
        : reporter >= 0
          ? `; the reduced gradient comes whole from ${members[reporter].name} on this host`
          : '; each worker sends its reduced segment';
    this.#log.info({ step, attempt, algorithm, workers: members.map((m) => m.name) }, `step ${step}: ${algorithm} all-reduce${why}; shards ${shards}${from}`);
  }

  /**
   * Ring (--reduced-from): the member that sends the coordinator whole reduced buckets, or -1 when
   * every member sends its segment. A worker on this host hands them over without using a real
   * link, so the other workers' uplinks carry only the ring (docs/architecture.md).
   */
  #localReporter(members: readonly WorkerLink[]): number {
    if (this.#options.reducedFrom === 'all') return -1;
    return members.findIndex((m) => m.onThisHost);
  }

  /** The reduced gradient sum and the step's sums, all added in worker (or chunk) order. */
  #reduce(round: AttemptRound, chunkRows: Range[] | null): GradientResult {
    const started = performance.now();
    const P = this.params.length;
    const members = round.members;
    const deliveries = members.map((m) => round.deliveries.get(m)!);
    let shards: { count: number; gradSumSq: number }[];
    let sums: (typeof deliveries)[number]['sums'][];
    let gradSumSq: number;
    if (this.#slots && chunkRows) {
      // Fixed chunks: the same chunk-order reduce as the inline and threads engines.
      const byChunk = new Array<{ sums: NonNullable<(typeof sums)[number]>; gradient: Float32Array }>(this.#chunkCount);
      for (const d of deliveries) for (const [chunk, c] of d.chunkGrads) byChunk[chunk] = c;
      for (let k = 0; k < this.#chunkCount; k++) {
        const slot = this.#slots.subarray(k * P, (k + 1) * P);
        if (byChunk[k]) slot.set(byChunk[k].gradient);
        else slot.fill(0); // an empty chunk (a batch smaller than the chunk count)
      }
      const reduced = reduceSlotsRange(this.#slots, this.#chunkCount, P, this.gradient, 0, P);
      gradSumSq = reduced.sumSq;
      sums = byChunk.map((c) => c?.sums ?? null);
      shards = chunkRows.map((rows, k) => ({ count: rows.end - rows.start, gradSumSq: reduced.slotSumSq[k] }));
    } else if (round.algorithm === 'star') {
      reduceInOrder(deliveries.map((d) => d.gradient!), this.gradient);
      // What the workers will decode from the update's 16-bit values: this replica uses the same.
      if (this.#compress !== 'none') roundHalf(this.#compress, this.gradient);
      gradSumSq = sumOfSquares(this.gradient);
      sums = deliveries.map((d) => d.sums);
      shards = sums.map((s) => ({ count: s!.count, gradSumSq: s!.gradSumSq }));
    } else {
      // The members' reduced segments are already in this.gradient, their norms measured as they came
      // (round.ts, `part`); on demand, the member that reported it measured the norm the same way.
      const normFrom = members.findIndex((m) => round.assignments.get(m)!.reportsNorm);
      gradSumSq = normFrom >= 0 ? (deliveries[normFrom].reducedSumSq ?? Number.NaN) : round.ringNorm!.total();
      sums = deliveries.map((d) => d.sums);
      shards = sums.map((s) => ({ count: s!.count, gradSumSq: s!.gradSumSq }));
    }
    let lossSum = 0;
    let correct = 0;
    let count = 0;
    let nonFinite = false;
    for (const s of sums) {
      if (!s) continue;
      lossSum += s.lossSum;
      correct += s.correct;
      count += s.count;
      nonFinite ||= s.nonFinite;
    }
    // Who sent a non-finite shard (any of its chunks, with --reduce-chunks), in worker order.
    const nonFiniteWorkers = members
      .filter((m, i) => deliveries[i].sums?.nonFinite || [...deliveries[i].chunkGrads.values()].some((c) => c.sums.nonFinite))
      .map((m) => m.name);
    const workers: WorkerReport[] = members.map((m) => ({ name: m.name, computeMs: m.lastComputeMs ?? 0, waitMs: 0 }));
    const slowest = Math.max(0, ...workers.map((w) => w.computeMs));
    const wall = performance.now() - round.started;
    return {
      lossSum: nonFinite ? Number.NaN : lossSum,
      correct,
      count,
      gradSumSq: nonFinite ? Number.NaN : gradSumSq,
      shards,
      workers,
      // Everything in the gradient phase that is not the slowest worker's compute: network and reduce.
      reduceMs: Math.max(performance.now() - started, wall - slowest),
      nonFiniteWorkers,
      ...(deliveries.every((d) => d.timeline) && { timeline: members.map((m, i): WorkerTimeline => ({ worker: m.name, ...deliveries[i].timeline! })) }),
    };
  }

  #onMessage(link: WorkerLink, m: CoordinatorMessage): void {
    switch (m.type) {
      case 'hash':
        this.#checkDigest(link, m.version, m.digest);
        return;
      case 'leave':
        link.leaving = m.reason;
        return;
      case 'probeReply':
        this.#round?.onMessage(link, m); // a late one is harmless
        return;
      case 'state':
      case 'optimizerState':
        this.#onFetched(link, m);
        return;
      default: {
        // A result of another step or attempt (a replay, or a superseded attempt still in flight)
        // is never counted: the round takes only its own step and attempt. Say so, once per message.
        const round = this.#round;
        if ('step' in m && 'attempt' in m && (round === null || round.isOver || m.step !== round.step || m.attempt !== round.attempt)) {
          const now = round && !round.isOver ? `the coordinator is at step ${round.step}, attempt ${round.attempt}` : 'no step is being computed';
          this.#log.warn(
            { worker: link.name, host: link.host, type: m.type, step: m.step, attempt: m.attempt, currentStep: round?.step ?? null, currentAttempt: round?.attempt ?? null },
            `ignoring "${m.type}" from worker ${link.label} for step ${m.step}, attempt ${m.attempt}: ${now}`,
          );
          return;
        }
        round?.onMessage(link, m);
      }
    }
  }

  /** Drops a member whose parameters' digest differs from this replica's at the same version. */
  #checkDigest(link: WorkerLink, version: number, digest: string): void {
    if (this.#pending?.version === version) {
      // Its hash came before this replica applied that update: compare once it has.
      const early = this.#earlyDigests.get(version) ?? [];
      early.push({ link, digest });
      this.#earlyDigests.set(version, early);
      return;
    }
    const mine = this.#digests.get(version);
    if (mine === undefined && this.#onDemand) return this.#comparePeers(link, version, digest);
    if (mine === undefined || mine === digest || !this.#roster.members.includes(link)) return;
    this.#dropDiverged(link, `its parameters diverged: sha256 ${digest.slice(0, 16)}… at version ${version}, the coordinator's ${mine.slice(0, 16)}…`, version);
  }

  #dropDiverged(link: WorkerLink, reason: string, version: number): void {
    this.#log.warn({ worker: link.name, host: link.host, version }, `dropping worker ${link.label}: ${reason}`);
    this.#membership('drop', link, this.#step, reason);
    this.#roster.remove(link);
    link.drop(EngineCloseCode.diverged, reason);
    this.#round?.onGone(link, reason);
  }

  /**
   * On demand, a version this replica skipped: once every member's digest of it is in, the members
   * outside the majority are dropped; with no majority (two members that differ) the run stops,
   * since no copy here tells which is right.
   */
  #comparePeers(link: WorkerLink, version: number, digest: string): void {
    let seen = this.#peerDigests.get(version);
    if (!seen) {
      seen = new Map();
      this.#peerDigests.set(version, seen);
      for (const v of this.#peerDigests.keys()) if (this.#peerDigests.size > DIGESTS_KEPT) this.#peerDigests.delete(v);
    }
    seen.set(link, digest);
    const members = this.#roster.members;
    if (!members.every((m) => seen.has(m))) return;
    this.#peerDigests.delete(version);
    const groups = new Map<string, WorkerLink[]>();
    for (const m of members) groups.set(seen.get(m)!, [...(groups.get(seen.get(m)!) ?? []), m]);
    if (groups.size <= 1) return;
    const [majority, agreeing] = [...groups.entries()].sort((a, b) => b[1].length - a[1].length)[0];
    if (2 * agreeing.length <= members.length) {
      const who = [...groups.entries()].map(([d, links]) => `${links.map((l) => l.name).join(', ')} sha256 ${d.slice(0, 16)}…`).join('; ');
      this.#diverged = new EngineError(
        'replicasDiverged',
        `the workers' parameters differ at version ${version} (${who}) and no majority tells which are right: with --coordinator-replica on-demand the coordinator keeps no copy to compare with. Resume from the last checkpoint (--resume), with --coordinator-replica full`,
      );
      this.#round?.abandon();
      return;
    }
    for (const [d, links] of groups) {
      if (d === majority) continue;
      for (const l of links) this.#dropDiverged(l, `its parameters diverged: sha256 ${d.slice(0, 16)}… at version ${version}, ${agreeing.length} of ${members.length} workers hold ${majority.slice(0, 16)}…`, version);
    }
  }

  #onGone(link: WorkerLink, reason: string): void {
    if (this.#closed) return;
    if (this.#fetch?.link === link) this.#fetch.finish(false);
    const wasMember = this.#roster.members.includes(link);
    const wasWaiting = this.#roster.waiting.includes(link);
    if (!wasMember && !wasWaiting) return; // dropped on purpose, already logged
    this.#roster.remove(link);
    if (this.#round && !this.#round.isOver && this.#round.members.includes(link)) {
      this.#round.onGone(link, reason); // logged when the attempt is decided
      return;
    }
    if (link.leaving !== null) {
      this.#log.info({ worker: link.name, host: link.host }, `worker ${link.label} left (${link.leaving}); ${remaining(this.#roster.members.length)}`);
      this.#membership('leave', link, this.#step, link.leaving);
    } else {
      this.#log.warn({ worker: link.name, host: link.host, reason }, `lost worker ${link.label} between steps: ${reason}; ${remaining(this.#roster.members.length)}`);
      this.#membership('lost', link, this.#step, reason);
    }
  }

  /**
   * On demand: makes this replica current by asking a member for its parameters and optimizer
   * state of #version (`fetchState`), the members in order until one answers.
   */
  async #refresh(): Promise<void> {
    if (!this.#stale) return;
    for (const link of [...this.#roster.members]) {
      if (link.isGone) continue;
      if (await this.#fetchFrom(link)) {
        this.#stale = false;
        return;
      }
    }
    this.#noCopyLeft();
    throw new EngineError('noReplica', `no worker answered with the state of version ${this.#version}; resume from the last checkpoint (--resume)`);
  }

  /** One `fetchState`: resolves true once `state` and every optimizer tensor are in, false if the member fails or times out. */
  #fetchFrom(link: WorkerLink): Promise<boolean> {
    return new Promise((resolve) => {
      const fetch: StateFetch = {
        link,
        version: this.#version,
        params: false,
        tensors: new Set(Object.keys(this.#optimizer.state)),
        finish: (ok) => {
          if (this.#fetch !== fetch) return;
          this.#fetch = null;
          clearTimeout(timer);
          resolve(ok);
        },
      };
      this.#fetch = fetch;
      const timer = setTimeout(() => {
        this.#log.warn({ worker: link.name, version: fetch.version }, `worker ${link.label} did not send the state of version ${fetch.version} within ${this.#deadline.ms} ms`);
        fetch.finish(false);
      }, this.#deadline.ms);
      void link.send({ type: 'fetchState', version: fetch.version }).then((sent) => sent || fetch.finish(false));
    });
  }

  /** A `state` or `optimizerState` from a worker: only as the answer to this coordinator's `fetchState`. */
  #onFetched(link: WorkerLink, m: MessageOf<'state'> | MessageOf<'optimizerState'>): void {
    const fetch = this.#fetch;
    const unexpected = (why: string) => {
      this.#log.warn({ worker: link.name, type: m.type }, `ignoring "${m.type}" from worker ${link.label}: ${why}`);
      if (fetch?.link === link) fetch.finish(false);
    };
    if (!fetch || fetch.link !== link) return unexpected('the coordinator did not ask it for the state');
    if (m.type === 'state') {
      if (m.version !== fetch.version || m.params.length !== this.params.length || fetch.params) return unexpected(`its state is of version ${m.version}, asked for ${fetch.version}`);
      this.params.set(m.params);
      fetch.params = true;
    } else {
      if (!fetch.params || !fetch.tensors.delete(m.name) || m.values.length !== this.params.length) return unexpected(`optimizer state "${m.name}" was not asked for (or came before the parameters)`);
      this.#optimizer.state[m.name].set(m.values);
    }
    if (fetch.params && fetch.tensors.size === 0) fetch.finish(true);
  }

  /** On demand, with the state only on the members: losing them all loses it, so the run stops here. */
  #noCopyLeft(): void {
    const behind = this.#stale || (this.#onDemand && this.#pending?.ring === true);
    if (!behind || this.#roster.members.length > 0) return;
    throw new EngineError(
      'noReplica',
      `every worker that held the parameters of version ${this.#version} is gone, and with --coordinator-replica on-demand the coordinator keeps no copy of its own: resume from the last checkpoint (--resume)`,
    );
  }

  /** Tells a live view (options.onMembership) who joined, left or was dropped, and why. */
  #membership(kind: MembershipEvent['kind'], link: WorkerLink, step: number, reason: string): void {
    this.#options.onMembership?.({ kind, worker: link.name, host: link.host, threads: link.threads, step, reason });
  }
}

/** On demand: a `fetchState` in flight, and what of its answer has come. */
interface StateFetch {
  link: WorkerLink;
  version: number;
  params: boolean;
  /** Optimizer state tensors still to come. */
  tensors: Set<string>;
  finish(ok: boolean): void;
}

/** `2 workers remain`, `1 worker remains`, `no worker remains`. */
function remaining(count: number): string {
  return count === 0 ? 'no worker remains' : `${plural(count, 'worker')} remain${count === 1 ? 's' : ''}`;
}

/**
 * Why `--allreduce auto` chose what it did for this step, by the rule chooseAllreduce applies:
 * fixed chunks need the star; else star for one worker or a small model, ring otherwise.
 */
export function autoReason(workers: number, numParams: number, chunks: number): string {
  if (chunks > 0) return `--reduce-chunks ${chunks} needs the star, which adds the chunks in chunk order`;
  const params = `${numParams.toLocaleString('en-US')} parameters`;
  const threshold = wsDefaults.autoRingMinParams.toLocaleString('en-US');
  if (workers <= 1) return `1 worker, ${params}: the ring needs 2`;
  return numParams < wsDefaults.autoRingMinParams ? `${plural(workers, 'worker')}, ${params} < ${threshold}` : `${plural(workers, 'worker')}, ${params} ≥ ${threshold}`;
}

/**
 * What to do about a slow worker: shards follow --threads, so fewer threads give it fewer rows;
 * at one thread that lever is gone, and a host that is busy with other work is better left out.
 */
export function slowWorkerHint(threads: number): string {
  return threads > 1
    ? `fewer --threads on that host would give it fewer rows (it has ${threads}), or leave it out if the host is busy with other work`
    : 'it already runs 1 thread, so only leaving it out would help, if its host is busy with other work';
}

/** The start-up line about buckets, overlap and compression; compression says that the contract changes. */
function describeGradients(buckets: readonly Range[], overlap: boolean, compress: Compress, feedback: boolean, chunks: number): string {
  const mib = buckets.map((b) => ((4 * (b.end - b.start)) / 2 ** 20).toFixed(2));
  // A small --bucket-mb can make hundreds: then the first few and the last.
  const sizes = mib.length <= 10 ? mib.join(', ') : `${mib.slice(0, 8).join(', ')}, …, ${mib[mib.length - 1]}`;
  const how = chunks > 0
    ? `gradients: --reduce-chunks ${chunks} sends whole chunk gradients (no buckets, no overlap)`
    : `gradients: ${plural(buckets.length, 'bucket')} in backward order (${sizes} MiB; --first-bucket-mb, --bucket-mb), ${overlap ? 'each all-reduced as soon as backward has finished it (--overlap on)' : 'all-reduced after the whole backward pass (--overlap off)'}`;
  if (compress === 'none') return how;
  return `${how}; --compress ${compress}${feedback ? ' with error feedback' : ''}: gradients travel as 16-bit floats, so results differ from an uncompressed run beyond float rounding (the N workers = 1 worker contract does not hold; docs/architecture.md, "Compression")`;
}

/** out = Σ_i parts[i] in float64, in the given order, rounded once to float32. */
export function reduceInOrder(parts: readonly Float32Array[], out: Float32Array): void {
  const n = parts.length;
  if (n === 1) {
    out.set(parts[0]);
    return;
  }
  for (let j = 0; j < out.length; j++) {
    let acc = parts[0][j];
    for (let i = 1; i < n; i++) acc += parts[i][j];
    out[j] = acc;
  }
}
