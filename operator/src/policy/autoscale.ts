import type { NodeState } from "@ferry/crds";
import { elapsedMs, formatDuration, type Instant, instant } from "./time.ts";

/**
 * How many managed nodes a gateway should run, from its queue and its capacity, within
 * spec.nodes.min..max.
 *
 * Scale out when the jobs waiting exceed the free slots: enough nodes to absorb them at the typical
 * per-node limit (the median of the nodes' limits), capped at max. Nodes that are not Online yet
 * (a new node is Offline until its first heartbeat, a replaced one Upgrading) count as capacity on
 * the way, so the autoscaler does not add a second batch while the first one starts. Inactive and
 * cordoned nodes count as no capacity.
 *
 * Scale in is two-phase, because the dispatcher assigns jobs on its own and could hand one to a
 * node between the decision and the delete:
 *
 *   1. `cordon`: nodes with no job that have been idle for the quiet period (and no job waits) are
 *      cordoned for removal — highest index first, then longest idle — never below min.
 *   2. `scaleIn`: a node cordoned for removal is deleted once it has no job and SCALE_IN_SETTLE_MS
 *      has passed since the cordon (time for the dispatcher to see it). A job that slipped in
 *      first finishes; the node is deleted after. Never a node with a running job.
 *
 * When demand comes back, nodes cordoned for removal are uncordoned (`uncordon`) before any new
 * node is created. Bounds always win: below min scales out at once, above max (max lowered)
 * cordons the surplus without waiting for the quiet period — idle nodes first — and deletes each
 * once drained.
 *
 * What the operator remembers between steps, as GatewayNode annotations:
 *   ferry.dev/idle-since   when the node's job count last dropped to zero (removed when it runs one)
 *   ferry.dev/scale-in-at  when the autoscaler cordoned the node for removal (with spec.cordoned)
 * Uncordoning removes ferry.dev/scale-in-at. A node cordoned without that annotation (by hand,
 * or by the update controller) is left alone.
 */

/** Time between cordoning a node for removal and deleting it, for the dispatcher to notice. */
export const SCALE_IN_SETTLE_MS = 10_000;

export interface AutoscaleNode {
  name: string;
  state: NodeState;
  /**
   * CopyJobs assigned to or running on the node, counted from the jobs (phases Assigned and
   * Running, the ones waiting in its queue included), not from the agent's report, which lags
   * behind an assignment.
   */
  runningJobs: number;
  /** The node's concurrency limit; 0 or less when not known yet. */
  limit: number;
  cordoned: boolean;
  /** Annotation ferry.dev/idle-since. Absent: not known to be idle, so never scaled in for quiet. */
  idleSince?: Instant;
  /** Annotation ferry.dev/scale-in-at: the autoscaler cordoned the node for removal then. */
  scaleInSince?: Instant;
}

export interface ScaleInput {
  min: number;
  max: number;
  /** The gateway's managed nodes (external nodes are not the autoscaler's). */
  nodes: readonly AutoscaleNode[];
  /** CopyJobs of the gateway waiting for a slot: Pending, or in a node's queue (jobCounts). */
  pendingJobs: number;
  /** How long a node must have been idle before it is removed. */
  quietPeriodMs: number;
  now: Date;
  /** Per-node limit to plan with when no node reports one (the gateway's concurrency). */
  defaultLimit?: number;
}

export interface ScaleDecision {
  /** Managed nodes wanted after this step (nodes cordoned for removal not counted). */
  desired: number;
  /** New managed nodes to create. */
  scaleOut: number;
  /** Nodes to delete now: cordoned for removal, drained and settled. */
  scaleIn: string[];
  /** Nodes to cordon for removal (spec.cordoned and ferry.dev/scale-in-at). */
  cordon: string[];
  /** Nodes cordoned for removal to put back in service (demand came back). */
  uncordon: string[];
  reason: string;
  message: string;
}

const ACCEPTING: ReadonlySet<NodeState> = new Set(["Online", "Limited", "Offline", "Upgrading"]);

/** n of `<gw>-<n>`; -1 without a numeric suffix. */
function nodeIndex(name: string): number {
  const match = /-(\d+)$/.exec(name);
  return match ? Number(match[1]) : -1;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

const byIndexDescending = (a: AutoscaleNode, b: AutoscaleNode) =>
  nodeIndex(b.name) - nodeIndex(a.name) || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0);

