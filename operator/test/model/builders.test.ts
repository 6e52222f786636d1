import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeRegistrationKey, type Pod } from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { gatewayFixture, nodeFixture, set } from "@ferry/crds/fixtures";
import { managedNodeIndex, tokenSecretName } from "../../src/model/names.ts";
import { managedGatewayNode } from "../../src/model/node.ts";
import { agentPod, nodeAgentVersion, type PodContext, podSpecHash } from "../../src/model/pod.ts";
import { agentRole, registrationSecret, tokenSecret } from "../../src/model/registration.ts";
import { nodeCertificate } from "../../src/model/tls.ts";

const ctx: PodContext = { defaultImage: "ferry/agent", defaultVersion: "0.1.0", systemProxy: {} };

function gateway(...mods: ((g: LogicalGateway) => void)[]): LogicalGateway {
  const gw = gatewayFixture("east", ...mods);
  gw.metadata.namespace = "data";
  gw.metadata.uid = "uid-east";
  return gw;
}

const env = (pod: Pod) =>
  Object.fromEntries((pod.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe("registration", () => {
  test("the Role grants Secrets only by name, and no Secret listing", () => {
    const role = agentRole(gateway(), ["east-credential-key", "pg-creds", "pg-creds"]);
    const secretRules = role.rules.filter((r) => r.resources.includes("secrets"));
    assert.deepEqual(secretRules, [
      {
        apiGroups: [""],
        resources: ["secrets"],
        verbs: ["get"],
        resourceNames: ["east-credential-key", "pg-creds"],
      },
    ]);
    for (const rule of role.rules) {
      assert.ok(!rule.verbs.includes("*") && !rule.resources.includes("*"), "no wildcards");
      assert.ok(
        !rule.resources.some((r) => r === "pods" || r === "roles"),
        "agents cannot touch pods or RBAC",
      );
    }
  });

  test("every rotation gets its own token Secret name, stable for the same rotation", () => {
    assert.equal(tokenSecretName("east", "r1"), tokenSecretName("east", "r1"));
    assert.notEqual(tokenSecretName("east", "r1"), tokenSecretName("east", "r2"));
    assert.match(tokenSecretName("east", "any string / with spaces"), /^east-agent-token-[0-9a-f]{10}$/);
    assert.equal(tokenSecret(gateway(), "r1").type, "kubernetes.io/service-account-token");
  });

  test("the registration Secret holds a key that decodes to the gateway's coordinates", () => {
    const secret = registrationSecret(gateway(), {
      server: "https://k:6443",
      caPem: "CA",
      token: "T",
      rotation: "r1",
    });
    const key = decodeRegistrationKey(Buffer.from(secret.data?.key ?? "", "base64").toString());
    assert.deepEqual(key, {
      v: 1,
      server: "https://k:6443",
      ca: "CA",
      token: "T",
      namespace: "data",
      gateway: "east",
    });
    assert.equal(secret.stringData, undefined, "data only: stringData would make every apply a change");
  });
});

describe("managed nodes and pods", () => {
  test("managed node names round-trip to their index; foreign names do not", () => {
    const node = managedGatewayNode(gateway(), 3, "1.0.0", 4);
    assert.equal(node.metadata.name, "east-3");
    assert.equal(managedNodeIndex("east", "east-3"), 3);
    assert.equal(managedNodeIndex("east", "east-03"), undefined);
    assert.equal(managedNodeIndex("east", "east-west-1"), undefined);
    assert.equal(node.metadata.ownerReferences?.[0]?.uid, "uid-east");
  });

  test("the pod runs the node's own version, restricted, with key, certificate and identity mounted", () => {
    const gw = gateway(set("spec.agent.version", "2.0.0") as never);
    const node = managedGatewayNode(gw, 0, "1.9.0", 4);
    node.metadata.uid = "uid-node";
    const pod = agentPod(gw, node, ctx);
    const c = pod.spec.containers[0]!;
    assert.equal(nodeAgentVersion(gw, node, ctx), "1.9.0", "the node annotation wins during a rollout");
    assert.equal(c.image, "ferry/agent:1.9.0");
    assert.equal(pod.spec.serviceAccountName, "east-agent");
    assert.deepEqual(
      c.volumeMounts?.map((m) => m.mountPath),
      ["/var/run/ferry/credential-key", "/var/run/ferry/tls"],
    );
    assert.equal(pod.spec.volumes?.find((v) => v.name === "tls")?.secret?.secretName, "east-0-tls");
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    assert.equal(env(pod).FERRY_NODE, "east-0");
    assert.equal(pod.metadata.ownerReferences?.[0]?.kind, "GatewayNode");
  });

  test("proxy modes reach the agent's environment", () => {
    const node = (gw: LogicalGateway) => {
      const n = managedGatewayNode(gw, 0, "1", 1);
      n.metadata.uid = "u";
      return n;
    };
    const none = gateway();
    assert.equal(env(agentPod(none, node(none), ctx)).HTTPS_PROXY, undefined);
    const custom = gateway(
      set("spec.proxy", {
        mode: "Custom",
        url: "http://proxy:3128",
        noProxy: ["10.0.0.0/8", ".svc"],
        credentialsSecretRef: { name: "proxy-creds" },
      }) as never,
    );
    const e = env(agentPod(custom, node(custom), ctx));
    assert.equal(e.HTTPS_PROXY, "http://proxy:3128");
    assert.equal(e.NO_PROXY, "10.0.0.0/8,.svc");
    assert.deepEqual(e.FERRY_PROXY_PASSWORD, {
      secretKeyRef: { name: "proxy-creds", key: "password", optional: true },
    });
    const system = gateway(set("spec.proxy", { mode: "System" }) as never);
    const s = env(
      agentPod(system, node(system), { ...ctx, systemProxy: { httpsProxy: "http://corp:8080" } }),
    );
    assert.equal(s.HTTPS_PROXY, "http://corp:8080");
    assert.equal(s.FERRY_PROXY_MODE, "System");
  });

  test("the pod hash changes with the spec and only with it", () => {
    const gw = gateway();
    const node = managedGatewayNode(gw, 0, "1.0.0", 4);
    node.metadata.uid = "u";
    const a = agentPod(gw, node, ctx);
    assert.equal(podSpecHash(agentPod(gw, node, ctx)), podSpecHash(a));
    const moved = gateway(set("spec.agent.nodeSelector", { zone: "b" }) as never);
    assert.notEqual(podSpecHash(agentPod(moved, node, ctx)), podSpecHash(a));
  });

  test("TLS Disabled mounts no certificate; CertManager asks the issuer for the same Secret", () => {
    const off = gateway(set("spec.tls", { mode: "Disabled" }) as never);
    const node = managedGatewayNode(off, 0, "1", 1);
    node.metadata.uid = "u";
    assert.equal(
      agentPod(off, node, ctx).spec.volumes?.some((v) => v.name === "tls"),
      false,
    );
    const cm = gateway(
      set("spec.tls", {
        mode: "CertManager",
        issuerRef: { name: "corp-ca", kind: "ClusterIssuer" },
      }) as never,
    );
    const cert = nodeCertificate(
      cm,
      nodeFixture("east-0", (n) => (n.metadata.uid = "u")),
    );
    assert.equal(cert.spec.secretName, "east-0-tls");
    assert.deepEqual(cert.spec.issuerRef, {
      name: "corp-ca",
      kind: "ClusterIssuer",
      group: "cert-manager.io",
    });
    assert.ok(cert.spec.usages.includes("client auth") && cert.spec.usages.includes("server auth"));
  });
});
