/**
 * The data plane's public API, called by the agent's worker: runCopy for a CopyJob attempt,
 * testConnection for a DataStore's Reachable condition, runStoredProcedure for the procedure
 * activity. Errors are DataPlaneError (reason, message, transient).
 */
export { CONTENT_ALGORITHM, ContentChecksum, canonicalRecord, combineContentChecksums } from "./checksum.ts";
export { connectorFor, loadConnectors } from "./connectors/index.ts";
export {
  type CommittedPartitionInfo,
  type CopyJobRef,
  type CopyResult,
  type CopyTuning,
  type RunCopyOptions,
  runCopy,
} from "./copy.ts";
export { AttemptLostError, CancelledError, DataPlaneError } from "./errors.ts";
export { jobTag, MANIFEST_NAME, type Manifest, type ManifestPart } from "./manifest.ts";
export type { CopyProgress } from "./progress.ts";
export { type RunStoredProcedureOptions, runStoredProcedure } from "./stored-procedure.ts";
export { type TestConnectionOptions, type TestConnectionResult, testConnection } from "./test-connection.ts";
export type * from "./types.ts";
export { rowFields, valueText } from "./values.ts";
