/**
 * `listen()`: a WebSocket server that authenticates every client and hands out `Connection`s.
 * Binds 127.0.0.1 unless told otherwise, and refuses a non-loopback address without a token.
 * Upgrades go through our own http.Server so that limits apply before ws sees a request:
 * a plain HTTP request gets 426, a server at maxConnections or at its handshake slots gets 503,
 * a locked-out address 429 (admission.ts).
 */
import http from 'node:http';
import { Admission } from './admission.js';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode } from './close-codes.js';
import { Codec, RejectionCounts } from './codec.js';
import { Connection, type PeerInfo } from './connection.js';
import { TransportError } from './errors.js';
import { handshakeValidator, serverHandshake, type Admit } from './handshake.js';
import { resolveLimits, type LimitOverrides, type TransportLimits } from './limits.js';
import { Link } from './link.js';
import { silentLogger, type TransportLogger } from './log.js';
import { hostPort, reachableHosts } from './reachable.js';
import { handshakeMessages, NAME_PATTERN, type Meta } from './messages.js';
import type { MessageSet } from './schema.js';

export interface ListenOptions<M extends { type: string }> {
  /** Address to bind. Default `127.0.0.1`; anything but loopback needs a `token`. */
  host?: string;
  /** Port; 0 (the default) picks a free one (see `server.port`). */
  port?: number;
  /** This server's name in the handshake and in peers' logs. Default `coordinator`. */
  name?: string;
  /** The shared secret (`readTokenFile`). Without it, only loopback addresses may be bound. */
  token?: Uint8Array;
  /** The application's messages, carried after the handshake. */
  messages: MessageSet<M>;
  /** Named lengths for the schemas (`params`), read at validation time: may be filled in later. */
  dims?: Record<string, number>;
  /** Facts sent to every client in `welcome` (model spec, parameter count, dataset hash). */
  meta?: Meta;
  /** Admission check after authentication: return a reason to refuse the client (sent to it). */
  admit?: Admit<PeerInfo>;
  /** Refuse a client whose name is already connected. Default true. */
  uniqueNames?: boolean;
  limits?: LimitOverrides;
  log?: TransportLogger;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

interface AcceptWaiter<M extends { type: string }> {
  resolve(connection: Connection<M>): void;
  reject(error: unknown): void;
  timer?: NodeJS.Timeout;
}

export class Server<M extends { type: string }> implements AsyncIterable<Connection<M>> {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly limits: TransportLimits;
  /** Refused frames and messages of all connections, by reason. */
  readonly rejections = new RejectionCounts();

  readonly #http: http.Server;
  readonly #wss: WebSocketServer;
  readonly #options: ListenOptions<M>;
  readonly #log: TransportLogger;
  readonly #open = new Set<Connection<M>>();
  readonly #links = new Set<Link>();
  /** Names of admitted clients, reserved from admission until their connection closes. */
  readonly #names = new Map<string, Link>();
  readonly #admission: Admission;
  readonly #accepted: Connection<M>[] = [];
  readonly #acceptWaiters: AcceptWaiter<M>[] = [];
  #closing = false;

