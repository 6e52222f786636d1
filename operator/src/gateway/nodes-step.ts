/**
 * Step: the gateway's managed nodes. Three decisions, each a pure policy applied here:
 * how many nodes (policy/autoscale.ts), how many jobs each runs (policy/autotune.ts), and which
 * node moves to a new agent version next (policy/rollout.ts). Progress that must survive an
 * operator restart lives in GatewayNode annotations, as the policies document.
 */
import { slimMetadata } from "@ferry/common/runtime";
import type { CopyJob, GatewayNode } from "@ferry/crds";
import { dispatcherLeaseName, managedNodeIndex } from "../model/names.ts";
import { managedGatewayNode } from "../model/node.ts";
import { type AutoscaleNode, scaleDecision } from "../policy/autoscale.ts";
import { concurrencyDecision } from "../policy/autotune.ts";
import { majorityVersion } from "../policy/gateway-phase.ts";
import { ROLLOUT_ANNOTATIONS as R, type RolloutAction, rolloutStep } from "../policy/rollout.ts";
import { type GatewayContext, gatewayNodes, report, type StepOutcome } from "./context.ts";

export const ANNOTATION_IDLE_SINCE = "ferry.dev/idle-since";
export const ANNOTATION_SCALE_IN_AT = "ferry.dev/scale-in-at";
export const ANNOTATION_CONCURRENCY_CHANGED_AT = "ferry.dev/concurrency-changed-at";
const DEFAULT_PER_NODE = 4;

/** Jobs per node when the gateway does not say: from the agent's CPU limit, else a default. */
export function defaultConcurrency(ctx: GatewayContext): number {
  const spec = ctx.gw.spec.concurrency;
  const max = spec?.maxPerNode ?? 16;
  if (spec?.perNode) return Math.min(spec.perNode, max);
  const cpu = ctx.gw.spec.agent?.resources?.limits?.cpu ?? ctx.gw.spec.agent?.resources?.requests?.cpu;
  const cores = typeof cpu === "number" ? cpu : typeof cpu === "string" ? parseCpu(cpu) : undefined;
  // Copies wait on the network and the databases most of the time: two per core keeps a core busy.
  const derived = cores ? Math.max(1, Math.floor(cores * 2)) : DEFAULT_PER_NODE;
  return Math.min(derived, max);
}

function parseCpu(text: string): number | undefined {
  const m = /^([0-9.]+)(m?)$/.exec(text);
  if (!m) return undefined;
  return m[2] === "m" ? Number(m[1]) / 1000 : Number(m[1]);
}

interface JobCounts {
  /** Jobs waiting for a slot: Pending, or Assigned to a node whose slots are all taken. */
  pending: number;
  /** Jobs Assigned to or Running on each node, the ones waiting in its queue included. */
  byNode: Map<string, number>;
  /** Jobs holding one of the node's slots: at most its limit. */
  busy: (node: string) => number;
}

/**
 * The gateway's jobs by where they are. The dispatcher gives a node up to twice as many jobs again
 * as it has slots, to start the moment a slot frees (agent/src/policy/dispatch.ts): a node's jobs beyond
 * its limit wait, as Pending ones do, and count as demand for the autoscaler and autotuner.
 * `limitOf` is each node's concurrency limit.
 */
export function jobCounts(jobs: CopyJob[], limitOf: (node: string) => number): JobCounts {
  const byNode = new Map<string, number>();
  let pending = 0;
  for (const job of jobs) {
    const phase = job.status?.phase ?? "Pending";
    if (phase === "Pending") pending++;
    else if ((phase === "Assigned" || phase === "Running") && job.status?.node) {
      byNode.set(job.status.node, (byNode.get(job.status.node) ?? 0) + 1);
    }
  }
  for (const [node, count] of byNode) pending += Math.max(0, count - limitOf(node));
  return { pending, byNode, busy: (node) => Math.min(byNode.get(node) ?? 0, limitOf(node)) };
}

/** jobCounts of the gateway, with each node's limit as the dispatcher reads it. */
export function gatewayJobCounts(ctx: GatewayContext): JobCounts {
  const base = defaultConcurrency(ctx);
  const limits = new Map(
    gatewayNodes(ctx).map((n) => [n.metadata.name, n.spec.concurrencyLimit ?? n.status?.jobs?.limit ?? base]),
  );
  return jobCounts(gatewayJobs(ctx), (node) => limits.get(node) ?? base);
}

