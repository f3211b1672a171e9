/**
 * startDashboard: what `--dashboard` turns on. Checks the address and the token, listens (so a
 * port in use fails before any training), and returns the feeds to hand to train(), the ws
 * coordinator or sweep(). The CLI imports this module only when --dashboard is given: without
 * it, no hub, no feed and no server exist (zero cost).
 */
import os from 'node:os';
import { ConfigError } from '../errors.js';
import type { CoordinatorStatus, MembershipEvent } from '../engine/index.js';
import type { SweepHooks } from '../study/index.js';
import type { Callback } from '../train/index.js';
import { readTokenFile } from '../transport/index.js';
import { dashboardKey, needsKey, parseDashboardAddress } from './address.js';
import { CoordinatorFeed } from './coordinator-feed.js';
import { SweepFeed } from './sweep-feed.js';
import { TrainFeed } from './train-feed.js';
import { DashboardHub, type DashboardSnapshot } from './hub.js';
import { DashboardServer } from './server.js';

export interface DashboardOptions {
  /** The --dashboard value: true for the flag alone, else [HOST:]PORT. */
  address: string | true;
  /** --token-file: required off loopback; its key then guards the page anywhere. */
  tokenFile?: string;
  kind: DashboardSnapshot['kind'];
  log: { info(fields: object, message: string): void };
  /** --out: named, once the server closes, as where `dptrain report` finds the run's charts. */
  out?: string;
  /** `--batch-size auto`: B changes while training (the header shows B and lr now; progress counts samples). */
  adaptiveBatch?: boolean;
  /** The header before the run starts (a coordinator waiting for workers): model, dataset, listen address. */
  facts?: [string, string][];
  /** The line under the progress bar before the run starts. */
  message?: string;
  /** Overrides for tests (flush interval, buffer limit). */
  flushMs?: number;
  maxBufferedBytes?: number;
}

export interface Dashboard {
  /** The URL to open (printed once at start). */
  readonly url: string;
  readonly server: DashboardServer;
  /** The generic series API (defineChart, point, setSeries, setCaption), for other feeds such as B(t). */
  readonly hub: DashboardHub;
  /** For train(): hooks.callbacks. */
  readonly callback: Callback;
  /** For the ws coordinator's options. */
  readonly coordinator: {
    onStatus(status: CoordinatorStatus): void;
    onMembership(event: MembershipEvent): void;
    /** Before the first step: the workers ready so far, of `needed` (--min-workers). */
    onWaiting(ready: readonly { name: string; host: string; threads: number }[], needed: number): void;
  };
  /** sweep()'s hooks, wrapping the caller's. */
  sweepHooks(also?: SweepHooks): SweepHooks;
  /** Marks the run failed (the page says why). */
  fail(message: string): void;
  /** Sends the final state, stops serving, and logs that it did and where the run's charts are now. */
  close(): Promise<void>;
}

let started = 0;

/** How many dashboards this process started (a test checks that none starts without --dashboard). */
export function dashboardsStarted(): number {
  return started;
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const address = parseDashboardAddress(options.address);
  if (needsKey(address) && !options.tokenFile) {
    throw new ConfigError(
      'insecureDashboard',
      `--dashboard ${address.host}:${address.port} is not a loopback address, and there is no --token-file: anyone who can reach the port could watch the run. ` +
        'Create a token (dptrain token --out token) and pass --token-file token — or leave the host out for 127.0.0.1',
    );
  }
  const key = options.tokenFile ? dashboardKey(readTokenFile(options.tokenFile)) : null;
  const hub = new DashboardHub(options.kind, `${os.hostname()}, pid ${process.pid}`, afterEndText(options.out));
  if (options.facts) hub.setFacts(options.facts);
  if (options.message) hub.setProgress({ message: options.message });
  const train = new TrainFeed(hub, { adaptive: options.adaptiveBatch });
  const coordinator = new CoordinatorFeed(hub, train);
  const sweep = options.kind === 'sweep' ? new SweepFeed(hub, train) : null;
  const server = await DashboardServer.start({ ...address, hub, key, flushMs: options.flushMs, maxBufferedBytes: options.maxBufferedBytes });
  started += 1;
  options.log.info({ dashboard: server.url }, `dashboard at ${server.url}`);
  return {
    url: server.url,
    server,
    hub,
    callback: train,
    coordinator: { onStatus: (s) => coordinator.onStatus(s), onMembership: (e) => coordinator.onMembership(e), onWaiting: (ready, needed) => coordinator.onWaiting(ready, needed) },
    sweepHooks: (also) => (sweep ? sweep.hooks(also) : also ?? {}),
    fail: (message) => hub.setProgress({ state: 'failed', etaSeconds: null, message: `failed: ${message}` }),
    close: async () => {
      if (server.closed) return;
      await server.close();
      // The process exits after the run (scripts rely on it), so a reload finds nothing: say so.
      options.log.info({ dashboard: server.url, out: options.out ?? null }, `dashboard at ${server.url} closed (the run ended): reloading the page will not work; ${afterEndText(options.out)}`);
    },
  };
}

/** Where the run's charts are once the dashboard is gone. */
function afterEndText(out: string | undefined): string {
  return out ? `\`dptrain report ${out}\` draws its charts` : 'without --out the run kept no files to draw (give --out DIR, then `dptrain report DIR`)';
}
