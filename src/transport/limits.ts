/**
 * Every resource the transport holds has a limit and a default, all in this one object
 * (style.md habit 5). docs/protocol.md §Limits explains each choice.
 */
import { TransportError } from './errors.js';

export interface ReconnectPolicy {
  /** Delay before the second attempt, ms. Default 200. */
  initialDelayMs: number;
  /** Ceiling of the exponential delay, ms. Default 5000. */
  maxDelayMs: number;
  /** Growth of the delay per attempt. Default 2. */
  factor: number;
  /** Attempts in all, the first included (1 = no retry). Default 10. */
  attempts: number;
}

export interface TransportLimits {
  /**
   * Largest frame in bytes, enforced by ws from the frame header before the payload is buffered
   * (close 1009). Default 64 MiB: W2's gradient is 7.45 MB and parameters plus Adam state for a
   * joining worker 22.4 MB; 64 MiB leaves room for that in one frame and bounds what one peer can
   * make us buffer. Bigger tensors must be sent in chunks.
   */
  maxPayload: number;
  /** Largest frame before the handshake has completed (an unauthenticated peer). Default 64 KiB. */
  maxHandshakePayload: number;
  /** ws `maxFragments`: continuation frames per message (dptrain never fragments). Default 1024. */
  maxFragments: number;
  /** ws `maxBufferedChunks`: socket chunks buffered for one frame (a full frame in chunks of 1 KiB). Default 65536. */
  maxBufferedChunks: number;
  /** Nesting depth of arrays and maps in a frame. Default 16. */
  maxDepth: number;
  /** Elements of one array or entries of one map. Default 65536. */
  maxCollectionLength: number;
  /** Array elements plus map entries in one frame (bounds the JS heap per frame). Default 1 Mi. */
  maxTotalElements: number;
  /** Longest map key in bytes. Default 256. */
  maxKeyBytes: number;
  /**
   * Outbound bytes written to ws but not yet to the kernel before `send()` waits (backpressure);
   * also the inbound bytes of received, unconsumed messages before the socket is paused. Default 16 MiB.
   */
  maxQueuedBytes: number;
  /**
   * Bytes of reusable send buffers a connection keeps for large messages (typed arrays of 64 KiB
   * or more), each taken back once ws has written its frame: encoding into a buffer already
   * touched saves allocating and page-faulting a fresh one per frame (docs/benchmarks.md,
   * "All-reduce across hosts"). Held for the connection's life; 1 turns reuse off. Default 16 MiB.
   */
  framePoolBytes: number;
  /**
   * Time for the whole handshake (HTTP upgrade, hello to welcome), ms. Default 5000: two round
   * trips and two HMACs take milliseconds even across a slow LAN; every second more is a second
   * a silent socket holds a handshake slot.
   */
  handshakeTimeoutMs: number;
  /** Interval between ws pings, ms. Default 5000. */
  heartbeatIntervalMs: number;
  /**
   * A peer that shows no sign of life (pong, message, or a completed write) for this long is
   * terminated, ms. Must exceed the peer's longest event-loop stall and the time to drain
   * maxQueuedBytes + maxPayload at the link's bandwidth. Default 15000.
   */
  heartbeatTimeoutMs: number;
  /** How long `close()` waits for the peer's close frame before destroying the socket, ms. Default 2000. */
  closeTimeoutMs: number;
  /** Connections a server holds at once, handshaking or open; more get HTTP 503. Default 256. */
  maxConnections: number;
  /** Connections still in their handshake at once; more get HTTP 503. Default 16. */
  maxPendingHandshakes: number;
  /** Of those, from one address at once; more from it get HTTP 503. Default 4: one address cannot fill the slots. */
  maxPendingPerAddress: number;
  /**
   * Handshake slots beyond maxPendingHandshakes kept for addresses that have proven the token to
   * this server before (a worker coming back), so a flood from elsewhere cannot keep them out. Default 8.
   */
  reservedHandshakes: number;
  /**
   * Failed or abandoned handshakes (a wrong or missing token, a client gone or silent before it
   * proved the token) within authLockoutMs, per (address, claimed name), before that pair is
   * locked out until authLockoutMs after its last failure. Failures before any name was said
   * count for the address itself and lock it out at the HTTP upgrade (429). Default 5: a token
   * guessed online is slowed to 5 tries a minute per name.
   */
  maxAuthFailures: number;
  /**
   * Failed or abandoned handshakes from one address, whatever names it claimed, before the whole
   * address is locked out (HTTP 429). Default 20: rotating names buys a guesser little, while a
   * worker behind the same address as a guesser is kept out only past this count.
   */
  maxAuthFailuresPerAddress: number;
  /** The failure window and the lockout, ms. Default 60000. */
  authLockoutMs: number;
  /** `connect()` retry schedule for network failures (not for refusals). */
  reconnect: ReconnectPolicy;
}

const MiB = 1024 * 1024;

export const defaultLimits: Readonly<TransportLimits> = Object.freeze({
  maxPayload: 64 * MiB,
  maxHandshakePayload: 64 * 1024,
  maxFragments: 1024,
  maxBufferedChunks: 65_536,
  maxDepth: 16,
  maxCollectionLength: 65_536,
  maxTotalElements: 1_048_576,
  maxKeyBytes: 256,
  maxQueuedBytes: 16 * MiB,
  framePoolBytes: 16 * MiB,
  handshakeTimeoutMs: 5_000,
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 15_000,
  closeTimeoutMs: 2_000,
  maxConnections: 256,
  maxPendingHandshakes: 16,
  maxPendingPerAddress: 4,
  reservedHandshakes: 8,
  maxAuthFailures: 5,
  maxAuthFailuresPerAddress: 20,
  authLockoutMs: 60_000,
  reconnect: Object.freeze({ initialDelayMs: 200, maxDelayMs: 5_000, factor: 2, attempts: 10 }),
});

