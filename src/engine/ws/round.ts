/**
 * One attempt at one step on the coordinator: what each member was asked to deliver, what it
 * delivered, and the verdict. An attempt ends when every member has delivered (success), when a
 * member fails (its connection ends, it reports a broken ring link, or it sends something that
 * does not fit its assignment), or at the deadline. A failed attempt names the workers to drop;
 * the engine drops them and runs the step again with the others.
 */
import type { Range } from '../../collective/index.js';
import { decodeHalf, halfOf, type HalfKind } from '../../transport/index.js';
import type { WorkerTimeline } from '../engine.js';
import type { Allreduce } from './options.js';
import type { CoordinatorMessage, MessageOf, ShardSums } from './messages.js';
import type { WorkerLink } from './worker-link.js';
import type { BnExchangeRound } from './bn-exchange.js';
import type { RingNorm } from './ring-norm.js';
import { plural } from '../../util/index.js';

export interface Assignment {
  rows: Range;
  /** Chunk mode: the chunk indices [start, end) this member computes. */
  chunks: Range | null;
  /** Chunk mode: the rows of every chunk of the step, in chunk order. */
  chunkRows: readonly Range[] | null;
  /** The `part`s it sends before its result, in order (step-buckets.ts, expectedParts); empty with chunks. */
  parts: Range[];
  /** Ring, on demand: its `ringResult` carries the reduced gradient's norm. */
  reportsNorm: boolean;
}

/** A member's step timeline (messages.ts `timeline`). */
export type Timeline = Omit<WorkerTimeline, 'worker'>;

/** Where `part`s go: star, a buffer per member (summed in worker order later); ring, the one reduced gradient. */
export interface PartSink {
  compress: HalfKind | null;
  numParams: number;
  /** Ring: the coordinator's gradient, written segment by segment. */
  ringTarget: Float32Array;
  /** Ring: measures each part's norm as it arrives (ring-norm.ts). */
  ringNorm: RingNorm | null;
}

export interface Delivery {
  computed: boolean;
  done: boolean;
  sums: ShardSums | null;
  gradient: Float32Array | null;
  /** `part`s received so far. */
  parts: number;
  /** Ring, on demand: |reduced gradient|² from its `ringResult`; null when not reported (or not finite). */
  reducedSumSq: number | null;
  timeline: Timeline | null;
  /** Chunk mode: chunk index -> its sums and gradient. */
  chunkGrads: Map<number, { sums: ShardSums; gradient: Float32Array }>;
}

export interface Failure {
  link: WorkerLink;
  reason: string;
  code: number;
}

export class AttemptRound {
  readonly step: number;
  readonly attempt: number;
  readonly algorithm: Allreduce;
  readonly members: readonly WorkerLink[];
  readonly assignments: ReadonlyMap<WorkerLink, Assignment>;
  readonly deliveries = new Map<WorkerLink, Delivery>();
  readonly failures: Failure[] = [];
  readonly started = performance.now();
  /** Resolves when the attempt is decided (see `failures`). */
  readonly settled: Promise<void>;
  #settle!: () => void;
  #over = false;
  #timer: NodeJS.Timeout | undefined;
  #stall: { probe(link: WorkerLink): void; graceMs: number; extraMs: number } | null = null;
  /** The BatchNorm exchanges of this attempt (a model with BatchNorm only). */
  bn: BnExchangeRound | null = null;
  readonly #alive = new Set<WorkerLink>();
  readonly #codes: { evicted: number; protocol: number };
  readonly #sink: PartSink;