  /** @internal Use `listen()`. */
  constructor(httpServer: http.Server, options: ListenOptions<M>, limits: TransportLimits, host: string, port: number) {
    this.#http = httpServer;
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.limits = limits;
    this.#admission = new Admission(limits);
    this.host = host;
    this.port = port;
    this.name = options.name ?? 'coordinator';
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: limits.maxPayload,
      maxFragments: limits.maxFragments,
      maxBufferedChunks: limits.maxBufferedChunks,
      skipUTF8Validation: false,
      clientTracking: false,
      autoPong: true,
    });
    httpServer.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(request, socket, head));
  }

  /** `ws://host:port/` for clients. */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `ws://${host}:${this.port}/`;
  }

  /** Open connections (authenticated and not yet closed). */
  get connections(): ReadonlySet<Connection<M>> {
    return this.#open;
  }

  /** The next authenticated connection; rejects with `timeout` after `timeoutMs`, `closed` after `close()`. */
  accept(timeoutMs?: number): Promise<Connection<M>> {
    const next = this.#accepted.shift();
    if (next) return Promise.resolve(next);
    if (this.#closing) return Promise.reject(new TransportError('closed', `server ${this.url} is closed`));
    return new Promise((resolve, reject) => {
      const waiter: AcceptWaiter<M> = { resolve, reject };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.#acceptWaiters.splice(this.#acceptWaiters.indexOf(waiter), 1);
          reject(new TransportError('timeout', `no client joined ${this.url} within ${timeoutMs} ms`, { recoverable: true }));
        }, timeoutMs);
      }
      this.#acceptWaiters.push(waiter);
    });
  }

  /** `for await (const conn of server)`: every authenticated connection, until `close()`. */
  async *[Symbol.asyncIterator](): AsyncIterator<Connection<M>> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (error) {
        if (this.#closing) return;
        throw error;
      }
    }
  }

  /** Stops listening and closes every connection with 1001 (going away). */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const waiter of this.#acceptWaiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new TransportError('closed', `server ${this.url} is closed`));
    }
    const closing = [...this.#links].map((link) => link.close(CloseCode.goingAway, 'server shutting down'));
    this.#http.closeAllConnections?.();
    await Promise.all([new Promise<void>((resolve) => this.#http.close(() => resolve())), ...closing]);
    this.#wss.close();
  }

  #onUpgrade(request: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const refuse = (status: string, why: string) => {
      this.#log.warn({ remoteAddress: request.socket.remoteAddress, status }, `refusing a connection to ${this.url}: ${why}`);
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${why}\n`);
    };
    if (this.#closing) return refuse('503 Service Unavailable', 'the server is shutting down');
    if (this.#links.size >= this.limits.maxConnections) return refuse('503 Service Unavailable', `the server holds maxConnections (${this.limits.maxConnections})`);
    const refusal = this.#admission.checkUpgrade(request.socket.remoteAddress ?? '', Date.now());
    if (refusal) return refuse(refusal.status, refusal.why);
    this.#wss.handleUpgrade(request, socket, head, (ws) => void this.#onSocket(ws, request));
  }

  async #onSocket(ws: WebSocket, request: http.IncomingMessage): Promise<void> {
    const remote = hostPort(request.socket.remoteAddress ?? 'unknown', request.socket.remotePort ?? 0);
    const link = new Link({
      ws,
      side: 'server',
      codec: new Codec(this.limits, this.rejections),
      limits: this.limits,
      log: this.#log,
      label: `client ${remote}`,
      validateHandshake: handshakeValidator('server'),
    });
    const address = request.socket.remoteAddress ?? '';
    this.#links.add(link);
    this.#admission.begin(address);
    let handshaking = true;
    let claimed: string | undefined;
    /** False once the client proved the token, or was refused unheard as already locked out. */
    let countsAsFailure = true;
    const endHandshake = () => {
      if (!handshaking) return;
      handshaking = false;
      this.#admission.end(address);
      // Gone, silent or wrong before proving the token: counted, whatever the way it ended.
      if (countsAsFailure && !this.#closing) this.#admission.failed(address, claimed, Date.now());
    };
    void link.closed.then(() => {
      this.#links.delete(link);
      endHandshake();
    });

    const dims = this.#options.dims ?? {};
    const messages = this.#options.messages;
    try {
      const peer = await serverHandshake(link, {
        name: this.name,
        token: this.#options.token,
        meta: this.#options.meta ?? {},
        screen: ({ name }) => {
          claimed = name;
          const lockedOut = this.#admission.checkName(address, name, Date.now());
          // Refused unheard, so not a new failure: a client that keeps retrying waits out the lockout, no longer.
          if (lockedOut !== undefined) countsAsFailure = false;
          return lockedOut;
        },
        proven: () => {
          countsAsFailure = false;
          this.#admission.proven(address);
        },
        admit: (candidate) => this.#admit(link, candidate),
        open: () => link.open((raw) => messages.validate(raw, dims)),
      });
      endHandshake();
      const connection = new Connection<M>(link, messages, dims, { ...peer, remoteAddress: remote }, this.name);
      this.#open.add(connection);
      void connection.closed.then(() => this.#open.delete(connection));
      const waiter = this.#acceptWaiters.shift();
      if (waiter) {
        clearTimeout(waiter.timer);
        waiter.resolve(connection);
      } else this.#accepted.push(connection);
    } catch {
      // Link.fail has logged the reason and told the client; counted now, not when the socket has closed.
      endHandshake();
      if (link.phase === 'handshake' || link.phase === 'open') link.terminate();
    }
  }

  /** Unique names (reserved until the connection closes), then the application's admission check. */
  async #admit(link: Link, candidate: PeerInfo): Promise<string | { nameTaken: string } | undefined> {
    const unique = this.#options.uniqueNames !== false;
    const taken = () => {
      const holder = this.#names.get(candidate.name);
      const from = holder?.remoteAddress ?? 'unknown';
      return holder ? { nameTaken: `a peer named "${candidate.name}" is already connected (from ${from}) — choose another --name, or wait for the old one to leave` } : undefined;
    };
    if (unique && taken()) return taken();
    const refusal = await this.#options.admit?.(candidate);
    if (typeof refusal === 'string') return refusal;
    // checked again and reserved in the same tick: two clients racing with one name cannot both win
    if (unique) {
      const again = taken();
      if (again) return again;
      this.#names.set(candidate.name, link);
      void link.closed.then(() => {
        if (this.#names.get(candidate.name) === link) this.#names.delete(candidate.name);
      });
    }
    return undefined;
  }
}

/** Starts a server; resolves once it listens. */
export async function listen<M extends { type: string }>(options: ListenOptions<M>): Promise<Server<M>> {
  const limits = resolveLimits(options.limits);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TransportError('badOption', `port must be an integer from 0 to 65535 (got ${String(port)})`);
  }
  const name = options.name ?? 'coordinator';
  if (!NAME_PATTERN.test(name)) throw new TransportError('badOption', `server name ${JSON.stringify(name)} must match ${NAME_PATTERN}`);
  if (!isLoopback(host) && (options.token === undefined || options.token.length === 0)) {
    throw new TransportError(
      'insecureListen',
      `refusing to listen on ${host} without a token: anyone who can reach it could join; pass --token-file (or listen on 127.0.0.1)`,
    );
  }
  for (const type of options.messages.types) {
    if (handshakeMessages.has(type)) throw new TransportError('badOption', `message type "${type}" is reserved by the transport handshake`);
  }

  const httpServer = http.createServer((_request, response) => {
    response.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close', Upgrade: 'websocket' });
    response.end('dptrain speaks WebSocket here\n');
  });
  httpServer.maxHeadersCount = 100;
  httpServer.headersTimeout = limits.handshakeTimeoutMs;
  httpServer.requestTimeout = limits.handshakeTimeoutMs;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(new TransportError('listenFailed', `cannot listen on ${host}:${port}: ${error.code ?? error.message}`, { cause: error }));
    };
    httpServer.once('error', onError);
    httpServer.listen(port, host, () => {
      httpServer.off('error', onError);
      resolve();
    });
  });
  const address = httpServer.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const server = new Server<M>(httpServer, options, limits, host, boundPort);
  // Never `ws://0.0.0.0:…/`, which no one can dial: a bind to every interface names one to dial.
  const dial = reachableHosts(host);
  const every = dial[0] !== host.replace(/^\[(.*)\]$/, '$1') ? ' (every interface)' : '';
  (options.log ?? silentLogger).info({ url: server.url }, `listening on ws://${hostPort(dial[0], boundPort)}/${every}`);
  return server;
}
