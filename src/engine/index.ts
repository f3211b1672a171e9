export type {
  Engine,
  EngineKind,
  EngineSetup,
  StepPlan,
  ShardReport,
  GradientResult,
  UpdatePlan,
} from './engine.js';
export { InlineEngine } from './inline.js';
