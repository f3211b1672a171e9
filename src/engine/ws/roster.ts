/**
 * Who is in the run. A worker that passes the transport handshake is sent the run's setup (and
 * the dataset, with --ship-data); once it answers `ready` with the same dataset, training-split,
 * model and kernel proofs it waits, and the engine makes it a member at the next step boundary
 * (after sending it the current parameters and optimizer state). Members are kept in join
 * order, which is the worker order of shards and reductions.
 */
import type { Dataset } from '../../data/index.js';
import type { Connection, Meta, Server, TransportLogger } from '../../transport/index.js';
import { TransportError } from '../../transport/index.js';
import { ENGINE_REVISION, type CoordinatorMessage, type SetupMessage } from './messages.js';
import { dataPieces } from './run-setup.js';
import { EngineCloseCode, WorkerLink, wsUrl, type LinkHandlers } from './worker-link.js';

export interface JoinFacts {
  setup: SetupMessage;
  /** The dataset to ship (with --ship-data). */
  loaded: Dataset;
  dataChunkFloats: number;
  joinTimeoutMs: number;
}

/** Checks the facts a worker states in its hello; returns a reason to refuse it. */
export function checkHelloMeta(meta: Meta): string | undefined {
  const threads = meta.threads;
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 1024) {
    return `its hello must state "threads" as an integer from 1 to 1024 (got ${JSON.stringify(threads)})`;
  }
  if (typeof meta.host !== 'string' || meta.host.length === 0 || meta.host.length > 255) return 'its hello must state its "host" name';
  if (meta.engine !== ENGINE_REVISION) {
    return `it speaks revision ${meta.engine === undefined ? 1 : JSON.stringify(meta.engine)} of the ws engine's messages, this coordinator revision ${ENGINE_REVISION}; run the same dptrain version on every host`;
  }
  return undefined;
}

/** A close reason holds 123 bytes (RFC 6455): the fix first, then the whole reason, or its brief form, if it fits. */
export function refusalText(why: string, fix?: string, brief?: string): string {
  if (!fix) return why;
  for (const detail of [why, brief]) {
    const text = detail ? `${fix} (${detail})` : fix;
    if (Buffer.byteLength(text) <= 123) return text;
  }
  return fix;
}

/** Why a joining worker's connection ended, in its words where it gave any (a close reason). */
function leftBecause(error: unknown): string {
  if (error instanceof TransportError && error.closeCode !== undefined && error.closeReason) {
    return `it closed the connection (${error.closeReason}) before it was ready`;
  }
  if (error instanceof TransportError && error.closeCode === 1006) return 'its connection was lost before it was ready (the process ended or the network broke)';
  return `${(error as Error)?.message ?? String(error)} (it exited before it was ready; its own log says why)`;
}

export class Roster {
  /** In worker order. */
  readonly members: WorkerLink[] = [];
  /** Ready, waiting for the next step boundary. */
  readonly waiting: WorkerLink[] = [];
  readonly #server: Server<CoordinatorMessage>;
  readonly #facts: JoinFacts;
  readonly #log: TransportLogger;
  readonly #handlers: LinkHandlers;
  #wakers: (() => void)[] = [];

  constructor(server: Server<CoordinatorMessage>, facts: JoinFacts, log: TransportLogger, handlers: LinkHandlers) {
    this.#server = server;
    this.#facts = facts;
    this.#log = log;
    this.#handlers = handlers;
  }