/**
 * What the operator's cache keeps of a CopyJob: all it reads is a job's gateway, phase and node
 * (jobCounts). A gateway's thousands of finished jobs, each with its status history, checkpoint
 * and managedFields, would otherwise be most of the operator's memory.
 */
export function countedJob(job: CopyJob): CopyJob {
  return {
    apiVersion: job.apiVersion,
    kind: job.kind,
    metadata: slimMetadata(job.metadata),
    spec: { gatewayRef: job.spec.gatewayRef },
    ...(job.status ? { status: { phase: job.status.phase, node: job.status.node } } : {}),
  };
}

export function gatewayJobs(ctx: GatewayContext): CopyJob[] {
  return ctx.caches.jobs
    .list(ctx.gw.metadata.namespace)
    .filter((j) => j.spec.gatewayRef.name === ctx.gw.metadata.name);
}

async function patchNode(ctx: GatewayContext, node: GatewayNode, patch: object): Promise<void> {
  await ctx.kube.mergePatch(
    {
      apiVersion: node.apiVersion,
      kind: node.kind,
      namespace: node.metadata.namespace,
      name: node.metadata.name,
    },
    patch,
  );
}

const annotate = (values: Record<string, string | null>) => ({ metadata: { annotations: values } });

/** The version new nodes start with: the target, unless a rollout to it failed. */
function newNodeVersion(ctx: GatewayContext, nodes: GatewayNode[]): string {
  const target = ctx.gw.spec.agent?.version ?? ctx.config.defaultVersion;
  const failed = ctx.gw.metadata.annotations?.[R.failedVersion];
  if (failed === target)
    return majorityVersion(nodes.map((n) => n.metadata.annotations?.[R.agentVersion])) ?? target;
  return target;
}

async function scale(ctx: GatewayContext, managed: GatewayNode[], counts: JobCounts): Promise<StepOutcome> {
  const { gw, now } = ctx;
  const iso = now.toISOString();
  // Keep idle-since true to what the jobs say, before the autoscaler reads it.
  for (const node of managed) {
    const running = counts.byNode.get(node.metadata.name) ?? 0;
    const idleSince = node.metadata.annotations?.[ANNOTATION_IDLE_SINCE];
    if (running === 0 && !idleSince) await patchNode(ctx, node, annotate({ [ANNOTATION_IDLE_SINCE]: iso }));
    if (running > 0 && idleSince) await patchNode(ctx, node, annotate({ [ANNOTATION_IDLE_SINCE]: null }));
  }
  const limit = defaultConcurrency(ctx);
  const nodes: AutoscaleNode[] = managed.map((n) => ({
    name: n.metadata.name,
    state: n.status?.state ?? "Offline",
    runningJobs: counts.byNode.get(n.metadata.name) ?? 0,
    limit: n.spec.concurrencyLimit ?? limit,
    cordoned: n.spec.cordoned === true,
    ...(n.metadata.annotations?.[ANNOTATION_IDLE_SINCE]
      ? { idleSince: n.metadata.annotations[ANNOTATION_IDLE_SINCE] }
      : {}),
    ...(n.metadata.annotations?.[ANNOTATION_SCALE_IN_AT]
      ? { scaleInSince: n.metadata.annotations[ANNOTATION_SCALE_IN_AT] }
      : {}),
  }));
  const decision = scaleDecision({
    min: gw.spec.nodes?.min ?? 1,
    max: gw.spec.nodes?.max ?? 4,
    nodes,
    pendingJobs: counts.pending,
    quietPeriodMs: ctx.config.scaleInQuietPeriodMs,
    now,
    defaultLimit: limit,
  });
  ctx.log?.debug({ nodes, pending: counts.pending, decision }, "scale decision");
  const byName = new Map(managed.map((n) => [n.metadata.name, n]));
  for (const name of decision.uncordon) {
    await patchNode(ctx, byName.get(name)!, {
      spec: { cordoned: false },
      ...annotate({ [ANNOTATION_SCALE_IN_AT]: null }),
    });
  }
  for (const name of decision.cordon) {
    await patchNode(ctx, byName.get(name)!, {
      spec: { cordoned: true },
      ...annotate({ [ANNOTATION_SCALE_IN_AT]: iso }),
    });
  }
  for (const name of decision.scaleIn) {
    await ctx.kube.delete({
      apiVersion: "ferry.dev/v1alpha1",
      kind: "GatewayNode",
      namespace: gw.metadata.namespace,
      name,
    });
  }
  if (decision.scaleOut > 0) {
    const used = new Set(managed.map((n) => managedNodeIndex(gw.metadata.name, n.metadata.name)));
    const version = newNodeVersion(ctx, managed);
    let index = 0;
    for (let created = 0; created < decision.scaleOut; index++) {
      if (used.has(index)) continue;
      await ctx.kube.create(managedGatewayNode(gw, index, version, limit));
      created++;
    }
  }
  if (
    decision.scaleOut > 0 ||
    decision.scaleIn.length > 0 ||
    decision.cordon.length > 0 ||
    decision.uncordon.length > 0
  ) {
    await ctx.events.event(gw, "Normal", decision.reason, decision.message);
  }
  return undefined;
}

