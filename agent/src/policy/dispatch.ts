/**
 * The dispatcher's decisions, pure (style.md, rule 6): from the jobs, the nodes and whether each
 * node's heartbeat is alive, what to do next. dispatcher.ts gathers the inputs and carries out
 * each action with a write guarded by the job's resourceVersion, re-checking it against the fresh
 * object first, so a decision made from a stale cache can be refused but never applied twice.
 */
import type { CopyJob, GatewayNode } from "@ferry/crds";
import { assigned, attemptStart, isFinal, isPending } from "./job-status.ts";
import { maxAttempts } from "./retry.ts";

export interface NodeView {
  name: string;
  /** Its heartbeat Lease is held and was renewed within its duration (as the dispatcher saw it). */
  alive: boolean;
  cordoned: boolean;
  /** The operator marked it unfit for new work (Offline, Upgrading, Inactive). */
  excluded: boolean;
  limit: number;
}

export type DispatchAction =
  | { type: "assign"; job: string; node: string }
  | { type: "requeue"; job: string; node: string; reason: "NodeLost"; message: string }
  | { type: "fail"; job: string; reason: string; message: string };

const EXCLUDED_STATES = new Set(["Offline", "Upgrading", "Inactive"]);
const DEFAULT_LIMIT = 1;

/** A node as the dispatcher sees it: limit from spec, else what the agent reports. */
export function nodeView(node: GatewayNode, alive: boolean): NodeView {
  return {
    name: node.metadata.name,
    alive,
    cordoned: node.spec.cordoned === true,
    excluded: EXCLUDED_STATES.has(node.status?.state ?? ""),
    limit: node.spec.concurrencyLimit ?? node.status?.jobs?.limit ?? DEFAULT_LIMIT,
  };
}

/** Priority high to low, then oldest first (FIFO within a priority), then name for a stable order. */
export function jobOrder(a: CopyJob, b: CopyJob): number {
  const p = (b.spec.priority ?? 0) - (a.spec.priority ?? 0);
  if (p !== 0) return p;
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/** Jobs occupying a slot: Assigned or Running on a node. */
export function isActive(job: CopyJob): boolean {
  const phase = job.status?.phase;
  return (phase === "Assigned" || phase === "Running") && Boolean(job.status?.node);
}

/**
 * What happens to an active job whose node is gone or whose attempt ran too long; undefined when
 * it stays where it is.
 */
export function takeBack(job: CopyJob, nodeAlive: boolean, now: Date): DispatchAction | undefined {
  if (!isActive(job)) return undefined;
  const name = job.metadata.name;
  const status = job.status!;
  const started = attemptStart(status);
  const timeout = job.spec.timeoutSeconds;
  if (timeout !== undefined && started && now.getTime() - started.getTime() > timeout * 1000) {
    return {
      type: "fail",
      job: name,
      reason: "Timeout",
      message: `attempt ${status.attempt} ran longer than timeoutSeconds (${timeout})`,
    };
  }
  if (nodeAlive) return undefined;
  const max = maxAttempts(job.spec.retry);
  const attempt = status.attempt ?? 0;
  if (attempt >= max) {
    return {
      type: "fail",
      job: name,
      reason: "NodeLost",
      message: `node ${status.node} stopped heartbeating during attempt ${attempt}, the last of ${max}`,
    };
  }
  return {
    type: "requeue",
    job: name,
    node: status.node!,
    reason: "NodeLost",
    message: `node ${status.node} stopped heartbeating during attempt ${attempt}`,
  };
}

/**
 * The whole plan for one pass: take back what must be, then give each Pending job (in order) to
 * the least-loaded eligible node with a free slot. Load counts the jobs Assigned or Running on a
 * node, plus what this pass assigns; ties go to the node name, for determinism.
 */
export function planDispatch(
  jobs: readonly CopyJob[],
  nodes: readonly NodeView[],
  now: Date,
): DispatchAction[] {
  const actions: DispatchAction[] = [];
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const load = new Map<string, number>(nodes.map((n) => [n.name, 0]));
  for (const job of jobs) {
    if (!isActive(job)) continue;
    const node = job.status!.node!;
    const back = takeBack(job, byName.get(node)?.alive === true, now);
    if (back) actions.push(back);
    else load.set(node, (load.get(node) ?? 0) + 1);
  }
  const eligible = nodes.filter((n) => n.alive && !n.cordoned && !n.excluded);
  const pending = jobs.filter((j) => !isFinal(j.status) && isPending(j.status)).sort(jobOrder);
  for (const job of pending) {
    let best: NodeView | undefined;
    for (const n of eligible) {
      const used = load.get(n.name) ?? 0;
      if (used >= n.limit) continue;
      if (
        !best ||
        used < (load.get(best.name) ?? 0) ||
        (used === (load.get(best.name) ?? 0) && n.name < best.name)
      ) {
        best = n;
      }
    }
    // Strict order: when the first job in line finds no slot, none after it may jump the queue.
    if (!best) break;
    load.set(best.name, (load.get(best.name) ?? 0) + 1);
    actions.push({ type: "assign", job: job.metadata.name, node: best.name });
  }
  return actions;
}

/**
 * planDispatch for a dispatcher whose earlier actions may still be in flight (their writes not yet
 * answered): each of those counts as done (an assignment loads its node), none is planned again,
 * and at most `room` new actions come back, first in plan order.
 */
export function planAround(
  inFlight: ReadonlyMap<string, DispatchAction>,
  jobs: readonly CopyJob[],
  nodes: readonly NodeView[],
  now: Date,
  room: number,
): DispatchAction[] {
  if (room <= 0) return [];
  const asIfDone = jobs.map((job) => {
    const action = inFlight.get(job.metadata.name);
    if (action?.type !== "assign") return job;
    return { ...job, status: assigned(job.status, action.node, now) };
  });
  return planDispatch(asIfDone, nodes, now)
    .filter((a) => !inFlight.has(a.job))
    .slice(0, room);
}
