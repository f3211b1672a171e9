/**
 * cluster/launch: starts `dptrain coordinator` here and one `dptrain worker` per host over ssh,
 * streams their output with a name prefix, and stops all of them when one fails or on Ctrl-C.
 * Run `cluster/launch --help` for the options; docs/cluster.md for a LAN set-up.
 *
 * Process handling, in brief:
 * - Each command runs under a small sh watchdog that reads its stdin: when the launcher closes
 *   that pipe (or dies, even by SIGKILL), the watchdog sends the command SIGTERM, then SIGKILL
 *   after a grace period. Over ssh this is what stops the remote worker: a remote command without
 *   a terminal gets no signal when the ssh client goes away.
 * - Local children get their own process group, so that Ctrl-C reaches only the launcher, which
 *   then stops everything in order. A second Ctrl-C kills at once.
 * - A process that exits non-zero (or by a signal) stops the others; the launcher exits with its
 *   status. When the coordinator exits 0 the run is over: workers get `--grace` seconds to finish.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fs from 'node:fs';
import { HostfileError, parseHostList, readHostfile } from './hostfile.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every option's default, in one place. */
const defaults = Object.freeze({
  port: 7000,
  ssh: 'ssh -o BatchMode=yes',
  /** Seconds to wait for the coordinator to say it listens before starting workers. */
  waitSeconds: 30,
  /** Seconds between SIGTERM and SIGKILL when stopping, and for workers to exit after a finished run. */
  graceSeconds: 10,
});

const usage = `usage: cluster/launch (--hostfile FILE | --hosts h1:slots,h2:slots) [options] -- [train options]

Starts \`dptrain coordinator\` on this machine and \`dptrain worker\` on every host over ssh.

  --hostfile FILE         hosts and slots, one "host slots" per line (# comments)
  --hosts LIST            the same inline: hostA:2,hostB:4
  --coordinator HOST:PORT address the coordinator listens on and workers connect to
                          (default: this machine's first non-loopback IPv4 address, port ${defaults.port};
                          127.0.0.1 when every host is local)
  --listen HOST:PORT      listen address if it differs from --coordinator (e.g. 0.0.0.0:7000)
  --token-file F          shared token (required unless the coordinator is on loopback); the
                          same path must hold the same token on every host
  --ssh CMD               how to reach a host (default "${defaults.ssh}")
  --remote-dir DIR        where dptrain is installed on the hosts; workers run in DIR
                          (default: ${repoRoot}/bin/dptrain.js, run in the launcher's
                          current directory; both paths must exist on every host)
  --dptrain CMD           the program to run (default "node <dir>/bin/dptrain.js")
  --wait SECONDS          wait this long for the coordinator to listen before starting workers
                          (default ${defaults.waitSeconds}; 0 = do not wait)
  --grace SECONDS         SIGTERM-to-SIGKILL time when stopping (default ${defaults.graceSeconds})
  --dry-run               print the commands and exit
  -h, --help              this text

Hosts named localhost or 127.0.0.1 run without ssh. Exit status: 0 when the coordinator finished,
otherwise the status of the first process that failed (130 after Ctrl-C).`;

class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------
// Shell words: split --ssh / --dptrain values, and quote arguments for sh and for display.

/** Splits a command line into words (whitespace; '…', "…" and backslash quoting). */
export function splitWords(line) {
  const words = [];
  let word = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new UsageError(`unterminated ' in "${line}"`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        text += line[j];
      }
      if (j >= line.length) throw new UsageError(`unterminated " in "${line}"`);
      word = (word ?? '') + text;
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** Quotes one word for a POSIX shell (unchanged when it is safe as is). */
export function shellQuote(word) {
  return /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const shellLine = (words) => words.map(shellQuote).join(' ');

/**
 * The watchdog: runs "$@" with stdin from /dev/null and stops it when our stdin reaches EOF.
 * Invoked as: sh -c WATCHDOG dptrain-watchdog GRACE CMD...
 */
const WATCHDOG = [
  'g=$1; shift',
  // sh gives background jobs /dev/null as stdin: keep the real one as fd 3 for the watchdog.
  'exec 3<&0',
  '"$@" </dev/null 3<&- & p=$!',
  '{ cat <&3 >/dev/null; kill -TERM "$p"; sleep "$g"; kill -KILL "$p"; } >/dev/null 2>&1 &',
  'exec 3<&-',
  'w=$!',
  'trap \'kill -TERM "$p" 2>/dev/null\' TERM INT HUP',
  'wait "$p"; s=$?',
  // wait returns early when a trapped signal arrives: wait again for the real status.
  'while kill -0 "$p" 2>/dev/null; do wait "$p"; s=$?; done',
  'kill "$w" 2>/dev/null',
  'exit "$s"',
].join('\n');

const watched = (grace, words) => ['sh', '-c', WATCHDOG, 'dptrain-watchdog', String(grace), ...words];

// ---------------------------------------------------------------------------------------------
// Options

function parseAddress(value, option) {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:\s]+):([0-9]+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new UsageError(`${option} must be HOST:PORT with a port from 1 to 65535 (got "${value}")`);
  }
  return { host: m[1], port, text: value };
}

