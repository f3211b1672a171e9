/** Picks the engine a config asks for. */
import type { Engine, EngineKind, EngineSetup } from './engine.js';
import { InlineEngine } from './inline.js';
import { ThreadsEngine, type ThreadsEngineOptions } from './threads.js';
import { EngineError } from '../errors.js';

export interface EngineChoice {
  kind: EngineKind;
  workers: number;
  threads?: Omit<ThreadsEngineOptions, 'workers'>;
}

export async function createEngine(setup: EngineSetup, choice: EngineChoice): Promise<Engine> {
  if (choice.kind === 'inline') return InlineEngine.create(setup);
  if (choice.kind === 'ws') {
    // Loaded only here: a run on threads or inline needs none of ws, msgpackr or the transport.
    const { currentCoordinatorOptions, WsEngine } = await import('./ws/index.js');
    // The coordinator's options come from `dptrain coordinator` (ws/context.ts).
    const options = currentCoordinatorOptions();
    if (!options) throw new EngineError('wsNeedsCoordinator', 'the ws engine runs inside `dptrain coordinator` (or withCoordinator() in the library), which provides its listen address and workers');
    return WsEngine.create(setup, options);
  }
  return ThreadsEngine.create(setup, { ...choice.threads, workers: choice.workers });
}
