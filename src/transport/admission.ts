/**
 * Who may start a handshake with a server, and who is locked out (docs/protocol.md §7, §10).
 *
 * - Pending handshakes are capped in all (maxPendingHandshakes) and per address
 *   (maxPendingPerAddress), so one unauthenticated address cannot hold every slot.
 * - Addresses that have proven the token to this server before get reservedHandshakes more slots:
 *   a worker coming back still gets in while strangers fill the others.
 * - A failed or abandoned handshake counts against (address, claimed name): maxAuthFailures of
 *   them within authLockoutMs lock that pair out. Every failure, named or not (a socket silent
 *   until the handshake timeout), also counts against the address, and maxAuthFailuresPerAddress
 *   of them lock the whole address out, so rotating names buys a guesser little. A worker behind
 *   the same address as a guesser (NAT) is kept out only when the guesser uses its name or passes
 *   the per-address count; a worker whose own attempts time out (a partition) does not lock itself
 *   out before maxAuthFailuresPerAddress of them.
 * Memory is bounded: at most MAX_TRACKED keys of each kind (the oldest is forgotten first).
 */
import type { TransportLimits } from './limits.js';

const MAX_TRACKED = 4096;

/** A refusal at the HTTP upgrade, before any WebSocket exists. */
export interface UpgradeRefusal {
  status: '429 Too Many Requests' | '503 Service Unavailable';
  why: string;
}

type AdmissionLimits = Pick<
  TransportLimits,
  'maxPendingHandshakes' | 'maxPendingPerAddress' | 'reservedHandshakes' | 'maxAuthFailures' | 'maxAuthFailuresPerAddress' | 'authLockoutMs'
>;

export class Admission {
  readonly #limits: AdmissionLimits;
  /** Failure times by `address\0name` and by address alone. */
  readonly #byName = new FailureLog();
  readonly #byAddress = new FailureLog();
  readonly #pendingByAddress = new Map<string, number>();
  /** Addresses that proved the token, most recent last. */
  readonly #proven = new Map<string, true>();
  #pending = 0;

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  /** Handshakes in progress. */
  get pending(): number {
    return this.#pending;
  }

  /** Why an upgrade from `address` must be refused now, or undefined to let it in. */
  checkUpgrade(address: string, now: number): UpgradeRefusal | undefined {
    const l = this.#limits;
    const window = l.authLockoutMs;
    const lockedFor = this.#byAddress.lockedFor(address, l.maxAuthFailuresPerAddress, window, now);
    if (lockedFor > 0) {
      const count = this.#byAddress.count(address, window, now);
      return {
        status: '429 Too Many Requests',
        why: `${count} failed or abandoned handshakes from ${address}; locked out for ${Math.ceil(lockedFor / 1000)} s more — check the token file, then wait that long`,
      };
    }
    const fromAddress = this.#pendingByAddress.get(address) ?? 0;
    if (fromAddress >= l.maxPendingPerAddress) {
      return { status: '503 Service Unavailable', why: `${fromAddress} handshakes from ${address} are in progress (maxPendingPerAddress ${l.maxPendingPerAddress})` };
    }
    const slots = l.maxPendingHandshakes + (this.#proven.has(address) ? l.reservedHandshakes : 0);
    if (this.#pending >= slots) {
      return { status: '503 Service Unavailable', why: `maxPendingHandshakes (${l.maxPendingHandshakes}) handshakes are in progress` };
    }
    return undefined;
  }

  /** Why `name` from `address` must be refused before it proves anything, or undefined. */
  checkName(address: string, name: string, now: number): string | undefined {
    const lockedFor = this.#byName.lockedFor(key(address, name), this.#limits.maxAuthFailures, this.#limits.authLockoutMs, now);
    if (lockedFor <= 0) return undefined;
    return `${this.#limits.maxAuthFailures} failed or abandoned handshakes as "${name}" from ${address}; locked out for ${Math.ceil(lockedFor / 1000)} s more — check the token file, then wait that long or connect under another --name`;
  }

  begin(address: string): void {
    this.#pending++;
    this.#pendingByAddress.set(address, (this.#pendingByAddress.get(address) ?? 0) + 1);
  }

  end(address: string): void {
    this.#pending--;
    const left = (this.#pendingByAddress.get(address) ?? 1) - 1;
    if (left > 0) this.#pendingByAddress.set(address, left);
    else this.#pendingByAddress.delete(address);
  }

  /** A handshake from `address` ended before the client proved the token (`name` once it said one). */
  failed(address: string, name: string | undefined, now: number): void {
    if (name !== undefined) this.#byName.add(key(address, name), this.#limits.maxAuthFailures, this.#limits.authLockoutMs, now);
    this.#byAddress.add(address, this.#limits.maxAuthFailuresPerAddress, this.#limits.authLockoutMs, now);
  }

  /** `address` proved the token: it may use the reserved slots from now on. */
  proven(address: string): void {
    this.#proven.delete(address);
    this.#proven.set(address, true);
    if (this.#proven.size > MAX_TRACKED) this.#proven.delete(this.#proven.keys().next().value!);
  }
}

function key(address: string, name: string): string {
  return `${address}\0${name}`;
}

/** Recent failure times by key, at most MAX_TRACKED keys (Map order is age order). */
class FailureLog {
  readonly #times = new Map<string, number[]>();

  add(k: string, keep: number, windowMs: number, now: number): void {
    const times = this.#recent(k, windowMs, now);
    times.push(now);
    this.#times.delete(k); // re-inserted last
    this.#times.set(k, times.slice(-keep));
    if (this.#times.size > MAX_TRACKED) this.#times.delete(this.#times.keys().next().value!);
  }

  count(k: string, windowMs: number, now: number): number {
    return this.#recent(k, windowMs, now).length;
  }

  /** Milliseconds until `k` may try again after `max` failures; 0 when it is not locked out. */
  lockedFor(k: string, max: number, windowMs: number, now: number): number {
    const times = this.#recent(k, windowMs, now);
    return times.length >= max ? times[times.length - 1] + windowMs - now : 0;
  }

  #recent(k: string, windowMs: number, now: number): number[] {
    const times = (this.#times.get(k) ?? []).filter((t) => now - t < windowMs);
    if (times.length === 0) this.#times.delete(k);
    return times;
  }
}
