/**
 * The coordinator's handle on one worker connection: who it is (name, host, threads, ring
 * address), what it did last (for the progress view), and a reader that hands every message
 * to the engine in arrival order. Messages a worker may not send are a protocol violation.
 */
import { isOwnAddress, type Connection } from '../../transport/index.js';
import type { CoordinatorMessage } from './messages.js';
import { plural } from '../../util/index.js';

/** Application close codes (docs/protocol.md §6; the transport leaves 4100-4999 to us). */
export const EngineCloseCode = Object.freeze({
  /** Missed the step deadline, or its connection broke during a step. */
  evicted: 4101,
  /** Not admitted: another dataset, model, kernel set or a bad hello. */
  refused: 4102,
  /** Its parameters' hash differs from the coordinator's: the replica diverged. */
  diverged: 4103,
  /** It sent a message that the protocol does not allow at that point. */
  protocol: 4104,
});

/**
 * Messages a worker may send; anything else from a worker is a protocol violation. `state` and
 * `optimizerState` go both ways: a worker sends them only when asked (`fetchState`), and the
 * coordinator ignores them otherwise.
 */
const FROM_WORKER = new Set<CoordinatorMessage['type']>(['ready', 'grad', 'chunkGrad', 'computed', 'ringResult', 'part', 'ringFailed', 'probeReply', 'hash', 'leave', 'bnPartial', 'state', 'optimizerState']);

export interface LinkHandlers {
  message(link: WorkerLink, message: CoordinatorMessage): void;
  /** The connection ended; `reason` says why (already logged by the transport when it was an error). */
  gone(link: WorkerLink, reason: string): void;
}

export class WorkerLink {
  readonly connection: Connection<CoordinatorMessage>;
  readonly name: string;
  readonly host: string;
  readonly threads: number;
  /** The IP the coordinator sees it at. */
  readonly ip: string;
  /** It runs on the coordinator's host (a loopback or own interface address): no real link between them. */
  readonly onThisHost: boolean;
  ringUrl: string | null = null;
  joinedAtStep = -1;
  lastComputeMs: number | null = null;
  /** In its last step: from sending `step` to its gradient (star) or `computed` (ring), ms, as the coordinator saw it. */
  lastResponseMs: number | null = null;
  lastRows = 0;
  /** Set once the worker asked to leave (it is dropped at the next boundary without a warning). */
  leaving: string | null = null;
  #gone = false;

  constructor(connection: Connection<CoordinatorMessage>, threads: number, host: string) {
    this.connection = connection;
    this.name = connection.peer.name;
    this.threads = threads;
    this.host = host;
    this.ip = ipOf(connection.peer.remoteAddress);
    this.onThisHost = isOwnAddress(this.ip);
  }

  /** `"w1" (host-a, 10.0.0.2, 4 threads)` for logs. */
  get label(): string {
    return `"${this.name}" (${this.host}, ${this.ip}, ${plural(this.threads, 'thread')})`;
  }

  get isGone(): boolean {
    return this.#gone || !this.connection.isOpen;
  }

  /** Sends; a closed connection is reported by the reader, so a failed send is not an error here. */
  async send(message: CoordinatorMessage): Promise<boolean> {
    try {
      await this.connection.send(message);
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the connection with an application code and a reason the worker logs. */
  drop(code: number, reason: string): void {
    this.#gone = true;
    void this.connection.close(code, reason);
  }

  /** Starts handing messages to `handlers`; call once. */
  listen(handlers: LinkHandlers): void {
    void (async () => {
      let reason = 'closed the connection';
      try {
        for await (const message of this.connection) {
          if (!FROM_WORKER.has(message.type)) {
            const why = `sent "${message.type}", which only the coordinator sends`;
            this.drop(EngineCloseCode.protocol, `protocol violation: ${why}`);
            reason = `protocol violation: it ${why}`;
            break;
          }
          handlers.message(this, message);
        }
      } catch (error) {
        reason = (error as Error)?.message ?? String(error);
      }
      this.#gone = true;
      handlers.gone(this, reason);
    })();
  }
}

/** `127.0.0.1` from `127.0.0.1:50312`, `::1` from `[::1]:50312` (or `::1:50312`), IPv4-mapped IPv6 unwrapped. */
export function ipOf(remoteAddress: string | undefined): string {
  if (!remoteAddress) return 'unknown';
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(remoteAddress);
  const ip = bracketed ? bracketed[1] : remoteAddress.slice(0, remoteAddress.lastIndexOf(':'));
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** `ws://ip:port/`, with brackets for IPv6. */
export function wsUrl(ip: string, port: number): string {
  return `ws://${ip.includes(':') ? `[${ip}]` : ip}:${port}/`;
}
