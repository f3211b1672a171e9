/** The transport layer: framed, authenticated messages over WebSocket. Knows no gradients. */
export { TransportError, type TransportProblem, type TransportErrorOptions } from './errors.js';
export { defaultLimits, heartbeatLimits, resolveLimits, type TransportLimits, type ReconnectPolicy, type LimitOverrides } from './limits.js';
export { Codec, RejectionCounts, type CodecLimits, type FrameRejection } from './codec.js';
export {
  defineMessages,
  f,
  MessageSet,
  type Dims,
  type Field,
  type Fields,
  type Infer,
  type InferFields,
  type MessagesOf,
} from './schema.js';
export { PROTOCOL_VERSION, validateMessage, type HandshakeMessage, type Meta } from './messages.js';
export { readTokenFile, tokenStrength, generateToken, MIN_TOKEN_BITS } from './auth.js';
export { CloseCode, describeCloseCode, type CloseCodeName } from './close-codes.js';
export { Connection, type PeerInfo, type CloseInfo, type ConnectionStats } from './connection.js';
export { listen, isLoopback, Server, type ListenOptions } from './server.js';
export { reachableHosts, hostPort, isOwnAddress, notOwnHost, ownAddresses } from './reachable.js';
export { connect, isRetryable, type ConnectOptions } from './client.js';
export type { Admit } from './handshake.js';
export type { TransportLogger } from './log.js';
export { encodeHalf, encodeHalfInto, HalfScratch, decodeHalf, addHalf, roundHalf, halfBytes, halfOf, type HalfKind } from './half.js';
