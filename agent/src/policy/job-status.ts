/**
 * Every change the agent makes to a CopyJob's status, as pure functions of the status read and the
 * clock. The dispatcher and the worker only read, call one of these, and write the result guarded
 * by the resourceVersion they read (job-writer.ts), so the state machine lives in one place:
 *
 *   Pending ──assign──▶ Assigned ──start──▶ Running ──▶ Succeeded | Failed
 *      ▲                 │   ▲ │                 │
 *      │                 │   └─┘ move (waited for a slot, another node's freed first)
 *      └──── requeue (NodeLost, NodeShutdown, NodeRestarted, LeaseExpired, Fenced, StatusUnwritten) ┘   retry in place: Running ▶ Assigned(n+1)
 */

import { metaTime, setCondition } from "@ferry/common/runtime";
import type {
  CommittedPartition,
  Condition,
  CopyAttempt,
  CopyJobStatus,
  CopyOutput,
  CopyProgress,
  ProcedureOutcome,
} from "@ferry/crds";

export const FINAL_PHASES: ReadonlySet<string> = new Set(["Succeeded", "Failed", "Cancelled"]);

export function isFinal(status: CopyJobStatus | undefined): boolean {
  return FINAL_PHASES.has(status?.phase ?? "");
}

/** The phase of a job still waiting for a node (a job with no status yet is Pending). */
export function isPending(status: CopyJobStatus | undefined): boolean {
  return (status?.phase ?? "Pending") === "Pending";
}

function endLastAttempt(
  attempts: CopyAttempt[] | undefined,
  result: CopyAttempt["result"],
  reason: string,
  message: string,
  now: Date,
): CopyAttempt[] {
  const list = [...(attempts ?? [])];
  const last = list.at(-1);
  if (last && last.result === "Running") {
    list[list.length - 1] = { ...last, result, reason, message, completionTime: metaTime(now) };
  }
  return list;
}

function ready(
  conditions: Condition[] | undefined,
  status: "True" | "False" | "Unknown",
  reason: string,
  message: string,
  now: Date,
) {
  return setCondition(conditions, { type: "Ready", status, reason, message }, now);
}

/**
 * The dispatcher gives the job to `node`: attempt n+1, which may wait in the node's queue for a
 * slot (its startTime is the assignment until the worker starts it).
 */
export function assigned(status: CopyJobStatus | undefined, node: string, now: Date): CopyJobStatus {
  const attempt = (status?.attempt ?? 0) + 1;
  return {
    ...status,
    phase: "Assigned",
    node,
    attempt,
    attempts: [...(status?.attempts ?? []), { attempt, node, result: "Running", startTime: metaTime(now) }],
    conditions: ready(
      status?.conditions,
      "Unknown",
      "Assigned",
      `attempt ${attempt} assigned to node ${node}`,
      now,
    ),
  };
}

/**
 * An attempt that waited in one node's queue goes to `node`, whose slot freed first. It never
 * started, so it stays the same attempt, now on the other node.
 */
export function moved(status: CopyJobStatus, node: string, now: Date): CopyJobStatus {
  const list = [...(status.attempts ?? [])];
  const last = list.at(-1);
  if (last && last.result === "Running") list[list.length - 1] = { ...last, node, startTime: metaTime(now) };
  return {
    ...status,
    node,
    attempts: list,
    conditions: ready(
      status.conditions,
      "Unknown",
      "Assigned",
      `attempt ${status.attempt} moved from node ${status.node} to node ${node}, whose slot freed first`,
      now,
    ),
  };
}

/** A retry in place waiting for its delay: its run keeps the node's slot, so it never moves. */
export function isRetryingInPlace(status: CopyJobStatus | undefined): boolean {
  return (
    status?.phase === "Assigned" && status.conditions?.find((c) => c.type === "Ready")?.reason === "Retrying"
  );
}

/**
 * The worker starts copying. The attempt's startTime becomes now: a job that waited in the node's
 * queue starts its attempt (and its timeout) when it runs.
 */