  constructor(
    step: number,
    attempt: number,
    algorithm: Allreduce,
    members: readonly WorkerLink[],
    assignments: ReadonlyMap<WorkerLink, Assignment>,
    codes: { evicted: number; protocol: number },
    sink: PartSink,
  ) {
    this.#sink = sink;
    this.step = step;
    this.attempt = attempt;
    this.algorithm = algorithm;
    this.members = members;
    this.assignments = assignments;
    this.#codes = codes;
    this.settled = new Promise((resolve) => (this.#settle = resolve));
    for (const link of members) {
      const chunks = assignments.get(link)!.chunks;
      const nothingToDo = chunks !== null && chunks.end === chunks.start;
      link.lastResponseMs = nothingToDo ? 0 : null;
      this.deliveries.set(link, { computed: nothingToDo, done: nothingToDo, sums: null, gradient: null, parts: 0, reducedSumSq: null, timeline: null, chunkGrads: new Map() });
    }
    this.#check();
  }

  /** Ring: the reduced gradient's norm, measured part by part. */
  get ringNorm(): RingNorm | null {
    return this.#sink.ringNorm;
  }

  get isOver(): boolean {
    return this.#over;
  }

  /** Arms the deadline; members that have not delivered by then are dropped. */
  armDeadline(ms: number): void {
    this.#timer = setTimeout(() => this.#onDeadline(ms), ms);
  }

  onMessage(link: WorkerLink, m: CoordinatorMessage): void {
    if (this.#over || !('step' in m) || !('attempt' in m)) return;
    if (m.step !== this.step || m.attempt !== this.attempt) return; // from an abandoned attempt
    const delivery = this.deliveries.get(link);
    const assignment = this.assignments.get(link);
    if (!delivery || !assignment) return;
    const violation = (why: string) => this.#fail(link, `protocol violation at step ${this.step}: ${why}`, this.#codes.protocol);
    switch (m.type) {
      case 'part': {
        const expected = assignment.parts[delivery.parts];
        const length = m.values ? m.values.length : m.packed ? m.packed.length / 2 : -1;
        if (!expected || delivery.done) return violation(`unexpected "part" at [${m.offset}, ${m.offset + length})`);
        if (m.offset !== expected.start || length !== expected.end - expected.start || (m.values !== undefined) === (m.packed !== undefined) || (m.packed !== undefined) !== (this.#sink.compress !== null)) {
          return violation(`part ${delivery.parts} is [${m.offset}, ${m.offset + length})${m.packed ? ' in 16 bits' : ''}, expected [${expected.start}, ${expected.end})${this.#sink.compress ? ' in 16 bits' : ''}`);
        }
        let target = this.#sink.ringTarget;
        if (this.algorithm === 'star') target = delivery.gradient ??= new Float32Array(this.#sink.numParams);
        if (m.values) target.set(m.values, m.offset);
        else decodeHalf(this.#sink.compress!, halfOf(m.packed!), target, m.offset);
        if (this.algorithm === 'ring') this.#sink.ringNorm?.add(m.offset, m.offset + length);
        delivery.parts += 1;
        return;
      }
      case 'grad':
        if (this.algorithm !== 'star' || assignment.chunks !== null || delivery.done) return violation(`unexpected "grad"`);
        if (m.count !== assignment.rows.end - assignment.rows.start) return violation(`it counted ${plural(m.count, 'sample')} in a shard of ${assignment.rows.end - assignment.rows.start}`);
        if (delivery.parts !== assignment.parts.length) return violation(`its "grad" came after ${delivery.parts} of ${assignment.parts.length} parts`);
        delivery.sums = sumsOf(m);
        delivery.timeline = m.timeline ?? null;
        delivery.computed = delivery.done = true;
        link.lastComputeMs = m.computeMs;
        link.lastResponseMs = performance.now() - this.started;
        break;
      case 'chunkGrad': {
        const owned = assignment.chunks;
        if (!owned || m.chunk < owned.start || m.chunk >= owned.end || delivery.chunkGrads.has(m.chunk)) {
          return violation(`chunk ${m.chunk} is not one of its chunks${owned ? ` [${owned.start}, ${owned.end})` : ''} or came twice`);
        }
        const rows = assignment.chunkRows![m.chunk];
        if (m.count !== rows.end - rows.start) return violation(`it counted ${plural(m.count, 'sample')} in chunk ${m.chunk} of ${rows.end - rows.start}`);
        delivery.chunkGrads.set(m.chunk, { sums: sumsOf(m), gradient: m.gradient });
        if (delivery.chunkGrads.size === owned.end - owned.start) {
          delivery.computed = delivery.done = true;
          link.lastComputeMs = [...delivery.chunkGrads.values()].reduce((sum, c) => sum + c.sums.computeMs, 0);
          link.lastResponseMs = performance.now() - this.started;
        }
        break;
      }
      case 'computed':
        delivery.computed = true;
        link.lastComputeMs = m.computeMs;
        link.lastResponseMs = performance.now() - this.started;
        break;
      case 'ringResult': {
        if (this.algorithm !== 'ring' || delivery.done) return violation('unexpected "ringResult"');
        if (delivery.parts !== assignment.parts.length) return violation(`its "ringResult" came after ${delivery.parts} of ${assignment.parts.length} reduced segments`);
        if (m.count !== assignment.rows.end - assignment.rows.start) return violation(`it counted ${plural(m.count, 'sample')} in a shard of ${assignment.rows.end - assignment.rows.start}`);
        if (assignment.reportsNorm && m.reducedSumSq === undefined && !m.nonFinite) return violation('its "ringResult" lacks the reduced gradient\'s norm it was asked for');
        delivery.sums = sumsOf(m);
        delivery.reducedSumSq = assignment.reportsNorm ? (m.reducedSumSq ?? null) : null;
        delivery.timeline = m.timeline ?? null;
        if (!delivery.computed) link.lastResponseMs = performance.now() - this.started;
        delivery.computed = delivery.done = true;
        link.lastComputeMs = m.computeMs;
        break;
      }
      case 'probeReply':
        this.#alive.add(link);
        return;
      case 'bnPartial': {
        const wrong = this.bn ? this.bn.add(link, m) : `unexpected "bnPartial" (the model has no BatchNorm)`;
        if (wrong !== null) return violation(wrong);
        return;
      }
      case 'ringFailed': {
        // The link from its predecessor broke: drop the predecessor (the sending side of the link).
        const peer = this.members.find((other) => other.name === m.peer);
        if (peer && peer !== link) this.#fail(peer, `its ring successor "${link.name}" lost the link from it (${m.reason})`, this.#codes.evicted);
        else this.#fail(link, `it reported a broken ring link (${m.reason})`, this.#codes.evicted);
        return;
      }
      default:
        return;
    }
    this.#check();
  }

  onGone(link: WorkerLink, reason: string): void {
    if (this.#over || !this.deliveries.has(link)) return;
    // A worker that sent `leave` (Ctrl-C) left; any other ended connection is a loss.
    this.#fail(link, link.leaving !== null ? `it left the run (${link.leaving})` : `its connection ended (${reason})`, this.#codes.evicted);
  }

  /** Ends the attempt now (the coordinator is closing). */
  abandon(): void {
    this.#end();
  }

  /**
   * The deadline. A member that has not finished computing is the culprit (in a ring the others
   * wait on it). When all have computed but the ring is stuck, everyone is late, so the late
   * members are probed first (`probe` -> `probeReply`, answered even mid-step): those that do not
   * answer within `graceMs` are dropped; if all answer, a link between two live workers is stuck,
   * which the peers' heartbeats turn into a `ringFailed` report naming it, so the attempt waits
   * one more `extraMs` before dropping every late member.
   */
  #onDeadline(ms: number): void {
    if (this.#over) return;
    const late = this.members.filter((link) => !this.deliveries.get(link)!.done);
    const slow = late.filter((link) => !this.deliveries.get(link)!.computed);
    if (slow.length > 0) return this.#blame(slow, `it did not finish computing its shard within the step deadline of ${ms} ms`);
    if (this.algorithm !== 'ring' || !this.#stall) return this.#blame(late, `it did not deliver its gradient within the step deadline of ${ms} ms`);
    const { probe, graceMs, extraMs } = this.#stall;
    this.#stall = null;
    for (const link of late) probe(link);
    this.#timer = setTimeout(() => {
      if (this.#over) return;
      const silent = late.filter((link) => !this.#alive.has(link) && !this.deliveries.get(link)!.done);
      if (silent.length > 0) return this.#blame(silent, `the ring stalled at the step deadline of ${ms} ms and it did not answer a probe within ${graceMs} ms`);
      this.#timer = setTimeout(() => {
        const still = this.members.filter((link) => !this.deliveries.get(link)!.done);
        this.#blame(still, `the ring stayed stuck ${extraMs} ms past the step deadline of ${ms} ms`);
      }, extraMs);
    }, graceMs);
  }

  /** Arms the ring-stall probe (see #onDeadline). */
  onStall(stall: { probe(link: WorkerLink): void; graceMs: number; extraMs: number }): void {
    this.#stall = stall;
  }

  #blame(links: readonly WorkerLink[], reason: string): void {
    for (const link of links) this.failures.push({ link, reason, code: this.#codes.evicted });
    this.#end();
  }

  #fail(link: WorkerLink, reason: string, code: number): void {
    if (this.#over) return;
    this.failures.push({ link, reason, code });
    this.#end();
  }

  #check(): void {
    if (!this.#over && [...this.deliveries.values()].every((d) => d.done)) this.#end();
  }

  #end(): void {
    if (this.#over) return;
    this.#over = true;
    clearTimeout(this.#timer);
    this.#settle();
  }
}

function sumsOf(m: MessageOf<'grad'> | MessageOf<'chunkGrad'> | MessageOf<'ringResult'>): ShardSums {
  return { lossSum: m.lossSum, correct: m.correct, count: m.count, gradSumSq: m.gradSumSq, nonFinite: m.nonFinite, computeMs: m.computeMs };
}