/** Oldest idleSince first; unknown idleness last. */
function idleOrder(a: AutoscaleNode, b: AutoscaleNode): number {
  const x = instant(a.idleSince)?.getTime() ?? Number.POSITIVE_INFINITY;
  const y = instant(b.idleSince)?.getTime() ?? Number.POSITIVE_INFINITY;
  return x === y ? 0 : x < y ? -1 : 1;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

export function scaleDecision(input: ScaleInput): ScaleDecision {
  const { nodes, now } = input;
  const min = Math.max(0, input.min);
  // The schema keeps min <= max; should it not, min wins, as "never below min" is the firmer promise.
  const max = Math.max(min, input.max);
  const pending = Math.max(0, input.pendingJobs);

  const draining = nodes.filter((n) => instant(n.scaleInSince) !== undefined);
  const active = nodes.filter((n) => instant(n.scaleInSince) === undefined);
  const typical = Math.max(
    1,
    median(nodes.map((n) => n.limit).filter((limit) => limit > 0)) ?? input.defaultLimit ?? 1,
  );
  const slots = (n: AutoscaleNode) => Math.max(0, (n.limit > 0 ? n.limit : typical) - n.runningJobs);
  const free = active
    .filter((n) => !n.cordoned && ACCEPTING.has(n.state))
    .reduce((sum, n) => sum + slots(n), 0);
  const nodesNeeded = pending > free ? Math.ceil((pending - free) / typical) : 0;
  const target = Math.min(max, Math.max(min, active.length + nodesNeeded));

  let cordon: AutoscaleNode[] = [];
  let uncordon: AutoscaleNode[] = [];
  let scaleOut = 0;
  let reason: string;
  let message: string;
  const queue = `${plural(pending, "job")} waiting, ${plural(free, "free slot")} on ${plural(active.length, "node")}`;

  if (target > active.length) {
    const wanted = target - active.length;
    uncordon = [...draining].sort((a, b) => -byIndexDescending(a, b)).slice(0, wanted);
    scaleOut = wanted - uncordon.length;
    const how = [
      uncordon.length > 0 ? `keeping ${plural(uncordon.length, "node")} that were being removed` : "",
      scaleOut > 0 ? `adding ${plural(scaleOut, "node")}` : "",
    ]
      .filter(Boolean)
      .join(" and ");
    if (active.length < min) {
      reason = "BelowMin";
      message = `${plural(active.length, "managed node")}, below spec.nodes.min ${min}: ${how}`;
    } else {
      reason = "JobsWaiting";
      message =
        `${queue}: ${how} at ${typical} jobs per node` +
        (target === max && active.length + nodesNeeded > max ? ` (capped at spec.nodes.max ${max})` : "");
    }
  } else if (target < active.length) {
    const surplus = active.length - target;
    cordon = [...active]
      .sort((a, b) => Math.sign(a.runningJobs) - Math.sign(b.runningJobs) || byIndexDescending(a, b))
      .slice(0, surplus);
    reason = "AboveMax";
    message =
      `${plural(active.length, "managed node")}, above spec.nodes.max ${max}: removing ` +
      `${cordon.map((n) => n.name).join(", ")} once their running jobs finish`;
  } else if (nodesNeeded > 0) {
    reason = "AtMax";
    message = `${queue}, and the gateway already runs spec.nodes.max ${max} managed nodes: raise it to add capacity`;
  } else if (pending === 0) {
    const candidates = active.filter((n) => {
      const idle = instant(n.idleSince);
      return (
        !n.cordoned &&
        n.state !== "Upgrading" &&
        n.runningJobs === 0 &&
        idle !== undefined &&
        elapsedMs(idle, now) >= input.quietPeriodMs
      );
    });
    cordon = candidates
      .sort((a, b) => byIndexDescending(a, b) || idleOrder(a, b))
      .slice(0, Math.max(0, active.length - min));
    if (cordon.length > 0) {
      reason = "Idle";
      message =
        `no job waiting and ${plural(cordon.length, "node")} idle for at least ` +
        `${formatDuration(input.quietPeriodMs)}: removing ${cordon.map((n) => n.name).join(", ")} ` +
        `(spec.nodes.min ${min})`;
    } else {
      reason = "Steady";
      message = `${queue}; no node has been idle for ${formatDuration(input.quietPeriodMs)} above spec.nodes.min ${min}`;
    }
  } else {
    reason = "Steady";
    message = `${queue}: enough capacity`;
  }

  const kept = new Set(uncordon.map((n) => n.name));
  const scaleIn = draining
    .filter((n) => {
      const since = instant(n.scaleInSince);
      return (
        !kept.has(n.name) &&
        n.runningJobs === 0 &&
        since !== undefined &&
        elapsedMs(since, now) >= SCALE_IN_SETTLE_MS
      );
    })
    .map((n) => n.name)
    .sort();
  const stillDraining = draining.filter((n) => !kept.has(n.name) && !scaleIn.includes(n.name));
  if (scaleIn.length > 0 || stillDraining.length > 0) {
    const parts = [
      scaleIn.length > 0 ? `deleting drained ${scaleIn.join(", ")}` : "",
      stillDraining.length > 0
        ? `waiting for ${stillDraining.map((n) => `${n.name} (${plural(n.runningJobs, "job")})`).join(", ")} to drain`
        : "",
    ].filter(Boolean);
    message += `; ${parts.join("; ")}`;
  }

  return {
    desired: active.length - cordon.length + uncordon.length + scaleOut,
    scaleOut,
    scaleIn,
    cordon: cordon.map((n) => n.name),
    uncordon: uncordon.map((n) => n.name),
    reason,
    message,
  };
}
