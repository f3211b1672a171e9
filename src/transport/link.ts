/**
 * Internal: one ws socket with everything the protocol needs below the handshake logic.
 * - every binary frame is size-checked, pre-scanned, decoded and schema-checked as soon as it
 *   arrives (a bad frame closes the connection at once, whether or not anyone is reading);
 * - valid messages wait in an inbox bounded by maxQueuedBytes: above it the socket is paused,
 *   so a slow consumer slows the sender through TCP instead of growing our heap;
 * - `send` waits while more than maxQueuedBytes are written to ws but not yet to the kernel;
 * - a heartbeat pings every heartbeatIntervalMs and terminates a peer that shows no sign of
 *   life (pong, message, completed write) for heartbeatTimeoutMs: a half-open TCP connection;
 * - every failure goes through `fail`, which logs, sends `refuse` during the handshake, and
 *   closes with the close code of its problem.
 * Not exported from index.ts; `Connection` is the public face.
 */
import type WebSocket from 'ws';
import { CloseCode, closeReason, describeCloseCode } from './close-codes.js';
import { hostPort } from './reachable.js';
import type { Codec } from './codec.js';
import { TransportError, type TransportProblem } from './errors.js';
import type { TransportLimits } from './limits.js';
import type { TransportLogger } from './log.js';

export type Phase = 'handshake' | 'open' | 'closing' | 'closed';

/** How a connection ended. */
export interface CloseInfo {
  /** The close code received (or 1006 when the socket ended without one). */
  code: number;
  reason: string;
  /** True when this side closed or terminated the connection. */
  byUs: boolean;
  /** Why, unless the close was a normal one (1000/1001). */
  error?: TransportError;
}

/** Counts since the socket opened, handshake messages included. */
export interface LinkStats {
  messagesSent: number;
  messagesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Outbound bytes handed to ws and not yet written to the kernel. */
  queuedBytes: number;
  /** Inbound bytes of received messages not yet taken by `receive`. */
  inboxBytes: number;
  /** ws's bufferedAmount: bytes queued in ws and the socket. */
  bufferedAmount: number;
}

type Validate = (raw: unknown) => { type: string };

interface Waiter {
  resolve(message: { type: string }): void;
  reject(error: unknown): void;
  timer?: NodeJS.Timeout;
}

const closeCodeOf: Partial<Record<TransportProblem, number>> = {
  badFrame: CloseCode.badFrame,
  badMessage: CloseCode.badMessage,
  authFailed: CloseCode.authFailed,
  protocolVersion: CloseCode.protocolVersion,
  refused: CloseCode.refused,
  nameTaken: CloseCode.nameTaken,
  lockedOut: CloseCode.lockedOut,
  timeout: CloseCode.handshakeTimeout,
};

const refuseCodes = new Set<TransportProblem>(['authFailed', 'protocolVersion', 'refused', 'nameTaken', 'lockedOut', 'badMessage']);

/** Text from the peer, made safe for one log line. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
}

/** The error that a close code received from the peer stands for (carrying the code and reason). */
function errorFromClose(code: number, peerReason: string, peer: string): TransportError | undefined {
  if (code === CloseCode.normal || code === CloseCode.goingAway) return undefined;
  const reason = printable(peerReason);
  const text = `${peer} closed the connection (${describeCloseCode(code)}${reason ? `: ${reason}` : ''})`;
  const close = { closeCode: code, closeReason: reason };
  switch (code) {
    case CloseCode.tooLarge:
      return new TransportError('payloadTooLarge', `${text}: a frame we sent exceeded its maxPayload`, close);
    case CloseCode.badFrame:
      return new TransportError('badFrame', text, close);
    case CloseCode.badMessage:
      return new TransportError('badMessage', text, close);
    case CloseCode.authFailed:
      return new TransportError('authFailed', text, close);
    case CloseCode.protocolVersion:
      return new TransportError('protocolVersion', text, close);
    case CloseCode.refused:
      return new TransportError('refused', text, close);
    case CloseCode.nameTaken:
      return new TransportError('nameTaken', text, close);
    case CloseCode.lockedOut:
      return new TransportError('lockedOut', text, { ...close, recoverable: true });
    case CloseCode.handshakeTimeout:
      return new TransportError('timeout', text, { ...close, recoverable: true });
    case CloseCode.abnormal:
      return new TransportError('closed', `connection to ${peer} was lost (no close frame)`, { ...close, recoverable: true });
    default:
      return new TransportError('closed', text, { ...close, recoverable: true });
  }
}

