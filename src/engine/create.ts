/** Picks the engine a config asks for. */
import type { Engine, EngineKind, EngineSetup } from './engine.js';
import { InlineEngine } from './inline.js';
import { ThreadsEngine, type ThreadsEngineOptions } from './threads.js';

export interface EngineChoice {
  kind: EngineKind;
  workers: number;
  threads?: Omit<ThreadsEngineOptions, 'workers'>;
}

export function createEngine(setup: EngineSetup, choice: EngineChoice): Engine {
  if (choice.kind === 'inline') return new InlineEngine(setup);
  return new ThreadsEngine(setup, { ...choice.threads, workers: choice.workers });
}
