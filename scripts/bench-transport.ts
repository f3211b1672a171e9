/**
 * Transport benchmark: the raw throughput of one WebSocket connection on loopback sending W2's
 * gradient (7,454,760-byte binary frames), with and without ws's optional `bufferutil` (when installed), client to
 * server (masked) and server to client (unmasked), and the same through dptrain's Connection
 * (codec + schema + backpressure). Also the codec's encode/decode time for that gradient.
 * Sender and receiver run in separate processes; each figure is the median of --runs runs.
 *
 *   npm run build && node dist/scripts/bench-transport.js [--frames 64] [--runs 3]
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { Codec, connect, defineMessages, f, listen, type Connection } from '../src/transport/index.js';
import { median } from '../src/util/index.js';
import { badFlagValue, scriptFlags } from './bench-common.js';

const W2_PARAMS = 1_863_690;
const FRAME_BYTES = W2_PARAMS * 4;
const HIGH_WATER = 16 * 1024 * 1024;
const messages = defineMessages({ chunk: { seq: f.integer({ min: 0 }), data: f.float32('params') }, done: {} });
const dims = { params: W2_PARAMS };
const script = fileURLToPath(import.meta.url);



// ---- the two ends, each run in its own process ----

/** Sends `frames` frames as fast as backpressure allows; returns MB/s (1 MB = 1e6 bytes) once the receiver acks. */
async function sendRaw(ws: WebSocket, frames: number): Promise<number> {
  const frame = Buffer.alloc(FRAME_BYTES, 7);
  const acked = new Promise<void>((resolve) => ws.once('message', () => resolve()));
  const start = performance.now();
  for (let i = 0; i < frames; i++) {
    while (ws.bufferedAmount > HIGH_WATER) await new Promise((r) => setImmediate(r));
    ws.send(frame, { binary: true });
  }
  await acked;
  return (frames * FRAME_BYTES) / 1e6 / ((performance.now() - start) / 1000);
}

function receiveRaw(ws: WebSocket, frames: number): void {
  let n = 0;
  ws.on('message', () => {
    if (++n === frames) ws.send('ok');
  });
}

async function sendTyped(conn: Connection<ReturnType<typeof messages.validate>>, frames: number): Promise<number> {
  const data = new Float32Array(W2_PARAMS).fill(0.5);
  const start = performance.now();
  for (let seq = 0; seq < frames; seq++) await conn.send({ type: 'chunk', seq, data });
  await conn.receive();
  return (frames * FRAME_BYTES) / 1e6 / ((performance.now() - start) / 1000);
}

async function receiveTyped(conn: Connection<ReturnType<typeof messages.validate>>, frames: number): Promise<void> {
  for (let i = 0; i < frames; i++) await conn.receive();
  await conn.send({ type: 'done' });
}

async function serverRole(layer: string, direction: string, frames: number): Promise<void> {
  if (layer === 'raw') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    await new Promise((r) => wss.once('listening', r));
    console.log(`port ${(wss.address() as { port: number }).port}`);
    wss.once('connection', async (ws) => {
      ws.once('close', () => process.exit(0));
      if (direction === 'c2s') receiveRaw(ws, frames);
      else {
        console.log(`result ${await sendRaw(ws, frames)}`);
        ws.close();
      }
    });
  } else {
    const server = await listen({ messages, dims, limits: { heartbeatTimeoutMs: 60_000 } });
    console.log(`port ${server.port}`);
    const conn = await server.accept();
    if (direction === 'c2s') await receiveTyped(conn, frames);
    else {
      console.log(`result ${await sendTyped(conn, frames)}`);
      await conn.close();
    }
    await conn.closed;
    process.exit(0);
  }
}

async function clientRole(layer: string, direction: string, frames: number, port: number): Promise<void> {
  const url = `ws://127.0.0.1:${port}/`;
  if (layer === 'raw') {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    await new Promise((r) => ws.once('open', r));
    if (direction === 'c2s') console.log(`result ${await sendRaw(ws, frames)}`);
    else {
      receiveRaw(ws, frames);
      await new Promise((r) => ws.once('close', r));
    }
    ws.close();
  } else {
    const conn = await connect(url, { name: 'bench', messages, dims, limits: { heartbeatTimeoutMs: 60_000 } });
    if (direction === 'c2s') console.log(`result ${await sendTyped(conn, frames)}`);
    else {
      await receiveTyped(conn, frames);
      await conn.closed;
    }
    await conn.close();
  }
  process.exit(0);
}

// ---- the parent: runs the matrix and prints the table ----

