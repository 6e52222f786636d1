import type { Secret } from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { credentialKeySecretName, labels } from "./names.ts";

/** Keys of the credential key Secret (also the layout of a user's `spec.credentialKey` Secret). */
export const PRIVATE_KEY = "private.key";
export const PUBLIC_KEY = "public.key";

/**
 * The gateway's credential key pair, generated once. Deliberately not owned by the gateway: the
 * ciphertexts committed to Git are sealed to it, so deleting and re-creating a gateway (or
 * restoring it elsewhere) must not lose it silently. It is removed with the namespace, or by hand.
 */
export function credentialKeySecret(
  gw: LogicalGateway,
  pair: { publicKey: string; privateKeyPem: string },
): Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: credentialKeySecretName(gw.metadata.name),
      namespace: gw.metadata.namespace,
      labels: labels(gw.metadata.name, "credential-key"),
    },
    type: "Opaque",
    immutable: true,
    data: {
      [PRIVATE_KEY]: Buffer.from(pair.privateKeyPem).toString("base64"),
      [PUBLIC_KEY]: Buffer.from(pair.publicKey).toString("base64"),
    },
  };
}
