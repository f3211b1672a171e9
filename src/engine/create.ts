/** Picks the engine a config asks for. */
import type { Engine, EngineKind, EngineSetup } from './engine.js';
import { InlineEngine } from './inline.js';
import { ThreadsEngine, type ThreadsEngineOptions } from './threads.js';
import { EngineError } from '../errors.js';
import { definedFields } from '../util/defined.js';
import type { RunFilledOption, WsCoordinatorOptions } from './ws/options.js';

export interface EngineChoice {
  kind: EngineKind;
  workers: number;
  threads?: Omit<ThreadsEngineOptions, 'workers'>;
  /** The ws engine: the run's data, logger and signal, for what withCoordinator()'s options leave out. */
  run?: Partial<Pick<WsCoordinatorOptions, RunFilledOption>>;
}

export async function createEngine(setup: EngineSetup, choice: EngineChoice): Promise<Engine> {
  if (choice.kind === 'inline') return InlineEngine.create(setup);
  if (choice.kind === 'ws') {
    // Loaded only here: a run on threads or inline needs none of ws, msgpackr or the transport.
    const { currentCoordinatorOptions, WsEngine } = await import('./ws/index.js');
    // The coordinator's options come from `dptrain coordinator` (ws/context.ts).
    const options = currentCoordinatorOptions();
    if (!options) throw new EngineError('wsNeedsCoordinator', 'the ws engine runs inside `dptrain coordinator` (or withCoordinator() in the library), which provides its listen address and workers');
    const { loaded, datasetSpec, valSplit, standardize } = { ...choice.run, ...definedFields(options) };
    if (loaded === undefined || datasetSpec === undefined || valSplit === undefined || standardize === undefined) {
      throw new EngineError('wsNeedsCoordinator', 'the ws engine needs the run\'s dataset, val split and standardization: create it through train({ engine: \'ws\' }) inside withCoordinator()');
    }
    return WsEngine.create(setup, { ...options, loaded, datasetSpec, valSplit, standardize, signal: options.signal ?? choice.run?.signal, log: options.log ?? choice.run?.log });
  }
  return ThreadsEngine.create(setup, { ...choice.threads, workers: choice.workers });
}
