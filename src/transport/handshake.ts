/**
 * The handshake of protocol 3 (docs/protocol.md §4): the connecting side proves first.
 *
 *   client                                   server
 *     hello {protocol, name, role, nonce_c, meta} ->
 *                 <- challenge {protocol, name, nonce_s}             (or refuse)
 *     proof {proof_c} ->
 *                                           checks proof_c, admit(peer)
 *                 <- welcome {proof_s, meta}                         (or refuse)
 *     checks proof_s, admit(server)
 *
 * The server proves nothing until the client has: anyone who can reach a listening port would
 * otherwise collect HMAC(token, transcript) with nonces of its choice and test candidate tokens
 * offline (issue 13). The client still never accepts a server that cannot prove the token.
 * Any failure goes through Link.fail: `refuse {code, reason}` to the peer, then the close code.
 */
import { computeProof, createNonce, verifyProof, type Transcript } from './auth.js';
import { CloseCode } from './close-codes.js';
import { TransportError } from './errors.js';
import { printable, type Link } from './link.js';
import { handshakeMessages, PROTOCOL_VERSION, type HandshakeMessage, type Meta } from './messages.js';

/** An admission check: return a reason to refuse the peer, or nothing to admit it. */
export type Admit<P> = (peer: P) => string | undefined | void | Promise<string | undefined | void>;

/**
 * The handshake validator: hello/challenge carry `protocol` before anything else is checked, so a
 * peer of another version gets `protocolVersion`, not a schema error about fields it renamed.
 */
export function handshakeValidator(side: 'server' | 'client'): (raw: unknown) => HandshakeMessage {
  return (raw) => {
    if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
      const { type, protocol } = raw as { type?: unknown; protocol?: unknown };
      if ((type === 'hello' || type === 'challenge') && typeof protocol === 'number' && protocol !== PROTOCOL_VERSION) {
        const them = side === 'server' ? 'the client' : 'the server';
        throw new TransportError(
          'protocolVersion',
          `${them} speaks protocol ${protocol}, this ${side} speaks protocol ${PROTOCOL_VERSION}; run the same dptrain version on both`,
          { reason: 'mismatch' },
        );
      }
    }
    return handshakeMessages.validate(raw);
  };
}

function refused(link: Link, message: Extract<HandshakeMessage, { type: 'refuse' }>): TransportError {
  const problem = message.code;
  // A server refuses a proof only when the tokens differ: say so from our side, not in its words.
  // A server refuses a proof only when the tokens differ; its reason says whether it has none.
  const why = printable(message.reason).slice(0, 300);
  const error =
    problem === 'authFailed' && link.side === 'client'
      ? new TransportError(problem, `${link.peer} refused our token: ${why || 'the token files differ (or one side has none)'}`, { reason: 'tokenRefused', closeCode: CloseCode.authFailed, closeReason: why })
      : new TransportError(problem, `${link.peer} refused the connection: ${why}`, { reason: 'refusedByPeer', recoverable: problem === 'lockedOut' });
  link.log.warn({ peer: link.peer, code: error.code }, error.message);
  link.terminate(error);
  return error;
}

function unexpected(link: Link, message: HandshakeMessage, expected: string): TransportError {
  return link.fail(
    new TransportError('badMessage', `expected "${expected}" from ${link.peer} during the handshake, got "${message.type}"`, {
      reason: 'unexpectedType',
    }),
  );
}

/**
 * A client's proof that does not hold: our error, and what the client is told. Without a token of
 * ours the client must have presented one (an empty key on both sides would have matched), so the
 * fix is to give the server the same token or drop the client's, not to compare token files.
 */
function wrongProof(options: ServerHandshakeOptions, h: { role: string; name: string }, address: string): [TransportError, string] {
  const who = `a ${h.role} at ${address} (calling itself "${h.name}")`;
  if (options.token === undefined || options.token.length === 0) {
    const fix = `give the ${options.name} the same --token-file as the ${h.role}, or drop --token-file on the ${h.role} (on a trusted loopback only)`;
    return [
      new TransportError('authFailed', `${who} presented a token, but this ${options.name} runs without one (no --token-file): ${fix}`, { reason: 'badProof' }),
      `it runs without a token (no --token-file) — ${fix}`,
    ];
  }
  return [
    new TransportError('authFailed', `${who} presented a wrong token (or none): its token file differs from ours`, { reason: 'badProof' }),
    `the token files differ (or the ${h.role} has none) — check that both hold the same token (sha256sum the files; copy with scp -p)`,
  ];
}

export interface ServerHandshakeOptions {
  name: string;
  token: Uint8Array | undefined;
  meta: Meta;
  /** The server's admission: a reason to refuse (`refused`), `{ nameTaken }` for a name already connected, or nothing. */
  admit(peer: { name: string; role: string; meta: Meta; remoteAddress: string | undefined }): Promise<string | { nameTaken: string } | undefined>;
  /** Looks at the claimed name before anything is proven: a reason to refuse it (a locked-out address and name). */
  screen?(claimed: { name: string; role: string }): string | undefined;
  /** Called the moment the client's proof has been verified. */
  proven?(): void;
  /** Switches the link to the application's messages (called just before `welcome` is sent). */
  open(): void;
}

