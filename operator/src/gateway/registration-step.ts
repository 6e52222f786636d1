/**
 * Step: the gateway's agent identity and registration key.
 *
 * Rotation (a new `spec.registration.rotation`) is ordered so that there is always a usable key:
 * create the new token Secret, wait for the controller-manager to fill it, rewrite the
 * registration Secret, and only then delete older token Secrets. Deleting a token Secret revokes
 * its token at once, because the API server checks that a legacy token's Secret still exists.
 */
import type { KubeObject } from "@ferry/common";
import { applyUnlessUnchanged } from "@ferry/common/runtime";
import {
  credentialKeySecretName,
  LABEL_COMPONENT,
  LABEL_GATEWAY,
  labels,
  nodeTlsSecretName,
  registrationSecretName,
  rotationOf,
  tokenSecretName,
} from "../model/names.ts";
import {
  ANNOTATION_ROTATION,
  agentRole,
  agentRoleBinding,
  agentServiceAccount,
  registrationSecret,
  tokenSecret,
} from "../model/registration.ts";
import {
  type Cache,
  decode,
  FIELD_MANAGER,
  type GatewayContext,
  gatewayNodes,
  report,
  type StepOutcome,
} from "./context.ts";

/** Secrets the gateway's agents may read by name: its own and those its DataStores reference. */
export function readableSecrets(ctx: GatewayContext): string[] {
  const gw = ctx.gw;
  const names = [gw.spec.credentialKey?.secretRef.name ?? credentialKeySecretName(gw.metadata.name)];
  for (const node of gatewayNodes(ctx)) names.push(nodeTlsSecretName(node.metadata.name));
  for (const store of ctx.caches.dataStores.list(gw.metadata.namespace)) {
    if (store.spec.gatewayRef.name !== gw.metadata.name) continue;
    const ref = store.spec.credentials?.secretRef?.name;
    if (ref) names.push(ref);
  }
  const proxySecret = gw.spec.proxy?.credentialsSecretRef?.name;
  if (proxySecret) names.push(proxySecret);
  return names;
}

export async function registrationStep(ctx: GatewayContext): Promise<StepOutcome> {
  const { gw, kube } = ctx;
  const namespace = gw.metadata.namespace;
  // Applied only when the watched copy differs: a gateway is reconciled often (jobs, nodes, Leases).
  const keep = <T extends KubeObject>(desired: T, cache: Cache<T>) =>
    applyUnlessUnchanged(kube, desired, FIELD_MANAGER, cache.get(namespace, desired.metadata.name));
  await keep(agentServiceAccount(gw), ctx.caches.serviceAccounts);
  await keep(agentRole(gw, readableSecrets(ctx)), ctx.caches.roles);
  await keep(agentRoleBinding(gw), ctx.caches.roleBindings);

  const rotation = rotationOf(gw.spec.registration?.rotation);
  const tokenName = tokenSecretName(gw.metadata.name, rotation);
  let token = ctx.caches.secrets.get(namespace, tokenName);
  if (!token) {
    token = await kube.apply(tokenSecret(gw, rotation), FIELD_MANAGER);
  }
  const tokenValue = decode(token.data?.token);
  const caPem = decode(token.data?.["ca.crt"]);
  if (!tokenValue || !caPem) {
    report(
      ctx,
      "RegistrationReady",
      false,
      "WaitingForToken",
      `waiting for the controller-manager to fill Secret ${tokenName}`,
    );
    return { requeueAfterMs: 500, reason: "WaitingForToken" };
  }

  const current = ctx.caches.secrets.get(namespace, registrationSecretName(gw.metadata.name));
  const rotated = current !== undefined && current.metadata.annotations?.[ANNOTATION_ROTATION] !== rotation;
  await applyUnlessUnchanged(
    kube,
    registrationSecret(gw, { server: ctx.config.registrationServer, caPem, token: tokenValue, rotation }),
    FIELD_MANAGER,
    current,
  );

  // Revoke every older key only now that the new one is in place.
  const stale = ctx.caches.secrets
    .list(namespace)
    .filter(
      (s) =>
        s.type === "kubernetes.io/service-account-token" &&
        s.metadata.labels?.[LABEL_GATEWAY] === gw.metadata.name &&
        s.metadata.labels?.[LABEL_COMPONENT] === labels(gw.metadata.name, "registration")[LABEL_COMPONENT] &&
        s.metadata.name !== tokenName,
    );
  for (const secret of stale) {
    await kube.delete({ apiVersion: "v1", kind: "Secret", namespace, name: secret.metadata.name });
  }
  if (rotated || stale.length > 0) {
    await ctx.events.event(
      gw,
      "Normal",
      "RegistrationKeyRotated",
      `registration key rotated to "${rotation}"; ${stale.length} older key(s) revoked`,
    );
  }
  report(
    ctx,
    "RegistrationReady",
    true,
    "KeyIssued",
    `registration key in Secret ${registrationSecretName(gw.metadata.name)}`,
  );
  return undefined;
}
