/**
 * GatewayNode care: managed pods and nodes heal themselves; external nodes are shown with their
 * state and aged out after their offline period, never blocking the others.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Pod } from "@ferry/common";
import type { GatewayNode, LogicalGateway } from "@ferry/crds";
import { gatewayFixture, nodeFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, testNamespace } from "@ferry/hack/testing";
import { gatewayIn } from "./support/fixtures.ts";
import { standInNode } from "./support/node-stand-in.ts";
import { runOperator } from "./support/operator.ts";

const FERRY = "ferry.dev/v1alpha1";

test("a deleted pod or managed node comes back", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  await kube.create(gatewayFixture("east", gatewayIn(namespace, { nodes: { min: 1, max: 1 } })));
  await runOperator(t, kube, namespace);
  const pod = () => kube.get<Pod>({ apiVersion: "v1", kind: "Pod", namespace, name: "east-0" });
  const first = await eventually("pod", pod);
  await kube.delete({ apiVersion: "v1", kind: "Pod", namespace, name: "east-0" });
  const second = await eventually("pod recreated", async () => {
    const p = await pod();
    return p && p.metadata.uid !== first.metadata.uid ? p : undefined;
  });
  assert.equal(second.spec.containers[0]?.image, first.spec.containers[0]?.image);

  const node = await kube.get<GatewayNode>({
    apiVersion: FERRY,
    kind: "GatewayNode",
    namespace,
    name: "east-0",
  });
  await kube.delete({ apiVersion: FERRY, kind: "GatewayNode", namespace, name: "east-0" });
  await eventually("managed node recreated (nodes.min)", async () => {
    const n = await kube.get<GatewayNode>({
      apiVersion: FERRY,
      kind: "GatewayNode",
      namespace,
      name: "east-0",
    });
    return n && n.metadata.uid !== node?.metadata.uid;
  });
});

test("external nodes count in the gateway's status and are aged out when offline too long", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  await kube.create(gatewayFixture("east", gatewayIn(namespace, { nodes: { min: 0, max: 0 } })));
  for (const name of ["vm-1", "vm-2"]) {
    await kube.create(
      nodeFixture(name, (n: GatewayNode) => {
        n.metadata.namespace = namespace;
        n.spec = { gatewayRef: { name: "east" }, managed: false };
      }),
    );
  }
  const vm1 = standInNode(kube, namespace, "east", "vm-1", { version: "1.0.0" });
  t.after(() => vm1.stop());
  await runOperator(t, kube, namespace, { externalNodeOfflineMs: 3_000 });
  // vm-2 never heartbeats: it is Offline, the gateway Limited, then vm-2 goes.
  const gw = () =>
    kube.get<LogicalGateway>({ apiVersion: FERRY, kind: "LogicalGateway", namespace, name: "east" });
  await eventually(
    "vm-2 removed after its offline period",
    async () => {
      const names = (await kube.list<GatewayNode>(FERRY, "GatewayNode", namespace)).map(
        (n) => n.metadata.name,
      );
      return names.join() === "vm-1";
    },
    { timeoutMs: 30_000 },
  );
  const status = await eventually("gateway Online with the one live external node", async () => {
    const g = await gw();
    return g?.status?.phase === "Online" ? g.status : undefined;
  });
  assert.equal(status.nodes?.desired, 0, "external nodes are not desired managed nodes");
  assert.equal(status.nodes?.online, 1);
});
