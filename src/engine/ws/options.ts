/**
 * The ws engine's options: every limit with its default in one object (style.md habit 5), the
 * check that names the flag, and the `auto` all-reduce rule.
 */
import { ConfigError, shown } from '../../errors.js';
import type { Dataset } from '../../data/index.js';
import type { LimitOverrides, TransportLogger } from '../../transport/index.js';
import type { CoordinatorRecord } from './coordinator-record.js';

export type AllreduceChoice = 'star' | 'ring' | 'auto';
export type Allreduce = 'star' | 'ring';
export type Compress = 'none' | 'fp16' | 'bf16';
/** Ring: which workers send the coordinator the reduced gradient (WsCoordinatorOptions.reducedFrom). */
export type ReducedFrom = 'local' | 'all';
/** Whether the coordinator keeps a current copy of the state (WsCoordinatorOptions.coordinatorReplica). */
export type CoordinatorReplica = 'full' | 'on-demand';

export const wsDefaults = Object.freeze({
  /** Where `dptrain coordinator` listens without --listen: loopback, which needs no token. */
  listen: '127.0.0.1:7000',
  /** The step deadline is this multiple of the median of recent step times... */
  deadlineFactor: 10,
  /** ...but never below this floor, ms (the first steps include the workers' warm-up). */
  deadlineFloorMs: 10_000,
  /** Step times in the median's window. */
  deadlineWindow: 20,
  /**
   * A ring stuck between live workers (all answer a probe) waits this much longer for a peer
   * heartbeat to name the broken link, ms: more than the transport's heartbeatTimeoutMs (15 s).
   */
  ringStallExtraMs: 20_000,
  /** Attempts of one step (each after dropping a worker) before the run fails. */
  maxAttempts: 8,
  /** Compare parameter hashes every this many updates (0 = never). */
  hashEvery: 100,
  /**
   * Gradient buckets of at least this many bytes, in backward order (`--bucket-mb`): small enough
   * that the first bucket's all-reduce starts during backward, large enough that each bucket's
   * ring latency (2(n-1) rounds) stays small against its transfer. Measured in the namespace lab
   * (W2, n = 2, 1 Gbit/s; docs/benchmarks.md) against 1, 2 and 8 MiB: on the rate-limited link the
   * best or within 2 %; with the lab's user-space delay one bucket (no overlap) ran 3-7 % faster,
   * as overlapped messages there compete with compute for the delay process's CPU.
   */
  bucketBytes: 4 << 20,
  /**
   * The first bucket's least size without compression (`--first-bucket-mb`), as PyTorch DDP's 1 MiB
   * first bucket: the link starts once backward has finished this much instead of a whole bucket.
   * With --compress the first bucket is --bucket-mb like the others: measured in the lab, the early
   * start gained 2 % uncompressed and lost 6 % with bf16 (docs/benchmarks.md, "Eighth pass").
   */
  firstBucketBytes: 1 << 20,
  /** Largest ring piece: backpressure works per piece, and a piece is one frame. */
  ringChunkBytes: 1 << 20,
  /** Largest piece of a shipped dataset. */
  dataChunkBytes: 4 << 20,
  /** Times a dropped worker joins again (`dptrain worker --rejoins`). */
  rejoins: 3,
  /** From the handshake to `ready` (loading the dataset, starting threads), ms. */
  joinTimeoutMs: 300_000,
  /** How long a run with no workers left waits for one to join before failing, ms. */
  rejoinTimeoutMs: 300_000,
  /**
   * auto: star for one worker or below this many parameters, ring otherwise. Measured
   * (docs/protocol.md §6.6, docs/benchmarks.md): the star wins for 7,850 and 50,890 parameters at
   * 2-4 workers on loopback (the ring's 2(n-1) rounds are latency-bound); the ring wins for W2 at
   * every n, for W1 at n = 2 on loopback, and for W1 at n = 3-4 in the emulated 1 Gbit/s LAN
   * (2.1x and 1.7x), where loopback had favoured the star only because 2 cores were shared.
   */
  autoRingMinParams: 100_000,
  /**
   * A worker that lost its coordinator (killed, or the network broke) keeps reconnecting this
   * long, with the transport's backoff and jitter, before it gives up, ms (`dptrain worker
   * --reconnect-timeout`): long enough to restart a coordinator with --resume by hand.
   */
  reconnectTimeoutMs: 120_000,
  /**
   * The coordinator warns that a worker is slow when its mean response time (from `step` to its
   * result, without its slowest tenth) over the last `slowWindow` steps is over this multiple of
   * the median worker's (the faster one's, with two workers): a straggler everyone waits for,
   * reported but not dropped (docs/protocol.md §6.4).
   * Shards are proportional to threads, so equal hosts answer in equal times.
   */
  slowFactor: 1.5,
  /** ...and at least this much slower, ms (sub-millisecond steps are noisy). */
  slowMinMs: 3,
  /** Steps over which response times are summarized for the slow-worker report. */
  slowWindow: 20,
});