function parseSeconds(value, option) {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`${option} must be a number of seconds >= 0 (got "${value}")`);
  }
  return n;
}

const isLoopback = (host) => /^(127\.[0-9.]+|localhost|\[::1\]|::1)$/i.test(host);
/** A host that runs here without ssh: this machine's name for itself, and no user to log in as (ops@localhost goes through ssh). */
const isLocalHost = (h) => h.user === undefined && /^(localhost|127\.0\.0\.1|0::1)$/i.test(h.name);

/** Options the launcher sets itself; passing them after `--` would contradict it. */
const RESERVED = ['--listen', '--min-workers', '--token-file', '--connect', '--threads', '--name'];

export function parseArgs(argv) {
  const options = {
    hostfile: undefined,
    hosts: undefined,
    coordinator: undefined,
    listen: undefined,
    tokenFile: undefined,
    ssh: defaults.ssh,
    remoteDir: undefined,
    dptrain: undefined,
    wait: defaults.waitSeconds,
    grace: defaults.graceSeconds,
    dryRun: false,
    help: false,
    train: [],
  };
  const valueOf = (i, name) => {
    const v = argv[i + 1];
    if (v === undefined) throw new UsageError(`${name} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const take = () => (eq > 0 ? arg.slice(eq + 1) : valueOf(i++, name));
    switch (name) {
      case '--':
        options.train = argv.slice(i + 1);
        i = argv.length;
        break;
      case '-h':
      case '--help':
        options.help = true;
        break;
      case '--dry-run':
        options.dryRun = true;
        break;
      case '--hostfile':
        options.hostfile = take();
        break;
      case '--hosts':
      case '-H':
        options.hosts = take();
        break;
      case '--coordinator':
        options.coordinator = parseAddress(take(), '--coordinator');
        break;
      case '--listen':
        options.listen = parseAddress(take(), '--listen');
        break;
      case '--token-file':
        options.tokenFile = take();
        break;
      case '--ssh':
        options.ssh = take();
        break;
      case '--remote-dir':
        options.remoteDir = take();
        break;
      case '--dptrain':
        options.dptrain = take();
        break;
      case '--wait':
        options.wait = parseSeconds(take(), '--wait');
        break;
      case '--grace':
        options.grace = parseSeconds(take(), '--grace');
        break;
      default:
        throw new UsageError(`unknown option "${arg}" (train options go after "--"; see --help)`);
    }
  }
  if (options.help) return options;
  if ((options.hostfile === undefined) === (options.hosts === undefined)) {
    throw new UsageError('give the hosts with exactly one of --hostfile FILE or --hosts h1:slots,h2:slots');
  }
  for (const arg of options.train) {
    const name = arg.split('=')[0];
    if (RESERVED.includes(name)) {
      throw new UsageError(`${name} is set by the launcher; use the launcher's --coordinator, --listen or --token-file, or the hostfile's slots`);
    }
  }
  if (splitWords(options.ssh).length === 0) throw new UsageError('--ssh must name a command');
  if (options.dptrain !== undefined && splitWords(options.dptrain).length === 0) throw new UsageError('--dptrain must name a command');
  return options;
}

/** This machine's first non-internal IPv4 address, or undefined. */
function firstLanAddress() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/**
 * Resolves options into the processes to start: the coordinator first, then one worker per host.
 * Each has `words` (the dptrain command), `display` (what --dry-run prints: the command as typed by
 * hand, over ssh for remote hosts) and `spawnWords` (what runs: the same under the watchdog).
 * @returns {{ procs: { name: string, kind: 'coordinator' | 'worker', local: boolean, words: string[], display: string, spawnWords: string[] }[],
 *   coordinator: { host: string, port: number, text: string }, listen: { host: string, port: number, text: string }, hosts: object[] }}
 */
export function plan(options) {
  const hosts = options.hostfile !== undefined ? readHostfile(options.hostfile) : parseHostList(options.hosts);
  const allLocal = hosts.every((h) => isLocalHost(h));
  let coordinator = options.coordinator;
  if (!coordinator) {
    const host = allLocal ? '127.0.0.1' : firstLanAddress();
    if (!host) throw new UsageError('this machine has no non-loopback IPv4 address; give --coordinator HOST:PORT');
    coordinator = { host, port: defaults.port, text: `${host}:${defaults.port}` };
  }
  // Over plain ssh a remote worker's 127.0.0.1 is its own host. (A custom --ssh may forward the
  // port back, e.g. ssh -R 7000:127.0.0.1:7000, so it is left to the user.)
  const remote = hosts.find((h) => !isLocalHost(h));
  if (remote && isLoopback(coordinator.host) && options.ssh === defaults.ssh) {
    throw new UsageError(
      `--coordinator ${coordinator.text} is a loopback address, but ${remote.name} is another host: there it would name ${remote.name} itself. ` +
        "Give this machine's LAN address, e.g. --coordinator 192.168.1.10:7000",
    );
  }
  const listen = options.listen ?? coordinator;
  if (!options.tokenFile && !isLoopback(listen.host)) {
    throw new UsageError(
      `--token-file is required: the coordinator listens on ${listen.text}, not on loopback ` +
        '(make one with: dptrain token --out token, and copy it to every host with scp -p)',
    );
  }
  if (options.tokenFile && !options.dryRun && !fs.existsSync(options.tokenFile)) {
    throw new UsageError(`--token-file "${options.tokenFile}" does not exist here (the coordinator reads it on this machine)`);
  }

  const localDir = process.cwd();
  const remoteDir = options.remoteDir ?? localDir;
  const program = (dir) => (options.dptrain !== undefined ? splitWords(options.dptrain) : ['node', path.join(dir, 'bin', 'dptrain.js')]);
  const token = options.tokenFile ? ['--token-file', options.tokenFile] : [];
  const ssh = splitWords(options.ssh);
  const grace = options.grace;

  const coordinatorWords = [
    ...program(repoRoot),
    'coordinator',
    '--listen',
    listen.text,
    '--min-workers',
    String(hosts.length),
    ...token,
    ...options.train,
  ];
  const procs = [
    {
      name: 'coordinator',
      kind: 'coordinator',
      local: true,
      words: coordinatorWords,
      display: shellLine(coordinatorWords),
      spawnWords: watched(grace, coordinatorWords),
    },
  ];
  for (const h of hosts) {
    const local = isLocalHost(h);
    const workerWords = [
      ...program(local ? repoRoot : options.remoteDir ?? repoRoot),
      'worker',
      '--connect',
      `ws://${coordinator.text}`,
      ...token,
      '--threads',
      String(h.slots),
      '--name',
      h.name,
    ];
    if (local) {
      procs.push({ name: h.name, kind: 'worker', local, words: workerWords, display: shellLine(workerWords), spawnWords: watched(grace, workerWords) });
    } else {
      // ssh joins its arguments with spaces and hands them to the remote login shell: one quoted string.
      const remote = `cd ${shellQuote(remoteDir)} && exec ${shellLine(workerWords)}`;
      const remoteWatched = `cd ${shellQuote(remoteDir)} && exec ${shellLine(watched(grace, workerWords))}`;
      procs.push({
        name: h.name,
        kind: 'worker',
        local,
        words: workerWords,
        display: shellLine([...ssh, h.host, remote]),
        spawnWords: [...ssh, h.host, remoteWatched],
      });
    }
  }
  return { procs, coordinator, listen, hosts };
}

