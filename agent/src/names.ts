/**
 * The names and labels the agent shares with the operator (docs/architecture.md, "Names"). They are
 * declared again here rather than imported from the operator: the agent must not depend on it.
 */
import type { ObjectRef } from "@ferry/common";

export const API_VERSION = "ferry.dev/v1alpha1";
export const LEASE_API = "coordination.k8s.io/v1";
export const FIELD_MANAGER = "ferry-agent";

export const LABEL_PART_OF = "app.kubernetes.io/part-of";
export const LABEL_COMPONENT = "app.kubernetes.io/component";
export const LABEL_GATEWAY = "ferry.dev/gateway";
export const LABEL_NODE = "ferry.dev/node";
/** On the node Lease: the process that holds it (see registration.ts). */
export const ANNOTATION_INSTANCE = "ferry.dev/instance-id";

export const nodeLeaseName = (node: string) => `ferry-node-${node}`;
export const dispatcherLeaseName = (gateway: string) => `ferry-dispatcher-${gateway}`;
export const credentialKeySecretName = (gateway: string) => `${gateway}-credential-key`;

export function leaseLabels(gateway: string, component: string, node?: string): Record<string, string> {
  return {
    [LABEL_PART_OF]: "ferry",
    [LABEL_COMPONENT]: component,
    [LABEL_GATEWAY]: gateway,
    ...(node ? { [LABEL_NODE]: node } : {}),
  };
}

export const nodeRef = (namespace: string, name: string): ObjectRef => ({
  apiVersion: API_VERSION,
  kind: "GatewayNode",
  namespace,
  name,
});
export const jobRef = (namespace: string, name: string): ObjectRef => ({
  apiVersion: API_VERSION,
  kind: "CopyJob",
  namespace,
  name,
});
export const dataStoreRef = (namespace: string, name: string): ObjectRef => ({
  apiVersion: API_VERSION,
  kind: "DataStore",
  namespace,
  name,
});
export const leaseRef = (namespace: string, name: string): ObjectRef => ({
  apiVersion: LEASE_API,
  kind: "Lease",
  namespace,
  name,
});
