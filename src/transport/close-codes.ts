/**
 * WebSocket close codes used by dptrain (docs/protocol.md §Close codes). 4000-4099 belong to the
 * transport; 4100-4999 are left to the application (the engine: evicted, shutting down, ...).
 */
export const CloseCode = Object.freeze({
  /** `close()` by either side. */
  normal: 1000,
  /** The server is shutting down. */
  goingAway: 1001,
  /** ws: malformed WebSocket framing. */
  protocolError: 1002,
  /** Never sent: the socket ended without a close frame (terminated, peer vanished, heartbeat timeout). */
  abnormal: 1006,
  /** ws: too many fragments or buffered chunks for one message. */
  policyViolation: 1008,
  /** ws: a frame over maxPayload (maxHandshakePayload before the handshake completes). */
  tooLarge: 1009,
  /** Unexpected failure inside dptrain. */
  internalError: 1011,
  /** The frame is not valid msgpack for this protocol (TransportError badFrame). */
  badFrame: 4000,
  /** The message does not match its schema, or came in the wrong phase (badMessage). */
  badMessage: 4001,
  /** One side failed to prove the token (authFailed). */
  authFailed: 4002,
  /** Different protocol versions (protocolVersion). */
  protocolVersion: 4003,
  /** The peer's admission check said no (refused): duplicate name, another model, ... */
  refused: 4004,
  /** The handshake did not complete within handshakeTimeoutMs (timeout). */
  handshakeTimeout: 4005,
  /** The server already holds a connection under the client's name (nameTaken). */
  nameTaken: 4006,
  /** The client's (address, name) is locked out after failed or abandoned handshakes (lockedOut). */
  lockedOut: 4007,
});

export type CloseCodeName = keyof typeof CloseCode;

const names = new Map<number, string>(Object.entries(CloseCode).map(([k, v]) => [v, k]));

/** `4002 authFailed` for logs. */
export function describeCloseCode(code: number): string {
  const name = names.get(code) ?? (code >= 4100 && code <= 4999 ? 'application' : 'unknown');
  return `${code} ${name}`;
}

/** Close reasons are limited to 123 bytes of UTF-8 by RFC 6455 §5.5. */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= 123) return text;
  let out = text.slice(0, 120);
  while (Buffer.byteLength(out) > 120) out = out.slice(0, -1);
  return `${out}…`;
}
