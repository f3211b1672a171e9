/**
 * The dashboard's server: plain node:http for the page and its assets, and a WebSocket (ws) that
 * sends each browser the hub's snapshot, then its deltas once a second. Read-only: what a
 * browser sends is ignored. Every response carries a strict Content-Security-Policy (scripts,
 * styles and connections from this origin only; nothing inline, nothing from the internet).
 *
 * A browser that reads slowly, or never, cannot stall training: nothing here awaits a client;
 * a client with more than `maxBufferedBytes` unsent gets no updates (they are dropped, never
 * queued) until it has drained, and then one fresh snapshot.
 *
 * With a key (a token was given, required off loopback): `/?token=KEY` sets a cookie and
 * redirects to `/`; any other request without the cookie, and any WebSocket without it, is
 * refused with 401. On loopback without a key, requests must name a loopback Host (a page on
 * another site cannot reach it through DNS rebinding) and WebSockets must come from this origin.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { ConfigError } from '../errors.js';
import { cannotListenBecause } from '../util/listen-error.js';
import { hostPort, isLoopback, reachableHosts } from '../transport/index.js';
import { sameKey, type DashboardAddress } from './address.js';
import type { DashboardHub } from './hub.js';
import { pageAssets, type Asset } from './page.js';

export const dashboardDefaults = Object.freeze({
  /**
   * How often browsers get what changed, ms: the page shows its numbers once a second, so more
   * often would only wake the browser more (docs/dashboard.md, "Cost").
   */
  flushMs: 1000,
  /** Browsers connected at once. */
  maxClients: 16,
  /** Unsent bytes a browser may have before its updates are dropped. */
  maxBufferedBytes: 1 << 20,
  /** Largest message a browser may send (it need send none). */
  maxPayload: 4096,
});

/** Cookies are per host, not per port: each dashboard's cookie carries its port in its name. */
const cookieName = (port: number) => `dptrain_dashboard_${port}`;

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

interface Client {
  ws: WebSocket;
  /** Updates were dropped for it: it gets a snapshot once it has drained. */
  behind: boolean;
}

export interface DashboardServerOptions extends DashboardAddress {
  hub: DashboardHub;
  /** The key browsers must present (dashboardKey(token)); null: no key (loopback only). */
  key: string | null;
  flushMs?: number;
  maxBufferedBytes?: number;
}

