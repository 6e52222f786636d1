/**
 * The GatewayNode controller: runs the pod of a managed node and writes the node's state.
 *
 * Steps, in order: read the node and its gateway; keep the managed node's pod (create it, replace
 * it when its version changed or when it is out of date and the node is cordoned and drained,
 * recreate it when it ended); compute the state from the heartbeat Lease, the pod and the agent's
 * reports (policy/node-state.ts) and write it; age out long-offline external nodes.
 *
 * The pod is replaced only when the rollout (gateway controller) allows it: a new version reaches
 * a node through its `ferry.dev/agent-version` annotation, other spec changes wait until the node
 * has been cordoned and drained, so one edit of the gateway never restarts every node at once.
 */
import { type Kube, type Pod, podIsReady } from "@ferry/common";
import type { ReconcileResult } from "@ferry/common/runtime";
import { applyStatus, setCondition, splitKey } from "@ferry/common/runtime";
import type { Condition, GatewayNode, LogicalGateway } from "@ferry/crds";
import type { Logger } from "pino";
import type { Caches, Events, OperatorConfig } from "../gateway/context.ts";
import { ANNOTATION_AGENT_VERSION, nodeLeaseName } from "../model/names.ts";
import { ANNOTATION_POD_HASH, agentPod, LABEL_VERSION, nodeAgentVersion } from "../model/pod.ts";
import { shouldRemoveExternalNode } from "../policy/external-node.ts";
import { majorityVersion } from "../policy/gateway-phase.ts";
import { nodeState } from "../policy/node-state.ts";

export const FIELD_MANAGER = "ferry-operator/node";
export const ANNOTATION_UPGRADE_STARTED = "ferry.dev/upgrade-started-at";

export type NodeCaches = Pick<Caches, "gateways" | "nodes" | "pods" | "leases">;

export interface NodeDeps {
  kube: Kube;
  caches: NodeCaches;
  events: Events;
  config: OperatorConfig;
  clock: () => Date;
}

const conditionTrue = (node: GatewayNode, type: string): boolean | undefined => {
  const c = node.status?.conditions?.find((x) => x.type === type);
  return c === undefined || c.status === "Unknown" ? undefined : c.status === "True";
};

/** Replaces the managed node's pod when the rollout allows it; returns the pod in force. */
async function syncPod(
  deps: NodeDeps,
  gw: LogicalGateway,
  node: GatewayNode,
  log: Logger,
): Promise<Pod | undefined> {
  const { kube, caches, config } = deps;
  const namespace = node.metadata.namespace;
  const desired = agentPod(gw, node, config);
  const existing = caches.pods.get(namespace, node.metadata.name);
  if (!existing) {
    const created = await kube.apply(desired, FIELD_MANAGER);
    await deps.events.event(
      node,
      "Normal",
      "PodCreated",
      `pod ${desired.metadata.name} created running ${desired.spec.containers[0]?.image}`,
    );
    return created;
  }
  if (existing.metadata.deletionTimestamp) return existing;
  const versionChanged = existing.metadata.labels?.[LABEL_VERSION] !== nodeAgentVersion(gw, node, config);
  const outdated =
    existing.metadata.annotations?.[ANNOTATION_POD_HASH] !==
    desired.metadata.annotations?.[ANNOTATION_POD_HASH];
  const drained = node.spec.cordoned === true && (node.status?.jobs?.running ?? 0) === 0;
  const ended = existing.status?.phase === "Failed" || existing.status?.phase === "Succeeded";
  if (versionChanged || (outdated && drained) || ended) {
    const why = ended
      ? `it ended (${existing.status?.phase})`
      : versionChanged
        ? `the node moves to version ${nodeAgentVersion(gw, node, config)}`
        : "its spec changed and the node is drained";
    log.info({ pod: existing.metadata.name, why }, "replacing pod");
    await kube.delete({ apiVersion: "v1", kind: "Pod", namespace, name: existing.metadata.name });
    await deps.events.event(node, "Normal", "PodReplaced", `pod ${existing.metadata.name} replaced: ${why}`);
  }
  return existing;
}

