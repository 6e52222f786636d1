/**
 * The dispatcher: runs only while this node holds the gateway's dispatcher Lease. It watches the
 * gateway's CopyJobs, GatewayNodes and node Leases, plans with the pure planDispatch, and carries
 * out each action through updateJobStatus, which re-checks the decision against the job as the pass
 * saw it and writes it guarded by that resourceVersion; a job that moved meanwhile is read fresh
 * and decided again. Everything it needs is in the API (phases, nodes, attempts), so a new
 * dispatcher after a failover simply carries on.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Kube, Lease } from "@ferry/common";
import type { Logger } from "@ferry/common/log";
import { type EventRecorder, Informer, type Metrics } from "@ferry/common/runtime";
import type { CopyJob, GatewayNode } from "@ferry/crds";
import { cachedJob } from "./job-cache.ts";
import { updateJobStatus } from "./job-writer.ts";
import { LeaseTracker } from "./lease-tracker.ts";
import {
  ANNOTATION_DRAINING,
  API_VERSION,
  LABEL_COMPONENT,
  LABEL_GATEWAY,
  LABEL_NODE,
  LEASE_API,
} from "./names.ts";
import { type DispatchAction, isActive, nodeView, planAround } from "./policy/dispatch.ts";
import { assigned, failed, isFinal, isPending, moved, requeued } from "./policy/job-status.ts";

export interface DispatcherOptions {
  kube: Kube;
  namespace: string;
  gateway: string;
  node: string;
  log: Logger;
  metrics: Metrics;
  events: EventRecorder;
  /** How often a pass runs even without changes (timeouts, lease expiry). */
  tickMs?: number;
  /**
   * Whether this node (the dispatcher's own) is stopping: known here before its Lease says so, so
   * the dispatcher never gives back to it what its worker just handed back.
   */
  draining?: () => boolean;
}

