/**
 * The dispatcher's decisions, pure (style.md, rule 6): from the jobs, the nodes and whether each
 * node's heartbeat is alive, what to do next. dispatcher.ts gathers the inputs and carries out
 * each action with a write guarded by the job's resourceVersion, re-checking it against the fresh
 * object first, so a decision made from a stale cache can be refused but never applied twice.
 *
 * A node holds up to `limit` jobs in its slots and up to `queue` more Assigned to it, waiting: its
 * worker starts the next one, in job order, the moment a slot frees, without waiting for the
 * dispatcher to see the slot free and assign (two API writes and two watch hops instead of one
 * write). A job waits in a node's queue only when no node has a free slot, and moves to a node
 * whose slot frees while it still waits; an attempt that waited is not a started one (its
 * startTime is when it started running).
 */
import type { CopyJob, GatewayNode } from "@ferry/crds";
import { assigned, attemptStart, isFinal, isPending, isRetryingInPlace } from "./job-status.ts";
import { maxAttempts } from "./retry.ts";

export interface NodeView {
  name: string;
  /** Its heartbeat Lease is held and was renewed within its duration (as the dispatcher saw it). */
  alive: boolean;
  cordoned: boolean;
  /** Unfit for new work: the operator says so (Offline, Upgrading, Inactive) or the node is stopping. */
  excluded: boolean;
  limit: number;
  /** Jobs it may hold Assigned beyond its slots, waiting for one (queueDepth). */
  queue: number;
}

/**
 * `queued`: the job goes to the node's queue, not to a free slot. The dispatcher writes such an
 * action only once its assignments to that node's free slots are answered: a worker with a free
 * slot starts the first job it sees, so a queued job seen first would jump the line.
 */
export type DispatchAction =
  | { type: "assign"; job: string; node: string; queued?: true }
  | { type: "move"; job: string; from: string; node: string; queued?: true }
  | { type: "requeue"; job: string; node: string; reason: "NodeLost"; message: string }
  | { type: "fail"; job: string; reason: string; message: string };

const EXCLUDED_STATES = new Set(["Offline", "Upgrading", "Inactive"]);
const DEFAULT_LIMIT = 1;

/**
 * Jobs a node with `limit` slots may hold waiting: twice its slots, so that a node that empties
 * all its slots at once (tiny jobs) starts two full rounds without the dispatcher, whose refill
 * takes a watch hop and a write. With one round (a queue as deep as the slots), a loaded machine's
 * nodes ran dry while the refill was on its way: 50 of 1000 tiny jobs then took those two writes
 * after their slot freed, and set the dispatch p99 (bench/RESULTS.md, 351 against 202-206 ms). A
 * waiting job never waits for a slot that frees elsewhere first (it moves), and waits on behind
 * long jobs only until it is stuck.
 */
export function queueDepth(limit: number): number {
  return Math.max(0, 2 * limit);
}

/**
 * A node as the dispatcher sees it: limit from spec, else what the agent reports. `draining`: its
 * Lease says it is stopping.
 */
