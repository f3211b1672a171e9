/**
 * Two buckets' rings on one link (docs/architecture.md, "Buckets and overlap"): a worker starts
 * bucket b+1's ring as soon as bucket b's reduce-scatter is done, while b's all-gather is still
 * on the wire, as DDP's process group runs several buckets' all-reduces at once. The pieces from
 * the predecessor then arrive interleaved; this routes each to its `bucket`, so each ring reads
 * only its own pieces, in the order they were sent. What is added to what is unchanged, so the
 * bits do not depend on the interleaving.
 *
 * One reader at a time takes messages from the inbox (a PeerInbox serves one `next` at a time).
 * Pieces of an earlier step or attempt are dropped; one of a later attempt is put back and every
 * waiting ring ends with Superseded, as a single ring would (ring.ts, nextPiece). A piece of no
 * bucket goes to the first waiting ring, which names it in its RingLinkError.
 */
import type { PeerMessage } from './messages.js';
import { Superseded, type PeerInbox } from './peer-links.js';

/** What a ring reads its pieces from (PeerInbox's interface). */
export interface PieceSource {
  next(signal: AbortSignal): Promise<PeerMessage>;
  unshift(message: PeerMessage): void;
}

interface Waiter {
  resolve(message: PeerMessage): void;
  reject(error: unknown): void;
}

export class RingDemux {
  readonly #inbox: PeerInbox;
  readonly #step: number;
  readonly #attempt: number;
  readonly #queues: PeerMessage[][];
  readonly #waiters = new Map<number, Waiter>();
  #reading = false;

  constructor(inbox: PeerInbox, buckets: number, step: number, attempt: number) {
    this.#inbox = inbox;
    this.#step = step;
    this.#attempt = attempt;
    this.#queues = Array.from({ length: buckets }, () => []);
  }

  /** Bucket b's pieces. */
  forBucket(b: number): PieceSource {
    return {
      next: (signal) => this.#next(b, signal),
      unshift: (message) => this.#queues[b].unshift(message),
    };
  }

  #next(b: number, signal: AbortSignal): Promise<PeerMessage> {
    const queued = this.#queues[b].shift();
    if (queued) return Promise.resolve(queued);
    if (this.#waiters.has(b)) return Promise.reject(new Error(`bucket ${b}'s ring reads two pieces at once`));
    const message = new Promise<PeerMessage>((resolve, reject) => this.#waiters.set(b, { resolve, reject }));
    void this.#read(signal);
    return message;
  }

  /** Reads while some ring waits, handing each piece to its bucket. */
  async #read(signal: AbortSignal): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      while (this.#waiters.size > 0) {
        const m = await this.#inbox.next(signal);
        if (m.step < this.#step || (m.step === this.#step && m.attempt < this.#attempt)) continue; // abandoned attempt
        if (m.step > this.#step || m.attempt > this.#attempt) {
          this.#inbox.unshift(m); // the predecessor is already in a later attempt
          this.#failAll(new Superseded('this ring attempt'));
          return;
        }
        const target = m.bucket < this.#queues.length ? m.bucket : Math.min(...this.#waiters.keys()); // no bucket: its ring reports it
        const waiter = this.#waiters.get(target);
        if (!waiter) {
          this.#queues[target].push(m);
          continue;
        }
        this.#waiters.delete(target);
        waiter.resolve(m);
      }
    } catch (error) {
      this.#failAll(error);
    } finally {
      this.#reading = false;
    }
  }

  #failAll(error: unknown): void {
    const waiters = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const w of waiters) w.reject(error);
  }
}
