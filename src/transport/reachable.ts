/**
 * Addresses a worker can dial to reach a server bound to `host`: the server's own address, or for
 * the unspecified address (0.0.0.0, ::), which no one can dial, this machine's interface addresses
 * (127.0.0.1 when it has no other). For the hints a coordinator prints (docs/cluster.md).
 */
import os from 'node:os';

type Interfaces = ReturnType<typeof os.networkInterfaces>;

/** Dialable hosts for a server bound to `host`, best first (IPv4 before IPv6). */
export function reachableHosts(host: string, interfaces: Interfaces = os.networkInterfaces()): string[] {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const anyV4 = bare === '0.0.0.0' || bare === '';
  const anyV6 = bare === '::' || bare === '::0';
  if (!anyV4 && !anyV6) return [bare];
  const addresses = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal && (a.family === 'IPv4' || (anyV6 && !a.address.toLowerCase().startsWith('fe80:'))));
  const ordered = [...addresses.filter((a) => a.family === 'IPv4'), ...addresses.filter((a) => a.family !== 'IPv4')].map((a) => a.address);
  return ordered.length > 0 ? [...new Set(ordered)] : ['127.0.0.1'];
}

/** `HOST:PORT`, with an IPv6 host in brackets (`[fd00::2]:7000`). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Whether `ip` (as a peer's address reads, `::ffff:` IPv4 forms included) is one of this host's
 * own addresses: a loopback address or one of its interfaces'. A peer at such an address runs on
 * this host (in the same network namespace), so bytes to it never cross a real link.
 */
export function isOwnAddress(ip: string, interfaces: Interfaces = os.networkInterfaces()): boolean {
  const bare = ip.replace(/^\[(.*)\]$/, '$1').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1').toLowerCase();
  if (bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare)) return true;
  return Object.values(interfaces).some((list) => (list ?? []).some((a) => a.address.toLowerCase() === bare));
}
