/**
 * A worker's ring connections: a listener its ring predecessor connects to, and one outgoing
 * connection to its successor. Both are authenticated with the run's token (role `peer`) and
 * carry only `peerMessages`. Connections are kept across steps and replaced only when the
 * coordinator names another neighbour (the membership changed).
 */
import { connect, listen, type Connection, type LimitOverrides, type Server, type TransportLogger } from '../../transport/index.js';
import { Superseded } from '../../errors.js';
import { peerMessages, type PeerMessage } from './messages.js';

export { Superseded };

function abortable<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  if (signal.aborted) return Promise.reject(new Superseded(what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Superseded(what));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Messages from one predecessor. At most one `receive()` is outstanding, and it is reused after a
 * cancellation, so a message that arrives after an abort is never lost to a forgotten promise.
 */
export class PeerInbox {
  readonly connection: Connection<PeerMessage>;
  #pending: Promise<PeerMessage> | null = null;
  readonly #stash: PeerMessage[] = [];

  constructor(connection: Connection<PeerMessage>) {
    this.connection = connection;
  }

  async next(signal: AbortSignal): Promise<PeerMessage> {
    const stashed = this.#stash.shift();
    if (stashed) return stashed;
    this.#pending ??= this.connection.receive();
    const message = await abortable(this.#pending, signal, 'a ring receive');
    this.#pending = null;
    return message;
  }

  /** Puts a message back (it belongs to a later attempt). */
  unshift(message: PeerMessage): void {
    this.#stash.unshift(message);
  }
}

export interface PeerLinksOptions {
  name: string;
  host: string;
  /** The listener's port; 0 (the default) lets the OS choose. */
  port?: number;
  token: Uint8Array | undefined;
  dims: Record<string, number>;
  limits?: LimitOverrides;
  log: TransportLogger;
}

export class PeerLinks {
  readonly #options: PeerLinksOptions;
  readonly #server: Server<PeerMessage>;
  readonly #incoming = new Map<string, PeerInbox>();
  readonly #incomingWaiters = new Set<() => void>();
  #outgoing: { name: string; url: string; connection: Promise<Connection<PeerMessage>>; stop: AbortController } | null = null;
  #closed = false;

  private constructor(options: PeerLinksOptions, server: Server<PeerMessage>) {
    this.#options = options;
    this.#server = server;
    void this.#acceptLoop();
  }

  static async open(options: PeerLinksOptions): Promise<PeerLinks> {
    const server = await listen<PeerMessage>({
      host: options.host,
      port: options.port ?? 0,
      name: options.name,
      token: options.token,
      messages: peerMessages,
      dims: options.dims,
      uniqueNames: false, // a predecessor that reconnects replaces its old connection
      admit: (peer) => (peer.role === 'peer' ? undefined : `only ring peers connect to this port (got role "${peer.role}")`),
      limits: options.limits,
      log: options.log,
    });
    return new PeerLinks(options, server);
  }

  get port(): number {
    return this.#server.port;
  }

  async #acceptLoop(): Promise<void> {
    for await (const connection of this.#server) {
      const name = connection.peer.name;
      const old = this.#incoming.get(name);
      this.#incoming.set(name, new PeerInbox(connection));
      if (old) void old.connection.close(1000, 'replaced by a new connection');
      void connection.closed.then(() => {
        if (this.#incoming.get(name)?.connection === connection) this.#incoming.delete(name);
      });
      for (const wake of [...this.#incomingWaiters]) wake();
    }
  }

  /** The open connection from predecessor `name`, waiting for it to connect. */
  async incoming(name: string, signal: AbortSignal): Promise<PeerInbox> {
    for (;;) {
      const inbox = this.#incoming.get(name);
      if (inbox && inbox.connection.isOpen) return inbox;
      let wake!: () => void;
      const arrived = new Promise<void>((resolve) => (wake = resolve));
      this.#incomingWaiters.add(wake);
      try {
        await abortable(arrived, signal, `waiting for ring predecessor "${name}"`);
      } finally {
        this.#incomingWaiters.delete(wake);
      }
    }
  }

  /** The connection to successor `name` at `url`, opened (or replaced) as needed. */
  async outgoing(name: string, url: string, signal: AbortSignal): Promise<Connection<PeerMessage>> {
    const current = this.#outgoing;
    if (current && current.name === name && current.url === url) {
      const connection = await abortable(current.connection, signal, `connecting to ring successor "${name}"`).catch((error: unknown) => {
        if (this.#outgoing === current && !(error instanceof Superseded)) this.#outgoing = null;
        throw error;
      });
      if (connection.isOpen) return connection;
      this.#outgoing = null;
    } else if (current) {
      this.#outgoing = null;
      current.stop.abort(); // stops the retries of a connect still in progress
      void current.connection.then((c) => c.close(1000, 'no longer my ring successor')).catch(() => {});
    }
    const stop = new AbortController();
    const connection = connect<PeerMessage>(url, {
      name: this.#options.name,
      role: 'peer',
      token: this.#options.token,
      messages: peerMessages,
      dims: this.#options.dims,
      limits: { ...this.#options.limits, reconnect: { attempts: 5, initialDelayMs: 100, maxDelayMs: 1_000 } },
      log: this.#options.log,
      signal: stop.signal,
      admit: (server: { name: string }) => (server.name === name ? undefined : `expected ring successor "${name}", found "${server.name}"`),
    });
    connection.catch(() => {});
    this.#outgoing = { name, url, connection, stop };
    return this.outgoing(name, url, signal);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const out = this.#outgoing;
    this.#outgoing = null;
    out?.stop.abort();
    await Promise.all([
      out?.connection.then((c) => c.close(1000, 'worker leaving')).catch(() => {}),
      this.#server.close(),
    ]);
  }
}

export { abortable };
