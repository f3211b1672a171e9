/**
 * The transport's own messages: the handshake of protocol 3 (docs/protocol.md §Handshake).
 * Application messages (the engine's) are declared by the engine with `defineMessages` and
 * passed to `listen`/`connect`; they may not reuse these type names.
 */
import { defineMessages, f, type Dims } from './schema.js';

/**
 * The protocol version this code speaks. Bump it on any incompatible change of the wire.
 * 1: issue 5. 2: Float32Arrays of 64 KiB or more travel 8-byte aligned (aligned-arrays.ts, ext 0x61).
 * 3: the client proves the token first; the server's proof moves from `challenge` to `welcome`
 * (issue 13: a server that proved first handed anyone who reached its port a proof to attack offline).
 */
export const PROTOCOL_VERSION = 3;

/** Peer names: short, printable, safe in logs and in the HMAC transcript (no separators). */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
const name = f.string({ minLength: 1, maxLength: 64, pattern: NAME_PATTERN });
/** Roles are identifiers chosen by the application (coordinator, worker, peer). */
export const ROLE_PATTERN = /^[a-z][a-zA-Z0-9]{0,31}$/;
const role = f.string({ minLength: 1, maxLength: 32, pattern: ROLE_PATTERN });
const nonce = f.bytes({ length: 32 });
const proof = f.bytes({ length: 32 });
/** Flat application facts exchanged in the handshake (model spec, parameter count, dataset hash). */
const meta = f.record(f.scalar({ maxLength: 1024 }), { maxKeys: 32 });

export const handshakeMessages = defineMessages({
  /** client -> server, first frame. `protocol` and `type` keep their meaning in every version. */
  hello: { protocol: f.integer({ min: 0, max: 65_535 }), name, role, nonce, meta },
  /** server -> client: the server's name and nonce; no proof yet (the client proves first). */
  challenge: { protocol: f.integer({ min: 0, max: 65_535 }), name, nonce },
  /** client -> server: the client's proof of the token. */
  proof: { proof },
  /** server -> client: the client's proof held and it is admitted; the server's proof and application facts. */
  welcome: { proof, meta },
  /** either way: the handshake is refused; the connection closes with the matching close code. */
  refuse: { code: f.enum(['authFailed', 'protocolVersion', 'refused', 'nameTaken', 'lockedOut', 'badMessage']), reason: f.string({ maxLength: 1000 }) },
});

export type HandshakeMessage = ReturnType<typeof handshakeMessages.validate>;
export type Meta = Record<string, string | number | boolean>;

/** Validates a decoded handshake message (the transport's own protocol); see `MessageSet.validate`. */
export function validateMessage(raw: unknown, dims?: Dims): HandshakeMessage {
  return handshakeMessages.validate(raw, dims);
}
