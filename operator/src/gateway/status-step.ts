/**
 * Step (always last): the gateway's status, aggregated from its nodes, its dispatcher Lease and its
 * jobs, plus the conditions the earlier steps reported. Written through the one status writer, so
 * an unchanged status costs no write and a condition keeps its lastTransitionTime until it flips.
 */

import { applyStatus, setCondition } from "@ferry/common/runtime";
import type { Condition, LogicalGatewayStatus, NodeState } from "@ferry/crds";
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
      ready: count("Online"),
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

export async function statusStep(ctx: GatewayContext): Promise<LogicalGatewayStatus> {
  const { gw } = ctx;
  const status = gatewayStatus(ctx);
  await applyStatus(
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
  return status;
}