/**
 * The heartbeat limits for a silence of `timeoutMs` (`--heartbeat-timeout`): pings every third of
 * it, so that a peer is judged about three times before it is terminated, as with the defaults.
 */
export function heartbeatLimits(timeoutMs: number): Pick<TransportLimits, 'heartbeatIntervalMs' | 'heartbeatTimeoutMs'> {
  return { heartbeatTimeoutMs: timeoutMs, heartbeatIntervalMs: Math.max(1, Math.round(timeoutMs / 3)) };
}

export type LimitOverrides = Partial<Omit<TransportLimits, 'reconnect'>> & { reconnect?: Partial<ReconnectPolicy> };

function positiveInteger(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new TransportError('badOption', `limits.${name} must be an integer from 1 to ${max} (got ${String(value)})`);
  }
  return value;
}

function nonNegativeInteger(name: string, value: unknown): number {
  if (value === 0) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new TransportError('badOption', `limits.${name} must be an integer of 0 or more (got ${String(value)})`);
  }
  return positiveInteger(name, value);
}

/** Defaults with `overrides` applied, each checked; unknown names are refused. */
export function resolveLimits(overrides: LimitOverrides = {}): TransportLimits {
  const known = new Set(Object.keys(defaultLimits));
  for (const key of Object.keys(overrides)) {
    if (!known.has(key)) {
      throw new TransportError('badOption', `unknown transport limit "${key}" (known: ${[...known].join(', ')})`);
    }
  }
  const reconnectKnown = new Set(Object.keys(defaultLimits.reconnect));
  for (const key of Object.keys(overrides.reconnect ?? {})) {
    if (!reconnectKnown.has(key)) {
      throw new TransportError('badOption', `unknown reconnect option "${key}" (known: ${[...reconnectKnown].join(', ')})`);
    }
  }
  const merged = { ...defaultLimits, ...overrides, reconnect: { ...defaultLimits.reconnect, ...overrides.reconnect } };
  const limits: TransportLimits = {
    // ws keeps maxPayload in an int32 (`| 0`), so 2 GiB - 1 is the ceiling.
    maxPayload: positiveInteger('maxPayload', merged.maxPayload, 0x7fffffff),
    maxHandshakePayload: positiveInteger('maxHandshakePayload', merged.maxHandshakePayload, 0x7fffffff),
    maxFragments: positiveInteger('maxFragments', merged.maxFragments),
    maxBufferedChunks: positiveInteger('maxBufferedChunks', merged.maxBufferedChunks),
    maxDepth: positiveInteger('maxDepth', merged.maxDepth, 1000),
    maxCollectionLength: positiveInteger('maxCollectionLength', merged.maxCollectionLength, 0xffffffff),
    maxTotalElements: positiveInteger('maxTotalElements', merged.maxTotalElements),
    maxKeyBytes: positiveInteger('maxKeyBytes', merged.maxKeyBytes),
    maxQueuedBytes: positiveInteger('maxQueuedBytes', merged.maxQueuedBytes),
    framePoolBytes: positiveInteger('framePoolBytes', merged.framePoolBytes),
    handshakeTimeoutMs: positiveInteger('handshakeTimeoutMs', merged.handshakeTimeoutMs),
    heartbeatIntervalMs: positiveInteger('heartbeatIntervalMs', merged.heartbeatIntervalMs),
    heartbeatTimeoutMs: positiveInteger('heartbeatTimeoutMs', merged.heartbeatTimeoutMs),
    closeTimeoutMs: positiveInteger('closeTimeoutMs', merged.closeTimeoutMs),
    maxConnections: positiveInteger('maxConnections', merged.maxConnections),
    maxPendingHandshakes: positiveInteger('maxPendingHandshakes', merged.maxPendingHandshakes),
    maxPendingPerAddress: positiveInteger('maxPendingPerAddress', merged.maxPendingPerAddress),
    reservedHandshakes: nonNegativeInteger('reservedHandshakes', merged.reservedHandshakes),
    maxAuthFailures: positiveInteger('maxAuthFailures', merged.maxAuthFailures),
    maxAuthFailuresPerAddress: positiveInteger('maxAuthFailuresPerAddress', merged.maxAuthFailuresPerAddress),
    authLockoutMs: positiveInteger('authLockoutMs', merged.authLockoutMs),
    reconnect: {
      initialDelayMs: positiveInteger('reconnect.initialDelayMs', merged.reconnect.initialDelayMs),
      maxDelayMs: positiveInteger('reconnect.maxDelayMs', merged.reconnect.maxDelayMs),
      factor: merged.reconnect.factor,
      attempts: positiveInteger('reconnect.attempts', merged.reconnect.attempts),
    },
  };
  if (typeof limits.reconnect.factor !== 'number' || !(limits.reconnect.factor >= 1) || !Number.isFinite(limits.reconnect.factor)) {
    throw new TransportError('badOption', `limits.reconnect.factor must be a finite number ≥ 1 (got ${String(limits.reconnect.factor)})`);
  }
  if (limits.maxHandshakePayload > limits.maxPayload) {
    throw new TransportError(
      'badOption',
      `limits.maxHandshakePayload (${limits.maxHandshakePayload}) must not exceed limits.maxPayload (${limits.maxPayload})`,
    );
  }
  if (limits.heartbeatTimeoutMs <= limits.heartbeatIntervalMs) {
    throw new TransportError(
      'badOption',
      `limits.heartbeatTimeoutMs (${limits.heartbeatTimeoutMs}) must exceed limits.heartbeatIntervalMs (${limits.heartbeatIntervalMs})`,
    );
  }
  return limits;
}