export function nodeView(node: GatewayNode, alive: boolean, draining = false): NodeView {
  const limit = node.spec.concurrencyLimit ?? node.status?.jobs?.limit ?? DEFAULT_LIMIT;
  return {
    name: node.metadata.name,
    alive,
    cordoned: node.spec.cordoned === true,
    excluded: draining || EXCLUDED_STATES.has(node.status?.state ?? ""),
    limit,
    queue: queueDepth(limit),
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

/** Jobs on a node: Running, or Assigned (starting, or waiting in its queue). */
export function isActive(job: CopyJob): boolean {
  const phase = job.status?.phase;
  return (phase === "Assigned" || phase === "Running") && Boolean(job.status?.node);
}

/**
 * What happens to an active job whose node is gone or whose attempt has run too long; undefined
 * when it stays where it is.
 */
export function takeBack(job: CopyJob, nodeAlive: boolean, now: Date): DispatchAction | undefined {
  if (!isActive(job)) return undefined;
  const name = job.metadata.name;
  const status = job.status!;
  const started = attemptStart(status);
  const timeout = job.spec.timeoutSeconds;
  // Only a running attempt times out: one waiting in its node's queue has not started.
  const runningFor = status.phase === "Running" && started ? now.getTime() - started.getTime() : 0;
  if (timeout !== undefined && runningFor > timeout * 1000) {
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
  // An attempt that never started (it waited for a slot) copied nothing: it goes back to the
  // queue whatever its number.
  if (attempt >= max && status.phase === "Running") {
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
 * How long a job may wait in one node's queue before it also moves to another node's queue with
 * room: its node's slots are then held by long jobs, and a job behind them must not wait while
 * later ones flow through another node. Tiny jobs never wait this long; a long-job gateway moves
 * each waiting job at most once per this period.
 */
export const STUCK_AFTER_MS = 10_000;

/**
 * The whole plan for one pass:
 *
 * 1. take back what must be (lost nodes, timeouts);
 * 2. then, in job order, the jobs in line, which are the Pending ones and those waiting in a
 *    node's queue:
 *    - a Pending job goes to the least-loaded eligible node with a free slot, else to the
 *      least-loaded one with room in its queue; strict order, so when the first Pending job finds
 *      neither, none after it jumps the line;
 *    - a waiting job moves to another node's free slot, or to another node's queue with room when
 *      it is stuck (its node is cordoned or excluded, or it has waited STUCK_AFTER_MS).
 *
 * `settled`: jobs an earlier action is still being written for (planAround); they are not planned
 * again, so no action here assumes one of them moves. `reserved`: load per node beyond its jobs
 * (planAround's moves in flight).
 *
 * Load counts the jobs Assigned or Running on a node, plus what this pass gives it. A node's
 * waiting jobs are its Assigned ones beyond its slots, last in job order, which is the order its
 * worker starts them in; a retry in place holds the slot of its run and never waits. Ties go to the
 * node name, for determinism.
 */
export function planDispatch(
  jobs: readonly CopyJob[],
  nodes: readonly NodeView[],
  now: Date,
  settled: ReadonlySet<string> = new Set(),
  reserved: ReadonlyMap<string, number> = new Map(),
): DispatchAction[] {
  const actions: DispatchAction[] = [];
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const load = new Map<string, number>(nodes.map((n) => [n.name, reserved.get(n.name) ?? 0]));
  const startable = new Map<string, CopyJob[]>();
  for (const job of jobs) {
    if (!isActive(job)) continue;
    const node = job.status!.node!;
    const back = settled.has(job.metadata.name)
      ? undefined
      : takeBack(job, byName.get(node)?.alive === true, now);
    if (back) {
      actions.push(back);
      continue;
    }
    load.set(node, (load.get(node) ?? 0) + 1);
    if (job.status!.phase === "Assigned" && !isRetryingInPlace(job.status)) {
      const list = startable.get(node);
      if (list) list.push(job);
      else startable.set(node, [job]);
    }
  }
  const used = (n: NodeView) => load.get(n.name) ?? 0;
  const eligible = nodes.filter((n) => n.alive && !n.cordoned && !n.excluded);
  const leastLoaded = (fits: (n: NodeView) => boolean, except?: string): NodeView | undefined => {
    let best: NodeView | undefined;
    for (const n of eligible) {
      if (n.name === except || !fits(n)) continue;
      if (!best || used(n) < used(best) || (used(n) === used(best) && n.name < best.name)) best = n;
    }
    return best;
  };
  const hasSlot = (n: NodeView) => used(n) < n.limit;
  const hasRoom = (n: NodeView) => used(n) < n.limit + n.queue;

  // Jobs waiting in a queue: each node's Assigned ones beyond its slots, last in order.
  const waiting = new Map<string, NodeView>();
  for (const [name, list] of startable) {
    const from = byName.get(name);
    if (!from) continue;
    const beyond = Math.min(list.length, used(from) - from.limit);
    if (beyond <= 0) continue;
    for (const job of list.sort(jobOrder).slice(-beyond)) {
      if (!settled.has(job.metadata.name)) waiting.set(job.metadata.name, from);
    }
  }
  const pending = jobs.filter((j) => !isFinal(j.status) && isPending(j.status));
  const line = [...pending, ...jobs.filter((j) => waiting.has(j.metadata.name))].sort(jobOrder);
  for (const job of line) {
    const from = waiting.get(job.metadata.name);
    if (!from) {
      const slot = leastLoaded(hasSlot);
      const best = slot ?? leastLoaded(hasRoom);
      // Strict order: when the first job in line finds no place, none after it may jump the queue.
      if (!best) break;
      load.set(best.name, used(best) + 1);
      actions.push({
        type: "assign",
        job: job.metadata.name,
        node: best.name,
        ...(slot ? {} : { queued: true }),
      });
      continue;
    }
    const since = attemptStart(job.status)?.getTime() ?? now.getTime();
    const stuck = !eligible.includes(from) || now.getTime() - since >= STUCK_AFTER_MS;
    const slot = leastLoaded(hasSlot, from.name);
    const to = slot ?? (stuck ? leastLoaded(hasRoom, from.name) : undefined);
    if (!to) continue;
    load.set(from.name, used(from) - 1);
    load.set(to.name, used(to) + 1);
    actions.push({
      type: "move",
      job: job.metadata.name,
      from: from.name,
      node: to.name,
      ...(slot ? {} : { queued: true }),
    });
  }
  return actions;
}

/**
 * planDispatch for a dispatcher whose earlier actions may still be in flight (their writes not yet
 * answered): none is planned again, and at most `room` new actions come back, first in plan order.
 * An assignment in flight counts as done: it loads its node. A move in flight loads its new node
 * and still loads its old one until it is answered. Counted as done, the old node's place went to
 * the next job in the same pass, whose assignment could reach the API server before the move: the
 * node then held one job more than its slots and queue (a test's watch saw 7 for 6), and more if
 * the move was refused.
 */
export function planAround(
  inFlight: ReadonlyMap<string, DispatchAction>,
  jobs: readonly CopyJob[],
  nodes: readonly NodeView[],
  now: Date,
  room: number,
): DispatchAction[] {
  if (room <= 0) return [];
  const reserved = new Map<string, number>();
  const asIfDone = jobs.map((job) => {
    const action = inFlight.get(job.metadata.name);
    if (action?.type === "assign") return { ...job, status: assigned(job.status, action.node, now) };
    if (action?.type === "move") reserved.set(action.node, (reserved.get(action.node) ?? 0) + 1);
    return job;
  });
  return planDispatch(asIfDone, nodes, now, new Set(inFlight.keys()), reserved)
    .filter((a) => !inFlight.has(a.job))
    .slice(0, room);
}
