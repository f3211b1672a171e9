/**
 * The adaptive batch state in a checkpoint (meta.loop.adaptive): written as plain JSON, read back
 * with every field checked, since a checkpoint file is untrusted input.
 */
import type { AdaptiveState } from './controller.js';
import { StepTimes, type StepTimesState } from './step-times.js';

export function saveAdaptiveState(state: AdaptiveState): Record<string, unknown> {
  return {
    batchSize: state.batchSize,
    epochOffset: state.epochOffset,
    progress: state.progress,
    probe: [...state.probe],
    beforeProbe: state.beforeProbe,
    used: state.used && { ...state.used },
    stepsAtSize: state.stepsAtSize,
    sinceChoice: state.sinceChoice,
    workers: state.workers,
    times: state.times.state(),
  };
}

/** The saved state, or throws `bad(what)` naming the first malformed field. */
export function restoreAdaptiveState(raw: unknown, bad: (what: string) => Error): AdaptiveState {
  const obj = (v: unknown, what: string) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what);
    return v as Record<string, unknown>;
  };
  const count = (v: unknown, what: string, min = 0) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(what);
    return v;
  };
  const list = (v: unknown, what: string) => {
    if (!Array.isArray(v)) throw bad(what);
    return v as unknown[];
  };
  const range = (u: Record<string, unknown>) => {
    const min = count(u.min, 'adaptive.used.min', 1);
    const max = count(u.max, 'adaptive.used.max', 1);
    if (min > max) throw bad('adaptive.used');
    return { min, max };
  };
  const a = obj(raw, 'adaptive');
  if (typeof a.progress !== 'number' || !Number.isFinite(a.progress) || a.progress < 0) throw bad('adaptive.progress');
  const times: StepTimesState = list(a.times, 'adaptive.times').map((w) => {
    const entry = obj(w, 'adaptive.times');
    return {
      workers: count(entry.workers, 'adaptive.times.workers', 1),
      batches: list(entry.batches, 'adaptive.times.batches').map((b) => {
        const batch = obj(b, 'adaptive.times.batches');
        const ms = list(batch.ms, 'adaptive.times.batches.ms').map((t) => {
          if (typeof t !== 'number' || !(t > 0) || !Number.isFinite(t)) throw bad('adaptive.times.batches.ms');
          return t;
        });
        return { batchSize: count(batch.batchSize, 'adaptive.times.batches.batchSize', 1), ms };
      }),
    };
  });
  return {
    batchSize: count(a.batchSize, 'adaptive.batchSize', 1),
    epochOffset: count(a.epochOffset, 'adaptive.epochOffset'),
    progress: a.progress,
    probe: list(a.probe, 'adaptive.probe').map((b) => count(b, 'adaptive.probe', 1)),
    // Absent from checkpoints written before these fields: no probe to return from, no range yet.
    beforeProbe: a.beforeProbe == null ? null : count(a.beforeProbe, 'adaptive.beforeProbe', 1),
    used: a.used == null ? null : range(obj(a.used, 'adaptive.used')),
    stepsAtSize: count(a.stepsAtSize, 'adaptive.stepsAtSize'),
    sinceChoice: count(a.sinceChoice, 'adaptive.sinceChoice'),
    workers: count(a.workers, 'adaptive.workers', 1),
    times: StepTimes.restore(times),
  };
}
