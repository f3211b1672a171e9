/**
 * Errors of the transport layer: `dptrain.transport.<problem>`. The problems are a closed set so
 * that callers (the engine) can switch on them; docs/protocol.md and docs/errors.md describe each.
 */
import { DptrainError, type DptrainErrorOptions } from '../errors.js';

export type TransportProblem =
  /** A message bigger than `maxPayload` (refused before sending, or the peer's frame was: ws close 1009). */
  | 'payloadTooLarge'
  /** A frame that is not valid msgpack for this protocol (see `reason`: lengthTooLarge, tooDeep, ...). */
  | 'badFrame'
  /** A decoded frame that does not match its message schema (see `reason`: unknownField, wrongLength, ...). */
  | 'badMessage'
  /** One side could not prove knowledge of the shared token. */
  | 'authFailed'
  /** The peers speak different protocol versions. */
  | 'protocolVersion'
  /** The peer's admission check refused us (another model, a locked-out name, ...). */
  | 'refused'
  /** The server already holds a connection under our name (it may not have noticed that it died yet). */
  | 'nameTaken'
  /** Too many failed or abandoned handshakes from our address under our name: wait out authLockoutMs. */
  | 'lockedOut'
  /** A handshake, heartbeat or connect attempt took too long. */
  | 'timeout'
  /** The connection closed (or was never open) while sending or waiting for a message. */
  | 'closed'
  /** `connect()` gave up after its reconnect attempts. */
  | 'connectFailed'
  /** The token file is missing, empty, weak (under 128 bits) or readable by other users; or `dptrain token` cannot write it. */
  | 'tokenFile'
  /** A limit or option passed to the transport is out of range. */
  | 'badOption'
  /** `listen()` on a non-loopback address without a token. */
  | 'insecureListen'
  /** The listening socket could not be opened (port in use, address not available). */
  | 'listenFailed';

export interface TransportErrorOptions extends DptrainErrorOptions {
  /** A short machine-readable sub-reason (the counted rejection reason for badFrame/badMessage). */
  reason?: string;
  /** The WebSocket close code received from the peer, when the error stands for one. */
  closeCode?: number;
  /** The peer's close reason text (made printable), with closeCode. */
  closeReason?: string;
}

/** A failure of the transport layer: `dptrain.transport.*`. */
export class TransportError extends DptrainError {
  readonly problem: TransportProblem;
  /** Finer reason for counting (badFrame: `lengthTooLarge`, badMessage: `wrongLength`, ...). */
  readonly reason: string | undefined;
  /**
   * The close code the peer closed with (1006 when the socket ended without one), so callers match
   * on it: 4100-4999 are the application's (the ws engine's evicted, refused, ...).
   */
  readonly closeCode: number | undefined;
  /** The peer's close reason, printable; set with closeCode. */
  readonly closeReason: string | undefined;

  constructor(problem: TransportProblem, message: string, options: TransportErrorOptions = {}) {
    super(`dptrain.transport.${problem}`, message, options);
    this.problem = problem;
    this.reason = options.reason;
    this.closeCode = options.closeCode;
    this.closeReason = options.closeReason;
  }
}
