import { elapsedMs, formatDuration, type Instant, instant } from "./time.ts";

/**
 * Whether an external GatewayNode has been gone long enough to delete. External nodes register
 * themselves and nothing tells the operator they were decommissioned, so a node that has not
 * heartbeated for offlineAfterMs is aged out (its Lease and TLS Secret go with it); the machine
 * can register again with the registration key.
 *
 * The age counts from the last heartbeat (status.lastHeartbeatTime, or the Lease's renewTime when
 * later), or from the node's creation when it never heartbeated. A missing or non-positive
 * offlineAfterMs disables ageing out. Managed nodes are the autoscaler's, not this function's.
 */

export interface ExternalNodeInput {
  /** The latest heartbeat the operator knows of. */
  lastHeartbeat?: Instant;
  /** metadata.creationTimestamp, for a node that registered and never heartbeated. */
  createdAt?: Instant;
  /** How long a node may stay offline before it is removed; absent or <= 0: never. */
  offlineAfterMs?: number;
  now: Date;
}

export interface ExternalNodeDecision {
  remove: boolean;
  reason: string;
  message: string;
}

export function shouldRemoveExternalNode(input: ExternalNodeInput): ExternalNodeDecision {
  const limit = input.offlineAfterMs;
  if (limit === undefined || !(limit > 0)) {
    return {
      remove: false,
      reason: "AgeOutDisabled",
      message: "external nodes are never removed automatically",
    };
  }
  const heartbeat = instant(input.lastHeartbeat);
  const since = heartbeat ?? instant(input.createdAt);
  if (since === undefined) {
    return {
      remove: false,
      reason: "NoTimestamp",
      message: "the node has neither a heartbeat nor a creation time; keeping it",
    };
  }
  const offlineFor = elapsedMs(since, input.now);
  const what = heartbeat
    ? `last heartbeat ${formatDuration(offlineFor)} ago`
    : `no heartbeat in ${formatDuration(offlineFor)} since it registered`;
  if (offlineFor >= limit) {
    return {
      remove: true,
      reason: heartbeat ? "OfflineTooLong" : "NeverHeartbeated",
      message: `${what}, longer than ${formatDuration(limit)}: removing the node; the machine can register again with the registration key`,
    };
  }
  return {
    remove: false,
    reason: "RecentlySeen",
    message: `${what}; removed after ${formatDuration(limit)} offline (in ${formatDuration(limit - offlineFor)})`,
  };
}
