/**
 * The identity of a gateway's agents: a ServiceAccount, a Role of least privilege bound to it, a
 * token Secret per registration-key rotation, and the registration Secret holding the key.
 * docs/architecture.md has the contract; these builders are its one implementation.
 */
import {
  encodeRegistrationKey,
  type PolicyRule,
  type Role,
  type RoleBinding,
  type Secret,
  type ServiceAccount,
} from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import {
  agentRoleName,
  agentServiceAccountName,
  labels,
  registrationSecretName,
  tokenSecretName,
} from "./names.ts";
import { controllerRef } from "./owner.ts";

export function agentServiceAccount(gw: LogicalGateway): ServiceAccount {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: {
      name: agentServiceAccountName(gw.metadata.name),
      namespace: gw.metadata.namespace,
      labels: labels(gw.metadata.name, "agent"),
      ownerReferences: [controllerRef(gw)],
    },
  };
}

const FERRY = "ferry.dev";
const READ = ["get", "list", "watch"];

/**
 * What a node of this gateway may do, and nothing more. Secrets are readable only by name: the
 * gateway's own (credential key, CA bundle, node certificates) and those its DataStores name.
 */
export function agentRole(gw: LogicalGateway, readableSecrets: string[]): Role {
  const rules: PolicyRule[] = [
    { apiGroups: [FERRY], resources: ["copyjobs"], verbs: [...READ, "update", "patch"] },
    { apiGroups: [FERRY], resources: ["copyjobs/status"], verbs: ["get", "update", "patch"] },
    { apiGroups: [FERRY], resources: ["datastores"], verbs: READ },
    { apiGroups: [FERRY], resources: ["datastores/status"], verbs: ["get", "update", "patch"] },
    { apiGroups: [FERRY], resources: ["gatewaynodes"], verbs: [...READ, "create", "update", "patch"] },
    { apiGroups: [FERRY], resources: ["gatewaynodes/status"], verbs: ["get", "update", "patch"] },
    { apiGroups: [FERRY], resources: ["logicalgateways"], verbs: READ },
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      verbs: [...READ, "create", "update", "patch", "delete"],
    },
    { apiGroups: ["", "events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
  ];
  const secrets = [...new Set(readableSecrets)].sort();
  if (secrets.length > 0)
    rules.push({ apiGroups: [""], resources: ["secrets"], verbs: ["get"], resourceNames: secrets });
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: {
      name: agentRoleName(gw.metadata.name),
      namespace: gw.metadata.namespace,
      labels: labels(gw.metadata.name, "agent"),
      ownerReferences: [controllerRef(gw)],
    },
    rules,
  };
}

export function agentRoleBinding(gw: LogicalGateway): RoleBinding {
  const name = agentRoleName(gw.metadata.name);
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: {
      name,
      namespace: gw.metadata.namespace,
      labels: labels(gw.metadata.name, "agent"),
      ownerReferences: [controllerRef(gw)],
    },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: [
      {
        kind: "ServiceAccount",
        name: agentServiceAccountName(gw.metadata.name),
        namespace: gw.metadata.namespace,
      },
    ],
  };
}

export const ANNOTATION_ROTATION = "ferry.dev/rotation";
export const SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name";

/**
 * A long-lived token Secret for one rotation. The controller-manager fills `data.token`; deleting
 * the Secret revokes the token at once (the API server looks the Secret up on every request).
 */
export function tokenSecret(gw: LogicalGateway, rotation: string): Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: tokenSecretName(gw.metadata.name, rotation),
      namespace: gw.metadata.namespace,
      labels: labels(gw.metadata.name, "registration"),
      annotations: {
        [SERVICE_ACCOUNT_NAME_ANNOTATION]: agentServiceAccountName(gw.metadata.name),
        [ANNOTATION_ROTATION]: rotation,
      },
      ownerReferences: [controllerRef(gw)],
    },
    type: "kubernetes.io/service-account-token",
  };
}

export interface RegistrationInputs {
  server: string;
  caPem: string;
  token: string;
  rotation: string;
}

const b64 = (text: string) => Buffer.from(text).toString("base64");

export function registrationSecret(gw: LogicalGateway, inputs: RegistrationInputs): Secret {
  const key = encodeRegistrationKey({
    v: 1,
    server: inputs.server,
    ca: inputs.caPem,
    token: inputs.token,
    namespace: gw.metadata.namespace ?? "default",
    gateway: gw.metadata.name,
  });
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: registrationSecretName(gw.metadata.name),
      namespace: gw.metadata.namespace,
      labels: labels(gw.metadata.name, "registration"),
      annotations: { [ANNOTATION_ROTATION]: inputs.rotation },
      ownerReferences: [controllerRef(gw)],
    },
    type: "Opaque",
    // `data`, not `stringData`: stringData is write-only, so server-side apply would see a change
    // on every reconcile.
    data: { key: b64(key), rotation: b64(inputs.rotation) },
  };
}
