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
  /** The peer's admission check refused us (duplicate name, another model, ...). */
  | 'refused'
  /** A handshake, heartbeat or connect attempt took too long. */
  | 'timeout'
  /** The connection closed (or was never open) while sending or waiting for a message. */
  | 'closed'
  /** `connect()` gave up after its reconnect attempts. */
  | 'connectFailed'
  /** The token file is missing, empty, too short or readable by other users. */
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
}

/** A failure of the transport layer: `dptrain.transport.*`. */
export class TransportError extends DptrainError {
  readonly problem: TransportProblem;
  /** Finer reason for counting (badFrame: `lengthTooLarge`, badMessage: `wrongLength`, ...). */
  readonly reason: string | undefined;

  constructor(problem: TransportProblem, message: string, options: TransportErrorOptions = {}) {
    super(`dptrain.transport.${problem}`, message, options);
    this.problem = problem;
    this.reason = options.reason;
  }
}
