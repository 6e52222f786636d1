/**
 * A gateway can bring its own credential key (to restore or move it): the operator publishes
 * that key's public half instead of generating one, and says clearly when the Secret is missing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { generateCredentialKeyPair, type Secret } from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, testNamespace } from "@ferry/hack/testing";
import { gatewayIn } from "./support/fixtures.ts";
import { runOperator } from "./support/operator.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

test("spec.credentialKey: the user's key pair is published; a missing Secret is a clear condition", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  await kube.create(
    gatewayFixture(
      "moved",
      gatewayIn(namespace, {
        nodes: { min: 0, max: 0 },
        credentialKey: { secretRef: { name: "old-gateway-key" } },
      }),
    ),
  );
  await runOperator(t, kube, namespace);
  const gateway = () =>
    kube.get<LogicalGateway>({
      apiVersion: "ferry.dev/v1alpha1",
      kind: "LogicalGateway",
      namespace,
      name: "moved",
    });
  const missing = await eventually("CredentialKeyReady False", async () => {
    const c = (await gateway())?.status?.conditions?.find((x) => x.type === "CredentialKeyReady");
    return c?.status === "False" ? c : undefined;
  });
  assert.equal(missing.reason, "SecretNotFound");
  assert.match(missing.message, /old-gateway-key/);

  const pair = generateCredentialKeyPair();
  await kube.create<Secret>({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "old-gateway-key", namespace },
    data: { "private.key": b64(pair.privateKeyPem), "public.key": b64(pair.publicKey) },
  });
  const status = await eventually("the user's public key published", async () => {
    const g = await gateway();
    return g?.status?.publicKey === pair.publicKey ? g.status : undefined;
  });
  assert.equal(status.conditions?.find((c) => c.type === "CredentialKeyReady")?.reason, "UserProvided");
  const generated = await kube.get({
    apiVersion: "v1",
    kind: "Secret",
    namespace,
    name: "moved-credential-key",
  });
  assert.equal(generated, undefined, "no key is generated when the user brings one");
});
