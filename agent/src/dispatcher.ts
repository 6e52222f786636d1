/**
 * The dispatcher: runs only while this node holds the gateway's dispatcher Lease. It watches the
 * gateway's CopyJobs, GatewayNodes and node Leases, plans with the pure planDispatch, and carries
 * out each action through updateJobStatus, which re-reads the job and re-checks the decision
 * before a write guarded by resourceVersion. Everything it needs is in the API (phases, nodes,
 * attempts), so a new dispatcher after a failover simply carries on.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Kube, Lease } from "@ferry/common";
import type { Logger } from "@ferry/common/log";
import { type EventRecorder, Informer, type Metrics } from "@ferry/common/runtime";
import type { CopyJob, GatewayNode } from "@ferry/crds";
import { updateJobStatus } from "./job-writer.ts";
import { LeaseTracker } from "./lease-tracker.ts";
import { API_VERSION, jobRef, LABEL_COMPONENT, LABEL_GATEWAY, LABEL_NODE, LEASE_API } from "./names.ts";
import { type DispatchAction, isActive, nodeView, planDispatch } from "./policy/dispatch.ts";
import { assigned, failed, isFinal, isPending, requeued } from "./policy/job-status.ts";

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
}

export async function runDispatcher(options: DispatcherOptions, signal: AbortSignal): Promise<void> {
  const { kube, namespace, gateway, log } = options;
  const assignments = options.metrics.counter(
    "ferry_dispatcher_assignments_total",
    "Jobs assigned to nodes.",
    ["node"],
  );
  const takeBacks = options.metrics.counter(
    "ferry_dispatcher_takebacks_total",
    "Jobs taken back or failed by the dispatcher.",
    ["reason"],
  );
  const jobs = new Informer<CopyJob>(
    kube,
    { apiVersion: API_VERSION, kind: "CopyJob", namespace, resyncMs: 60_000 },
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
  // Objects this dispatcher wrote, until its informer catches up: the next pass must not plan from
  // the cache's older copy (it would only be refused, but it would also misjudge the load).
  const written = new Map<string, CopyJob>();
  let wake: () => void = () => {};
  const poke = () => wake();
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
    try {
      await pass();
    } catch (err) {
      if (!signal.aborted) log.warn({ err }, "dispatch pass failed");
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
      delay(tickMs, undefined, { signal }).then(resolve, resolve);
    });
    wake = () => {};
    // Coalesce a burst of events into one pass.
    await delay(50, undefined, { signal }).catch(() => {});
  }
  await Promise.all([jobs.stopped(), nodes.stopped(), leases.stopped()]);
  log.info("dispatcher stopped");

  async function pass(): Promise<void> {
    const now = Date.now();
    const leaseList = leases.store.list();
    tracker.observe(leaseList, now);
    const leaseOf = new Map(leaseList.map((l) => [l.metadata.labels?.[LABEL_NODE] ?? "", l]));
    const views = nodes.store
      .list()
      .filter((n) => n.spec.gatewayRef.name === gateway)
      .map((n) => nodeView(n, tracker.alive(leaseOf.get(n.metadata.name), now)));
    const all = currentJobs();
    for (const action of planDispatch(all, views, new Date(now))) {
      if (signal.aborted) return;
      await carryOut(action).catch((err: unknown) =>
        log.warn({ err, job: action.job, action: action.type }, "dispatch action failed"),
      );
    }
    // Repair: a dispatcher that died between the status write and the label leaves a job its
    // worker cannot see.
    for (const job of all) {
      if (isActive(job) && job.metadata.labels?.[LABEL_NODE] !== job.status?.node)
        await label(job.metadata.name, job.status!.node!);
    }
  }

  async function carryOut(action: DispatchAction): Promise<void> {
    const now = new Date();
    const viewed = currentJobs().find((j) => j.metadata.name === action.job);
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
    const result = await updateJobStatus(kube, namespace, action.job, decide);
    if (!result) {
      log.info({ job: action.job, action: action.type }, "the job changed meanwhile; not applied");
      return;
    }
    written.set(action.job, result);
    if (action.type === "assign") {
      assignments.inc({ node: action.node });
      log.info({ job: action.job, node: action.node, attempt: result.status?.attempt }, "assigned");
      await label(action.job, action.node);
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

  async function label(name: string, node: string): Promise<void> {
    const patched = await kube.mergePatch<CopyJob>(jobRef(namespace, name), {
      metadata: { labels: { [LABEL_NODE]: node } },
    });
    written.set(name, patched);
  }
}
