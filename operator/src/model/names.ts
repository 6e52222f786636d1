/**
 * Names and labels of everything the operator creates for a gateway (docs/architecture.md). Pure
 * and deterministic: a reconcile that runs twice, or on another replica, names the same objects.
 */
import { createHash } from "node:crypto";

export const agentServiceAccountName = (gateway: string) => `${gateway}-agent`;
export const agentRoleName = (gateway: string) => `${gateway}-agent`;
export const registrationSecretName = (gateway: string) => `${gateway}-registration`;
export const credentialKeySecretName = (gateway: string) => `${gateway}-credential-key`;
export const caSecretName = (gateway: string) => `${gateway}-ca`;
export const nodeTlsSecretName = (node: string) => `${node}-tls`;
export const managedNodeName = (gateway: string, index: number) => `${gateway}-${index}`;
export const nodeLeaseName = (node: string) => `ferry-node-${node}`;
export const dispatcherLeaseName = (gateway: string) => `ferry-dispatcher-${gateway}`;

/** The rotation named by `spec.registration.rotation`; absent means the first one. */
export function rotationOf(rotation: string | undefined): string {
  return rotation ?? "initial";
}

/** Token Secrets are named by a short digest of the rotation: any string rotates, names stay valid. */
export function tokenSecretName(gateway: string, rotation: string): string {
  const digest = createHash("sha256").update(rotation).digest("hex").slice(0, 10);
  return `${gateway}-agent-token-${digest}`;
}

/** The index of a managed node from its name, or undefined for a name the operator did not give. */
export function managedNodeIndex(gateway: string, node: string): number | undefined {
  const prefix = `${gateway}-`;
  if (!node.startsWith(prefix)) return undefined;
  const rest = node.slice(prefix.length);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

export const LABEL_PART_OF = "app.kubernetes.io/part-of";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_COMPONENT = "app.kubernetes.io/component";
export const LABEL_NAME = "app.kubernetes.io/name";
export const LABEL_INSTANCE = "app.kubernetes.io/instance";
export const LABEL_GATEWAY = "ferry.dev/gateway";
export const LABEL_NODE = "ferry.dev/node";

export type Component =
  | "agent"
  | "registration"
  | "credential-key"
  | "tls"
  | "node-lease"
  | "dispatcher-lease"
  | "node";

export function labels(gateway: string, component: Component, node?: string): Record<string, string> {
  return {
    [LABEL_PART_OF]: "ferry",
    [LABEL_MANAGED_BY]: "ferry-operator",
    [LABEL_NAME]: "ferry",
    [LABEL_INSTANCE]: gateway,
    [LABEL_COMPONENT]: component,
    [LABEL_GATEWAY]: gateway,
    ...(node ? { [LABEL_NODE]: node } : {}),
  };
}

/** Annotations the operator keeps on GatewayNodes between reconciles. */
export const ANNOTATION_AGENT_VERSION = "ferry.dev/agent-version";
