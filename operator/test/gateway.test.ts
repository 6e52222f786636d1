/**
 * The gateway controller on the real control plane: a LogicalGateway becomes an identity, keys,
 * certificates, nodes and running pods, and its status tells the truth as nodes come and go.
 * kwok makes the pods Running; stand-ins play the agents' heartbeats (node-stand-in.ts).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, test } from "node:test";
import { decodeRegistrationKey, type Pod, type Secret } from "@ferry/common";
import type { GatewayNode, LogicalGateway } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, kubectl, testKube, testNamespace } from "@ferry/hack/testing";
import { standInNode } from "./support/node-stand-in.ts";
import { runOperator } from "./support/operator.ts";

const FERRY = "ferry.dev/v1alpha1";
const b64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

async function setup(t: Parameters<typeof testNamespace>[0], spec: LogicalGateway["spec"]) {
  const env = await testNamespace(t);
  await installCrds(env.kube);
  const gw = gatewayFixture("east", (g) => {
    g.metadata.namespace = env.namespace;
    g.spec = spec;
  });
  await env.kube.create(gw);
  const operator = await runOperator(t, env.kube, env.namespace);
  const get = (name = "east") =>
    env.kube.get<LogicalGateway>({
      apiVersion: FERRY,
      kind: "LogicalGateway",
      namespace: env.namespace,
      name,
    });
  const nodes = async () =>
    (await env.kube.list<GatewayNode>(FERRY, "GatewayNode", env.namespace)).sort((a, b) =>
      a.metadata.name.localeCompare(b.metadata.name),
    );
  const secret = (name: string) =>
    env.kube.get<Secret>({ apiVersion: "v1", kind: "Secret", namespace: env.namespace, name });
  return { ...env, operator, get, nodes, secret };
}

describe("LogicalGateway", () => {
  test("becomes an identity, keys, certificates, nodes and running pods; status follows the heartbeats", async (t) => {
    const { kube, namespace, get, nodes, secret } = await setup(t, {
      nodes: { min: 2, max: 3 },
      agent: { version: "1.0.0" },
    });

    const registered = await eventually("registration key", async () => {
      const s = await secret("east-registration");
      return s?.data?.key ? s : undefined;
    });
    const key = decodeRegistrationKey(b64(registered.data?.key));
    assert.equal(key.gateway, "east");
    assert.equal(key.namespace, namespace);
    assert.equal(key.server, kube.server);

    const status = await eventually("public key in status", async () => {
      const g = await get();
      return g?.status?.publicKey ? g.status : undefined;
    });
    assert.match(status.publicKey ?? "", /^[A-Za-z0-9_-]{43}$/, "base64url of a raw X25519 key");
    assert.equal(status.registrationSecretName, "east-registration");

    const pods = await eventually("two running agent pods", async () => {
      const list = await kube.list<Pod>("v1", "Pod", namespace, {
        labelSelector: "app.kubernetes.io/component=agent",
      });
      return list.length === 2 && list.every((p) => p.status?.phase === "Running") && list;
    });
    assert.deepEqual(pods.map((p) => p.metadata.name).sort(), ["east-0", "east-1"]);
    for (const pod of pods) assert.equal(pod.spec.containers[0]?.image, "ferry/agent:1.0.0");

    // Node certificates chain to the gateway CA and name the node.
    const ca = new X509Certificate(b64((await eventually("CA", () => secret("east-ca")))?.data?.["tls.crt"]));
    for (const node of ["east-0", "east-1"]) {
      const tls = await eventually(`${node} certificate`, () => secret(`${node}-tls`));
      const cert = new X509Certificate(b64(tls.data?.["tls.crt"]));
      assert.ok(cert.verify(ca.publicKey), `${node}'s certificate is signed by the gateway CA`);
      assert.match(cert.subjectAltName ?? "", new RegExp(`DNS:${node}\\b`));
    }

    // No heartbeat yet: the nodes are Offline and so is the gateway, with a reason.
    const offline = await eventually("gateway Offline", async () => {
      const g = await get();
      return g?.status?.phase === "Offline" ? g.status : undefined;
    });
    assert.equal(offline.nodes?.desired, 2);
    assert.match(
      offline.conditions?.find((c) => c.type === "Ready")?.message ?? "",
      /none of the 2 nodes is Online/,
    );

    const a = standInNode(kube, namespace, "east", "east-0", { version: "1.0.0" });
    const b = standInNode(kube, namespace, "east", "east-1", { version: "1.0.0" });
    t.after(() => {
      a.stop();
      b.stop();
    });
    const online = await eventually("gateway Online", async () => {
      const g = await get();
      if (process.env.FERRY_DEBUG) console.log(JSON.stringify((await nodes()).map((n) => n.status)));
      // Online can come a beat before the first version report: wait for both.
      return g?.status?.phase === "Online" && g.status.version ? g.status : undefined;
    });
    assert.equal(online.version, "1.0.0");
    assert.equal(online.nodes?.ready, 2);
    assert.deepEqual(
      (await nodes()).map((n) => [n.metadata.name, n.status?.state]),
      [
        ["east-0", "Online"],
        ["east-1", "Online"],
      ],
    );
    const table = await kubectl(["get", "lgw", "east", "-n", namespace]);
    assert.match(table, /east\s+Online\s+2\s+2\s/);

    // A Limited node still takes jobs, so it is ready; a cordoned one is not.
    a.report({ credentialKeyLoaded: false });
    const degraded = await eventually("east-0 Limited", async () => {
      const g = await get();
      return g?.status?.nodes?.limited === 1 ? g.status : undefined;
    });
    assert.equal(degraded.phase, "Limited");
    assert.equal(degraded.nodes?.ready, 2, "a Limited node accepts jobs");
    const eastOne = { apiVersion: FERRY, kind: "GatewayNode", namespace, name: "east-1" };
    await kube.mergePatch(eastOne, { spec: { cordoned: true } });
    const cordoned = await eventually("a cordoned node not ready", async () => {
      const g = await get();
      return g?.status?.nodes?.ready === 1 ? g.status : undefined;
    });
    assert.equal(cordoned.nodes?.online, 1, "cordoned, still Online");
    await kube.mergePatch(eastOne, { spec: { cordoned: false } });
    a.report({ credentialKeyLoaded: true });
    await eventually("both ready again", async () => {
      const g = await get();
      return g?.status?.phase === "Online" && g.status.nodes?.ready === 2;
    });

    // One node stops heartbeating: it goes Offline, the gateway Limited.
    b.stop();
    const limited = await eventually(
      "gateway Limited",
      async () => {
        const g = await get();
        if (process.env.FERRY_DEBUG)
          console.log(
            new Date().toISOString(),
            g?.status?.phase,
            JSON.stringify((await nodes()).map((n) => [n.status?.state, n.status?.lastHeartbeatTime])),
          );
        return g?.status?.phase === "Limited" ? g.status : undefined;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(limited.nodes?.offline, 1);
    const lost = (await nodes()).find((n) => n.metadata.name === "east-1")!;
    assert.equal(lost.status?.state, "Offline");
    assert.match(lost.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "", /last renewed/);
  });

  test("deleting the gateway garbage-collects its nodes, pods and secrets but keeps the credential key", async (t) => {
    const { kube, namespace, secret } = await setup(t, { nodes: { min: 1, max: 1 } });
    await eventually(
      "pod",
      async () =>
        (await kube.list("v1", "Pod", namespace, { labelSelector: "app.kubernetes.io/component=agent" }))
          .length === 1,
    );
    await eventually("credential key", () => secret("east-credential-key"));
    await kube.delete({ apiVersion: FERRY, kind: "LogicalGateway", namespace, name: "east" }, "Foreground");
    await eventually("children collected", async () => {
      const [pods, nodes, registration] = await Promise.all([
        kube.list("v1", "Pod", namespace, { labelSelector: "app.kubernetes.io/component=agent" }),
        kube.list(FERRY, "GatewayNode", namespace),
        secret("east-registration"),
      ]);
      return pods.length === 0 && nodes.length === 0 && registration === undefined;
    });
    assert.ok(await secret("east-credential-key"), "sealed credentials in Git still open after a re-create");
    assert.ok(testKube());
  });
});
