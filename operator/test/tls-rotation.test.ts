/**
 * The gateway CA rotates on request without a moment in which a node's certificate is not
 * trusted by every node's bundle: new trust first, then new certificates, then the old CA goes.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import type { Secret } from "@ferry/common";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, testNamespace } from "@ferry/hack/testing";
import { splitPemBundle } from "../src/pki/index.ts";
import { gatewayIn } from "./support/fixtures.ts";
import { runOperator } from "./support/operator.ts";

const text = (b64?: string) => Buffer.from(b64 ?? "", "base64").toString("utf8");

test("a requested CA rotation reissues every node certificate and never breaks trust", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  await kube.create(gatewayFixture("east", gatewayIn(namespace, { nodes: { min: 2, max: 2 } })));
  await runOperator(t, kube, namespace, { caPropagationMs: 1_500 });
  const secret = (name: string) => kube.get<Secret>({ apiVersion: "v1", kind: "Secret", namespace, name });
  const nodeCerts = async () => Promise.all(["east-0-tls", "east-1-tls"].map(secret));
  await eventually("both node certificates", async () =>
    (await nodeCerts()).every((s) => s?.data?.["tls.crt"]),
  );
  const oldCa = new X509Certificate(text((await secret("east-ca"))?.data?.["tls.crt"]));

  await kube.mergePatch(
    { apiVersion: "v1", kind: "Secret", namespace, name: "east-ca" },
    { metadata: { annotations: { "ferry.dev/force-ca-rotation": "now" } } },
  );
  // Sample the node Secrets through the rotation: every node certificate must verify against
  // the bundle of every node, at every sample.
  const violations: string[] = [];
  let done = false;
  const started = Date.now();
  while (!done && Date.now() - started < 60_000) {
    const secrets = await nodeCerts();
    for (const holder of secrets) {
      const bundle = splitPemBundle(text(holder?.data?.["ca.crt"])).map((pem) => new X509Certificate(pem));
      for (const presenter of secrets) {
        const cert = new X509Certificate(text(presenter?.data?.["tls.crt"]));
        if (!bundle.some((ca) => cert.verify(ca.publicKey))) {
          violations.push(`${presenter?.metadata.name} not trusted by ${holder?.metadata.name}`);
        }
      }
    }
    const ca = await secret("east-ca");
    const current = new X509Certificate(text(ca?.data?.["tls.crt"]));
    done =
      current.fingerprint256 !== oldCa.fingerprint256 &&
      !ca?.data?.["next.crt"] &&
      secrets.every((s) => new X509Certificate(text(s?.data?.["tls.crt"])).verify(current.publicKey)) &&
      secrets.every((s) => splitPemBundle(text(s?.data?.["ca.crt"])).length === 1);
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.equal(
    done,
    true,
    "the rotation finished: new CA in force, every node certificate from it, old CA dropped",
  );
  assert.deepEqual(violations, [], "trust never broke during the rotation");
  const ca = await secret("east-ca");
  assert.equal(
    ca?.metadata.annotations?.["ferry.dev/force-ca-rotation"],
    undefined,
    "the request was consumed",
  );
});
