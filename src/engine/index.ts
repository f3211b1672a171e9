export type {
  Engine,
  EngineKind,
  EngineSetup,
  StepPlan,
  ShardReport,
  GradientResult,
  WorkerTimeline,
  UpdatePlan,
  UpdateTiming,
} from './engine.js';
export { InlineEngine } from './inline.js';
export { ThreadsEngine, type ThreadsEngineOptions, type FaultInjection } from './threads.js';
export { createEngine, type EngineChoice } from './create.js';
export {
  WsEngine,
  runWorker,
  withCoordinator,
  wsDefaults,
  recordedCoordinatorOptions,
  resolveCoordinatorOptions,
  type CoordinatorRecord,
  type ResumedCoordinatorOptions,
  type WsCoordinatorOptions,
  type CoordinatorOptions,
  type WorkerOptions,
  type WorkerFault,
  type WorkerOutcome,
  type CoordinatorStatus,
  type MembershipEvent,
} from './ws/index.js';
