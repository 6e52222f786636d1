import type { MaintenanceWindow, NodeState, UpdatePolicy } from "@ferry/crds";
import { majorityVersion } from "./gateway-phase.ts";
import { VERSION_MISMATCH } from "./node-state.ts";
import { elapsedMs, formatDuration, type Instant, instant } from "./time.ts";

/**
 * The next step of a rolling update of a gateway's managed nodes to spec.agent.version: one node
 * at a time, cordon → wait for its jobs (or the drain timeout) → replace → wait until it is back →
 * uncordon → next node; roll back and stop when a replaced node does not come back within the
 * ready timeout.
 *
 * The function is pure; the operator applies the one action it returns and records the progress
 * in annotations, which come back as input on the next call (so an operator restart resumes the
 * rollout where it was):
 *
 * On the GatewayNode
 *   ferry.dev/drain-started-at    Cordon: when the update controller cordoned the node. Marks the
 *                                 node as the one in progress; it is replaced once drained.
 *   ferry.dev/was-cordoned        Cordon: "true" when the node was already cordoned (by hand);
 *                                 Uncordon then leaves it cordoned.
 *   ferry.dev/upgrade-started-at  Replace and RollBack: when the node's pod was replaced. The node
 *                                 is Upgrading (node-state.ts) until the replacement is healthy.
 *   ferry.dev/agent-version       Replace and RollBack: the version the node's pod must run. It
 *                                 stays after the update: the pod builder reads it, so the nodes
 *                                 not yet updated keep their version while spec.agent.version has
 *                                 moved on (new nodes get spec.agent.version, or the last good
 *                                 version while a rollout is halted).
 *   ferry.dev/rollback-version    Replace: the version the node ran before, for RollBack.
 *   Uncordon removes drain-started-at, was-cordoned, upgrade-started-at and rollback-version.
 *
 * On the LogicalGateway
 *   ferry.dev/rollout-failed-version  RollBack: the version that did not come Online. The rollout
 *                                 is halted while spec.agent.version equals it; choosing another
 *                                 version (or removing the annotation) resumes it.
 *
 * Rules worth knowing:
 * - A replaced node counts as back when it reports the new version and is Online, or Limited only
 *   because its version differs from the majority (which it does, early in a rollout).
 * - Once a node has started (cordoned) it is finished even if the window closes or the policy
 *   becomes Manual: a node is never left cordoned halfway.
 * - Outdated nodes that are not healthy go first (replacing them costs no capacity and may fix
 *   them), the dispatcher last (one dispatcher failover instead of several), then fewer running
 *   jobs first (shorter drain), then by name.
 * - Pass managed nodes only: external nodes are updated by whoever runs them.
 */

export const ROLLOUT_ANNOTATIONS = {
  drainStartedAt: "ferry.dev/drain-started-at",
  wasCordoned: "ferry.dev/was-cordoned",
  upgradeStartedAt: "ferry.dev/upgrade-started-at",
  agentVersion: "ferry.dev/agent-version",
  rollbackVersion: "ferry.dev/rollback-version",
  failedVersion: "ferry.dev/rollout-failed-version",
} as const;

export interface RolloutNode {
  name: string;
  /** status.version, as the agent reports it. */
  version?: string;
  state: NodeState;
  /** The reason behind the state (node-state.ts), to tell an expected VersionMismatch apart. */
  stateReason?: string;
  /** CopyJobs assigned to or running on the node. */
  runningJobs: number;
  cordoned: boolean;
  /** The node holds the dispatcher lease. */
  dispatcher?: boolean;
  drainStartedAt?: Instant;
  wasCordoned?: boolean;
  upgradeStartedAt?: Instant;
  agentVersion?: string;
  rollbackVersion?: string;
}

export interface RolloutInput {
  /** spec.agent.version (or the operator's own version). */
  targetVersion: string;
  policy: UpdatePolicy;
  window?: MaintenanceWindow;
  drainTimeoutSeconds: number;
  nodes: readonly RolloutNode[];
  /** The gateway's ferry.dev/rollout-failed-version annotation. */
  failedVersion?: string;
  /** How long a replaced node has to come back before it is rolled back. */
  readyTimeoutMs: number;
  now: Date;
}

interface Explained {
  reason: string;
  message: string;
}

