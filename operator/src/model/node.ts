import type { GatewayNode, LogicalGateway } from "@ferry/crds";
import { ANNOTATION_AGENT_VERSION, labels, managedNodeName } from "./names.ts";
import { controllerRef } from "./owner.ts";

/**
 * A managed node: owned by its gateway (deleting the gateway removes its nodes and, through them,
 * their pods). The agent version it should run is an annotation, not the gateway's version,
 * because a rolling update moves nodes to a new version one at a time.
 */
export function managedGatewayNode(
  gw: LogicalGateway,
  index: number,
  agentVersion: string,
  concurrencyLimit: number,
): GatewayNode {
  const name = managedNodeName(gw.metadata.name, index);
  return {
    apiVersion: "ferry.dev/v1alpha1",
    kind: "GatewayNode",
    metadata: {
      name,
      namespace: gw.metadata.namespace,
      labels: labels(gw.metadata.name, "node", name),
      annotations: { [ANNOTATION_AGENT_VERSION]: agentVersion },
      ownerReferences: [controllerRef(gw)],
    },
    spec: { gatewayRef: { name: gw.metadata.name }, managed: true, concurrencyLimit },
  };
}