  start(): void {
    void (async () => {
      for await (const connection of this.#server) void this.#join(connection);
    })();
  }

  /** Resolves when members + waiting reach `count`, or after `timeoutMs` (resolving false). */
  async waitFor(count: number, timeoutMs: number, onWait?: () => void, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const onAbort = () => this.#wake();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#waitFor(count, deadline, onWait, signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #waitFor(count: number, deadline: number, onWait: (() => void) | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    while (this.members.filter((m) => !m.isGone).length + this.waiting.length < count) {
      if (signal?.aborted) return false;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 10_000));
        this.#wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      onWait?.();
    }
    return true;
  }

  /** Takes a link out of the run (members or waiting). */
  remove(link: WorkerLink): void {
    for (const list of [this.members, this.waiting]) {
      const i = list.indexOf(link);
      if (i >= 0) list.splice(i, 1);
    }
  }

  #wake(): void {
    for (const wake of this.#wakers.splice(0)) wake();
  }

  async #join(connection: Connection<CoordinatorMessage>): Promise<void> {
    const meta = connection.peer.meta;
    const link = new WorkerLink(connection, meta.threads as number, meta.host as string);
    // The log has the whole reason; the worker's close reason is cut to fit (refusalText).
    const refuse = (why: string, code: number = EngineCloseCode.refused, fix?: string, brief?: string) => {
      this.#log.warn({ worker: link.name, host: link.host, reason: why }, `refusing worker ${link.label}: ${fix ? `${why}; ${fix}` : why}`);
      link.drop(code, refusalText(why, fix, brief));
    };
    try {
      this.#log.info({ worker: link.name, host: link.host, threads: link.threads, address: link.ip }, `worker ${link.label} connected; sending the run's setup`);
      const { setup } = this.#facts;
      await connection.send(setup);
      if (setup.shipped) {
        for (const piece of dataPieces(this.#facts.loaded, this.#facts.dataChunkFloats)) await connection.send({ type: 'dataChunk', ...piece });
      }
      const ready = await connection.receive(this.#facts.joinTimeoutMs);
      if (ready.type === 'leave') {
        // The worker found it cannot join (its data, kernels or ring listener) and says why.
        const says = ready.reason.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
        this.#log.warn({ worker: link.name, host: link.host, reason: says }, `worker ${link.label} left while joining: ${says}`);
        link.drop(1000, 'left while joining');
        return;
      }
      if (ready.type !== 'ready') return refuse(`protocol violation: expected "ready", got "${ready.type}"`, EngineCloseCode.protocol);
      if (ready.numParams !== setup.numParams) {
        return refuse(`its model ${setup.model} has ${ready.numParams} parameters, the coordinator's ${setup.numParams}`, undefined, 'run the same dptrain version on both', 'its parameter count differs');
      }
      if (ready.datasetHash !== setup.datasetHash) {
        return refuse(
          `its dataset ${setup.dataset} hashes to ${ready.datasetHash}, the coordinator's to ${setup.datasetHash}`,
          undefined,
          'give both hosts the same file, or start the coordinator with --ship-data',
          `the worker's data hashes to ${ready.datasetHash.slice(0, 15)}…`,
        );
      }
      if (ready.trainHash !== setup.trainHash) {
        return refuse(`its training split hashes to ${ready.trainHash}, the coordinator's to ${setup.trainHash} (same data, another preparation)`, undefined, 'run the same dptrain version on both', 'same data, another training split');
      }
      if (ready.kernels !== setup.kernels) return refuse(`it runs the ${ready.kernels} kernels, the run uses ${setup.kernels}`, undefined, `pass --kernels ${ready.kernels} to the coordinator`);
      if (setup.ring) {
        if (ready.ringPort === undefined) return refuse('it announced no ring port; the run may use the ring all-reduce');
        link.ringUrl = wsUrl(link.ip, ready.ringPort);
      }
      link.listen(this.#handlers);
      this.waiting.push(link);
      this.#log.info({ worker: link.name, host: link.host, threads: link.threads }, `worker ${link.label} is ready; it joins at the next step`);
      this.#wake();
    } catch (error) {
      const why = error instanceof TransportError && error.problem === 'timeout' ? `it was not ready within ${this.#facts.joinTimeoutMs} ms` : `its join failed: ${(error as Error)?.message ?? String(error)}`;
      if (connection.isOpen) refuse(why);
      else this.#log.warn({ worker: link.name }, `worker ${link.label} left while joining: ${leftBecause(error)}`);
    }
  }
}
