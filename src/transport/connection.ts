/**
 * An authenticated, open connection to one peer, carrying the application's messages `M`
 * (declared with `defineMessages`). Created by `listen` (server side) and `connect` (client side)
 * once the handshake has succeeded; ws and the handshake stay hidden.
 */
import type { RejectionCounts } from './codec.js';
import { TransportError } from './errors.js';
import type { CloseInfo, Link, LinkStats } from './link.js';
import type { Meta } from './messages.js';
import type { Dims, MessageSet } from './schema.js';

/** Who is on the other end, as proven by the handshake. */
export interface PeerInfo {
  /** The peer's name (hello.name or challenge.name). */
  name: string;
  /** The client's role (`worker`, `peer`, ...); `server` for the server seen from a client. */
  role: string;
  /** The application facts the peer sent in its hello or welcome. */
  meta: Meta;
  /** `ip:port` of the remote end. */
  remoteAddress: string | undefined;
}

export type { CloseInfo } from './link.js';
export type ConnectionStats = LinkStats;

export class Connection<M extends { type: string }> implements AsyncIterable<M> {
  readonly peer: Readonly<PeerInfo>;
  /** Our own name, as the peer knows it. */
  readonly localName: string;
  /** Resolves (never rejects) when the connection has closed; `error` says why unless it was normal. */
  readonly closed: Promise<CloseInfo>;

  readonly #link: Link;
  readonly #messages: MessageSet<M>;
  readonly #dims: Dims;

  /** @internal Built by listen/connect after the handshake. */
  constructor(link: Link, messages: MessageSet<M>, dims: Dims, peer: PeerInfo, localName: string) {
    this.#link = link;
    this.#messages = messages;
    this.#dims = dims;
    this.peer = Object.freeze({ ...peer, meta: Object.freeze({ ...peer.meta }) });
    this.localName = localName;
    this.closed = link.closed;
  }

  /** Our IP address on this connection: where the peer reached us, or we reached it from. */
  get localIp(): string | undefined {
    return this.#link.localIp;
  }

  /** True until the connection starts closing. */
  get isOpen(): boolean {
    return this.#link.phase === 'open';
  }

  /** Counts of refused frames and messages (shared by all connections of a server). */
  get rejections(): RejectionCounts {
    return this.#link.codec.rejections;
  }

  stats(): ConnectionStats {
    return this.#link.stats();
  }

  /**
   * Sends one message. It is checked against its schema first (a bug on our side fails here,
   * not at the peer), encoded (at most maxPayload bytes, else `payloadTooLarge`), and queued.
   * Resolves once queued: it waits while more than maxQueuedBytes are still unwritten, so a
   * loop of `await send()` never outruns the network. The message is copied when `send` is
   * called (reuse its arrays at once); concurrent sends go out in call order, but each holds its
   * encoded frame until its turn, so await them. Rejects with `closed` (or the error that closed
   * the connection) once it is closing.
   */
  async send(message: M): Promise<void> {
    const checked = this.#messages.validate(message, this.#dims);
    await this.#link.send(checked);
  }

  /** Resolves when every queued message has been written to the kernel. */
  flush(): Promise<void> {
    return this.#link.flush();
  }

  /**
   * The next message, in arrival order. Messages that arrived before a close are still
   * delivered; then it rejects with the error that closed the connection (`closed` for a
   * normal close). `timeoutMs` rejects with `timeout` and leaves the connection open.
   */
  receive(timeoutMs?: number): Promise<M> {
    return this.#link.receive(timeoutMs) as Promise<M>;
  }

  /** `for await (const m of conn)`: ends on a normal close, throws on any other. */
  async *[Symbol.asyncIterator](): AsyncIterator<M> {
    for (;;) {
      try {
        yield await this.receive();
      } catch (error) {
        if (error instanceof TransportError && error.problem === 'closed' && !this.#link.error) return;
        throw error;
      }
    }
  }

  /** Closes with `code` (1000; the application may use 4100-4999) and `reason` (≤ 123 bytes). */
  close(code?: number, reason?: string): Promise<CloseInfo> {
    return this.#link.close(code, reason);
  }

  /** Destroys the socket at once (no close handshake). */
  terminate(): void {
    this.#link.terminate();
  }
}
