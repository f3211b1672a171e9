/** Picks the engine a config asks for. */
import type { Engine, EngineKind, EngineSetup } from './engine.js';
import { InlineEngine } from './inline.js';
import { ThreadsEngine, type ThreadsEngineOptions } from './threads.js';

export interface EngineChoice {
  kind: EngineKind;
  workers: number;
  threads?: Omit<ThreadsEngineOptions, 'workers'>;
}

export async function createEngine(setup: EngineSetup, choice: EngineChoice): Promise<Engine> {
  if (choice.kind === 'inline') return InlineEngine.create(setup);
  return ThreadsEngine.create(setup, { ...choice.threads, workers: choice.workers });
}
