/**
 * Step (always last): the gateway's status, aggregated from its nodes, its dispatcher Lease and its
 * jobs, plus the conditions the earlier steps reported. Written through the one status writer, so
 * an unchanged status costs no write and a condition keeps its lastTransitionTime until it flips.
 *
 * The job counts change with every job a busy gateway starts or ends, and every status write goes
 * to each agent's watch. A change of the counts alone is therefore written at most once per
 * JOB_COUNTS_INTERVAL_MS (the reconcile comes back for it); any other change is written at once.
 */

import { applyStatus, type ManagedFieldsEntry, setCondition, statusApplyIsNoop } from "@ferry/common/runtime";
import type { Condition, LogicalGateway, LogicalGatewayStatus, NodeState } from "@ferry/crds";
import { dispatcherLeaseName, registrationSecretName } from "../model/names.ts";
import { gatewayPhase, majorityVersion } from "../policy/gateway-phase.ts";
import { FIELD_MANAGER, type GatewayContext, gatewayNodes } from "./context.ts";
import { defaultConcurrency, gatewayJobCounts } from "./nodes-step.ts";

function liveHolder(ctx: GatewayContext): string | undefined {
  const lease = ctx.caches.leases.get(ctx.gw.metadata.namespace, dispatcherLeaseName(ctx.gw.metadata.name));
  const holder = lease?.spec.holderIdentity;
  const renewed = lease?.spec.renewTime ? Date.parse(lease.spec.renewTime) : Number.NaN;
  const duration = (lease?.spec.leaseDurationSeconds ?? 15) * 1000;
  return holder && renewed + duration > ctx.now.getTime() ? holder : undefined;
}

export function gatewayStatus(ctx: GatewayContext): LogicalGatewayStatus {
  const { gw } = ctx;
  const nodes = gatewayNodes(ctx);
  const states = nodes.map((n): NodeState => n.status?.state ?? "Offline");
  const count = (s: NodeState) => states.filter((x) => x === s).length;
  const phase = gatewayPhase(states);
  const counts = gatewayJobCounts(ctx);
  const base = defaultConcurrency(ctx);
  const serving = nodes.filter(
    (n) => (n.status?.state === "Online" || n.status?.state === "Limited") && !n.spec.cordoned,
  );
  const version = majorityVersion(nodes.map((n) => n.status?.version));
  const dispatcher = liveHolder(ctx);

  const reported = [
    ...ctx.conditions,
    {
      type: "Ready",
      status: phase.phase === "Online" ? "True" : "False",
      reason: phase.reason,
      message: phase.message,
      observedGeneration: gw.metadata.generation ?? 0,
    } as const,
  ];
  let conditions: Condition[] = gw.status?.conditions ?? [];
  for (const c of reported) conditions = setCondition(conditions, c, ctx.now);
  conditions = conditions.filter((c) => reported.some((r) => r.type === c.type));

  return {
    phase: phase.phase,
    ...(version ? { version } : {}),
    nodes: {
      desired: nodes.filter((n) => n.spec.managed).length,
      // The API's "accepting jobs": Online or Limited (degraded, still dispatched to), not cordoned.
      ready: serving.length,
      online: count("Online"),
      limited: count("Limited"),
      offline: count("Offline"),
      upgrading: count("Upgrading"),
      inactive: count("Inactive"),
    },
    ...(dispatcher ? { dispatcher } : {}),
    jobs: {
      running: [...counts.byNode.keys()].reduce((sum, node) => sum + counts.busy(node), 0),
      limit: serving.reduce((sum, n) => sum + (n.spec.concurrencyLimit ?? base), 0),
      pending: counts.pending,
    },
    ...(ctx.publicKey ? { publicKey: ctx.publicKey } : {}),
    registrationSecretName: registrationSecretName(gw.metadata.name),
    observedGeneration: gw.metadata.generation ?? 0,
    conditions,
  };
}

/** The least time between two status writes that change only the job counts. */
export const JOB_COUNTS_INTERVAL_MS = 1000;

export interface StatusOutcome {
  /** The status as computed now (written, or due within `deferredMs`). */
  status: LogicalGatewayStatus;
  /** Set when only the job counts changed and were left for a reconcile this much later. */
  deferredMs?: number;
  /** Set when this call wrote the status: when (the reconcile's clock), for the next call. */
  writtenAtMs?: number;
}

/**
 * Writes the status unless only its job counts changed less than JOB_COUNTS_INTERVAL_MS after
 * `lastWriteMs` (this process's last write of it).
 */
export async function statusStep(
  ctx: GatewayContext,
  lastWriteMs: number | undefined,
): Promise<StatusOutcome> {
  const { gw } = ctx;
  const status = gatewayStatus(ctx);
  const stored = gw as LogicalGateway & { metadata: { managedFields?: ManagedFieldsEntry[] } };
  const sinceWrite = lastWriteMs === undefined ? Number.POSITIVE_INFINITY : ctx.now.getTime() - lastWriteMs;
  if (
    gw.status &&
    sinceWrite < JOB_COUNTS_INTERVAL_MS &&
    statusApplyIsNoop(stored, FIELD_MANAGER, { ...status, jobs: gw.status.jobs })
  ) {
    if (statusApplyIsNoop(stored, FIELD_MANAGER, status)) return { status };
    return { status, deferredMs: JOB_COUNTS_INTERVAL_MS - sinceWrite };
  }
  const write = await applyStatus(
    ctx.kube,
    { apiVersion: gw.apiVersion, kind: gw.kind, namespace: gw.metadata.namespace, name: gw.metadata.name },
    FIELD_MANAGER,
    status,
    { current: gw, now: ctx.now },
  );
  if (gw.status?.phase !== status.phase) {
    const ready = status.conditions?.find((c) => c.type === "Ready");
    await ctx.events.event(
      gw,
      status.phase === "Online" ? "Normal" : "Warning",
      `Gateway${status.phase}`,
      ready?.message ?? "",
    );
  }
  return write.written ? { status, writtenAtMs: ctx.now.getTime() } : { status };
}