/** Sets ws's receive limit (a private field of ws's Receiver; see docs/protocol.md §Limits). */
function setReceiveLimit(ws: WebSocket, bytes: number): boolean {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') {
    receiver._maxPayload = bytes;
    return true;
  }
  return false;
}

/** Messages whose typed arrays hold at least this many bytes are encoded into a reusable buffer. */
const LARGE_MESSAGE_BYTES = 64 * 1024;
/** Room for a large message's other fields and msgpack headers. */
const FRAME_HEADROOM = 4096;
const SPARE_ROUNDING = 64 * 1024;

/** The bytes of a message's top-level typed arrays when they make it large, else 0. */
function largeArrayBytes(message: { type: string }): number {
  let bytes = 0;
  for (const key in message) {
    const value = (message as Record<string, unknown>)[key];
    if (ArrayBuffer.isView(value)) bytes += value.byteLength;
  }
  return bytes >= LARGE_MESSAGE_BYTES ? bytes : 0;
}

export interface LinkOptions {
  ws: WebSocket;
  side: 'server' | 'client';
  codec: Codec;
  limits: TransportLimits;
  log: TransportLogger;
  /** How logs name the peer before its name is known: `client 127.0.0.1:50312`, `ws://host:port/`. */
  label: string;
  /** Checks handshake-phase messages. */
  validateHandshake: Validate;
}

export class Link {
  readonly side: 'server' | 'client';
  readonly codec: Codec;
  readonly limits: TransportLimits;
  readonly log: TransportLogger;
  readonly closed: Promise<CloseInfo>;
  /** `w1 (127.0.0.1:50312)` once the peer has said its name. */
  peer: string;

  readonly #ws: WebSocket;
  #phase: Phase = 'handshake';
  #validate: Validate;
  #validateOpen: Validate | undefined;
  #checkWelcome: ((welcome: { type: string }) => TransportError | undefined) | undefined;
  #error: TransportError | undefined;
  #closedByUs = false;
  #resolveClosed!: (info: CloseInfo) => void;

  readonly #inbox: { message: { type: string }; bytes: number }[] = [];
  #inboxBytes = 0;
  #paused = false;
  readonly #waiters: Waiter[] = [];

  #queuedBytes = 0;
  #sendTail: Promise<void> = Promise.resolve();
  /** Idle reusable frame buffers for large messages, and the bytes of all of them (idle or in flight). */
  readonly #spares: Buffer[] = [];
  #spareBytes = 0;
  #drainWaiters: (() => void)[] = [];

  #lastAlive = Date.now();
  #lastBeat = Date.now();
  readonly #heartbeat: NodeJS.Timeout;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;

  readonly #stats = { messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 };