export interface WsCoordinatorOptions {
  /** Address to bind (default 127.0.0.1; anything else needs `token`). */
  host?: string;
  /** Port (0 = any free one; the log says which). */
  port?: number;
  /** Workers to wait for before the first step. */
  minWorkers: number;
  allreduce?: AllreduceChoice;
  /** The shared secret (readTokenFile). */
  token?: Uint8Array;
  /** Send the dataset to each worker instead of having it load the spec. */
  shipData?: boolean;
  /** The dataset exactly as loaded (before the split): its spec and hash go to workers. */
  loaded: Dataset;
  /** The dataset spec as given (workers load it). */
  datasetSpec: string;
  valSplit: number;
  standardize: boolean;
  hashEvery?: number;
  deadlineFloorMs?: number;
  deadlineFactor?: number;
  maxAttempts?: number;
  joinTimeoutMs?: number;
  rejoinTimeoutMs?: number;
  ringChunkBytes?: number;
  /** Gradient buckets of at least this many bytes (default wsDefaults.bucketBytes; 0 = one bucket). */
  bucketBytes?: number;
  /** The first bucket's least size (default wsDefaults.firstBucketBytes, or bucketBytes with compression; never above bucketBytes). */
  firstBucketBytes?: number;
  /** Start a bucket's all-reduce as soon as backward finished it (default true). */
  overlap?: boolean;
  /** Gradients on the wire (default 'none'): 16-bit floats change the results (docs/architecture.md). */
  compress?: Compress;
  /** With compress: keep each worker's rounding residual for its next step (default false). */
  compressFeedback?: boolean;
  /**
   * Ring: where the coordinator takes the reduced gradient from (default 'local'). 'local': when
   * a worker on the coordinator's own host is a member, it sends whole reduced buckets and the
   * others nothing (their uplinks carry only the ring); otherwise as 'all'. 'all': every worker
   * sends its finished segment of each bucket.
   */
  reducedFrom?: ReducedFrom;
  /**
   * 'full' (default): the coordinator is a replica, takes every step's reduced gradient and applies
   * every update, so no loss of workers loses the state. 'on-demand': in ring steps it takes only
   * the gradient's norm and updates nothing; it asks a worker for the parameters and optimizer
   * state when it needs them (validation, checkpoints, the final model, a joiner, a star step), and
   * the workers' replicas are compared with each other. If every worker is lost at once the run
   * stops (resume from a checkpoint). docs/architecture.md, "The coordinator's copy of the state".
   */
  coordinatorReplica?: CoordinatorReplica;
  /**
   * `dptrain coordinator`'s options as the run records them (config.json's and each checkpoint's
   * `coordinator`, so that --resume takes them back: coordinator-record.ts); the engine only hands
   * them on (Engine.coordinatorRecord).
   */
  record?: CoordinatorRecord;
  limits?: LimitOverrides;
  log?: TransportLogger;
  /** Called after every step and membership change, for a progress view. */
  onStatus?: (status: CoordinatorStatus) => void;
  /** Called at every membership change (a join, a leave, a drop and its reason), for a live view. */
  onMembership?: (event: MembershipEvent) => void;
  /** Called while it waits for `minWorkers` before the first step, with the workers ready so far. */
  onWaiting?: (ready: readonly { name: string; host: string; threads: number }[], needed: number) => void;
  /**
   * The run's interrupt (train()'s `signal`): once aborted, the wait for `minWorkers` ends, and
   * close() tells every worker `done {reason: "interrupted"}` instead of "finished".
   */
  signal?: AbortSignal;
}

/** The fields train() fills in from its run when withCoordinator()'s caller leaves them out. */
export type RunFilledOption = 'loaded' | 'datasetSpec' | 'valSplit' | 'standardize' | 'signal' | 'log';

/**
 * withCoordinator()'s options (the library): the coordinator's own; the data fields, the logger
 * and the AbortSignal default to the train() call's, so that they cannot disagree with it.
 */
export type CoordinatorOptions = Omit<WsCoordinatorOptions, RunFilledOption> & Partial<Pick<WsCoordinatorOptions, RunFilledOption>>;

/** What a progress view shows. */
export interface CoordinatorStatus {
  step: number;
  /** Current members in worker order. */
  workers: WorkerStatus[];
  /** Workers that joined and wait for the next step boundary. */
  waiting: string[];
  allreduce: Allreduce | null;
  /** Mean wall time of the gradient phase over recent steps, ms. */
  stepMs?: number | null;
  /** The worker with the largest share of the step time (null with fewer than 2 workers). */
  slowest?: string | null;
}