export class DashboardServer {
  /** The URL to open (with the key, when there is one). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly #http: http.Server;
  readonly #wss: WebSocketServer;
  readonly #hub: DashboardHub;
  readonly #key: string | null;
  readonly #assets: Map<string, Asset>;
  readonly #clients = new Set<Client>();
  readonly #maxBuffered: number;
  readonly #timer: NodeJS.Timeout;
  #dropped = 0;
  #closed = false;

  private constructor(server: http.Server, options: DashboardServerOptions, port: number) {
    this.#http = server;
    this.#hub = options.hub;
    this.#key = options.key;
    this.#maxBuffered = options.maxBufferedBytes ?? dashboardDefaults.maxBufferedBytes;
    this.#assets = pageAssets(options.hub.kind, options.hub.title);
    this.host = options.host;
    this.port = port;
    const shown = reachableHosts(options.host)[0];
    this.url = `http://${hostPort(shown, port)}/${options.key ? `?token=${options.key}` : ''}`;
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: dashboardDefaults.maxPayload, clientTracking: false });
    server.on('request', (req, res) => this.#onRequest(req, res));
    server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    // Unref'd: the dashboard never keeps the process alive.
    this.#timer = setInterval(() => this.#flush(), options.flushMs ?? dashboardDefaults.flushMs);
    this.#timer.unref();
  }

  /** Listens; a port in use or an address this machine does not have is a ConfigError (exit 2). */
  static async start(options: DashboardServerOptions): Promise<DashboardServer> {
    const server = http.createServer({ maxHeaderSize: 16 * 1024 });
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    const where = hostPort(options.host, options.port);
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(where, error)));
      server.listen(options.port, options.host, () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : options.port);
      });
    });
    server.unref();
    return new DashboardServer(server, options, port);
  }

  /** Updates dropped so far because a browser had too much unsent. */
  get droppedUpdates(): number {
    return this.#dropped;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Sends the final state, closes every browser's connection and stops listening. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearInterval(this.#timer);
    const closing = [...this.#clients].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === WebSocket.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          c.ws.close(1001, 'the run ended');
          // A browser that does not answer the close (or never reads) is cut off.
          setTimeout(() => {
            c.ws.terminate();
            resolve();
          }, 1000).unref();
        }),
    );
    await Promise.all(closing);
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #flush(): void {
    if (this.#closed || this.#clients.size === 0) return;
    const delta = this.#hub.takeDelta();
    const text = delta ? JSON.stringify(delta) : null;
    let snapshot: string | null = null;
    for (const client of this.#clients) {
      if (client.ws.readyState !== WebSocket.OPEN) continue;
      if (client.ws.bufferedAmount > this.#maxBuffered) {
        if (text) this.#dropped += 1;
        client.behind = true;
        continue;
      }
      if (client.behind) {
        snapshot ??= JSON.stringify(this.#hub.snapshot());
        client.ws.send(snapshot);
        client.behind = false;
      } else if (text) client.ws.send(text);
    }
  }

  #authorized(req: http.IncomingMessage): boolean {
    return this.#key === null || sameKey(cookieOf(req, cookieName(this.port)), this.#key);
  }

  /** Host must name a loopback address when listening on one (DNS rebinding). */
  #hostAllowed(req: http.IncomingMessage): boolean {
    if (!isLoopback(this.host)) return true;
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    return isLoopback(host);
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send = (status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
      res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'read-only: GET only\n', { Allow: 'GET, HEAD' });
    if (!this.#hostAllowed(req)) return send(403, 'text/plain; charset=utf-8', 'this dashboard answers to a loopback host name only (127.0.0.1, localhost)\n');
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const token = url.searchParams.get('token');
    if (this.#key !== null && token !== null && url.pathname === '/') {
      if (!sameKey(token, this.#key)) return send(401, 'text/plain; charset=utf-8', 'wrong token: open the URL dptrain printed at start-up\n');
      // The key moves from the URL (history, screenshots) into a cookie this origin alone sends.
      return send(303, 'text/plain; charset=utf-8', 'see /\n', { Location: '/', 'Set-Cookie': `${cookieName(this.port)}=${this.#key}; Path=/; HttpOnly; SameSite=Strict` });
    }
    if (!this.#authorized(req)) return send(401, 'text/plain; charset=utf-8', 'this dashboard needs its token: open the URL dptrain printed at start-up (…/?token=…)\n');
    if (url.pathname === '/favicon.ico') return send(204, 'image/x-icon', ''); // none, and no 404 in the console
    const asset = this.#assets.get(url.pathname);
    if (!asset) return send(404, 'text/plain; charset=utf-8', 'not found\n');
    send(200, asset.type, asset.body);
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const refuse = (status: string, why: string): void => void socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${why}\n`);
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
    if (this.#closed) return refuse('503 Service Unavailable', 'the run ended');
    if (path !== '/ws') return refuse('404 Not Found', 'the dashboard socket is /ws');
    if (!this.#hostAllowed(req)) return refuse('403 Forbidden', 'a loopback host name only');
    // Browsers send Origin: only this page may connect (another site's script may not read the run).
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) return refuse('403 Forbidden', `origin ${origin} may not connect`);
    if (!this.#authorized(req)) return refuse('401 Unauthorized', 'this dashboard needs its token cookie: open the URL dptrain printed at start-up');
    if (this.#clients.size >= dashboardDefaults.maxClients) return refuse('503 Service Unavailable', `${dashboardDefaults.maxClients} browsers are connected already`);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onSocket(ws));
  }

  #onSocket(ws: WebSocket): void {
    const client: Client = { ws, behind: false };
    // The first browser: what changed before it came is in its snapshot, not in the next delta.
    if (this.#clients.size === 0) this.#hub.takeDelta();
    this.#clients.add(client);
    ws.on('message', () => {}); // read-only: nothing a browser says is acted on
    ws.on('error', () => ws.terminate());
    ws.on('close', () => this.#clients.delete(client));
    ws.send(JSON.stringify(this.#hub.snapshot()));
  }
}

function cookieOf(req: http.IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function listenError(where: string, error: NodeJS.ErrnoException): ConfigError {
  const why = cannotListenBecause(error, 'choose another port, or pass --dashboard alone for a free one');
  return new ConfigError('dashboardListen', `--dashboard ${where}: cannot listen: ${why}`, { cause: error });
}
