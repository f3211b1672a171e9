/**
 * The ring all-reduce between workers (Patarasuk & Yuan 2009; Baidu's ring-allreduce, as in
 * Horovod and Gloo's allreduce_ring_chunked): the vector is cut into n segments; in n-1
 * reduce-scatter rounds each worker sends one segment to its successor and adds the one it
 * receives from its predecessor, after which worker r holds the full sum of segment (r+1) mod n;
 * n-1 all-gather rounds then pass the finished segments around. Each worker sends and receives
 * 2(n-1)/n of the vector: bandwidth-optimal, but 2(n-1) latency-bound rounds.
 *
 * Determinism: segment k is always summed in the ring order k, k+1, ..., k-1 (float32 adds), so
 * a given membership gives the same bits on every run; only the worker count and order matter.
 * Segments travel in pieces of at most `chunkFloats` floats; `Connection.send` waits while the
 * link's queue is full (backpressure), and receiving runs concurrently with sending, so two
 * neighbours that both send never wait for each other.
 */
import { EngineError } from '../../errors.js';
import type { Connection } from '../../transport/index.js';
import type { Range } from '../../collective/index.js';
import type { PeerMessage } from './messages.js';
import { abortable, Superseded, type PeerInbox } from './peer-links.js';

export interface RingRound {
  step: number;
  attempt: number;
  rank: number;
  size: number;
  segments: Range[];
  chunkFloats: number;
  next: Connection<PeerMessage>;
  prev: PeerInbox;
  signal: AbortSignal;
  /** Called once, after the reduce-scatter, with the segment this worker finished. */
  onReduced(segment: Range): void;
}

/** A failure of the link from the predecessor (so the coordinator can name it). */
export class RingLinkError extends EngineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ringFailed', message, options);
  }
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/** All-reduces `buffer` (this worker's gradient sum) in place over the ring. */
export async function ringAllReduce(buffer: Float32Array, r: RingRound): Promise<void> {
  const n = r.size;
  if (n === 1) {
    r.onReduced(r.segments[0]);
    return;
  }
  // reduce-scatter: round s sends segment (rank - s), receives and adds (rank - s - 1)
  for (let s = 0; s < n - 1; s++) {
    await exchange(buffer, r, s, r.segments[mod(r.rank - s, n)], r.segments[mod(r.rank - s - 1, n)], true);
  }
  r.onReduced(r.segments[mod(r.rank + 1, n)]);
  // all-gather: round s sends the finished segment (rank + 1 - s), receives (rank - s)
  for (let s = 0; s < n - 1; s++) {
    await exchange(buffer, r, n - 1 + s, r.segments[mod(r.rank + 1 - s, n)], r.segments[mod(r.rank - s, n)], false);
  }
}

async function exchange(buffer: Float32Array, r: RingRound, round: number, send: Range, receive: Range, add: boolean): Promise<void> {
  const sending = (async () => {
    for (let offset = send.start; offset < send.end || (offset === send.start && send.end === send.start); offset += r.chunkFloats) {
      const end = Math.min(send.end, offset + r.chunkFloats);
      await abortable(
        r.next.send({ type: 'ring', step: r.step, attempt: r.attempt, round, offset, values: buffer.subarray(offset, end) }),
        r.signal,
        'a ring send',
      );
      if (send.end === send.start) break; // an empty segment still sends one empty piece, so rounds stay in step
    }
  })();
  const receiving = (async () => {
    let expected = receive.start;
    for (;;) {
      const m = await r.prev.next(r.signal).catch((error: unknown) => {
        if (error instanceof Superseded) throw error;
        throw new RingLinkError(`the ring link from the predecessor failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
      });
      if (m.step < r.step || (m.step === r.step && m.attempt < r.attempt)) continue; // a piece of an abandoned attempt
      if (m.step > r.step || m.attempt > r.attempt) {
        r.prev.unshift(m); // the predecessor is already in a later attempt; ours is being replaced
        throw new Superseded('this ring attempt');
      }
      if (m.round !== round || m.offset !== expected || m.offset + m.values.length > receive.end) {
        throw new RingLinkError(
          `the predecessor sent piece [${m.offset}, ${m.offset + m.values.length}) of round ${m.round}; expected round ${round} at offset ${expected} within [${receive.start}, ${receive.end})`,
        );
      }
      if (add) {
        for (let i = 0, j = m.offset; i < m.values.length; i++, j++) buffer[j] += m.values[i];
      } else {
        buffer.set(m.values, m.offset);
      }
      expected += m.values.length;
      if (expected >= receive.end) return;
    }
  })();
  // Both must finish; if one fails, the other is abandoned by the caller's abort.
  await Promise.all([sending, receiving]);
}
