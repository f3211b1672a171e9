/**
 * The coordinator's side of the BatchNorm exchanges of one step attempt (batchnorm-step.ts is the
 * worker's): it collects each member's `bnPartial` (its slots' partial sums), and when every slot
 * of exchange `index` has arrived, adds them in slot order and sends the totals to every member
 * with slots as `bnTotal`. The totals are kept: they carry the step's batch statistics for the
 * running update (exchangeStats).
 */
import type { BatchNormMode, BufferLayout } from '../../model/index.js';
import type { Range } from '../../collective/index.js';
import type { MessageOf } from './messages.js';
import type { WorkerLink } from './worker-link.js';
import { plural } from '../../util/index.js';

export class BnExchangeRound {
  readonly #slotsOf: ReadonlyMap<WorkerLink, Range>;
  readonly #slotCount: number;
  readonly #step: number;
  readonly #attempt: number;
  /** Per exchange index: each slot's partial sums, as they arrive. */
  readonly #parts = new Map<number, (number[] | null)[]>();
  /** Per exchange index: the totals, once complete. */
  readonly totals: Float64Array[] = [];

  /** `slotsOf`: each member's slots [start, end) of the step's `slotCount` slots. */
  constructor(step: number, attempt: number, slotsOf: ReadonlyMap<WorkerLink, Range>, slotCount: number) {
    this.#step = step;
    this.#attempt = attempt;
    this.#slotsOf = slotsOf;
    this.#slotCount = slotCount;
  }

  /** Takes a member's partials; returns why they do not fit its slots, or null. */
  add(link: WorkerLink, m: MessageOf<'bnPartial'>): string | null {
    const slots = this.#slotsOf.get(link);
    const count = slots ? slots.end - slots.start : 0;
    if (!slots || count === 0) return `"bnPartial" from a worker without slots in step ${this.#step}`;
    if (m.values.length % count !== 0) return `"bnPartial" ${m.index} holds ${m.values.length} values for ${plural(count, 'slot')}`;
    let parts = this.#parts.get(m.index);
    if (!parts) this.#parts.set(m.index, (parts = new Array<number[] | null>(this.#slotCount).fill(null)));
    if (parts[slots.start] !== null) return `"bnPartial" ${m.index} came twice`;
    const width = m.values.length / count;
    for (let i = 0; i < count; i++) parts[slots.start + i] = m.values.slice(i * width, (i + 1) * width);
    if (parts.some((p) => p === null)) return null;
    if (parts.some((p) => p!.length !== width)) return `"bnPartial" ${m.index} has ${width} values per slot, other workers sent another width`;
    const totals = new Float64Array(width);
    for (const p of parts) for (let j = 0; j < width; j++) totals[j] += p![j];
    this.totals[m.index] = totals;
    this.#parts.delete(m.index);
    const message: MessageOf<'bnTotal'> = { type: 'bnTotal', step: this.#step, attempt: this.#attempt, index: m.index, values: Array.from(totals) };
    for (const [member, range] of this.#slotsOf) if (range.end > range.start && !member.isGone) void member.send(message);
    return null;
  }
}

/**
 * The batch statistics of a step (Model.batchStats' layout) from its exchanges: with sync, the
 * forward exchanges, one per BatchNorm layer in layer order; otherwise the one exchange of the step.
 */
export function exchangeStats(mode: BatchNormMode, layout: BufferLayout, totals: readonly Float64Array[]): Float64Array | null {
  if (layout.norms.length === 0) return null;
  if (mode.kind !== 'sync') return totals[0] ?? null;
  const stats = new Float64Array(layout.statsSize);
  for (let i = 0; i < layout.norms.length; i++) {
    if (!totals[i]) return null;
    stats.set(totals[i], layout.norms[i].statsOffset);
  }
  return stats;
}
