/**
 * The names and labels operator and agent share (docs/architecture.md, "Names"): declared once,
 * here, so the two sides cannot drift. What only one side names lives with that side.
 */

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

/** The labels every Ferry object carries; the operator's informers select on part-of. */
export function ferryLabels(gateway: string, component: Component, node?: string): Record<string, string> {
  return {
    [LABEL_PART_OF]: "ferry",
    [LABEL_COMPONENT]: component,
    [LABEL_GATEWAY]: gateway,
    ...(node ? { [LABEL_NODE]: node } : {}),
  };
}

export const nodeLeaseName = (node: string) => `ferry-node-${node}`;
export const dispatcherLeaseName = (gateway: string) => `ferry-dispatcher-${gateway}`;
export const credentialKeySecretName = (gateway: string) => `${gateway}-credential-key`;
export const nodeTlsSecretName = (node: string) => `${node}-tls`;
export const registrationSecretName = (gateway: string) => `${gateway}-registration`;