  constructor(options: LinkOptions) {
    this.#ws = options.ws;
    this.side = options.side;
    this.codec = options.codec;
    this.limits = options.limits;
    this.log = options.log;
    this.peer = options.label;
    this.#validate = options.validateHandshake;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));

    // An unauthenticated peer may not make us buffer more than maxHandshakePayload.
    setReceiveLimit(this.#ws, this.limits.maxHandshakePayload);

    this.#ws.on('message', (data, isBinary) => this.#onFrame(data as Buffer, isBinary));
    this.#ws.on('pong', () => this.#alive());
    this.#ws.on('error', (error) => this.#onError(error));
    this.#ws.on('close', (code, reason) => this.#onClose(code, reason.toString('utf8')));

    this.#heartbeat = setInterval(() => this.#beat(), this.limits.heartbeatIntervalMs);
    this.#heartbeat.unref();
    this.#handshakeTimer = setTimeout(() => {
      this.fail(
        new TransportError('timeout', `handshake with ${this.peer} did not complete within ${this.limits.handshakeTimeoutMs} ms`, {
          recoverable: true,
        }),
      );
    }, this.limits.handshakeTimeoutMs);
    this.#handshakeTimer.unref();
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** This end's IP address on the connection (the one the peer sees, unless a NAT sits between). */
  get localIp(): string | undefined {
    return (this.#ws as unknown as { _socket?: { localAddress?: string } })._socket?.localAddress;
  }

  get remoteAddress(): string | undefined {
    const socket = (this.#ws as unknown as { _socket?: { remoteAddress?: string; remotePort?: number } })._socket;
    return socket?.remoteAddress === undefined ? undefined : hostPort(socket.remoteAddress, socket.remotePort ?? 0);
  }

  /** The error that ended the connection, if any. */
  get error(): TransportError | undefined {
    return this.#error;
  }

  stats(): LinkStats {
    return { ...this.#stats, queuedBytes: this.#queuedBytes, inboxBytes: this.#inboxBytes, bufferedAmount: this.#ws.bufferedAmount };
  }

  /**
   * Ends the handshake phase: later frames are checked with `validate` and may be up to
   * maxPayload. The server calls this just before sending `welcome`; the client arms it with
   * `openOnWelcome` so that it happens synchronously when `welcome` arrives (ws may deliver
   * the next frame in the same tick).
   */
  open(validate: Validate): void {
    if (this.#phase !== 'handshake') return;
    this.#phase = 'open';
    this.#validate = validate;
    clearTimeout(this.#handshakeTimer);
    setReceiveLimit(this.#ws, this.limits.maxPayload);
  }

  /**
   * Arms `open(validate)` for the moment a `welcome` arrives, if `check` finds nothing wrong with it
   * (the client checks the server's proof there). Otherwise the link fails with `check`'s error in
   * the same tick, before any frame after the welcome can be read as an application message.
   */
  openOnWelcome(validate: Validate, check: (welcome: { type: string }) => TransportError | undefined = () => undefined): void {
    this.#validateOpen = validate;
    this.#checkWelcome = check;
  }

  /**
   * Queues one (already validated) message; resolves once it is handed to ws (backpressure).
   * The message is encoded (copied) at call time, so the caller may reuse its arrays at once;
   * concurrent calls go out in call order.
   */
  send(message: { type: string }): Promise<void> {
    try {
      this.#throwIfClosed();
      const large = largeArrayBytes(message);
      const spare = large > 0 ? this.#takeSpare(large + FRAME_HEADROOM) : undefined;
      const frame = this.codec.encode(message, spare);
      const pooled = spare !== undefined && frame.buffer === spare.buffer ? spare : undefined;
      if (spare && !pooled) this.#spareBytes -= spare.length; // it did not fit: let it go
      const turn = this.#sendTail.then(() => this.#enqueue(frame, pooled));
      this.#sendTail = turn.catch(() => {});
      return turn;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #enqueue(frame: Buffer, spare: Buffer | undefined): Promise<void> {
    try {
      // Wait while the queue is over the mark; one frame may always go, so a frame larger than
      // maxQueuedBytes still goes out alone.
      while (this.#queuedBytes > 0 && this.#queuedBytes + frame.length > this.limits.maxQueuedBytes) {
        this.#throwIfClosed();
        await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
      }
      this.#throwIfClosed();
    } catch (error) {
      if (spare) this.#returnSpare(spare);
      throw error;
    }
    this.#queuedBytes += frame.length;
    this.#stats.messagesSent++;
    this.#stats.bytesSent += frame.length;
    this.#ws.send(frame, { binary: true }, (error) => {
      this.#queuedBytes -= frame.length;
      if (!error) this.#alive();
      // ws calls back once the socket has written the frame (or failed to): its buffer is free
      if (spare) this.#returnSpare(spare);
      this.#wakeSenders();
    });
  }

  /** An idle frame buffer of at least `bytes`, or a new one while the pool has room; else undefined. */
  #takeSpare(bytes: number): Buffer | undefined {
    const i = this.#spares.findIndex((b) => b.length >= bytes);
    if (i >= 0) return this.#spares.splice(i, 1)[0];
    const size = Math.ceil(bytes / SPARE_ROUNDING) * SPARE_ROUNDING;
    // too small to reuse: make room for one that fits
    while (this.#spares.length > 0 && this.#spareBytes + size > this.limits.framePoolBytes) this.#spareBytes -= this.#spares.pop()!.length;
    if (this.#spareBytes + size > this.limits.framePoolBytes) return undefined;
    this.#spareBytes += size;
    return Buffer.allocUnsafeSlow(size);
  }

  #returnSpare(spare: Buffer): void {
    if (this.#phase === 'closed') this.#spareBytes -= spare.length;
    else this.#spares.push(spare);
  }

  /** Resolves when everything sent so far is written to the kernel. */
  async flush(): Promise<void> {
    while (this.#queuedBytes > 0) {
      this.#throwIfClosed();
      await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    }
  }

  /** The next message; rejects with the error that closed the connection once none is left. */
  receive(timeoutMs?: number): Promise<{ type: string }> {
    const next = this.#inbox.shift();
    if (next) {
      this.#inboxBytes -= next.bytes;
      this.#maybeResume();
      return Promise.resolve(next.message);
    }
    if (this.#phase === 'closing' || this.#phase === 'closed') return Promise.reject(this.#closedError());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(new TransportError('timeout', `no message from ${this.peer} within ${timeoutMs} ms`, { recoverable: true }));
        }, timeoutMs);
      }
      this.#waiters.push(waiter);
    });
  }

  /** Closes with `code` (normal by default); resolves when the socket has closed. */
  close(code: number = CloseCode.normal, reason = ''): Promise<CloseInfo> {
    if (this.#phase !== 'closing' && this.#phase !== 'closed') {
      this.#closedByUs = true;
      this.#phase = 'closing';
      this.#rejectWaiters();
      try {
        this.#ws.close(code, closeReason(reason));
      } catch {
        this.#ws.terminate();
      }
      this.#closeTimer = setTimeout(() => this.#ws.terminate(), this.limits.closeTimeoutMs);
      this.#closeTimer.unref();
    }
    return this.closed;
  }

  /** Destroys the socket at once, without a close handshake. */
  terminate(error?: TransportError): void {
    if (error && !this.#error) this.#error = error;
    if (this.#phase === 'closed') return;
    this.#closedByUs = true;
    this.#phase = 'closing';
    this.#rejectWaiters();
    this.#ws.terminate();
  }

  /**
   * The one failure path: remember `error`, log it, tell the peer (a `refuse` message during
   * the handshake, then the close code of the problem) and close. Returns `error` for `throw`.
   * `toPeer`: what the peer is told, when it needs other words than our log (the fix is its own).
   */
  fail(error: TransportError, toPeer: string = error.message): TransportError {
    if (this.#phase === 'closing' || this.#phase === 'closed') return this.#error ?? error;
    this.#error = error;
    const code = closeCodeOf[error.problem] ?? CloseCode.internalError;
    this.log.warn(
      { peer: this.peer, code: error.code, ...(error.reason && { reason: error.reason }), closeCode: code },
      `closing connection to ${this.peer}: ${error.message}`,
    );
    if (this.#phase === 'handshake' && refuseCodes.has(error.problem)) {
      try {
        this.#ws.send(this.codec.encode({ type: 'refuse', code: error.problem, reason: toPeer.slice(0, 1000) }), { binary: true });
      } catch {
        // the socket is already going; the close code still tells the peer
      }
    }
    void this.close(code, toPeer);
    return error;
  }

  #throwIfClosed(): void {
    if (this.#phase === 'closing' || this.#phase === 'closed') throw this.#closedError();
  }

  #closedError(): TransportError {
    return this.#error ?? new TransportError('closed', `connection to ${this.peer} is closed`, { recoverable: true });
  }

  #alive(): void {
    this.#lastAlive = Date.now();
  }

  #beat(): void {
    if (this.#phase === 'closed') return;
    const now = Date.now();
    if (now - this.#lastBeat > 2 * this.limits.heartbeatIntervalMs) {
      // Our own event loop was blocked (a long synchronous computation): the peer's pongs may be
      // waiting unread in the socket, and timers run before I/O. That time does not count against it.
      this.#lastAlive = Math.max(this.#lastAlive, now - this.limits.heartbeatIntervalMs);
    }
    this.#lastBeat = now;
    // While we hold the socket paused (our consumer is behind), we cannot read the peer's pongs:
    // that silence is ours, not the peer's. The peer, whose writes stall, does judge us.
    if (this.#paused) this.#lastAlive = now;
    const silentMs = now - this.#lastAlive;
    if (silentMs > this.limits.heartbeatTimeoutMs) {
      const error = new TransportError(
        'timeout',
        `no sign of life from ${this.peer} for ${silentMs} ms (heartbeat timeout ${this.limits.heartbeatTimeoutMs} ms); terminating the connection`,
        { recoverable: true, reason: 'heartbeat' },
      );
      this.log.warn({ peer: this.peer, code: error.code, silentMs }, error.message);
      this.terminate(error);
      return;
    }
    if (this.#phase === 'open' || this.#phase === 'handshake') {
      try {
        this.#ws.ping();
      } catch {
        // not open yet or already closing: the close path handles it
      }
    }
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    if (this.#phase === 'closing' || this.#phase === 'closed') return;
    this.#alive();
    this.#stats.bytesReceived += data.length;
    let message: { type: string };
    try {
      if (!isBinary) this.codec.refuseText();
      const limit = this.#phase === 'handshake' ? this.limits.maxHandshakePayload : this.limits.maxPayload;
      message = this.#validate(this.codec.decode(data, limit));
    } catch (error) {
      if (error instanceof TransportError) {
        if (error.problem === 'badMessage' || error.problem === 'protocolVersion') {
          this.codec.rejections.add(`${error.problem}:${error.reason ?? 'other'}`);
        }
        this.fail(error);
      } else {
        this.fail(new TransportError('badMessage', `could not check a message from ${this.peer}: ${String(error)}`, { cause: error }));
      }
      return;
    }
    this.#stats.messagesReceived++;
    if (this.#phase === 'handshake' && message.type === 'welcome' && this.#validateOpen) {
      const refusal = this.#checkWelcome?.(message);
      if (refusal) {
        this.fail(refusal);
        return;
      }
      this.open(this.#validateOpen);
    }

    const waiter = this.#waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(message);
      return;
    }
    this.#inbox.push({ message, bytes: data.length });
    this.#inboxBytes += data.length;
    if (!this.#paused && this.#inboxBytes > this.limits.maxQueuedBytes) {
      this.#paused = true;
      this.#ws.pause();
    }
  }

  #maybeResume(): void {
    if (this.#paused && this.#inboxBytes <= this.limits.maxQueuedBytes / 2) {
      this.#paused = false;
      this.#ws.resume();
    }
  }

  #onError(error: Error & { code?: string }): void {
    // ws closes the socket itself after these; we only record why and log it.
    if (this.#error) return;
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.codec.rejections.add('badFrame:tooLarge');
      const limit = this.#phase === 'handshake' ? this.limits.maxHandshakePayload : this.limits.maxPayload;
      this.#error = new TransportError('payloadTooLarge', `${this.peer} sent a frame over the ${limit}-byte limit; closing (1009)`, {
        reason: 'tooLarge',
        cause: error,
      });
    } else if (error.code?.startsWith('WS_ERR_')) {
      this.codec.rejections.add(`badFrame:${error.code}`);
      this.#error = new TransportError('badFrame', `${this.peer} broke the WebSocket framing: ${error.message}`, {
        reason: error.code,
        cause: error,
      });
    } else {
      this.#error = new TransportError('closed', `connection to ${this.peer} failed: ${error.message}`, { cause: error, recoverable: true });
    }
    this.log.warn({ peer: this.peer, code: this.#error.code, ...(error.code && { wsCode: error.code }) }, this.#error.message);
    if (this.#phase === 'handshake' || this.#phase === 'open') {
      this.#closedByUs = true;
      this.#phase = 'closing';
      this.#rejectWaiters();
      this.#closeTimer = setTimeout(() => this.#ws.terminate(), this.limits.closeTimeoutMs);
      this.#closeTimer.unref();
    }
  }

  #onClose(code: number, reason: string): void {
    const byUs = this.#closedByUs;
    this.#phase = 'closed';
    clearInterval(this.#heartbeat);
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#closeTimer);
    if (!this.#error && !byUs) {
      this.#error = errorFromClose(code, reason, this.peer);
      if (this.#error) this.log.warn({ peer: this.peer, code: this.#error.code, closeCode: code }, this.#error.message);
    }
    this.#rejectWaiters();
    this.#wakeSenders();
    this.#spareBytes -= this.#spares.reduce((a, b) => a + b.length, 0);
    this.#spares.length = 0;
    this.#resolveClosed({ code, reason, byUs, ...(this.#error && { error: this.#error }) });
  }

  #rejectWaiters(): void {
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.#closedError());
    }
  }

  #wakeSenders(): void {
    for (const wake of this.#drainWaiters.splice(0)) wake();
  }
}
