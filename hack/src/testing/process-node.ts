import { PROCESS_NODE_LABEL } from "../cluster/cluster.ts";

/**
 * Scheduling that puts a pod on the test cluster's process node (hack/src/kubelet), where it runs
 * as a real process, instead of a kwok node, where it only looks Running.
 */
export const onProcessNode = {
  nodeSelector: { [PROCESS_NODE_LABEL]: "true" },
  tolerations: [{ key: PROCESS_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
} as const;