function run(args: string[], env: NodeJS.ProcessEnv, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let i;
      while ((i = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, i));
        buffered = buffered.slice(i + 1);
      }
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

async function onePair(layer: string, direction: string, frames: number, env: NodeJS.ProcessEnv): Promise<number> {
  let result = NaN;
  let gotPort!: (port: number) => void;
  const port = new Promise<number>((r) => (gotPort = r));
  const onLine = (line: string) => {
    if (line.startsWith('port ')) gotPort(Number(line.slice(5)));
    if (line.startsWith('result ')) result = Number(line.slice(7));
  };
  const server = run(['server', layer, direction, String(frames)], env, onLine);
  const client = run(['client', layer, direction, String(frames), String(await port)], env, onLine);
  await Promise.all([server, client]);
  return result;
}

function codecTimes(runs: number): { encodeMs: number; decodeMs: number } {
  const codec = new Codec();
  const data = new Float32Array(W2_PARAMS).map((_, i) => Math.sin(i));
  const message = { type: 'chunk', seq: 0, data };
  const encode: number[] = [];
  const decode: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    let t = performance.now();
    const frame = codec.encode(message);
    encode.push(performance.now() - t);
    t = performance.now();
    messages.validate(codec.decode(frame), dims);
    decode.push(performance.now() - t);
  }
  return { encodeMs: median(encode.slice(2)), decodeMs: median(decode.slice(2)) };
}

async function main(): Promise<void> {
  const flags = scriptFlags(process.argv.slice(2), { frames: '64', runs: '3' });
  const [frames, runs] = [Number(flags.frames), Number(flags.runs)];
  for (const [name, value] of [['--frames', frames], ['--runs', runs]] as const) {
    if (!(Number.isInteger(value) && value >= 1)) badFlagValue(`${name} must be a positive integer (got ${flags[name.slice(2) as 'frames' | 'runs']})`);
  }
  const require = createRequire(import.meta.url);
  let bufferutil = 'not installed';
  try {
    const b = require('bufferutil') as { mask: { toString(): string } };
    bufferutil = /native code/.test(b.mask.toString()) ? 'native' : 'JS fallback';
  } catch {
    // stays "not installed"
  }
  const cpus = os.cpus();
  console.log(`machine: ${os.availableParallelism()} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), load ${os.loadavg()[0].toFixed(2)}, Node ${process.version}, ws ${require('ws/package.json').version}, bufferutil ${bufferutil}`);
  console.log(`frame: ${FRAME_BYTES} bytes (W2 gradient), ${frames} frames per run, median of ${runs} runs, MB/s = 1e6 bytes/s`);
  const { encodeMs, decodeMs } = codecTimes(5);
  console.log(`codec: encode ${encodeMs.toFixed(2)} ms (${(FRAME_BYTES / 1e3 / encodeMs).toFixed(0)} MB/s), decode+validate ${decodeMs.toFixed(2)} ms (${(FRAME_BYTES / 1e3 / decodeMs).toFixed(0)} MB/s)`);
  // bufferutil is no dependency (dptrain's clients send the all-zero key, so ws never masks their
  // frames); `npm install --no-save bufferutil` adds the column that compares it.
  const modes: [string, NodeJS.ProcessEnv][] = [
    ...(bufferutil === 'native' ? [['bufferutil', { ...process.env, WS_NO_BUFFER_UTIL: '' }] as [string, NodeJS.ProcessEnv]] : []),
    ['js masking', { ...process.env, WS_NO_BUFFER_UTIL: '1' }],
  ];
  const cases: [string, string][] = [['raw', 'c2s'], ['raw', 's2c'], ['dptrain', 'c2s'], ['dptrain', 's2c']];
  console.log('| layer | direction | ' + modes.map(([m]) => `${m} MB/s`).join(' | ') + ' |');
  console.log('|---|---|' + modes.map(() => '---:').join('|') + '|');
  for (const [layer, direction] of cases) {
    const cells: string[] = [];
    for (const [, env] of modes) {
      const results: number[] = [];
      for (let r = 0; r < runs; r++) results.push(await onePair(layer, direction, frames, env));
      cells.push(`${median(results).toFixed(0)} (${results.map((x) => x.toFixed(0)).join(', ')})`);
    }
    const label = direction === 'c2s' ? 'client→server (masked)' : 'server→client';
    console.log(`| ${layer} | ${label} | ${cells.join(' | ')} |`);
  }
}

const [role, layer, direction, frames, port] = process.argv.slice(2);
if (role === 'server') await serverRole(layer, direction, Number(frames));
else if (role === 'client') await clientRole(layer, direction, Number(frames), Number(port));
else await main();
