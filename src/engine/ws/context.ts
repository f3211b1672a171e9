/**
 * How `dptrain coordinator` hands its options to the engine that `train()` creates.
 *
 * train() builds its engine through createEngine(setup, {kind, workers, threads}) and passes no
 * engine-specific options; the coordinator's (listen address, token, the loaded dataset, ...)
 * travel in an AsyncLocalStorage scoped to one train() call instead of a module global, so two
 * coordinators in one process cannot see each other's options.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { WsCoordinatorOptions } from './options.js';

const scope = new AsyncLocalStorage<WsCoordinatorOptions>();

/** Runs `fn` (a train() call) so that a ws engine created inside it uses `options`. */
export function withCoordinator<T>(options: WsCoordinatorOptions, fn: () => Promise<T>): Promise<T> {
  return scope.run(options, fn);
}

/** The options of the enclosing withCoordinator call, if any. */
export function currentCoordinatorOptions(): WsCoordinatorOptions | undefined {
  return scope.getStore();
}
