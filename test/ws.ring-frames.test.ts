// Ring pieces and other large messages are encoded into reusable send buffers (src/transport/
// link.ts, limit framePoolBytes) that are taken back once ws has written them. These tests send
// many large messages back to back without waiting, on two connections at once (msgpackr's
// output buffer is module-wide) with small messages in between, and check that every one arrives
// bit for bit and in order: no buffer is reused while its frame is still queued.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Codec, connect, listen, type Connection } from '../src/transport/index.js';
import { fastLimits, testMessages, type TestMessage } from './transport.helpers.js';

const FLOATS = 262_144; // a 1 MiB ring piece

function piece(seq: number, length = FLOATS): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = seq * 1e6 + i;
  return a;
}

async function pair(limits: object) {
  const server = await listen({ messages: testMessages, dims: { params: FLOATS }, limits: { ...fastLimits, ...limits } });
  const accepted = server.accept(2_000);
  const client = await connect(server.url, { name: 'w1', messages: testMessages, dims: { params: FLOATS }, limits: { ...fastLimits, ...limits } });
  return { server, client, conn: await accepted };
}

async function burst(client: Connection<TestMessage>, conn: Connection<TestMessage>, count: number, tag: string): Promise<void> {
  const sends: Promise<void>[] = [];
  for (let seq = 0; seq < count; seq++) {
    // one array reused and overwritten at once: send() must have copied it
    const data = piece(seq, seq % 3 === 2 ? 70_000 : FLOATS);
    sends.push(client.send({ type: 'chunk', seq, data }));
    data.fill(-1);
    if (seq % 4 === 0) sends.push(client.send({ type: 'note', text: `${tag} ${seq}` }));
  }
  for (let seq = 0; seq < count; seq++) {
    const m = await conn.receive(5_000);
    assert.equal(m.type, 'chunk');
    if (m.type !== 'chunk') return;
    assert.equal(m.seq, seq);
    const want = piece(seq, seq % 3 === 2 ? 70_000 : FLOATS);
    assert.equal(m.data.length, want.length);
    for (let i = 0; i < want.length; i += 997) assert.equal(m.data[i], want[i], `${tag} piece ${seq} element ${i}`);
    assert.equal(m.data[want.length - 1], want[want.length - 1]);
    if (seq % 4 === 0) assert.deepEqual(await conn.receive(5_000), { type: 'note', text: `${tag} ${seq}` });
  }
  await Promise.all(sends);
}

test('40 large messages sent without waiting, on two connections at once, arrive bit for bit and in order', async () => {
  const a = await pair({});
  const b = await pair({});
  try {
    await Promise.all([burst(a.client, a.conn, 40, 'a'), burst(b.client, b.conn, 40, 'b')]);
    // and again, now that the pools hold buffers from the first round
    await Promise.all([burst(a.client, a.conn, 40, 'a2'), burst(b.client, b.conn, 40, 'b2')]);
  } finally {
    await Promise.all([a.client.close(), b.client.close()]);
    await Promise.all([a.server.close(), b.server.close()]);
  }
});

test('with framePoolBytes 1 (no reuse) and with a pool smaller than one frame, large messages still arrive intact', async () => {
  for (const framePoolBytes of [1, 600_000]) {
    const { server, client, conn } = await pair({ framePoolBytes });
    try {
      await burst(client, conn, 12, `pool ${framePoolBytes}`);
    } finally {
      await client.close();
      await server.close();
    }
  }
});

test('Codec.encode into a given buffer writes the frame there, and no later frame of any Codec lands in that buffer', () => {
  const a = new Codec();
  const b = new Codec();
  const into = Buffer.alloc(2 * 1024 * 1024);
  const frame = a.encode({ type: 'chunk', seq: 1, data: piece(1) }, into);
  assert.equal(frame.buffer, into.buffer);
  assert.deepEqual(a.decode(frame), { type: 'chunk', seq: 1, data: piece(1) });
  for (const codec of [a, b]) {
    const later = codec.encode({ type: 'note', text: 'after' });
    assert.notEqual(later.buffer, into.buffer, 'msgpackr was detached from the reusable buffer');
  }
  // too small: msgpackr grows into a buffer of its own, and the caller sees it
  const small = Buffer.alloc(1024);
  const grown = a.encode({ type: 'chunk', seq: 2, data: piece(2) }, small);
  assert.notEqual(grown.buffer, small.buffer);
  assert.deepEqual(a.decode(grown), { type: 'chunk', seq: 2, data: piece(2) });
});
