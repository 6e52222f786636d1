/**
 * Step: the gateway's credential key pair, whose public half users seal DataStore credentials to.
 *
 * Generated once and never replaced by the operator: every sealed value in Git depends on it.
 * A user who restores or moves a gateway names their own Secret in `spec.credentialKey`.
 */
import { generateCredentialKeyPair, isAlreadyExists, type Secret } from "@ferry/common";
import { credentialKeySecret, PRIVATE_KEY, PUBLIC_KEY } from "../model/credential-key.ts";
import { credentialKeySecretName } from "../model/names.ts";
import { decode, type GatewayContext, report, type StepOutcome } from "./context.ts";

export async function credentialKeyStep(ctx: GatewayContext): Promise<StepOutcome> {
  const { gw, kube } = ctx;
  const namespace = gw.metadata.namespace;
  const own = gw.spec.credentialKey?.secretRef.name;
  if (own) {
    // A user's Secret carries none of our labels, so it is not in the cache: read it directly.
    const secret = await kube.get<Secret>({ apiVersion: "v1", kind: "Secret", namespace, name: own });
    const publicKey = decode(secret?.data?.[PUBLIC_KEY])?.trim();
    if (!secret || !publicKey || !secret.data?.[PRIVATE_KEY]) {
      report(
        ctx,
        "CredentialKeyReady",
        false,
        secret ? "SecretIncomplete" : "SecretNotFound",
        secret
          ? `Secret ${own} (spec.credentialKey) needs the keys ${PRIVATE_KEY} and ${PUBLIC_KEY}`
          : `Secret ${own} named by spec.credentialKey does not exist`,
      );
      return { requeueAfterMs: 10_000, reason: "CredentialKeyMissing" };
    }
    ctx.publicKey = publicKey;
    report(ctx, "CredentialKeyReady", true, "UserProvided", `credential key from Secret ${own}`);
    return undefined;
  }

  const name = credentialKeySecretName(gw.metadata.name);
  let secret = ctx.caches.secrets.get(namespace, name) as Secret | undefined;
  if (!secret) {
    try {
      // create, not apply: two racing reconciles must not each write a different key.
      secret = await kube.create(credentialKeySecret(gw, generateCredentialKeyPair()));
      await ctx.events.event(
        gw,
        "Normal",
        "CredentialKeyCreated",
        `credential key pair generated in Secret ${name}`,
      );
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      secret = await kube.get<Secret>({ apiVersion: "v1", kind: "Secret", namespace, name });
    }
  }
  ctx.publicKey = decode(secret?.data?.[PUBLIC_KEY]);
  report(ctx, "CredentialKeyReady", true, "Generated", `credential key in Secret ${name}`);
  return undefined;
}
