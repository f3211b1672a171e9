// Issue 13 item 2: admission under a flood. 20 upgraded-but-silent sockets from one address,
// reopened as the server closed them, used to keep every new client out (503 on 10 of 10 tries).
// Now one address may hold at most maxPendingPerAddress handshakes, its abandoned handshakes lock
// it out (429), and addresses that proved the token before have reserved slots. Real listen()
// servers on 127.0.0.1; the flood comes from 127.0.0.2-4 (distinct source addresses on Linux).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import { connect, listen } from '../src/transport/index.js';
import { collectLog, delay, fastLimits, silentFlood, testMessages, until } from './transport.helpers.js';

const token = crypto.randomBytes(32);
const linux = process.platform === 'linux';

test('a flood of silent upgrades from one address does not keep clients from another address out', { skip: !linux && 'needs 127.0.0.2 as a source address (Linux)', timeout: 30_000 }, async () => {
  const slog = collectLog();
  const limits = { ...fastLimits, handshakeTimeoutMs: 1_000, reconnect: { attempts: 1 } };
  const server = await listen({ token, messages: testMessages, log: slog, limits });
  const flood = silentFlood(server.port, { localAddress: '127.0.0.2', sockets: 20 });
  try {
    await delay(300); // the flood holds whatever it can get
    for (let i = 0; i < 10; i++) {
      const client = await connect(server.url, { name: `w${i}`, token, messages: testMessages, limits });
      assert.equal(client.peer.name, 'coordinator');
      await client.close();
      await delay(150);
    }
    // Past its first handshake timeouts the flood is locked out at the upgrade.
    await until(() => (flood.statuses.get('429') ?? 0) > 0, 10_000, 'the flood to be locked out');
  } finally {
    flood.stop();
  }
  // Never more than maxPendingPerAddress (4) of its sockets upgraded at once: the others got 503.
  assert.ok((flood.statuses.get('503') ?? 0) > 0, JSON.stringify([...flood.statuses]));
  assert.ok(slog.warnings().some((m) => /handshakes from 127\.0\.0\.2 are in progress \(maxPendingPerAddress 4\)/.test(m)));
  assert.ok(slog.warnings().some((m) => /failed or abandoned handshakes from 127\.0\.0\.2; locked out/.test(m)));
  await server.close();
});

test('the same flood keeps clients out when the per-address limits are lifted (the attack as it was)', { skip: !linux && 'needs 127.0.0.2 as a source address (Linux)', timeout: 30_000 }, async () => {
  const open = { maxPendingPerAddress: 1_000, maxAuthFailures: 1_000, maxAuthFailuresPerAddress: 1_000 };
  const limits = { ...fastLimits, ...open, handshakeTimeoutMs: 1_000, reconnect: { attempts: 1 } };
  const server = await listen({ token, messages: testMessages, limits });
  const flood = silentFlood(server.port, { localAddress: '127.0.0.2', sockets: 20 });
  try {
    await until(() => (flood.statuses.get('101') ?? 0) >= 16, 5_000, 'the flood to hold every slot');
    const refused = await connect(server.url, { name: 'w1', token, messages: testMessages, limits }).catch((error: unknown) => error);
    assert.match(String(refused), /HTTP 503/);
  } finally {
    flood.stop();
  }
  await server.close();
});

/** A silent upgraded socket from `localAddress`; resolves with the HTTP status it got. */
async function silentUpgrade(port: number, localAddress: string): Promise<{ status: string; socket: net.Socket }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => {});
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const head = await new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
  return { status: head.slice(9, 12), socket };
}

test('an address that proved the token before gets a reserved handshake slot while strangers hold all the others', { skip: !linux && 'needs 127.0.0.2 as a source address (Linux)' }, async () => {
  const limits = { ...fastLimits, maxPendingHandshakes: 2, maxPendingPerAddress: 1, reservedHandshakes: 1, reconnect: { attempts: 1 } };
  const server = await listen({ token, messages: testMessages, limits });
  const first = await connect(server.url, { name: 'w1', token, messages: testMessages, limits });
  await first.close(); // 127.0.0.1 has proven the token

  const a = await silentUpgrade(server.port, '127.0.0.2');
  const b = await silentUpgrade(server.port, '127.0.0.3');
  assert.deepEqual([a.status, b.status], ['101', '101']);
  const c = await silentUpgrade(server.port, '127.0.0.4');
  assert.equal(c.status, '503', 'a stranger finds the slots full');
  const again = await connect(server.url, { name: 'w1', token, messages: testMessages, limits });
  assert.equal(again.peer.name, 'coordinator', 'the proven address takes the reserved slot');
  await again.close();
  for (const s of [a, b, c]) s.socket.destroy();
  await server.close();
});
