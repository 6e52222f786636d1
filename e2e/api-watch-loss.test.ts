/**
 * The fear: "the API server restarted (an upgrade, a crash) and the gateway silently stopped
 * working." On a control plane of its own, the API server is stopped for a few seconds in the
 * middle of a copy, and etcd is compacted meanwhile, so every watch that resumes from where it
 * was gets 410 Gone. The operator, the agents and the process node's kubelet must notice, relist
 * and carry on: the copy finishes exact, new jobs are dispatched, and a spec change is reconciled.
 */
import assert from "node:assert/strict";
import { cp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type LocalCluster, startCluster } from "@ferry/hack";
import { compactEtcd, eventually, installCrds } from "@ferry/hack/testing";
import {
  checkOutput,
  copyJob,
  getGateway,
  getJob,
  listNodes,
  type Scope,
  SLOW_QUERY,
  startStack,
  useServices,
  waitFinal,
} from "./support/index.ts";

const services = useServices();
let cluster: LocalCluster;
let passed = false;

before(async () => {
  cluster = await startCluster({ nodes: 1, processNodes: 1 });
});
after(async () => {
  // A failure keeps the control plane's folder, with every component's log and the pods' logs
  // (copied out of the process node's folder, which goes with it).
  if (!passed && cluster) {
    const nodeLog = await readFile(join(cluster.logDir, "ferry-process-node.log"), "utf8").catch(() => "");
    const dir = /data in (\S+?)\)/.exec(nodeLog)?.[1];
    if (dir) await cp(join(dir, "logs"), join(cluster.logDir, "pods"), { recursive: true }).catch(() => {});
  }
  await cluster?.stop({ removeDir: passed });
  if (!passed && cluster) console.error(`api-watch-loss: control plane logs kept in ${cluster.logDir}`);
});

test("API server restart and 410 Gone: operator, agents and kubelet recover; the copy is exact", async (t) => {
  const { kube } = cluster;
  await installCrds(kube);
  const namespace = "watch-loss";
  await kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  const deferred: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of deferred.reverse()) await fn();
  });
  const scope: Scope = {
    kube,
    kubeconfig: cluster.kubeconfig,
    namespace,
    defer: (fn) => void deferred.push(fn),
  };
  const stack = await startStack(scope, services, { rows: 3_000 });

  await kube.create(copyJob(stack, "across-restart", { query: SLOW_QUERY, partitions: 4, parallelism: 1 }));
  await eventually(
    "the copy running with a committed partition",
    async () => {
      const j = await getJob(kube, namespace, "across-restart");
      return j?.status?.phase === "Running" && (j.status.checkpoint?.committedPartitions?.length ?? 0) >= 1;
    },
    { timeoutMs: 90_000, intervalMs: 100 },
  );
  // Down long enough for every watch to break and for clients to retry, not so long that node
  // leases (4 s) lapse for good: they must be renewed once the server is back.
  await cluster.restart("kube-apiserver", { downMs: 3_000 });
  const revision = await compactEtcd(cluster.etcdUrl);
  t.diagnostic(`API server restarted; etcd compacted at revision ${revision}`);

  const done = await waitFinal(stack, "across-restart", 180_000);
  assert.equal(done.status?.phase, "Succeeded", JSON.stringify(done.status?.attempts));
  const out = await checkOutput(stack, done);
  assert.deepEqual([out.lost, out.duplicated], [0, 0], "rows lost, duplicated");
  t.diagnostic(
    `the copy: ${(done.status?.attempts ?? []).map((a) => `${a.node} ${a.result} ${a.reason ?? ""}`).join("; ")}`,
  );

  // A second restart with a compaction while nothing runs: the watches resume into 410 Gone.
  await cluster.restart("kube-apiserver", { downMs: 1_000 });
  await compactEtcd(cluster.etcdUrl);
  // New work after the restarts: dispatched (the dispatcher's watches work) and exact.
  await kube.create(copyJob(stack, "after-restart", { partitions: 2 }));
  const later = await waitFinal(stack, "after-restart", 120_000);
  assert.equal(later.status?.phase, "Succeeded");
  const out2 = await checkOutput(stack, later);
  assert.deepEqual([out2.lost, out2.duplicated], [0, 0]);

  // The operator's watches work: a spec change is reconciled into a new node with a running pod.
  await kube.mergePatch(
    { apiVersion: "ferry.dev/v1alpha1", kind: "LogicalGateway", namespace, name: stack.gateway },
    { spec: { nodes: { min: 3, max: 3 } } },
  );
  await eventually(
    "three nodes Online after the restarts",
    async () => {
      const g = await getGateway(kube, namespace, stack.gateway);
      const nodes = await listNodes(kube, namespace);
      return g?.status?.nodes?.ready === 3 && nodes.every((n) => n.status?.state === "Online");
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  passed = true;
});
