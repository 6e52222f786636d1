/**
 * The agent's names: the ones it shares with the operator come from @ferry/common (declared once,
 * docs/architecture.md "Names"); these are the agent's own.
 */
import type { ObjectRef } from "@ferry/common";

export {
  credentialKeySecretName,
  dispatcherLeaseName,
  ferryLabels as leaseLabels,
  LABEL_COMPONENT,
  LABEL_GATEWAY,
  LABEL_NODE,
  LABEL_PART_OF,
  nodeLeaseName,
} from "@ferry/common";

export const API_VERSION = "ferry.dev/v1alpha1";
export const LEASE_API = "coordination.k8s.io/v1";
export const FIELD_MANAGER = "ferry-agent";

/** On the node Lease: the process that holds it (see registration.ts). */
export const ANNOTATION_INSTANCE = "ferry.dev/instance-id";
/** On a node Lease: the node is stopping, so the dispatcher gives it nothing more. */
export const ANNOTATION_DRAINING = "ferry.dev/draining";

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
