/**
 * `--dashboard [HOST:]PORT`: where the dashboard listens, and the key a non-loopback one asks
 * browsers for. The key is derived from the run's token (HMAC-SHA256), so that the URL a user
 * copies into a browser never holds the token itself, which workers prove without sending it.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { ConfigError } from '../errors.js';
import { isLoopback } from '../transport/index.js';

export interface DashboardAddress {
  host: string;
  /** 0: a free port, chosen at start. */
  port: number;
}

const EXAMPLES = 'e.g. --dashboard 8080, --dashboard 127.0.0.1:8080, or --dashboard alone for 127.0.0.1 and a free port';

/**
 * `true` (the flag alone): 127.0.0.1 and a free port; `PORT`; `HOST:PORT`; `[IPv6]:PORT`. The host
 * must look like an address or a host name; whether this machine has it is found out at start.
 */
export function parseDashboardAddress(raw: string | true): DashboardAddress {
  if (raw === true) return { host: '127.0.0.1', port: 0 };
  const text = raw.trim();
  const m = /^(?:\[([^\]]+)\]:|([^:[\]]+):)?(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65_535)) {
    throw new ConfigError('badOption', `--dashboard must be [HOST:]PORT with a port from 0 to 65535, ${EXAMPLES} (got ${JSON.stringify(raw)})`);
  }
  const host = m[1] ?? m[2] ?? '127.0.0.1';
  const hostName = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
  const numeric = /^[\d.]+$/.test(host);
  if ((m[1] !== undefined && net.isIPv6(host) === false) || (m[1] === undefined && (numeric ? !net.isIPv4(host) : !hostName.test(host)))) {
    throw new ConfigError('badOption', `--dashboard host ${JSON.stringify(host)} is not an IP address or host name, ${EXAMPLES}`);
  }
  return { host, port };
}

/** Whether browsers must show the key: every address but loopback. */
export function needsKey(address: DashboardAddress): boolean {
  return !isLoopback(address.host);
}

/** The dashboard's key for a run token: what the URL's ?token= and the cookie hold (hex). */
export function dashboardKey(token: Uint8Array): string {
  return crypto.createHmac('sha256', token).update('dptrain dashboard v1').digest('hex');
}

/** Constant-time comparison of a presented key with the expected one. */
export function sameKey(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
