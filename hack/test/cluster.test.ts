import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import type { KubeObject } from "@ferry/common/kube";
import { startCluster } from "../src/cluster/cluster.ts";
import { isAlive } from "../src/cluster/process.ts";
import { eventually, testKube, testNamespace } from "../src/testing/index.ts";

interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

test("a Deployment is scheduled onto a kwok node, runs, and is garbage-collected with its owner", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const labels = { app: "probe" };
  await kube.create({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "probe", namespace },
    spec: {
      replicas: 2,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "main", image: "ferry/never-pulled:1" }] },
      },
    },
  } as KubeObject);

  const pods = await eventually("two Running pods", async () => {
    const list = await kube.list<Pod>("v1", "Pod", namespace, { labelSelector: "app=probe" });
    const running = list.filter(
      (p) =>
        p.status?.phase === "Running" &&
        p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );
    return running.length === 2 && running;
  });
  for (const pod of pods) assert.match(pod.spec.nodeName ?? "", /^kwok-node-/, "scheduled by kube-scheduler");
  const owners = pods.map((p) => p.metadata.ownerReferences?.[0]?.kind);
  assert.deepEqual(
    owners,
    ["ReplicaSet", "ReplicaSet"],
    "created by the controller-manager's ReplicaSet controller",
  );

  assert.equal(
    await kube.delete({ apiVersion: "apps/v1", kind: "Deployment", namespace, name: "probe" }),
    true,
  );
  await eventually("pods and ReplicaSet garbage-collected", async () => {
    const [left, sets] = await Promise.all([
      kube.list<Pod>("v1", "Pod", namespace, { labelSelector: "app=probe" }),
      kube.list("apps/v1", "ReplicaSet", namespace),
    ]);
    return left.length === 0 && sets.length === 0;
  });
});

test("a second cluster runs side by side and leaves nothing running after stop", async () => {
  const second = await startCluster({ nodes: 1 });
  let stopped = false;
  try {
    assert.notEqual(second.server, testKube().server, "its own API server port");
    assert.ok(
      await testKube().get({ apiVersion: "v1", kind: "Namespace", name: "default" }),
      "the first still serves",
    );
    const nodes = await second.kube.list("v1", "Node");
    assert.deepEqual(
      nodes.map((n) => n.metadata.name),
      ["kwok-node-0"],
    );
    const pids = Object.values(second.pids);
    assert.equal(pids.length, 5);
    assert.ok(pids.every(isAlive));
    await second.stop({ removeDir: true });
    stopped = true;
    assert.ok(
      pids.every((pid) => !isAlive(pid)),
      "every component process has exited",
    );
    assert.equal(existsSync(second.dir), false);
  } finally {
    if (!stopped) await second.stop({ removeDir: true });
  }
});