async function tune(ctx: GatewayContext, managed: GatewayNode[], counts: JobCounts): Promise<void> {
  const { gw, now } = ctx;
  const spec = gw.spec.concurrency;
  const base = defaultConcurrency(ctx);
  for (const node of managed) {
    const current = node.spec.concurrencyLimit ?? base;
    let next = current;
    let message = "";
    if (spec?.perNode) {
      next = Math.min(spec.perNode, spec.maxPerNode ?? 16);
      message = `concurrency set by spec.concurrency.perNode: ${next}`;
    } else if (spec?.autoTune !== false) {
      const r = node.status?.resources;
      const decision = concurrencyDecision({
        limit: current,
        maxPerNode: spec?.maxPerNode ?? 16,
        ...(r?.cpuPercent !== undefined ? { cpuPercent: r.cpuPercent } : {}),
        ...(r?.availableMemoryBytes !== undefined ? { availableMemoryBytes: r.availableMemoryBytes } : {}),
        runningJobs: counts.busy(node.metadata.name),
        pendingJobs: counts.pending,
        ...(node.metadata.annotations?.[ANNOTATION_CONCURRENCY_CHANGED_AT]
          ? { lastChangeAt: node.metadata.annotations[ANNOTATION_CONCURRENCY_CHANGED_AT] }
          : {}),
        now,
        cooldownMs: ctx.config.autotuneCooldownMs,
      });
      next = decision.limit;
      message = decision.message;
    }
    if (next !== current || node.spec.concurrencyLimit === undefined) {
      await patchNode(ctx, node, {
        spec: { concurrencyLimit: next },
        ...annotate({ [ANNOTATION_CONCURRENCY_CHANGED_AT]: now.toISOString() }),
      });
      if (next !== current) {
        await ctx.events.event(
          node,
          "Normal",
          next > current ? "ConcurrencyRaised" : "ConcurrencyLowered",
          `${current} → ${next}: ${message}`,
        );
      }
    }
  }
}

