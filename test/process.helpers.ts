/** A real `dptrain` process that a test can wait on and signal (Ctrl-C tests, issue 12 item 4). */
import { spawn, type ChildProcess } from 'node:child_process';
import { binPath, repoRoot } from './helpers.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() when the process exited. */
  at: number;
}

export interface RunningCli {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  /** Resolves when the output matches `pattern`; rejects when the process exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<Exit>;
}

/** Starts `node bin/dptrain.js ...args` (no terminal: no progress bar, plain log lines). */
export function startCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): RunningCli {
  const child = spawn(process.execPath, [binPath, ...args], { cwd: options.cwd ?? repoRoot, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, at: performance.now() })));
  const waitFor = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (pattern.test(text)) done();
      };
      const timer = setTimeout(() => done(new Error(`no ${pattern} within ${timeoutMs} ms:\n${text}`)), timeoutMs);
      listeners.add(check);
      void exited.then((e) => done(pattern.test(text) ? undefined : new Error(`exited (${e.code ?? e.signal}) before ${pattern}:\n${text}`)));
      check();
    });
  return { child, output: () => text, waitFor, exited };
}
