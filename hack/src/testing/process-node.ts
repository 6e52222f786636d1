import type { AgentSpec } from "@ferry/crds";
import { PROCESS_NODE_LABEL } from "../cluster/cluster.ts";

/**
 * Scheduling that puts a pod on the test cluster's process node (hack/src/kubelet), where it runs
 * as a real process, instead of a kwok node, where it only looks Running.
 */
export const onProcessNode = {
  nodeSelector: { [PROCESS_NODE_LABEL]: "true" },
  tolerations: [{ key: PROCESS_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
} as const;

/** Puts a gateway's agent pods on the process node, where they run as real agent processes. */
export function agentsOnProcessNode(): Pick<AgentSpec, "nodeSelector" | "tolerations"> {
  return {
    nodeSelector: { ...onProcessNode.nodeSelector },
    tolerations: onProcessNode.tolerations.map((t) => ({ ...t })),
  };
}

/** Agent timings short enough for tests (their defaults suit production: 15 s leases). */
export const FAST_AGENT_ENV = [
  { name: "FERRY_LEASE_SECONDS", value: "4" },
  { name: "FERRY_RENEW_SECONDS", value: "1" },
  { name: "FERRY_DISPATCHER_LEASE_SECONDS", value: "4" },
  { name: "FERRY_STATUS_SECONDS", value: "1" },
  { name: "FERRY_DRAIN_SECONDS", value: "2" },
];