async function rollout(ctx: GatewayContext, managed: GatewayNode[], counts: JobCounts): Promise<StepOutcome> {
  const { gw, now } = ctx;
  const iso = now.toISOString();
  const dispatcher = ctx.caches.leases.get(gw.metadata.namespace, dispatcherLeaseName(gw.metadata.name))?.spec
    .holderIdentity;
  const a = (n: GatewayNode, key: string) => n.metadata.annotations?.[key];
  const action: RolloutAction = rolloutStep({
    targetVersion: gw.spec.agent?.version ?? ctx.config.defaultVersion,
    policy: gw.spec.update?.policy ?? "Auto",
    ...(gw.spec.update?.window ? { window: gw.spec.update.window } : {}),
    drainTimeoutSeconds: gw.spec.update?.drainTimeoutSeconds ?? 600,
    nodes: managed.map((n) => ({
      name: n.metadata.name,
      ...(n.status?.version ? { version: n.status.version } : {}),
      state: n.status?.state ?? "Offline",
      ...(n.status?.conditions?.find((c) => c.type === "Ready")?.reason
        ? { stateReason: n.status.conditions.find((c) => c.type === "Ready")!.reason }
        : {}),
      runningJobs: counts.byNode.get(n.metadata.name) ?? 0,
      cordoned: n.spec.cordoned === true,
      dispatcher: dispatcher === n.metadata.name,
      ...(a(n, R.drainStartedAt) ? { drainStartedAt: a(n, R.drainStartedAt)! } : {}),
      wasCordoned: a(n, R.wasCordoned) === "true",
      ...(a(n, R.upgradeStartedAt) ? { upgradeStartedAt: a(n, R.upgradeStartedAt)! } : {}),
      ...(a(n, R.agentVersion) ? { agentVersion: a(n, R.agentVersion)! } : {}),
      ...(a(n, R.rollbackVersion) ? { rollbackVersion: a(n, R.rollbackVersion)! } : {}),
    })),
    ...(gw.metadata.annotations?.[R.failedVersion]
      ? { failedVersion: gw.metadata.annotations[R.failedVersion] }
      : {}),
    readyTimeoutMs: ctx.config.rolloutReadyTimeoutMs,
    now,
  });
  const node = "node" in action ? managed.find((n) => n.metadata.name === action.node) : undefined;
  switch (action.action) {
    case "None":
    case "Done":
      report(ctx, "Progressing", false, action.reason, action.message);
      return undefined;
    case "UpdateAvailable":
      report(ctx, "Progressing", false, "UpdateAvailable", action.message);
      await ctx.events.event(gw, "Normal", "UpdateAvailable", action.message);
      return undefined;
    case "OutsideWindow":
      report(ctx, "Progressing", false, "OutsideWindow", action.message);
      return {
        requeueAfterMs: Math.max(1_000, action.nextWindowAt.getTime() - now.getTime()),
        reason: "OutsideWindow",
      };
    case "Cordon":
      await patchNode(ctx, node!, {
        spec: { cordoned: true },
        ...annotate({ [R.drainStartedAt]: iso, [R.wasCordoned]: String(action.wasCordoned) }),
      });
      break;
    case "Replace":
      await patchNode(
        ctx,
        node!,
        annotate({
          [R.agentVersion]: action.version,
          [R.upgradeStartedAt]: iso,
          [R.rollbackVersion]: action.rollbackVersion ?? null,
        }),
      );
      break;
    case "Uncordon":
      await patchNode(ctx, node!, {
        spec: { cordoned: action.keepCordoned },
        ...annotate({
          [R.drainStartedAt]: null,
          [R.wasCordoned]: null,
          [R.upgradeStartedAt]: null,
          [R.rollbackVersion]: null,
        }),
      });
      break;
    case "RollBack":
      await ctx.kube.mergePatch(
        {
          apiVersion: gw.apiVersion,
          kind: gw.kind,
          namespace: gw.metadata.namespace,
          name: gw.metadata.name,
        },
        annotate({ [R.failedVersion]: gw.spec.agent?.version ?? ctx.config.defaultVersion }),
      );
      await patchNode(
        ctx,
        node!,
        annotate({ [R.agentVersion]: action.version ?? null, [R.upgradeStartedAt]: iso }),
      );
      report(ctx, "Progressing", false, "RolledBack", action.message);
      await ctx.events.event(gw, "Warning", "UpdateRolledBack", action.message);
      return { requeueAfterMs: 2_000, reason: "RollingBack" };
    case "WaitForDrain":
    case "WaitForOnline":
      report(ctx, "Progressing", true, action.reason, action.message);
      return {
        requeueAfterMs: Math.min(5_000, Math.max(500, action.until.getTime() - now.getTime())),
        reason: action.reason,
      };
  }
  report(ctx, "Progressing", true, action.reason, action.message);
  await ctx.events.event(node ?? gw, "Normal", action.reason, action.message);
  return { requeueAfterMs: 1_000, reason: action.action };
}

export async function nodesStep(ctx: GatewayContext): Promise<StepOutcome> {
  const managed = gatewayNodes(ctx).filter((n) => n.spec.managed === true && !n.metadata.deletionTimestamp);
  const counts = gatewayJobCounts(ctx);
  const scaled = await scale(ctx, managed, counts);
  if (scaled) return scaled;
  await tune(ctx, managed, counts);
  return rollout(ctx, managed, counts);
}
