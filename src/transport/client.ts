/**
 * `connect()`: opens a WebSocket to a dptrain server, runs the handshake and returns a
 * `Connection`. Network failures (refused, reset, unreachable, timeouts, a full server) are
 * retried with exponential backoff and jitter; refusals (token, version, admission, bad frames)
 * are not, since retrying cannot fix them.
 *
 * Masking: RFC 6455 §5.3 makes a client mask every frame with a fresh random 4-byte key, so that
 * script-chosen bytes cannot look like HTTP to a proxy between a browser and the server (the
 * cache-poisoning attack of Huang et al., "Talking to Yourself for Fun and Profit", 2011). dptrain's
 * clients are not browsers and send only bytes they encoded themselves to a peer that proved the
 * token, so by default they send the all-zero key (`maskKey: 'zero'`): the frame still has its MASK
 * bit and key, any RFC 6455 server accepts it, and ws skips the XOR on both ends (sender.js
 * `skipMasking`, receiver.js `getData`), which saves a pass over every byte on each side
 * (docs/protocol.md §1, docs/benchmarks.md "All-reduce across hosts").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { Codec } from './codec.js';
import { Connection } from './connection.js';
import { TransportError, type TransportProblem } from './errors.js';
import { clientHandshake, handshakeValidator, type Admit } from './handshake.js';
import { resolveLimits, type LimitOverrides, type TransportLimits } from './limits.js';
import { Link } from './link.js';
import { silentLogger, type TransportLogger } from './log.js';
import { handshakeMessages, NAME_PATTERN, ROLE_PATTERN, type Meta } from './messages.js';
import type { MessageSet } from './schema.js';
import { plural } from '../util/plural.js';

export interface ConnectOptions<M extends { type: string }> {
  /** Our name in the handshake and the server's logs (unique per server by default). */
  name: string;
  /** Our role: `worker`, `peer`, ... (an identifier). Default `worker`. */
  role?: string;
  /** The shared secret (`readTokenFile`); must be the server's. */
  token?: Uint8Array;
  /** The application's messages, carried after the handshake. */
  messages: MessageSet<M>;
  /** Named lengths for the schemas, read at validation time. */
  dims?: Record<string, number>;
  /** Facts sent in `hello` (model spec, parameter count, dataset hash). */
  meta?: Meta;
  /** Check of the server's `welcome` facts: return a reason to refuse it. */
  admit?: Admit<{ name: string; meta: Meta; remoteAddress: string | undefined }>;
  limits?: LimitOverrides;
  /**
   * The masking key of our frames: `zero` (the default) sends the all-zero key, so neither end
   * XORs the payload; `random` sends ws's random keys, as a browser must (RFC 6455 §5.3). See the
   * header for why `zero` is safe between authenticated dptrain peers.
   */
  maskKey?: MaskKey;
  log?: TransportLogger;
  /** Stops the retries. */
  signal?: AbortSignal;
}

export type MaskKey = 'zero' | 'random';

const RETRYABLE = new Set<TransportProblem>(['closed', 'timeout', 'connectFailed']);

/** A failure that another attempt may not meet: a socket that closed, timed out or was refused; not an answer from something that is no dptrain server. */
export function isRetryable(error: unknown): error is TransportError {
  return error instanceof TransportError && RETRYABLE.has(error.problem) && error.reason !== 'wrongServer';
}

/** ws's `generateMask`: fills the 4-byte key of each frame. All zeros make ws skip the XOR. */
const zeroMask = (mask: Buffer): void => void mask.fill(0);

/**
 * Opens the socket and hands it to `attach` inside ws's `open` event, so the Link's listeners are
 * on before ws parses any bytes that arrived with the 101 response (it does so on the next tick,
 * before an awaiting caller would run): a frame there is handled, not lost, and a refused one
 * (over maxPayload) is the Link's error, not an uncaught one.
 */