export type RolloutAction =
  | ({ action: "None" } & Explained)
  | ({ action: "Done" } & Explained)
  | ({ action: "UpdateAvailable"; node: string; outdated: string[] } & Explained)
  | ({ action: "OutsideWindow"; node: string; nextWindowAt: Date } & Explained)
  | ({ action: "Cordon"; node: string; wasCordoned: boolean } & Explained)
  | ({ action: "WaitForDrain"; node: string; until: Date } & Explained)
  | ({ action: "Replace"; node: string; version: string; rollbackVersion?: string } & Explained)
  | ({ action: "WaitForOnline"; node: string; until: Date } & Explained)
  | ({ action: "Uncordon"; node: string; keepCordoned: boolean } & Explained)
  | ({ action: "RollBack"; node: string; version?: string } & Explained);

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;
const DAY_MS = 86_400_000;

function windowOpenings(window: MaintenanceWindow, from: Date, daysBack: number, daysAhead: number): Date[] {
  const [hours, minutes] = window.start.split(":").map(Number);
  const midnight = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  const openings: Date[] = [];
  for (let day = -daysBack; day <= daysAhead; day++) {
    const opening = new Date(midnight + day * DAY_MS + ((hours ?? 0) * 60 + (minutes ?? 0)) * 60_000);
    const weekday = DAYS[opening.getUTCDay()]!;
    if (!window.days || window.days.length === 0 || window.days.includes(weekday)) openings.push(opening);
  }
  return openings;
}

/** Whether `now` is inside the window; a window may cross midnight (and the end of its day). */
export function inMaintenanceWindow(window: MaintenanceWindow, now: Date): boolean {
  const durationMs = window.durationMinutes * 60_000;
  const daysBack = Math.ceil(durationMs / DAY_MS);
  return windowOpenings(window, now, daysBack, 0).some(
    (opening) => opening <= now && now.getTime() < opening.getTime() + durationMs,
  );
}

/** The next opening of the window strictly after `now` (within the next eight days). */
export function nextMaintenanceWindow(window: MaintenanceWindow, now: Date): Date | undefined {
  return windowOpenings(window, now, 0, 8).find((opening) => opening > now);
}

function healthyOn(node: RolloutNode, version: (v: string | undefined) => boolean): boolean {
  const upOk = node.state === "Online" || (node.state === "Limited" && node.stateReason === VERSION_MISMATCH);
  return upOk && version(node.version);
}

