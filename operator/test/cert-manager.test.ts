/**
 * TLS through cert-manager: the operator asks for one Certificate per node against the gateway's
 * issuer, mounts the Secret cert-manager fills, and reports TLSReady only once every certificate
 * is issued. The cert-manager CRDs are the real ones; the cert-manager controller cannot be built
 * here, so this test plays the issuer: it fills each Secret and sets the Certificate Ready.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Pod } from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, installCertManagerCrds, installCrds, testNamespace } from "@ferry/hack/testing";
import type { Certificate } from "../src/model/tls.ts";
import { createCa, issueNodeCertificate } from "../src/pki/index.ts";
import { runOperator } from "./support/operator.ts";

const FERRY = "ferry.dev/v1alpha1";
const CM = "cert-manager.io/v1";

test("CertManager mode: a Certificate per node, mounted when issued, TLSReady when all are", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  await installCertManagerCrds(kube);
  await kube.create(
    gatewayFixture("east", (g: LogicalGateway) => {
      g.metadata.namespace = namespace;
      g.spec = {
        nodes: { min: 2, max: 2 },
        tls: { mode: "CertManager", issuerRef: { name: "corp-ca", kind: "ClusterIssuer" } },
      };
    }),
  );
  await runOperator(t, kube, namespace);
  const tlsReady = async () =>
    (
      await kube.get<LogicalGateway>({ apiVersion: FERRY, kind: "LogicalGateway", namespace, name: "east" })
    )?.status?.conditions?.find((c) => c.type === "TLSReady");

  const certs = await eventually("two Certificates", async () => {
    const list = await kube.list<Certificate>(CM, "Certificate", namespace);
    return list.length === 2 ? list : undefined;
  });
  for (const cert of certs) {
    assert.deepEqual(cert.spec.issuerRef, {
      name: "corp-ca",
      kind: "ClusterIssuer",
      group: "cert-manager.io",
    });
    assert.equal(cert.spec.secretName, `${cert.metadata.name}`);
    assert.ok(cert.spec.dnsNames.includes(cert.metadata.name.replace(/-tls$/, "")));
    assert.deepEqual(cert.spec.ipAddresses, ["127.0.0.1"]);
  }
  const pending = await eventually("TLSReady False while pending", async () => {
    const c = await tlsReady();
    return c?.status === "False" ? c : undefined;
  });
  assert.equal(pending.reason, "CertificatesPending");
  const pod = await kube.get<Pod>({ apiVersion: "v1", kind: "Pod", namespace, name: "east-0" });
  assert.equal(
    pod?.spec.volumes?.find((v) => v.name === "tls")?.secret?.secretName,
    "east-0-tls",
    "the Secret cert-manager fills",
  );

  // Playing cert-manager's issuer.
  const now = new Date();
  const ca = await createCa({ commonName: "corp-ca", now, validityDays: 30 });
  for (const cert of certs) {
    const issued = await issueNodeCertificate({
      ca,
      dnsNames: cert.spec.dnsNames,
      commonName: cert.spec.commonName,
      now,
      validityDays: 30,
    });
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    await kube.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: cert.spec.secretName, namespace },
        type: "kubernetes.io/tls",
        data: { "tls.crt": b64(issued.certPem), "tls.key": b64(issued.keyPem), "ca.crt": b64(ca.certPem) },
      } as Parameters<typeof kube.apply>[0],
      "cert-manager",
    );
    await kube.mergePatch(
      { apiVersion: CM, kind: "Certificate", namespace, name: cert.metadata.name },
      {
        status: {
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "Ready",
              message: "issued",
              lastTransitionTime: now.toISOString().replace(/\.\d+Z$/, "Z"),
            },
          ],
        },
      },
      "status",
    );
  }
  const ready = await eventually("TLSReady True", async () => {
    const c = await tlsReady();
    return c?.status === "True" ? c : undefined;
  });
  assert.match(ready.message, /ClusterIssuer corp-ca/);
});
