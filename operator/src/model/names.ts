/**
 * Names and labels of everything the operator creates for a gateway (docs/architecture.md). Pure
 * and deterministic: a reconcile that runs twice, or on another replica, names the same objects.
 */
import { createHash } from "node:crypto";
import { type Component, ferryLabels, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME } from "@ferry/common";

// The names both sides use are declared once in @ferry/common; the operator's modules keep
// importing them from here with the operator-only ones.
export {
  credentialKeySecretName,
  dispatcherLeaseName,
  LABEL_COMPONENT,
  LABEL_GATEWAY,
  LABEL_NODE,
  LABEL_PART_OF,
  nodeLeaseName,
  nodeTlsSecretName,
  registrationSecretName,
} from "@ferry/common";
export type { Component };

export const agentServiceAccountName = (gateway: string) => `${gateway}-agent`;
export const agentRoleName = (gateway: string) => `${gateway}-agent`;
export const caSecretName = (gateway: string) => `${gateway}-ca`;
export const managedNodeName = (gateway: string, index: number) => `${gateway}-${index}`;

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

/** The shared labels, plus those that say the operator made the object. */
export function labels(gateway: string, component: Component, node?: string): Record<string, string> {
  return {
    ...ferryLabels(gateway, component, node),
    [LABEL_MANAGED_BY]: "ferry-operator",
    [LABEL_NAME]: "ferry",
    [LABEL_INSTANCE]: gateway,
  };
}

/** Annotations the operator keeps on GatewayNodes between reconciles. */
export const ANNOTATION_AGENT_VERSION = "ferry.dev/agent-version";