function updateOrder(a: RolloutNode, b: RolloutNode): number {
  const unhealthy = (n: RolloutNode) => (n.state === "Online" || n.state === "Limited" ? 1 : 0);
  return (
    unhealthy(a) - unhealthy(b) ||
    Number(a.dispatcher ?? false) - Number(b.dispatcher ?? false) ||
    a.runningJobs - b.runningJobs ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}

export function rolloutStep(input: RolloutInput): RolloutAction {
  const { targetVersion: target, now } = input;
  const nodes = [...input.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const halted = input.failedVersion !== undefined && input.failedVersion === target;
  const inProgress = nodes.find(
    (n) => instant(n.upgradeStartedAt) !== undefined || instant(n.drainStartedAt) !== undefined,
  );

  if (inProgress !== undefined) {
    const node = inProgress.name;
    const keepCordoned = inProgress.wasCordoned ?? false;
    const replacedAt = instant(inProgress.upgradeStartedAt);
    if (replacedAt !== undefined) {
      const waited = elapsedMs(replacedAt, now);
      const until = new Date(replacedAt.getTime() + input.readyTimeoutMs);
      if (halted) {
        if (healthyOn(inProgress, (v) => v !== undefined && v !== target)) {
          return {
            action: "Uncordon",
            node,
            keepCordoned,
            reason: "RolledBack",
            message: `${node} is back on version ${inProgress.version} after the rollback from ${target}`,
          };
        }
        if (waited >= input.readyTimeoutMs) {
          return {
            action: "None",
            reason: "RollbackNotOnline",
            message:
              `${node} has not come back ${formatDuration(waited)} after the rollback from ${target} ` +
              `(it is ${inProgress.state}): see its conditions and its pod`,
          };
        }
        return {
          action: "WaitForOnline",
          node,
          until,
          reason: "RollingBack",
          message: `waiting for ${node} to come back on ${inProgress.agentVersion ?? "its previous version"} (${inProgress.state})`,
        };
      }
      if (inProgress.agentVersion !== undefined && inProgress.agentVersion !== target) {
        return {
          action: "Replace",
          node,
          version: target,
          ...(inProgress.rollbackVersion ? { rollbackVersion: inProgress.rollbackVersion } : {}),
          reason: "TargetChanged",
          message: `spec.agent.version changed to ${target} while ${node} was moving to ${inProgress.agentVersion}: replacing it again`,
        };
      }
      if (healthyOn(inProgress, (v) => v === target)) {
        return {
          action: "Uncordon",
          node,
          keepCordoned,
          reason: "NodeUpdated",
          message: `${node} runs ${target} and is ${inProgress.state} after ${formatDuration(waited)}`,
        };
      }
      if (waited >= input.readyTimeoutMs) {
        const version =
          inProgress.rollbackVersion ??
          majorityVersion(nodes.filter((n) => n.name !== node && n.version !== target).map((n) => n.version));
        return {
          action: "RollBack",
          node,
          ...(version ? { version } : {}),
          reason: "NotOnlineInTime",
          message:
            `${node} did not come back on ${target} within ${formatDuration(input.readyTimeoutMs)} ` +
            `(it is ${inProgress.state}${inProgress.version ? ` on ${inProgress.version}` : ""}): ` +
            `rolling it back to ${version ?? "its previous version (unknown: set ferry.dev/agent-version by hand)"} ` +
            "and halting the rollout",
        };
      }
      return {
        action: "WaitForOnline",
        node,
        until,
        reason: "WaitingForNode",
        message:
          `waiting for ${node} to come back on ${target} (${inProgress.state}, ${formatDuration(waited)} ` +
          `of ${formatDuration(input.readyTimeoutMs)})`,
      };
    }

    const drainingSince = instant(inProgress.drainStartedAt)!;
    if (halted || inProgress.version === target) {
      return {
        action: "Uncordon",
        node,
        keepCordoned,
        reason: halted ? "RolloutHalted" : "AlreadyUpToDate",
        message: halted
          ? `the rollout to ${target} is halted: ${node} goes back in service without being replaced`
          : `${node} already runs ${target}: no need to replace it`,
      };
    }
    const drained = elapsedMs(drainingSince, now);
    const timeoutMs = input.drainTimeoutSeconds * 1000;
    const previous = inProgress.version ?? inProgress.agentVersion;
    const replace = (reason: string, message: string): RolloutAction => ({
      action: "Replace",
      node,
      version: target,
      ...(previous ? { rollbackVersion: previous } : {}),
      reason,
      message,
    });
    if (inProgress.runningJobs === 0) {
      return replace("Drained", `${node} has no running job: replacing it with version ${target}`);
    }
    if (drained >= timeoutMs) {
      return replace(
        "DrainTimeout",
        `${node} still runs ${inProgress.runningJobs} jobs after the drain timeout of ${input.drainTimeoutSeconds}s: ` +
          `replacing it with version ${target}; the jobs resume elsewhere from their checkpoints`,
      );
    }
    return {
      action: "WaitForDrain",
      node,
      until: new Date(drainingSince.getTime() + timeoutMs),
      reason: "Draining",
      message:
        `${node} is cordoned and still runs ${inProgress.runningJobs} jobs ` +
        `(${formatDuration(drained)} of the ${input.drainTimeoutSeconds}s drain timeout)`,
    };
  }

  if (halted) {
    return {
      action: "None",
      reason: "RolloutHalted",
      message:
        `version ${target} did not come Online and was rolled back; the rollout is halted: set spec.agent.version ` +
        `to another version, or remove the gateway's ${ROLLOUT_ANNOTATIONS.failedVersion} annotation to try again`,
    };
  }

  const outdated = nodes.filter((n) => (n.agentVersion ?? n.version) !== target).sort(updateOrder);
  const next = outdated[0];
  if (next === undefined) {
    return { action: "Done", reason: "UpToDate", message: `all ${nodes.length} managed nodes run ${target}` };
  }
  const count = `${outdated.length} of ${nodes.length} managed nodes`;
  if (input.policy === "Manual") {
    return {
      action: "UpdateAvailable",
      node: next.name,
      outdated: outdated.map((n) => n.name),
      reason: "UpdateAvailable",
      message: `${count} do not run ${target}; the update policy is Manual: delete a node's pod to update it`,
    };
  }
  if (input.window && !inMaintenanceWindow(input.window, now)) {
    const nextWindowAt = nextMaintenanceWindow(input.window, now) ?? now;
    return {
      action: "OutsideWindow",
      node: next.name,
      nextWindowAt,
      reason: "OutsideMaintenanceWindow",
      message: `${count} do not run ${target}; the update starts in the next maintenance window, ${nextWindowAt.toISOString()}`,
    };
  }
  return {
    action: "Cordon",
    node: next.name,
    wasCordoned: next.cordoned,
    reason: "UpdateStarted",
    message: `${count} do not run ${target}: cordoning ${next.name} (${next.runningJobs} running jobs) to update it`,
  };
}