// ---------------------------------------------------------------------------------------------
// Running

const log = (message) => process.stderr.write(`launch | ${message}\n`);

/**
 * Resolves once the coordinator we started says it listens (`coordinator at ws://…`, logged after
 * its listener is bound); rejects after `seconds` or when `aborted()`. Not a TCP connect to the
 * port: that succeeds against whatever else holds it, and our workers would join another run.
 */
async function waitForListening(coordinator, seconds, aborted) {
  const deadline = Date.now() + seconds * 1000;
  while (!coordinator.listening) {
    if (aborted()) throw new Error('aborted');
    if (Date.now() > deadline) throw new Error(`the coordinator did not say it listens (its "coordinator at ws://…" line) within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The coordinator's start-up line, once its listener is bound (src/engine/ws/coordinator.ts). */
const LISTENING = /\bcoordinator at wss?:\/\//;

function signalExitCode(signal) {
  return 128 + (os.constants.signals[signal] ?? 0);
}

async function run(procs, options) {
  const width = Math.max(...procs.map((p) => p.name.length));
  const running = new Set();
  let stopping = false;
  let exitCode;
  let graceTimer;
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));

  const stopAll = (reason) => {
    if (stopping) return;
    stopping = true;
    log(running.size > 0 ? `${reason}; stopping ${[...running].map((p) => p.name).join(', ')}` : reason);
    for (const p of running) p.child.stdin.end(); // the watchdog sends SIGTERM
    graceTimer = setTimeout(() => {
      for (const p of running) {
        log(`${p.name} did not stop within ${options.grace} s; killing it`);
        kill(p, 'SIGKILL');
      }
    }, options.grace * 1000 + 2000);
    graceTimer.unref();
    checkDone();
  };

  const kill = (p, signal) => {
    try {
      process.kill(-p.child.pid, signal); // the whole process group (sh, the command, ssh)
    } catch {
      /* already gone */
    }
  };

  const checkDone = () => {
    if (running.size === 0 && (stopping || procs.every((p) => p.exited))) {
      clearTimeout(graceTimer);
      resolveDone(exitCode ?? 0);
    }
  };

  const start = (p) => {
    const [command, ...args] = p.spawnWords;
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    p.child = child;
    running.add(p);
    child.stdin.on('error', () => {}); // EPIPE after the child exited
    const prefix = `${p.name.padEnd(width)} | `;
    const seen = (line) => {
      if (p.kind === 'coordinator' && !p.listening && LISTENING.test(line)) p.listening = true;
    };
    readline.createInterface({ input: child.stdout }).on('line', (line) => (seen(line), process.stdout.write(prefix + line + '\n')));
    readline.createInterface({ input: child.stderr }).on('line', (line) => (seen(line), process.stderr.write(prefix + line + '\n')));
    child.on('error', (error) => {
      log(`${p.name}: cannot start "${command}": ${error.message}`);
      exitCode ??= 127;
      p.exited = true;
      running.delete(p);
      stopAll(`${p.name} could not start`);
    });
    child.on('close', (code, signal) => {
      p.exited = true;
      running.delete(p);
      child.stdin.end();
      const status = code ?? signalExitCode(signal);
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      if (stopping) {
        log(`${p.name} ${how}`);
      } else if (status !== 0) {
        exitCode ??= status;
        stopAll(`${p.name} ${how}`);
      } else if (p.kind === 'coordinator') {
        exitCode ??= 0;
        log(`coordinator finished; waiting up to ${options.grace} s for the workers to exit`);
        setTimeout(() => stopAll('grace period over'), options.grace * 1000).unref();
      } else {
        log(`${p.name} exited with code 0`);
      }
      checkDone();
    });
  };

  let interrupts = 0;
  const onSignal = (signal) => {
    interrupts++;
    exitCode ??= signalExitCode(signal);
    if (interrupts === 1) {
      stopAll(`got ${signal} (again to kill at once)`);
    } else {
      for (const p of running) kill(p, 'SIGKILL');
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  const [coordinator, ...workers] = procs;
  log(`coordinator: ${coordinator.display}`);
  start(coordinator);
  if (options.wait > 0) {
    try {
      await waitForListening(coordinator, options.wait, () => stopping || coordinator.exited);
    } catch (error) {
      if (!stopping) {
        exitCode ??= 1;
        stopAll(error.message);
      }
    }
  }
  if (!stopping) {
    for (const p of workers) {
      log(`${p.name}: ${p.display}`);
      start(p);
    }
  }
  return done;
}

export async function main(argv) {
  // Output piped into `head` that has seen enough: end quietly, as dptrain does.
  process.stdout.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  let options;
  let planned;
  try {
    options = parseArgs(argv);
    if (options.help) {
      process.stdout.write(usage + '\n');
      return 0;
    }
    planned = plan(options);
  } catch (error) {
    if (error instanceof UsageError || error instanceof HostfileError) {
      process.stderr.write(`launch: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (options.dryRun) {
    for (const p of planned.procs) {
      const where = p.kind === 'coordinator' ? 'coordinator (here)' : `worker on ${p.name}${p.local ? ' (here)' : ''}`;
      process.stdout.write(`# ${where}\n${p.display}\n`);
    }
    return 0;
  }
  return run(planned.procs, options);
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