function openSocket<T>(url: string, limits: TransportLimits, maskKey: MaskKey, attach: (ws: WebSocket) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: limits.maxPayload,
      maxFragments: limits.maxFragments,
      maxBufferedChunks: limits.maxBufferedChunks,
      handshakeTimeout: limits.handshakeTimeoutMs,
      followRedirects: false,
      skipUTF8Validation: false,
      autoPong: true,
      // undefined: ws's own random keys
      ...(maskKey === 'zero' && { generateMask: zeroMask }),
    });
    // `wrongServer`: something answered that is no dptrain server, which no retry changes.
    const fail = (why: string, cause?: unknown, wrongServer = false) => {
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(new TransportError('connectFailed', `cannot open ${url}: ${why}`, wrongServer ? { cause, reason: 'wrongServer' } : { cause, recoverable: true }));
    };
    ws.once('open', () => {
      ws.removeAllListeners();
      resolve(attach(ws));
    });
    ws.once('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? '';
      // TLS towards a plain listener: no retry makes it work.
      if (url.startsWith('wss:') && (code === 'EPROTO' || code.startsWith('ERR_SSL'))) {
        fail(`${code}: the server does not speak TLS; dptrain listens on plain ws:// (docs/protocol.md §10), so connect with ws://`, error, true);
      } else fail(code || error.message, error);
    });
    ws.once('unexpected-response', (_request, response) => {
      const status = `HTTP ${response.statusCode} ${response.statusMessage ?? ''}`.trim();
      // 429 and 503 are a dptrain server's admission limits, which pass; any other answer is not one.
      if (response.statusCode === 429 || response.statusCode === 503) fail(status);
      else fail(`${status}: no dptrain WebSocket server answers there (a dashboard or another service?); give the address the coordinator's start-up line prints`, undefined, true);
    });
  });
}

/** Connects, authenticates and returns the connection; see ConnectOptions. */
export async function connect<M extends { type: string }>(url: string, options: ConnectOptions<M>): Promise<Connection<M>> {
  const limits = resolveLimits(options.limits);
  const log = options.log ?? silentLogger;
  const role = options.role ?? 'worker';
  if (!NAME_PATTERN.test(options.name)) throw new TransportError('badOption', `name ${JSON.stringify(options.name)} must match ${NAME_PATTERN}`);
  if (!ROLE_PATTERN.test(role)) throw new TransportError('badOption', `role ${JSON.stringify(role)} must match ${ROLE_PATTERN}`);
  if (!/^wss?:\/\//.test(url)) throw new TransportError('badOption', `url must start with ws:// or wss:// (got ${JSON.stringify(url)})`);
  const maskKey = options.maskKey ?? 'zero';
  if (maskKey !== 'zero' && maskKey !== 'random') throw new TransportError('badOption', `maskKey must be "zero" or "random" (got ${JSON.stringify(maskKey)})`);
  for (const type of options.messages.types) {
    if (handshakeMessages.has(type)) throw new TransportError('badOption', `message type "${type}" is reserved by the transport handshake`);
  }
  const dims = options.dims ?? {};
  const started = Date.now();
  const policy = limits.reconnect;
  let last: TransportError | undefined;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (options.signal?.aborted) break;
    try {
      return await attemptOnce(url, options, limits, log, role, dims, maskKey);
    } catch (error) {
      if (!isRetryable(error)) throw error;
      last = error;
      if (attempt === policy.attempts) break;
      const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
      const delay = Math.round(ceiling * (0.5 + Math.random() / 2)); // jitter: many workers do not retry in step
      log.info({ url, attempt, delayMs: delay, code: error.code }, `${error.message}; retrying in ${delay} ms (attempt ${attempt + 1} of ${policy.attempts})`);
      try {
        await sleep(delay, undefined, { signal: options.signal });
      } catch {
        break; // aborted
      }
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  throw new TransportError(
    'connectFailed',
    `gave up connecting to ${url} after ${plural(policy.attempts, 'attempt')} in ${seconds} s${options.signal?.aborted ? ' (aborted)' : ''}: ${last?.message ?? 'no attempt made'}`,
    { cause: last, recoverable: true },
  );
}

async function attemptOnce<M extends { type: string }>(
  url: string,
  options: ConnectOptions<M>,
  limits: TransportLimits,
  log: TransportLogger,
  role: string,
  dims: Record<string, number>,
  maskKey: MaskKey,
): Promise<Connection<M>> {
  const link = await openSocket(
    url,
    limits,
    maskKey,
    (ws) =>
      new Link({
        ws,
        side: 'client',
        codec: new Codec(limits),
        limits,
        log,
        label: url,
        validateHandshake: handshakeValidator('client'),
      }),
  );
  try {
    const server = await clientHandshake(link, {
      name: options.name,
      role,
      token: options.token,
      meta: options.meta ?? {},
      admit: options.admit ?? (() => undefined),
      validateOpen: (raw) => options.messages.validate(raw, dims),
    });
    return new Connection<M>(link, options.messages, dims, { name: server.name, role: 'server', meta: server.meta, remoteAddress: link.remoteAddress }, options.name);
  } catch (error) {
    // A refusal is already closing (refuse + close code on the wire); let it reach the server.
    if (link.phase === 'handshake' || link.phase === 'open') link.terminate();
    await link.closed;
    throw error;
  }
}