/** Runs the server side; resolves with the authenticated client. */
export async function serverHandshake(
  link: Link,
  options: ServerHandshakeOptions,
): Promise<{ name: string; role: string; meta: Meta }> {
  const hello = await link.receive();
  if (hello.type !== 'hello') throw unexpected(link, hello as HandshakeMessage, 'hello');
  const h = hello as Extract<HandshakeMessage, { type: 'hello' }>;
  const address = link.remoteAddress ?? 'unknown address';
  link.peer = `${h.role} "${h.name}" (${address})`;
  const screened = options.screen?.({ name: h.name, role: h.role });
  if (typeof screened === 'string') throw link.fail(new TransportError('lockedOut', `${link.peer} is not admitted: ${screened}`, { recoverable: true }));

  const transcript: Transcript = {
    protocol: PROTOCOL_VERSION,
    role: h.role,
    clientName: h.name,
    serverName: options.name,
    clientNonce: h.nonce,
    serverNonce: createNonce(),
  };
  // No proof of ours yet: the client proves first.
  await link.send({ type: 'challenge', protocol: PROTOCOL_VERSION, name: options.name, nonce: transcript.serverNonce } as HandshakeMessage);

  const answer = (await link.receive()) as HandshakeMessage;
  if (answer.type === 'refuse') throw refused(link, answer);
  if (answer.type !== 'proof') throw unexpected(link, answer, 'proof');
  if (!verifyProof(computeProof(options.token, 'client', transcript), answer.proof)) throw link.fail(...wrongProof(options, h, address));
  options.proven?.();

  const peer = { name: h.name, role: h.role, meta: h.meta, remoteAddress: link.remoteAddress };
  const refusal = await options.admit(peer);
  if (typeof refusal === 'string') {
    throw link.fail(new TransportError('refused', `${link.peer} is not admitted: ${refusal}`, { reason: 'admit' }));
  }
  if (refusal) throw link.fail(new TransportError('nameTaken', `${link.peer} is not admitted: ${refusal.nameTaken}`));
  if (link.phase !== 'handshake') throw link.error ?? new TransportError('closed', `${link.peer} left during the handshake`);

  options.open();
  await link.send({ type: 'welcome', proof: computeProof(options.token, 'server', transcript), meta: options.meta } as HandshakeMessage);
  link.log.info({ peer: link.peer }, `${link.peer} joined`);
  return { name: h.name, role: h.role, meta: h.meta };
}

export interface ClientHandshakeOptions {
  name: string;
  role: string;
  token: Uint8Array | undefined;
  meta: Meta;
  admit: Admit<{ name: string; meta: Meta; remoteAddress: string | undefined }>;
  /** The application's validator, armed to take over the moment a welcome with a valid proof arrives. */
  validateOpen(raw: unknown): { type: string };
}

/** Runs the client side; resolves with the authenticated server. */
export async function clientHandshake(link: Link, options: ClientHandshakeOptions): Promise<{ name: string; meta: Meta }> {
  const clientNonce = createNonce();
  await link.send({
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    name: options.name,
    role: options.role,
    nonce: clientNonce,
    meta: options.meta,
  } as HandshakeMessage);

  const challenge = (await link.receive()) as HandshakeMessage;
  if (challenge.type === 'refuse') throw refused(link, challenge);
  if (challenge.type !== 'challenge') throw unexpected(link, challenge, 'challenge');
  const label = link.peer;
  link.peer = `server "${challenge.name}" (${label})`;
  const transcript: Transcript = {
    protocol: PROTOCOL_VERSION,
    role: options.role,
    clientName: options.name,
    serverName: challenge.name,
    clientNonce,
    serverNonce: challenge.nonce,
  };
  const expected = computeProof(options.token, 'server', transcript);
  const checkWelcome = (m: { type: string }): TransportError | undefined =>
    verifyProof(expected, (m as Extract<HandshakeMessage, { type: 'welcome' }>).proof)
      ? undefined
      : new TransportError('authFailed', `${link.peer} accepted our proof but failed to prove the shared token itself: it is not the server that holds our token`, {
          reason: 'badProof',
        });
  // Application frames (up to maxPayload) are taken only after a welcome that proves the token;
  // a welcome that does not fails the link before the next frame is read.
  link.openOnWelcome(options.validateOpen, checkWelcome);
  await link.send({ type: 'proof', proof: computeProof(options.token, 'client', transcript) } as HandshakeMessage);

  const welcome = (await link.receive()) as HandshakeMessage;
  if (welcome.type === 'refuse') throw refused(link, welcome);
  if (welcome.type !== 'welcome') throw unexpected(link, welcome, 'welcome');
  const proofFailed = checkWelcome(welcome);
  if (proofFailed) throw link.fail(proofFailed);
  const refusal = await options.admit({ name: challenge.name, meta: welcome.meta, remoteAddress: link.remoteAddress });
  if (typeof refusal === 'string') {
    throw link.fail(new TransportError('refused', `${link.peer} is not accepted: ${refusal}`, { reason: 'admit' }));
  }
  link.log.info({ peer: link.peer }, `joined ${link.peer}`);
  return { name: challenge.name, meta: welcome.meta };
}
