/** The ws coordinator's feed: its status after every step and its membership events, as the roster. */
import type { CoordinatorStatus, MembershipEvent } from '../engine/index.js';
import { plural } from '../util/index.js';
import { hubLimits, type DashboardHub, type RosterRow } from './hub.js';
import type { TrainFeed } from './train-feed.js';

/** The ws coordinator's roster: members from its status, the departed from membership events. */
export class CoordinatorFeed {
  readonly #hub: DashboardHub;
  readonly #train: TrainFeed;
  readonly #rows = new Map<string, RosterRow>();
  #status: CoordinatorStatus | null = null;
  #dirty = false;

  constructor(hub: DashboardHub, train: TrainFeed) {
    this.#hub = hub;
    this.#train = train;
    hub.onRefresh(() => this.#refresh());
  }

  onStatus(status: CoordinatorStatus): void {
    this.#status = status;
    this.#train.workerNames = status.workers.map((w) => w.name);
    this.#dirty = true;
  }

  onMembership(event: MembershipEvent): void {
    const row = this.#row(event.worker, event.host, event.threads);
    const { kind } = event;
    const verb = { join: 'joined', leave: 'left', drop: 'dropped', lost: 'dropped (connection lost)' }[kind];
    row.state = kind === 'join' ? 'computing' : kind === 'leave' ? 'left' : 'dropped';
    row.reason = kind === 'join' ? '' : event.reason;
    if (kind === 'join') row.joinedAtStep = event.step;
    this.#hub.addEvent({ step: event.step, kind, worker: event.worker, text: `${event.worker} (${event.host}, ${plural(event.threads, 'thread')}) ${verb} at step ${event.step}: ${event.reason}` });
    this.#dirty = true;
  }

  /**
   * Before the first step: the workers ready so far and how many the run waits for (the header
   * says `waiting for workers: 1 of 2 ready`, the roster lists them).
   */
  onWaiting(ready: readonly { name: string; host: string; threads: number }[], needed: number): void {
    for (const w of ready) {
      const row = this.#row(w.name, w.host, w.threads);
      row.state = 'ready';
      row.reason = 'waits for the first step';
    }
    this.#hub.setProgress({ message: `waiting for workers: ${ready.length} of ${needed} ready` });
    this.#dirty = true;
  }

  #row(name: string, host: string, threads: number): RosterRow {
    let row = this.#rows.get(name);
    if (!row) {
      row = { name, host, threads, state: 'joined', joinedAtStep: null, lastStepMs: null, share: null, bytesSent: null, bytesReceived: null, reason: '' };
      this.#rows.set(name, row);
      // Bounded: forget the oldest departed worker.
      if (this.#rows.size > hubLimits.rosterRows) {
        const gone = [...this.#rows.values()].find((r) => r.state === 'left' || r.state === 'dropped');
        if (gone) this.#rows.delete(gone.name);
      }
    }
    return row;
  }

  #refresh(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    const status = this.#status;
    if (status) {
      for (const w of status.workers) {
        const row = this.#row(w.name, w.host, w.threads);
        if (row.state !== 'dropped' && row.state !== 'left') row.state = 'computing';
        row.joinedAtStep = w.joinedAtStep;
        row.lastStepMs = w.responseMs ?? w.lastComputeMs;
        row.share = w.share ?? null;
        // The last counts stay when a status has none (a worker gone keeps what it sent).
        row.bytesSent = w.bytesSent ?? row.bytesSent;
        row.bytesReceived = w.bytesReceived ?? row.bytesReceived;
      }
      // The header's worker count, as it changes (it was the count at start-up).
      const members = status.workers.length;
      this.#hub.setFact('engine', `ws, ${plural(members, 'worker')}${status.waiting.length ? ` (${status.waiting.length} more joining at the next step)` : ''}`);
      for (const name of status.waiting) {
        const row = this.#rows.get(name);
        if (!row || row.state === 'dropped' || row.state === 'left') {
          const fresh = this.#row(name, row?.host ?? '', row?.threads ?? 0);
          fresh.state = 'joined';
          fresh.reason = 'waits for the next step boundary';
        }
      }
    }
    this.#hub.setRoster([...this.#rows.values()]);
  }
}
