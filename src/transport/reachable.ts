/**
 * Addresses a worker can dial to reach a server bound to `host`: the server's own address, or for
 * the unspecified address (0.0.0.0, ::), which no one can dial, this machine's interface addresses
 * (127.0.0.1 when it has no other). For the hints a coordinator prints (docs/cluster.md); and
 * whether a host names this machine, so that a listener's address is checked before anything starts.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
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

/** This machine's addresses a listener can bind, loopback first (link-local IPv6 left out: it needs a scope). */
export function ownAddresses(interfaces: Interfaces = os.networkInterfaces()): string[] {
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((a) => !a.address.toLowerCase().startsWith('fe80:'));
  return [...new Set([...all.filter((a) => a.internal), ...all.filter((a) => !a.internal)].map((a) => a.address))];
}

/**
 * Why a listener could not bind `host` on this machine, or null when it can: an IP literal must be
 * loopback, unspecified (0.0.0.0, ::) or one of its interfaces' addresses; a name must resolve
 * to one of those. Checked before anything else happens, so a typo is not found only after a join.
 */
export async function notOwnHost(
  host: string,
  interfaces: Interfaces = os.networkInterfaces(),
  resolve: (name: string) => Promise<string[]> = async (name) => (await dns.lookup(name, { all: true })).map((a) => a.address),
): Promise<string | null> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const bindable = (ip: string) => ip === '0.0.0.0' || ip === '::' || isOwnAddress(ip, interfaces);
  if (net.isIP(bare) !== 0) return bindable(bare) ? null : `${bare} is not an address of this machine`;
  let resolved: string[];
  try {
    resolved = await resolve(bare);
  } catch (error) {
    return `${JSON.stringify(host)} does not resolve to an address (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  if (resolved.some(bindable)) return null;
  return `${host} resolves to ${resolved.join(', ') || 'no address'}, not to an address of this machine`;
}