function nodeConditions(
  node: GatewayNode,
  ok: boolean,
  reason: string,
  message: string,
  now: Date,
): Condition[] {
  const generation = node.metadata.generation ?? 0;
  return setCondition(
    node.status?.conditions?.filter((c) => c.type === "Ready") ?? [],
    { type: "Ready", status: ok ? "True" : "False", reason, message, observedGeneration: generation },
    now,
  );
}

export function nodeController(deps: NodeDeps) {
  return {
    name: "node",
    async reconcile(key: string, context?: { log: Logger }): Promise<ReconcileResult> {
      const { namespace, name } = splitKey(key);
      const node = deps.caches.nodes.get(namespace, name);
      if (!node || node.metadata.deletionTimestamp) return undefined;
      const log = context?.log ?? (undefined as unknown as Logger);
      const now = deps.clock();
      const gw = deps.caches.gateways.get(namespace, node.spec.gatewayRef.name);
      const managed = node.spec.managed === true;
      const peers = deps.caches.nodes
        .list(namespace)
        .filter((n) => n.spec.gatewayRef.name === node.spec.gatewayRef.name);
      const majority = majorityVersion(peers.map((n) => n.status?.version));

      let pod: Pod | undefined;
      if (managed && gw) pod = await syncPod(deps, gw, node, log);
      const lease = deps.caches.leases.get(namespace, nodeLeaseName(name));
      const upgradeStarted = node.metadata.annotations?.[ANNOTATION_UPGRADE_STARTED];
      const decision = gw
        ? nodeState(
            {
              managed,
              ...(lease
                ? {
                    lease: {
                      renewTime: lease.spec.renewTime ?? undefined,
                      leaseDurationSeconds: lease.spec.leaseDurationSeconds,
                      holderIdentity: lease.spec.holderIdentity,
                    },
                  }
                : {}),
              ...(pod
                ? {
                    pod: {
                      phase: pod.status?.phase ?? "Pending",
                      ready: podIsReady(pod),
                      deleting: Boolean(pod.metadata.deletionTimestamp),
                    },
                  }
                : {}),
              upgrading: upgradeStarted !== undefined,
              upgradeTargetVersion: node.metadata.annotations?.[ANNOTATION_AGENT_VERSION],
              version: node.status?.version,
              majorityVersion: majority,
              credentialKeyLoaded: conditionTrue(node, "CredentialKeyLoaded"),
              peersReachable: conditionTrue(node, "PeersReachable"),
              configMatchesMajority: true,
            },
            now,
          )
        : {
            state: "Inactive" as const,
            reason: "GatewayNotFound",
            message: `LogicalGateway ${node.spec.gatewayRef.name} does not exist`,
          };

      const previous = node.status?.state;
      await applyStatus(
        deps.kube,
        { apiVersion: node.apiVersion, kind: node.kind, namespace, name },
        FIELD_MANAGER,
        {
          state: decision.state,
          observedGeneration: node.metadata.generation ?? 0,
          conditions: nodeConditions(
            node,
            decision.state === "Online",
            decision.reason || "Online",
            decision.message || "the node is online",
            now,
          ),
        },
        { current: node, now },
      );
      if (previous !== decision.state) {
        const type = decision.state === "Online" ? "Normal" : "Warning";
        await deps.events.event(
          node,
          type,
          `Node${decision.state}`,
          decision.message || `node is ${decision.state}`,
        );
      }

      if (!managed && gw) {
        const removal = shouldRemoveExternalNode({
          lastHeartbeat: lease?.spec.renewTime ?? node.status?.lastHeartbeatTime,
          createdAt: node.metadata.creationTimestamp,
          offlineAfterMs: deps.config.externalNodeOfflineMs,
          now,
        });
        if (removal.remove) {
          await deps.kube.delete({ apiVersion: node.apiVersion, kind: node.kind, namespace, name });
          await deps.events.event(
            gw,
            "Normal",
            "ExternalNodeRemoved",
            `external node ${name} removed: ${removal.message}`,
          );
          return undefined;
        }
      }
      // State depends on time (a lease expires with no event): look again soon.
      return { requeueAfterMs: 5_000 };
    },
  };
}
