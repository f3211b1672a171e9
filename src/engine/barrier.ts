/**
 * A reusable barrier in shared memory for the N tasks of one step, with an abort word so that a
 * worker that fails does not leave the others waiting forever. A round (one dispatch of the N
 * step tasks) has up to two barriers, by phase: UPDATED (every range of the previous step's
 * update is written, before any worker reads the new parameters) and COMPUTED (every gradient
 * slot is written, before the reduce-scatter reads them).
 *
 * Words of `control` (Int32Array over a SharedArrayBuffer), per phase p:
 *   ARRIVED + 2p   tasks that reached the phase's barrier this round (reset by the coordinator per round)
 *   RELEASED + 2p  the last round whose barrier of that phase opened
 * and ABORTED, the last round the coordinator aborted.
 * Measured against piscina messages: an Atomics wake-up costs ~10 µs, a task round trip
 * 50–180 µs on this 2-core machine, so the reduce (and the previous step's update) run inside
 * the step task behind this barrier rather than as extra rounds of tasks.
 */
import { BarrierAborted } from '../errors.js';

export const CONTROL_WORDS = 7;
const ARRIVED = 0;
const RELEASED = 1;
const ABORTED = 4;
/** The exchange barrier (BatchNorm statistics, any number per round): arrivals, and exchanges completed this round. */
const X_ARRIVED = 5;
const X_DONE = 6;
/** Barrier phases within one round. */
export const UPDATED = 0;
export const COMPUTED = 1;
export type BarrierPhase = typeof UPDATED | typeof COMPUTED;
/** How often a waiting worker re-checks the abort word even without a notify. */
const POLL_MS = 50;

export { BarrierAborted };

/** Coordinator side: prepare a new round before dispatching its tasks. */
export function openRound(control: Int32Array): void {
  Atomics.store(control, ARRIVED, 0);
  Atomics.store(control, ARRIVED + 2, 0);
  Atomics.store(control, X_ARRIVED, 0);
  Atomics.store(control, X_DONE, 0);
}

/** Coordinator side: wake every waiter of `round` and make it throw BarrierAborted. */
export function abortRound(control: Int32Array, round: number): void {
  Atomics.store(control, ABORTED, round);
  Atomics.notify(control, RELEASED);
  Atomics.notify(control, RELEASED + 2);
  Atomics.notify(control, X_DONE);
}

/**
 * Worker side: returns when all `parties` arrived at the `phase` barrier of `round`; throws
 * BarrierAborted if the round is aborted.
 */
export function arriveAndWait(control: Int32Array, parties: number, round: number, phase: BarrierPhase = COMPUTED): void {
  const arrived = ARRIVED + 2 * phase;
  const released = RELEASED + 2 * phase;
  if (Atomics.add(control, arrived, 1) + 1 === parties) {
    Atomics.store(control, released, round);
    Atomics.notify(control, released);
    return;
  }
  for (;;) {
    const last = Atomics.load(control, released);
    if (last === round) return;
    if (Atomics.load(control, ABORTED) === round) throw new BarrierAborted(round);
    Atomics.wait(control, released, last, POLL_MS);
  }
}

/**
 * Worker side: the barrier of exchange `index` (0, 1, ... within the round; every task passes
 * the same exchanges in the same order): returns when all `parties` arrived; throws
 * BarrierAborted if the round is aborted. The last to arrive resets the count before it
 * releases the others, so the next exchange can start at once.
 */
export function exchangeBarrier(control: Int32Array, parties: number, round: number, index: number): void {
  if (Atomics.add(control, X_ARRIVED, 1) + 1 === parties) {
    Atomics.store(control, X_ARRIVED, 0);
    Atomics.store(control, X_DONE, index + 1);
    Atomics.notify(control, X_DONE);
    return;
  }
  for (;;) {
    const done = Atomics.load(control, X_DONE);
    if (done > index) return;
    if (Atomics.load(control, ABORTED) === round) throw new BarrierAborted(round);
    Atomics.wait(control, X_DONE, done, POLL_MS);
  }
}
