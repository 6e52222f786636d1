/**
 * The agent's network edge with real agent processes: nodes publish their endpoint on their
 * heartbeat Lease and probe each other (PeersReachable); an agent outside the cluster reaches
 * the API server through the gateway's proxy, and never through one in mode None.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generateCredentialKeyPair, type KubeObject, type Lease } from "@ferry/common";
import type { GatewayNode } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, testNamespace } from "@ferry/hack/testing";
import { startTestProxy } from "./net/helpers.ts";
import { devAgent } from "./support/agents.ts";

async function gateway(kube: Parameters<typeof installCrds>[0], namespace: string): Promise<void> {
  await installCrds(kube);
  await kube.create({ ...gatewayFixture("gw"), metadata: { name: "gw", namespace } });
  const keys = generateCredentialKeyPair();
  await kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "gw-credential-key", namespace },
    data: {
      "private.key": Buffer.from(keys.privateKeyPem).toString("base64"),
      "public.key": Buffer.from(keys.publicKey).toString("base64"),
    },
  } as KubeObject);
}

describe("agent network", () => {
  test("nodes publish their endpoint and probe each other: PeersReachable", async (t) => {
    const { kube, kubeconfig, namespace } = await testNamespace(t);
    await gateway(kube, namespace);
    const agents = ["p1", "p2"].map((n) => devAgent(kubeconfig, namespace, "gw", n, ["--ops-port=0"]));
    t.after(() => {
      for (const a of agents) a.kill("SIGKILL");
    });
    const lease = await eventually("p1's endpoint on its Lease", async () => {
      const l = await kube.get<Lease>({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        namespace,
        name: "ferry-node-p1",
      });
      return l?.metadata.annotations?.["ferry.dev/peer-endpoint"] ? l : undefined;
    });
    assert.match(
      lease.metadata.annotations?.["ferry.dev/peer-endpoint"] ?? "",
      /^http:\/\/[^:]+:\d+$/,
      "plain HTTP: TLS Disabled here",
    );
    for (const node of ["p1", "p2"]) {
      const condition = await eventually(
        `${node} reports PeersReachable`,
        async () => {
          const n = await kube.get<GatewayNode>({
            apiVersion: "ferry.dev/v1alpha1",
            kind: "GatewayNode",
            namespace,
            name: node,
          });
          const c = n?.status?.conditions?.find((x) => x.type === "PeersReachable");
          return c?.status === "True" && /1\/1/.test(c.message) ? c : undefined;
        },
        { timeoutMs: 30_000 },
      );
      assert.match(condition.message, /1\/1/);
    }
    // One node goes away: the other reports it (its Lease lapses, so it is no longer a peer to
    // probe; before that, the probe fails).
    agents[1]!.kill("SIGKILL");
    await eventually(
      "p1 no longer counts p2",
      async () => {
        const n = await kube.get<GatewayNode>({
          apiVersion: "ferry.dev/v1alpha1",
          kind: "GatewayNode",
          namespace,
          name: "p1",
        });
        const c = n?.status?.conditions?.find((x) => x.type === "PeersReachable");
        return c && !/1\/1/.test(c.message);
      },
      { timeoutMs: 30_000 },
    );
  });

  test("an external agent reaches the API server through the proxy in Custom mode, never in None", async (t) => {
    const { kube, kubeconfig, namespace } = await testNamespace(t);
    await gateway(kube, namespace);
    const proxy = await startTestProxy();
    t.after(() => proxy.close());
    const api = new URL(kube.server);
    const viaProxy = devAgent(kubeconfig, namespace, "gw", "px1", [], {
      FERRY_PROXY_MODE: "Custom",
      HTTPS_PROXY: proxy.url,
      NO_PROXY: "",
    });
    t.after(() => viaProxy.kill("SIGKILL"));
    await eventually("px1 registered", () =>
      kube.get({ apiVersion: "ferry.dev/v1alpha1", kind: "GatewayNode", namespace, name: "px1" }),
    );
    assert.ok(proxy.tunnels.includes(`${api.hostname}:${api.port}`), `CONNECTs: ${proxy.tunnels.join(", ")}`);

    viaProxy.kill("SIGKILL");
    await viaProxy.exited;
    const before = proxy.tunnels.length;
    const direct = devAgent(kubeconfig, namespace, "gw", "px2", [], {
      FERRY_PROXY_MODE: "None",
      HTTPS_PROXY: proxy.url,
    });
    t.after(() => direct.kill("SIGKILL"));
    await eventually("px2 registered", () =>
      kube.get({ apiVersion: "ferry.dev/v1alpha1", kind: "GatewayNode", namespace, name: "px2" }),
    );
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(proxy.tunnels.length - before, 0, "mode None ignores HTTPS_PROXY");
  });
});