export async function runDispatcher(options: DispatcherOptions, signal: AbortSignal): Promise<void> {
  const { kube, namespace, gateway, log } = options;
  const assignments = options.metrics.counter(
    "ferry_dispatcher_assignments_total",
    "Jobs assigned to nodes.",
    ["node"],
  );
  const moves = options.metrics.counter(
    "ferry_dispatcher_moves_total",
    "Jobs that waited in one node's queue, moved to a node with a free slot.",
    ["node"],
  );
  const takeBacks = options.metrics.counter(
    "ferry_dispatcher_takebacks_total",
    "Jobs taken back or failed by the dispatcher.",
    ["reason"],
  );
  const jobs = new Informer<CopyJob>(
    kube,
    { apiVersion: API_VERSION, kind: "CopyJob", namespace, resyncMs: 60_000, transform: cachedJob },
    log,
    options.metrics,
  );
  const nodes = new Informer<GatewayNode>(
    kube,
    { apiVersion: API_VERSION, kind: "GatewayNode", namespace, resyncMs: 60_000 },
    log,
  );
  const leases = new Informer<Lease>(
    kube,
    {
      apiVersion: LEASE_API,
      kind: "Lease",
      namespace,
      labelSelector: `${LABEL_GATEWAY}=${gateway},${LABEL_COMPONENT}=node-lease`,
      resyncMs: 60_000,
    },
    log,
  );
  const tracker = new LeaseTracker();
  // Actions whose write has not answered yet, by job.
  const inflight = new Map<string, DispatchAction>();
  const writes = new Set<Promise<void>>();
  /** Writes in flight that give a node's free slots, by node. */
  const slotWrites = new Map<string, Set<Promise<void>>>();
  // Objects this dispatcher wrote, until its informer catches up: the next pass must not plan from
  // the cache's older copy (it would only be refused, but it would also misjudge the load).
  const written = new Map<string, CopyJob>();
  // A change seen while a pass runs (its writes take round trips) must not wait for the tick: the
  // pass may have planned without it, e.g. without the slot a job just freed.
  let changed = false;
  let wake: () => void = () => {};
  const poke = () => {
    changed = true;
    wake();
  };
  jobs.on(poke);
  nodes.on(poke);
  leases.on(poke);
  await Promise.all([jobs.start(signal), nodes.start(signal), leases.start(signal)]);
  log.info("dispatcher started");

  const currentJobs = (): CopyJob[] =>
    jobs.store
      .list()
      .filter((j) => j.spec.gatewayRef.name === gateway)
      .map((j) => {
        const w = written.get(j.metadata.name);
        if (!w) return j;
        if (Number(j.metadata.resourceVersion) >= Number(w.metadata.resourceVersion)) {
          written.delete(j.metadata.name);
          return j;
        }
        return w;
      });

  const tickMs = options.tickMs ?? 1000;
  while (!signal.aborted) {
    changed = false;
    try {
      pass();
    } catch (err) {
      if (!signal.aborted) log.warn({ err }, "dispatch pass failed");
    }
    if (!changed) {
      const tick = new AbortController();
      await new Promise<void>((resolve) => {
        wake = resolve;
        delay(tickMs, undefined, { signal: AbortSignal.any([signal, tick.signal]) }).then(resolve, resolve);
      });
      // Woken early: the tick's timer goes, rather than pile up with one per pass.
      tick.abort();
    }
    wake = () => {};
    // Coalesce a burst of events into one pass.
    await delay(COALESCE_MS, undefined, { signal }).catch(() => {});
  }
  await Promise.all([...writes]);
  await Promise.all([jobs.stopped(), nodes.stopped(), leases.stopped()]);
  log.info("dispatcher stopped");

  function pass(): void {
    const now = Date.now();
    const leaseList = leases.store.list();
    tracker.observe(leaseList, now);
    const leaseOf = new Map(leaseList.map((l) => [l.metadata.labels?.[LABEL_NODE] ?? "", l]));
    const views = nodes.store
      .list()
      .filter((n) => n.spec.gatewayRef.name === gateway)
      .map((n) => {
        const lease = leaseOf.get(n.metadata.name);
        const draining =
          lease?.metadata.annotations?.[ANNOTATION_DRAINING] === "true" ||
          (n.metadata.name === options.node && options.draining?.() === true);
        return nodeView(n, tracker.alive(lease, now), draining);
      });
    const all = currentJobs();
    const byName = new Map(all.map((j) => [j.metadata.name, j]));
    for (const action of planAround(inflight, all, views, new Date(now), MAX_IN_FLIGHT - inflight.size)) {
      inflight.set(action.job, action);
      // A job for a node's queue waits for that node's free-slot writes (DispatchAction): the
      // worker then sees the jobs it may start before any that must wait behind them.
      const toSlot = (action.type === "assign" || action.type === "move") && !action.queued;
      const node = action.type === "assign" || action.type === "move" ? action.node : "";
      const ahead = !toSlot && node ? [...(slotWrites.get(node) ?? [])] : [];
      const viewed = byName.get(action.job);
      const write = (
        ahead.length > 0
          ? Promise.allSettled(ahead).then(() => carryOut(action, viewed))
          : carryOut(action, viewed)
      )
        .catch((err: unknown) => {
          if (!signal.aborted)
            log.warn({ err, job: action.job, action: action.type }, "dispatch action failed");
        })
        .finally(() => {
          inflight.delete(action.job);
          writes.delete(write);
          slotWrites.get(node)?.delete(write);
          // The job's new state (or its refusal) may free or take a slot: plan again.
          poke();
        });
      writes.add(write);
      if (toSlot) {
        const set = slotWrites.get(node) ?? new Set<Promise<void>>();
        set.add(write);
        slotWrites.set(node, set);
      }
    }
  }

  /** `viewed`: the job as the pass that planned `action` saw it. */
  async function carryOut(action: DispatchAction, viewed: CopyJob | undefined): Promise<void> {
    const now = new Date();
    const seenAttempt = viewed?.status?.attempt ?? 0;
    const seenNode = viewed?.status?.node;
    let decide: (job: CopyJob) => ReturnType<typeof assigned> | undefined;
    switch (action.type) {
      case "assign":
        decide = (job) =>
          isPending(job.status) && !isFinal(job.status) && (job.status?.attempt ?? 0) === seenAttempt
            ? assigned(job.status, action.node, now)
            : undefined;
        break;
      case "move":
        // Still waiting where the pass saw it: once its worker writes Running, this is refused.
        decide = (job) =>
          job.status?.phase === "Assigned" &&
          job.status.node === action.from &&
          job.status.attempt === seenAttempt
            ? moved(job.status, action.node, now)
            : undefined;
        break;
      case "requeue":
        decide = (job) =>
          isActive(job) && job.status?.node === seenNode && job.status?.attempt === seenAttempt
            ? requeued(job.status!, action.reason, action.message, now)
            : undefined;
        break;
      case "fail":
        decide = (job) =>
          isActive(job) && job.status?.node === seenNode && job.status?.attempt === seenAttempt
            ? failed(job.status, action.reason, action.message, now)
            : undefined;
        break;
    }
    const result = await updateJobStatus(kube, namespace, action.job, decide, viewed);
    if (!result) {
      log.info({ job: action.job, action: action.type }, "the job changed meanwhile; not applied");
      return;
    }
    written.set(action.job, result);
    if (action.type === "assign") {
      assignments.inc({ node: action.node });
      log.info({ job: action.job, node: action.node, attempt: result.status?.attempt }, "assigned");
    } else if (action.type === "move") {
      moves.inc({ node: action.node });
      log.info(
        { job: action.job, from: action.from, node: action.node, attempt: result.status?.attempt },
        "moved to a node whose slot freed first",
      );
    } else {
      takeBacks.inc({ reason: action.reason });
      log.warn({ job: action.job, action: action.type, reason: action.reason }, action.message);
      void options.events.event(
        result,
        "Warning",
        action.reason,
        action.message,
        action.type === "requeue" ? "Requeue" : "Fail",
      );
    }
  }
}

/** Writes in flight at once, at most this many: the dispatcher never floods the API server. */
const MAX_IN_FLIGHT = 16;
/** How long a pass waits after a change for the rest of its burst. */
const COALESCE_MS = 20;
