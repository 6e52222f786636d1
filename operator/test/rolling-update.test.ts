/**
 * Rolling updates on the real control plane with real agents: the gateway's pods run as agent
 * processes on the test cluster's process node, and each reports the version of its image tag. A
 * new version moves through the managed nodes one at a time (cordon, drain, replace, Online,
 * uncordon); a version whose agent never comes up (the runtime's `broken` tag exits at once) is
 * rolled back on the node that tried it, and the rollout stops with a reason.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject, Pod } from "@ferry/common";
import type { GatewayNode, LogicalGateway } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import {
  agentsOnProcessNode,
  eventually,
  FAST_AGENT_ENV,
  installCrds,
  testNamespace,
} from "@ferry/hack/testing";
import { runOperator } from "./support/operator.ts";

const FERRY = "ferry.dev/v1alpha1";

test("a good version rolls through one node at a time; a bad one is rolled back", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  const ref = { apiVersion: FERRY, kind: "LogicalGateway", namespace, name: "east" };
  await kube.create(
    gatewayFixture("east", (g: LogicalGateway) => {
      g.metadata.namespace = namespace;
      g.spec = {
        nodes: { min: 2, max: 2 },
        agent: { version: "1.0.0", ...agentsOnProcessNode(), env: FAST_AGENT_ENV },
        update: { policy: "Auto", drainTimeoutSeconds: 30 },
      };
    }),
  );
  await runOperator(t, kube, namespace, { rolloutReadyTimeoutMs: 15_000 });
  const gateway = () => kube.get<LogicalGateway>(ref);
  const nodes = async () => kube.list<GatewayNode>(FERRY, "GatewayNode", namespace);
  const images = async () =>
    Object.fromEntries(
      (
        await kube.list<Pod>("v1", "Pod", namespace, { labelSelector: "app.kubernetes.io/component=agent" })
      ).map((p) => [p.metadata.name, p.spec.containers[0]?.image]),
    );
  await eventually(
    "Online on 1.0.0",
    async () => {
      const g = await gateway();
      return g?.status?.phase === "Online" && g.status.version === "1.0.0";
    },
    { timeoutMs: 90_000 },
  );

  // Watch the rollout: at no moment may both nodes be out of service.
  let bothOut = false;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const list = await nodes();
      const out = list.filter(
        (n) => n.spec.cordoned || n.status?.state === "Upgrading" || n.status?.state === "Offline",
      );
      if (out.length > 1) bothOut = true;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  await kube.mergePatch(ref, { spec: { agent: { version: "1.1.0" } } });
  await eventually(
    "every pod on 1.1.0 and the gateway Online on it",
    async () => {
      const g = await gateway();
      const i = await images();
      return (
        g?.status?.phase === "Online" &&
        g.status.version === "1.1.0" &&
        Object.values(i).every((image) => image === "ferry/agent:1.1.0") &&
        (await nodes()).every((n) => !n.spec.cordoned)
      );
    },
    { timeoutMs: 90_000 },
  );
  sampling = false;
  await sampler;
  assert.equal(bothOut, false, "one node at a time");

  // A release whose agent never comes up.
  await kube.mergePatch(ref, { spec: { agent: { version: "broken" } } });
  const halted = await eventually(
    "rolled back and halted",
    async () => {
      const g = await gateway();
      const progressing = g?.status?.conditions?.find((c) => c.type === "Progressing");
      return g?.metadata.annotations?.["ferry.dev/rollout-failed-version"] === "broken" && progressing
        ? g
        : undefined;
    },
    { timeoutMs: 90_000 },
  );
  await eventually(
    "both nodes back on 1.1.0 and Online",
    async () => {
      const g = await gateway();
      const i = await images();
      return (
        g?.status?.phase === "Online" &&
        Object.values(i).every((image) => image === "ferry/agent:1.1.0") &&
        (await nodes()).every((n) => !n.spec.cordoned)
      );
    },
    { timeoutMs: 60_000 },
  );
  const events = await kube.list<KubeObject & { reason?: string; note?: string }>(
    "events.k8s.io/v1",
    "Event",
    namespace,
  );
  const rolledBack = events.find((e) => e.reason === "UpdateRolledBack");
  assert.ok(rolledBack, "an Event says the update was rolled back");
  assert.match(rolledBack.note ?? "", /broken/);
  assert.ok(halted.status?.conditions?.some((c) => c.type === "Progressing"));
});
