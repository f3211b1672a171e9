// The options of `dptrain coordinator` and `dptrain worker` as a user first types them (a user
// try of the LAN mode): an option of the other side says whose it is and what to do instead, a
// --ring-host this machine does not have is refused before any connection, and both --help
// texts wrap as `train --help` does. Real processes; the only address contacted is 127.0.0.1.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { expectUsageError, runCliAsync } from './helpers.js';

test('an option of the worker given to the coordinator says it is the worker\'s and what to do instead (one line, exit 2, dptrain.cli.unknownOption)', async () => {
  const cases: [string[], RegExp][] = [
    [['--workers', '2'], /^dptrain: error: --workers: a coordinator's workers are the `dptrain worker` processes that join it — wait for more with --min-workers; a worker's threads are `dptrain worker --threads`; see dptrain coordinator --help/],
    [['--engine', 'inline'], /^dptrain: error: --engine: a coordinator always runs the ws engine, .*`dptrain train --engine inline\|threads`; see dptrain coordinator --help/],
    [['--connect', '10.0.0.1:7000'], /^dptrain: error: --connect is the worker's \(`dptrain worker --connect HOST:PORT`\): a coordinator does not connect, it listens — give it --listen HOST:PORT; see/],
    [['--threads', '4'], /^dptrain: error: --threads is the worker's: each `dptrain worker` computes its shard with its own --threads/],
    [['--name', 'a'], /^dptrain: error: --name is the worker's: it names a `dptrain worker` in the coordinator's logs; give it to each worker/],
    [['--ring-port', '7001'], /^dptrain: error: --ring-port is the worker's .*give it to `dptrain worker`/],
  ];
  await Promise.all(cases.map(([args, pattern]) => expectUsageError(['coordinator', ...args, '--epochs', '1'], pattern, 'dptrain.cli.unknownOption')));
});

test('an option of the coordinator (or of training) given to a worker says it is the coordinator\'s and what to do instead (one line, exit 2)', async () => {
  const cases: [string[], RegExp][] = [
    [['--dataset', 'mnist'], /^dptrain: error: --dataset is the coordinator's: the coordinator decides what to train, .*--ship-data\); give it there; see dptrain worker --help/],
    [['--epochs', '2'], /^dptrain: error: --epochs is the coordinator's: the coordinator decides how to train and sends its workers the setup; give it to `dptrain coordinator`/],
    [['--listen', '0.0.0.0:7000'], /^dptrain: error: --listen is the coordinator's: a worker does not listen for the coordinator, it connects to it — give --connect HOST:PORT/],
    [['--ship-data'], /^dptrain: error: --ship-data is the coordinator's: start `dptrain coordinator --ship-data` and it sends its dataset to every worker/],
    [['--out', 'runs/a'], /^dptrain: error: --out is the coordinator's: the coordinator writes the run's files/],
    [['--workers', '2'], /^dptrain: error: --workers: a worker's threads are --threads; the run's workers are the `dptrain worker` processes/],
    [['--min-workers', '2'], /^dptrain: error: --min-workers is the coordinator's/],
  ];
  await Promise.all(cases.map(([args, pattern]) => expectUsageError(['worker', '--connect', '127.0.0.1:7000', ...args], pattern, 'dptrain.cli.unknownOption')));
  // A flag neither side has stays commander's, with its suggestion.
  await expectUsageError(['worker', '--thread', '2'], /unknown option '--thread' \(did you mean --threads\?\) — see dptrain worker --help/, 'dptrain.cli.unknownOption');
});

/** A TCP listener on 127.0.0.1 that counts the connections made to it. */
async function countingListener(): Promise<{ port: number; count(): number; close(): void }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, count: () => connections, close: () => server.close() };
}

test('a worker\'s --ring-host that is not an address of this machine is refused before it connects: one line naming its addresses and the fix, exit 2', async () => {
  const coordinator = await countingListener();
  try {
    const connect = ['worker', '--connect', `127.0.0.1:${coordinator.port}`, '--threads', '1', '--reconnect-timeout', '0'];
    for (const host of ['8.8.8.8', 'not_a_host']) {
      const shown = host === 'not_a_host' ? '"not_a_host" does not resolve to an address \\(\\w+\\)' : '8\\.8\\.8\\.8 is not an address of this machine';
      await expectUsageError(
        [...connect, '--ring-host', host],
        new RegExp(`^dptrain: error: --ring-host ${host}: ${shown}, so the ring listener cannot bind it — give one of this machine's addresses \\(127\\.0\\.0\\.1[^)]*\\), or leave --ring-host out to listen where the coordinator sees this worker \\[dptrain\\.config\\.listen\\]$`, 'm'),
        'dptrain.config.listen',
      );
    }
    // An address of this machine that is not loopback needs a token, as every listener: said before connecting too.
    await expectUsageError([...connect, '--ring-host', '0.0.0.0'], /^dptrain: error: --ring-host 0\.0\.0\.0 is not a loopback address and there is no --token-file: .* pass the coordinator's --token-file, or leave --ring-host out/, 'dptrain.config.insecureListen');
    assert.equal(coordinator.count(), 0, 'no connection was attempted');
    // A name of this machine is fine: the worker goes on to connect (and finds no coordinator there).
    const ok = await runCliAsync([...connect, '--ring-host', 'localhost']);
    assert.match(ok.stderr, /\[dptrain\.engine\.(coordinatorLost|sessionEnded)\]|closed|connectFailed/, ok.stderr);
    assert.ok(coordinator.count() >= 1, 'it connected');
  } finally {
    coordinator.close();
  }
});

test('coordinator --help and worker --help wrap their options at 80 columns, as train --help does', async () => {
  /** The "Options:" section of a help text: up to the first blank line. */
  const optionsOf = (help: string) => {
    const rest = help.slice(help.indexOf('Options:'));
    return rest.slice(0, rest.indexOf('\n\n') < 0 ? undefined : rest.indexOf('\n\n')).split('\n');
  };
  for (const command of ['train', 'coordinator', 'worker']) {
    const wide = optionsOf((await runCliAsync([command, '--help'])).stdout).filter((line) => [...line].length > 80);
    assert.deepEqual(wide, [], `dptrain ${command} --help has option lines over 80 columns`);
  }
  const coordinator = (await runCliAsync(['coordinator', '--help'])).stdout;
  const across = coordinator.slice(coordinator.indexOf('Across hosts'));
  assert.deepEqual(across.split('\n').filter((line) => [...line].length > 80), [], 'the "Across hosts" text too');
  // The other side's options are accepted only to be refused, never listed.
  assert.deepEqual(optionsOf(coordinator).filter((line) => /^ {2}--(workers|engine|connect|threads|name|ring-host) /.test(line)), []);
  const worker = (await runCliAsync(['worker', '--help'])).stdout;
  assert.deepEqual(optionsOf(worker).filter((line) => /^ {2}--(dataset|epochs|listen|ship-data|out|workers) /.test(line)), []);
});

test('which hosts name this machine: its interfaces\' addresses, loopback, the unspecified ones, and names that resolve to one of them', async () => {
  const { notOwnHost } = await import('../src/transport/index.js');
  const lo = { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' } as const;
  const lan = { address: '192.168.1.10', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.168.1.10/24' } as const;
  const machine = { lo: [lo], eth0: [lan] };
  const names: Record<string, string[]> = { me: ['192.168.1.10'], elsewhere: ['10.9.9.9'] };
  const resolve = async (name: string) => {
    if (names[name]) return names[name];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  };
  for (const host of ['127.0.0.1', '127.0.0.2', '::1', '[::1]', '192.168.1.10', '0.0.0.0', '::', 'me']) assert.equal(await notOwnHost(host, machine, resolve), null, host);
  assert.equal(await notOwnHost('8.8.8.8', machine, resolve), '8.8.8.8 is not an address of this machine');
  assert.equal(await notOwnHost('elsewhere', machine, resolve), 'elsewhere resolves to 10.9.9.9, not to an address of this machine');
  assert.equal(await notOwnHost('not_a_host', machine, resolve), '"not_a_host" does not resolve to an address (ENOTFOUND)');
});

test('a worker whose --token-file is missing is told to copy the coordinator\'s (a new one would not match), with the path it looked at; the coordinator is told how to make one', async () => {
  await Promise.all([
    expectUsageError(['worker', '--connect', '127.0.0.1:7000', '--token-file', 'no-such-token'], /^dptrain: error: token file "no-such-token" \(\/.*\/no-such-token\) does not exist; copy the coordinator's token file there \(scp -p keeps its mode 600\); a new token would not match the coordinator's/, 'dptrain.transport.tokenFile'),
    expectUsageError(['coordinator', '--token-file', 'no-such-token'], /does not exist; make one with: dptrain token --out no-such-token/, 'dptrain.transport.tokenFile'),
  ]);
});
