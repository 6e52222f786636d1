/**
 * The autoscaler on the real control plane: a burst of pending jobs grows the gateway up to
 * nodes.max; when the queue is quiet it shrinks to nodes.min, removing only drained nodes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CopyJob, GatewayNode, LogicalGateway } from "@ferry/crds";
import { copyJobFixture, gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, testNamespace } from "@ferry/hack/testing";
import { runOperator } from "./support/operator.ts";

const FERRY = "ferry.dev/v1alpha1";

test("a burst of jobs scales out to max; a quiet queue scales in to min, never a node with a job", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  await kube.create(
    gatewayFixture("east", (g: LogicalGateway) => {
      g.metadata.namespace = namespace;
      g.spec = { nodes: { min: 1, max: 3 }, concurrency: { perNode: 2, maxPerNode: 4, autoTune: false } };
    }),
  );
  await runOperator(t, kube, namespace, { scaleInQuietPeriodMs: 1_000 });
  const names = async () =>
    (await kube.list<GatewayNode>(FERRY, "GatewayNode", namespace)).map((n) => n.metadata.name).sort();
  await eventually("one node (min)", async () => (await names()).length === 1);

  const jobs = Array.from({ length: 6 }, (_, i) =>
    copyJobFixture(`burst-${i}`, (j: CopyJob) => {
      j.metadata.namespace = namespace;
      j.spec.gatewayRef.name = "east";
    }),
  );
  for (const job of jobs) await kube.create(job);
  // 6 jobs wait, 2 slots on one node: two more nodes, and never more than max.
  await eventually("three nodes (max)", async () => (await names()).join() === "east-0,east-1,east-2");
  const gw = await eventually("pending jobs counted in status", async () => {
    const g = await kube.get<LogicalGateway>({
      apiVersion: FERRY,
      kind: "LogicalGateway",
      namespace,
      name: "east",
    });
    // The status catches up with the nodes a moment after they exist.
    return g?.status?.jobs?.pending === 6 && g.status.nodes?.desired === 3 ? g : undefined;
  });
  assert.equal(gw.status?.jobs?.limit ?? 0, 0, "no node is Online yet, so no slot is counted");

  // One job runs on east-2 (as the dispatcher and the worker would record it); the rest go.
  const running = await kube.get<CopyJob>({ apiVersion: FERRY, kind: "CopyJob", namespace, name: "burst-0" });
  await kube.mergePatch(
    { apiVersion: FERRY, kind: "CopyJob", namespace, name: "burst-0" },
    { status: { phase: "Running", node: "east-2", attempt: 1 } },
    "status",
  );
  assert.ok(running);
  for (const job of jobs.slice(1)) {
    await kube.delete({ apiVersion: FERRY, kind: "CopyJob", namespace, name: job.metadata.name });
  }
  // Quiet: idle nodes go (highest index first) down to min; east-2 stays while its job runs,
  // and being the one left, it is the min.
  await eventually("idle nodes removed", async () => (await names()).join() === "east-2", {
    timeoutMs: 45_000,
  });
  const gone = await kube.get<CopyJob>({ apiVersion: FERRY, kind: "CopyJob", namespace, name: "burst-0" });
  assert.equal(gone?.status?.phase, "Running", "the node with a running job was never removed");

  await kube.mergePatch(
    { apiVersion: FERRY, kind: "CopyJob", namespace, name: "burst-0" },
    { status: { phase: "Succeeded" } },
    "status",
  );
  // Drained and idle, but at min: it stays.
  await new Promise((r) => setTimeout(r, 3_000));
  assert.deepEqual(await names(), ["east-2"], "never below nodes.min");
});
