/**
 * How `dptrain coordinator` hands its options to the engine that `train()` creates.
 *
 * train() builds its engine through createEngine(setup, {kind, workers, threads}) and passes no
 * engine-specific options; the coordinator's (listen address, token, the loaded dataset, ...)
 * travel in an AsyncLocalStorage scoped to one train() call instead of a module global, so two
 * coordinators in one process cannot see each other's options.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CoordinatorOptions } from './options.js';

const scope = new AsyncLocalStorage<CoordinatorOptions>();

/**
 * Runs `fn` so that a ws engine created inside it (a `train({ engine: 'ws' })` call) listens with
 * `options` for `dptrain worker`s; what options leave out of the run's data, logger and signal
 * comes from that train() call (docs/library.md, "Across hosts from the library").
 */
export function withCoordinator<T>(options: CoordinatorOptions, fn: () => Promise<T>): Promise<T> {
  return scope.run(options, fn);
}

/** The options of the enclosing withCoordinator call, if any. */
export function currentCoordinatorOptions(): CoordinatorOptions | undefined {
  return scope.getStore();
}