export function running(status: CopyJobStatus, now: Date): CopyJobStatus {
  const list = [...(status.attempts ?? [])];
  const last = list.at(-1);
  if (last && last.result === "Running") list[list.length - 1] = { ...last, startTime: metaTime(now) };
  return {
    ...status,
    phase: "Running",
    attempts: list,
    startTime: status.startTime ?? metaTime(now),
    conditions: ready(
      status.conditions,
      "Unknown",
      "Running",
      `attempt ${status.attempt} running on node ${status.node}`,
      now,
    ),
  };
}

/**
 * The current attempt ended without the job's fault (its node was lost, shut down or restarted):
 * back to Pending for another node; the checkpoint is kept so the next attempt skips what is done.
 */
export function requeued(status: CopyJobStatus, reason: string, message: string, now: Date): CopyJobStatus {
  const { node: _node, ...rest } = status;
  return {
    ...rest,
    phase: "Pending",
    attempts: endLastAttempt(status.attempts, "Failed", reason, message, now),
    conditions: ready(status.conditions, "Unknown", reason, `${message}; waiting for a node`, now),
  };
}

export function failed(
  status: CopyJobStatus | undefined,
  reason: string,
  message: string,
  now: Date,
): CopyJobStatus {
  return {
    ...status,
    phase: "Failed",
    completionTime: metaTime(now),
    attempts: endLastAttempt(status?.attempts, "Failed", reason, message, now),
    conditions: ready(status?.conditions, "False", reason, message, now),
  };
}

export function succeeded(
  status: CopyJobStatus,
  output: CopyOutput,
  progress: CopyProgress | undefined,
  now: Date,
): CopyJobStatus {
  return {
    ...status,
    phase: "Succeeded",
    completionTime: metaTime(now),
    output,
    ...(progress ? { progress } : {}),
    attempts: endLastAttempt(status.attempts, "Succeeded", "Completed", "copied", now),
    conditions: ready(status.conditions, "True", "Succeeded", `copied ${output.rows ?? 0} rows`, now),
  };
}

/** A stored procedure job that ran: its outputs and result sets are the job's result. */
export function procedureSucceeded(
  status: CopyJobStatus,
  outcome: ProcedureOutcome,
  now: Date,
): CopyJobStatus {
  return {
    ...status,
    phase: "Succeeded",
    completionTime: metaTime(now),
    procedure: outcome,
    attempts: endLastAttempt(status.attempts, "Succeeded", "Completed", "the procedure ran", now),
    conditions: ready(status.conditions, "True", "Succeeded", "the stored procedure ran", now),
  };
}

/**
 * A transient failure retried on the same node: attempt n ends Failed, attempt n+1 is Assigned to
 * the same node and starts after `delayMs` (the message says when).
 */
export function retryingInPlace(
  status: CopyJobStatus,
  reason: string,
  message: string,
  delayMs: number,
  now: Date,
): CopyJobStatus {
  const node = status.node ?? "";
  const attempt = (status.attempt ?? 0) + 1;
  return {
    ...status,
    phase: "Assigned",
    attempt,
    attempts: [
      ...endLastAttempt(status.attempts, "Failed", reason, message, now),
      { attempt, node, result: "Running", startTime: metaTime(new Date(now.getTime() + delayMs)) },
    ],
    conditions: ready(
      status.conditions,
      "Unknown",
      "Retrying",
      `${reason}: ${message}; attempt ${attempt} starts in ${Math.round(delayMs / 1000)} s`,
      now,
    ),
  };
}

/** Appends a committed partition to the checkpoint (idempotent: a partition id appears once). */
export function withCommittedPartition(status: CopyJobStatus, partition: CommittedPartition): CopyJobStatus {
  const committed = (status.checkpoint?.committedPartitions ?? []).filter((p) => p.id !== partition.id);
  return { ...status, checkpoint: { ...status.checkpoint, committedPartitions: [...committed, partition] } };
}

export function withProgress(status: CopyJobStatus, progress: CopyProgress): CopyJobStatus {
  return { ...status, progress };
}

/** When the current attempt started (running; its assignment while it waits), for the timeout. */
export function attemptStart(status: CopyJobStatus | undefined): Date | undefined {
  const last = status?.attempts?.at(-1);
  return last?.startTime ? new Date(last.startTime) : undefined;
}
