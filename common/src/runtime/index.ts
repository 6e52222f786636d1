/** The operator's runtime: informers, work queues, controllers, leader election, status, events, metrics. */
export { type ApplyWrite, applyUnlessUnchanged } from "./apply.ts";
export { type Backoff, backoffDelay } from "./backoff.ts";
export {
  type Condition,
  type ConditionStatus,
  type ConditionUpdate,
  findCondition,
  isConditionTrue,
  setCondition,
} from "./conditions.ts";
export {
  type Controller,
  Manager,
  type ManagerOptions,
  type ReconcileContext,
  type ReconcileResult,
  type WatchSpec,
} from "./controller.ts";
export { EventRecorder, type EventRecorderOptions, type EventType } from "./events.ts";
export { Informer, type InformerEvent, type InformerSpec, type RestartReason } from "./informer.ts";
export { objectKey, ownerKeys, selfKey, splitKey } from "./keys.ts";
export { type LeaderElectionOptions, runLeaderElection } from "./leader.ts";
export { applyIsNoop, type ManagedFieldsEntry, statusApplyIsNoop } from "./managed-fields.ts";
export { Counter, Gauge, Histogram, type Labels, Metrics } from "./metrics.ts";
export { WorkQueue, type WorkQueueOptions } from "./queue.ts";
export {
  type OpsServer,
  type OpsServerOptions,
  opsRequestListener,
  type Reply,
  startOpsServer,
} from "./server.ts";
export { slimMetadata } from "./slim.ts";
export {
  type ApplyStatusOptions,
  applyStatus,
  type StatusObject,
  type StatusWrite,
  StatusWriter,
  type StatusWriterOptions,
} from "./status.ts";
export type { Store } from "./store.ts";
export { metaTime, microTime } from "./time.ts";
