/**
 * The ws engine's options: every limit with its default in one object (style.md habit 5), the
 * check that names the flag, and the `auto` all-reduce rule.
 */
import { ConfigError, shown } from '../../errors.js';
import type { Dataset } from '../../data/index.js';
import type { LimitOverrides, TransportLogger } from '../../transport/index.js';

export type AllreduceChoice = 'star' | 'ring' | 'auto';
export type Allreduce = 'star' | 'ring';

export const wsDefaults = Object.freeze({
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
  limits?: LimitOverrides;
  log?: TransportLogger;
  /** Called after every step and membership change, for a progress view. */
  onStatus?: (status: CoordinatorStatus) => void;
}

/** What a progress view shows. */
export interface CoordinatorStatus {
  step: number;
  /** Current members in worker order. */
  workers: WorkerStatus[];
  /** Workers that joined and wait for the next step boundary. */
  waiting: string[];
  allreduce: Allreduce | null;
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
