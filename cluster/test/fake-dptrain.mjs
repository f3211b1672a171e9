#!/usr/bin/env node
/**
 * A stand-in for `dptrain coordinator` and `dptrain worker`, for testing cluster/launch before
 * (or without) the real commands. The coordinator listens on --listen over plain TCP and waits for
 * --min-workers workers; each worker connects to the --connect address and says hello. Then the
 * coordinator tells them "done" and all exit 0.
 *
 * Environment: FAKE_FAIL=NAME makes that worker exit 3 once all have joined; FAKE_STAY=1 keeps everyone
 * running after the join; FAKE_PID_DIR=DIR records each process's pid in DIR/NAME.pid.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const [role, ...args] = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const name = role === 'coordinator' ? 'coordinator' : option('--name') ?? 'worker';
if (process.env.FAKE_PID_DIR) fs.writeFileSync(path.join(process.env.FAKE_PID_DIR, `${name}.pid`), String(process.pid));
process.on('SIGTERM', () => {
  console.log(`${name} got SIGTERM`);
  process.exit(143);
});
console.log(`${role} args: ${args.join(' ')}`);

if (role === 'coordinator') {
  const [host, port] = option('--listen').split(/:(?=[0-9]+$)/);
  const want = Number(option('--min-workers'));
  const sockets = [];
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    socket.once('data', (hello) => {
      sockets.push(socket);
      console.log(`joined: ${hello.trim()}`);
      if (sockets.length < want) return;
      console.log(`all ${want} workers joined`);
      for (const s of sockets) s.write('all\n');
      if (process.env.FAKE_STAY === '1') return;
      for (const s of sockets) s.end('done\n');
      server.close();
      setTimeout(() => process.exit(0), 100);
    });
  });
  // As the real coordinator says once its listener is bound (cluster/launch waits for this line).
  server.listen(Number(port), host, () => console.error(`coordinator at ws://${host}:${port}/: waiting for workers`));
} else if (role === 'worker') {
  const url = new URL(option('--connect'));
  const threads = option('--threads');
  let attempts = 0;
  const connect = () => {
    const socket = net.connect(Number(url.port), url.hostname);
    socket.setEncoding('utf8');
    socket.once('error', () => {
      if (++attempts > 50) {
        console.error(`${name}: cannot connect to ${url.host}`);
        process.exit(1);
      }
      setTimeout(connect, 100);
    });
    socket.once('connect', () => {
      socket.write(`${name} threads=${threads} host=${process.env.FAKE_SSH_HOST ?? '-'}\n`);
      console.log(`worker ${name} joined with ${threads} threads`);
      socket.on('data', (text) => {
        if (text.includes('all') && process.env.FAKE_FAIL === name) {
          // Only once everyone has joined (and installed its SIGTERM handler): a deterministic test.
          console.error(`${name} fails on purpose`);
          process.exit(3);
        }
        if (text.includes('done')) {
          console.log(`${name} done`);
          process.exit(0);
        }
      });
      socket.on('close', () => {
        // Like a real worker's reconnect attempts: a SIGTERM that is on its way wins.
        console.error(`${name}: the coordinator went away`);
        setTimeout(() => process.exit(1), 1000);
      });
    });
  };
  connect();
} else {
  console.error(`fake-dptrain: unknown command "${role}"`);
  process.exit(2);
}
