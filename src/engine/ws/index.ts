/** The ws engine: training across LAN hosts (issue 5). This file is the folder's whole surface. */
export { WsEngine } from './coordinator.js';
export { runWorker, type WorkerFault, type WorkerOptions, type WorkerOutcome, type WorkerPhase } from './worker.js';
export { withCoordinator, currentCoordinatorOptions } from './context.js';
export { coordinatorDefaults, recordedCoordinatorOptions, resolveCoordinatorOptions, type CoordinatorRecord, type ResumedCoordinatorOptions } from './coordinator-record.js';
export {
  wsDefaults,
  chooseAllreduce,
  checkCoordinatorOptions,
  type AllreduceChoice,
  type Allreduce,
  type WsCoordinatorOptions,
  type CoordinatorOptions,
  type CoordinatorStatus,
  type WorkerStatus,
  type MembershipEvent,
} from './options.js';
export { coordinatorMessages, peerMessages, type CoordinatorMessage, type PeerMessage } from './messages.js';
export { EngineCloseCode } from './worker-link.js';
export { parameterDigest } from './param-hash.js';
export { proportionalRanges, assignShards } from './shards.js';
