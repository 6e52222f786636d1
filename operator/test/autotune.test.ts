/**
 * Concurrency autotune: a node whose CPU and memory idle while every slot is busy and jobs wait
 * gets a higher limit; a saturated node a lower one. Each change is an Event with its numbers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@ferry/common";
import type { GatewayNode, LogicalGateway } from "@ferry/crds";
import { copyJobFixture, gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, testNamespace } from "@ferry/hack/testing";
import { jobIn } from "./support/fixtures.ts";
import { standInNode } from "./support/node-stand-in.ts";
import { runOperator } from "./support/operator.ts";

const FERRY = "ferry.dev/v1alpha1";

test("idle-but-full raises a node's limit; saturated lowers it; both are Events with numbers", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  await kube.create(
    gatewayFixture("east", (g: LogicalGateway) => {
      g.metadata.namespace = namespace;
      g.spec = { nodes: { min: 1, max: 1 }, concurrency: { maxPerNode: 8, autoTune: true } };
    }),
  );
  await runOperator(t, kube, namespace);
  const limit = async () =>
    (await kube.get<GatewayNode>({ apiVersion: FERRY, kind: "GatewayNode", namespace, name: "east-0" }))?.spec
      .concurrencyLimit;
  const start = await eventually("an initial limit", limit);
  assert.equal(start, 4, "the default when neither perNode nor a CPU limit says otherwise");

  // Every slot busy (4 jobs running on east-0) and 2 waiting, with CPU at 10%.
  const agent = standInNode(kube, namespace, "east", "east-0", {
    version: "1.0.0",
    cpuPercent: 10,
    availableMemoryBytes: 6 * 1024 ** 3,
  });
  t.after(() => agent.stop());
  for (let i = 0; i < 6; i++) {
    await kube.create(copyJobFixture(`j-${i}`, jobIn(namespace, "east")));
    if (i < 4) {
      await kube.mergePatch(
        { apiVersion: FERRY, kind: "CopyJob", namespace, name: `j-${i}` },
        { status: { phase: "Running", node: "east-0", attempt: 1 } },
        "status",
      );
    }
  }
  await eventually("limit raised", async () => ((await limit()) ?? 0) > 4, { timeoutMs: 30_000 });

  // Saturated: CPU at 97%.
  agent.report({ cpuPercent: 97 });
  const raised = (await limit()) ?? 0;
  await eventually("limit lowered", async () => ((await limit()) ?? 99) < raised, { timeoutMs: 30_000 });

  const events = await kube.list<KubeObject & { reason?: string; note?: string }>(
    "events.k8s.io/v1",
    "Event",
    namespace,
  );
  const up = events.find((e) => e.reason === "ConcurrencyRaised");
  const down = events.find((e) => e.reason === "ConcurrencyLowered");
  assert.ok(up && down, "both decisions are Events");
  assert.match(up.note ?? "", /10(\.0)?%/, "the raise carries the CPU it saw");
  assert.match(down.note ?? "", /97(\.0)?%/, "the cut carries the CPU it saw");
});