/** One change of membership, as a live view lists it. */
export interface MembershipEvent {
  /** join: became a member; leave: asked to go; drop: dropped by the coordinator (deadline, diverged, protocol); lost: its connection ended between steps. */
  kind: 'join' | 'leave' | 'drop' | 'lost';
  worker: string;
  host: string;
  threads: number;
  /** The step at (or before) which it happened. */
  step: number;
  reason: string;
}

export interface WorkerStatus {
  name: string;
  host: string;
  threads: number;
  /** The worker's compute time in its last step, ms. */
  lastComputeMs: number | null;
  /** Its rows in the last step. */
  lastRows: number;
  joinedAtStep: number;
  /** Mean time from `step` to its result over recent steps (without the slowest tenth), ms (null before its first step). */
  responseMs?: number | null;
  /** Mean share of the step's gradient phase it took over recent steps, 0..1 (~1: the others waited for it). */
  share?: number | null;
  /** Bytes this coordinator sent to it and received from it so far (frames, handshake included). */
  bytesSent?: number;
  bytesReceived?: number;
}

/** Validates the coordinator options that do not come from TrainConfig; messages name the flag. */
export function checkCoordinatorOptions(o: WsCoordinatorOptions): void {
  const positiveInteger = (flag: string, value: unknown) => {
    if (!(Number.isInteger(value) && (value as number) >= 1)) throw new ConfigError('badOption', `${flag} must be a positive integer (got ${shown(value)})`);
  };
  const nonNegativeInteger = (flag: string, value: unknown) => {
    if (!(Number.isInteger(value) && (value as number) >= 0)) throw new ConfigError('badOption', `${flag} must be an integer ≥ 0 (got ${shown(value)})`);
  };
  positiveInteger('--min-workers', o.minWorkers);
  if (o.allreduce !== undefined && !['star', 'ring', 'auto'].includes(o.allreduce)) {
    throw new ConfigError('badOption', `--allreduce must be one of star, ring, auto (got ${shown(o.allreduce)})`);
  }
  if (o.hashEvery !== undefined) nonNegativeInteger('--hash-every', o.hashEvery);
  if (o.deadlineFloorMs !== undefined) positiveInteger('--step-deadline-floor', o.deadlineFloorMs);
  if (o.deadlineFactor !== undefined && !(typeof o.deadlineFactor === 'number' && o.deadlineFactor >= 1)) {
    throw new ConfigError('badOption', `deadlineFactor must be a number ≥ 1 (got ${shown(o.deadlineFactor)})`);
  }
  if (o.maxAttempts !== undefined) positiveInteger('maxAttempts', o.maxAttempts);
  if (o.ringChunkBytes !== undefined) positiveInteger('ringChunkBytes', o.ringChunkBytes);
  if (o.bucketBytes !== undefined && !(Number.isFinite(o.bucketBytes) && o.bucketBytes >= 0)) {
    throw new ConfigError('badOption', `--bucket-mb must be a number of MB ≥ 0 (0 = one bucket; got ${shown(o.bucketBytes / 2 ** 20)})`);
  }
  if (o.firstBucketBytes !== undefined && !(Number.isFinite(o.firstBucketBytes) && o.firstBucketBytes > 0)) {
    throw new ConfigError('badOption', `--first-bucket-mb must be a number of MiB > 0 (got ${shown(o.firstBucketBytes / 2 ** 20)})`);
  }
  if (o.reducedFrom !== undefined && !['local', 'all'].includes(o.reducedFrom)) {
    throw new ConfigError('badOption', `--reduced-from must be local or all (got ${shown(o.reducedFrom)})`);
  }
  if (o.coordinatorReplica !== undefined && !['full', 'on-demand'].includes(o.coordinatorReplica)) {
    throw new ConfigError('badOption', `--coordinator-replica must be full or on-demand (got ${shown(o.coordinatorReplica)})`);
  }
  if (o.compress !== undefined && !['none', 'fp16', 'bf16'].includes(o.compress)) {
    throw new ConfigError('badOption', `--compress must be one of none, fp16, bf16 (got ${shown(o.compress)})`);
  }
  if (o.port !== undefined && !(Number.isInteger(o.port) && o.port >= 0 && o.port <= 65_535)) {
    throw new ConfigError('badOption', `--listen port must be an integer from 0 to 65535 (got ${shown(o.port)})`);
  }
}

/** The all-reduce of one step: `auto` picks star for small models or at most 2 workers, ring otherwise. */
export function chooseAllreduce(choice: AllreduceChoice, workers: number, numParams: number, chunks: number): Allreduce {
  if (chunks > 0) return 'star'; // fixed chunks are reduced in chunk order, which only the star can do
  if (choice !== 'auto') return choice;
  return workers <= 1 || numParams < wsDefaults.autoRingMinParams ? 'star' : 'ring';
}
