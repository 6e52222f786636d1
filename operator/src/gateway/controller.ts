/**
 * The LogicalGateway controller. One reconcile is a flat list of named steps; each either lets
 * the next one run or stops with "come back in N ms" (waiting is a requeue, never a sleep). The
 * status step runs whatever happened, so `kubectl get lgw` always tells the truth so far.
 */
import type { Kube } from "@ferry/common";
import type { Gauge, ReconcileResult } from "@ferry/common/runtime";
import { splitKey } from "@ferry/common/runtime";
import type { Logger } from "pino";
import type { Caches, Events, GatewayContext, OperatorConfig, StepOutcome } from "./context.ts";
import { credentialKeyStep } from "./credential-key-step.ts";
import { nodesStep } from "./nodes-step.ts";
import { registrationStep } from "./registration-step.ts";
import { statusStep } from "./status-step.ts";
import { tlsStep } from "./tls-step.ts";

export interface GatewayDeps {
  kube: Kube;
  /** Nodes by state and jobs by phase, per gateway, as of its last reconcile. */
  gauges?: { nodes: Gauge; jobs: Gauge };
  caches: Caches;
  events: Events;
  config: OperatorConfig;
  clock: () => Date;
}

const STEPS: [string, (ctx: GatewayContext) => Promise<StepOutcome>][] = [
  ["registration", registrationStep],
  ["credential-key", credentialKeyStep],
  ["nodes", nodesStep],
  ["tls", tlsStep],
];

/** How often a settled gateway is looked at again: node states and job counts change with time. */
const SETTLED_REQUEUE_MS = 10_000;

export function gatewayController(deps: GatewayDeps) {
  /** When this process last wrote each gateway's status (by key): job counts wait on it. */
  const statusWrites = new Map<string, number>();
  return {
    name: "gateway",
    async reconcile(key: string, context?: { log: Logger }): Promise<ReconcileResult> {
      const { namespace, name } = splitKey(key);
      const gw = deps.caches.gateways.get(namespace, name);
      if (!gw || gw.metadata.deletionTimestamp) {
        statusWrites.delete(key);
        return undefined;
      }
      const ctx: GatewayContext = {
        gw,
        kube: deps.kube,
        caches: deps.caches,
        events: deps.events,
        log: context?.log ?? (undefined as unknown as Logger),
        config: deps.config,
        now: deps.clock(),
        conditions: [],
      };
      let outcome: StepOutcome;
      let deferredMs: number | undefined;
      try {
        for (const [step, run] of STEPS) {
          outcome = await run(ctx);
          if (outcome) {
            ctx.log?.debug({ step, ...outcome }, "step waits");
            break;
          }
        }
      } finally {
        const written = await statusStep(ctx, statusWrites.get(key));
        if (written.writtenAtMs !== undefined) statusWrites.set(key, written.writtenAtMs);
        deferredMs = written.deferredMs;
        const status = written.status;
        if (deps.gauges) {
          const labels = { namespace: namespace ?? "", gateway: name };
          const n = status.nodes ?? {};
          for (const [state, count] of Object.entries({
            Online: n.online,
            Limited: n.limited,
            Offline: n.offline,
            Upgrading: n.upgrading,
            Inactive: n.inactive,
          })) {
            deps.gauges.nodes.set({ ...labels, state }, count ?? 0);
          }
          deps.gauges.jobs.set({ ...labels, phase: "Pending" }, status.jobs?.pending ?? 0);
          deps.gauges.jobs.set({ ...labels, phase: "Running" }, status.jobs?.running ?? 0);
        }
      }
      const after = outcome ? outcome.requeueAfterMs : SETTLED_REQUEUE_MS;
      return { requeueAfterMs: Math.min(after, deferredMs ?? after) };
    },
  };
}
