/**
 * Real agent processes against the real control plane, PostgreSQL and Azurite (no operator):
 * dispatch without double assignment, dispatcher failover, worker crash, fencing, permanent
 * failures, key rejection, duplicate node names and secret hygiene.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { encodeRegistrationKey, type Kube, kubeconfigAccess, type Lease } from "@ferry/common";
import type { CopyJob, DataStore, GatewayNode } from "@ferry/crds";
import { dataStoreFixture, set } from "@ferry/crds/fixtures";
import { type AzuriteServer, type PostgresServer, startAzurite, startPostgres } from "@ferry/hack/services";
import { eventually, installCrds, testKube, testNamespace } from "@ferry/hack/testing";
import {
  type AgentProcess,
  assignmentsIn,
  devAgent,
  jobFor,
  setupGateway,
  startAgent,
} from "./support/agents.ts";

let pg: PostgresServer;
let azurite: AzuriteServer;
const agents: AgentProcess[] = [];
const SLOW = "SELECT id, note FROM orders WHERE slow_ok(id)";

before(async () => {
  await installCrds(testKube());
  [pg, azurite] = await Promise.all([startPostgres(), startAzurite()]);
});
after(async () => {
  for (const a of agents) a.kill("SIGKILL");
  await Promise.all([pg?.stop(), azurite?.stop()]);
});

function spawnAgents(kubeconfig: string, ns: string, gw: string, names: string[]): AgentProcess[] {
  const started = names.map((n) => devAgent(kubeconfig, ns, gw, n));
  agents.push(...started);
  return started;
}

const getJob = (kube: Kube, ns: string, name: string) =>
  kube.get<CopyJob>({ apiVersion: "ferry.dev/v1alpha1", kind: "CopyJob", namespace: ns, name });
const getStore = (kube: Kube, ns: string, name: string) =>
  kube.get<DataStore>({ apiVersion: "ferry.dev/v1alpha1", kind: "DataStore", namespace: ns, name });
const getNode = (kube: Kube, ns: string, name: string) =>
  kube.get<GatewayNode>({ apiVersion: "ferry.dev/v1alpha1", kind: "GatewayNode", namespace: ns, name });
const dispatcherHolder = async (kube: Kube, ns: string, gw: string) =>
  (
    await kube.get<Lease>({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      namespace: ns,
      name: `ferry-dispatcher-${gw}`,
    })
  )?.spec.holderIdentity || undefined;

async function manifest(
  container: string,
  name: string,
): Promise<{ rows: number; parts: { partition: string; rows: number }[] }> {
  const { BlobServiceClient } = await import("@azure/storage-blob");
  const blob = BlobServiceClient.fromConnectionString(azurite.connectionString)
    .getContainerClient(container)
    .getBlobClient(`out/${name}/_SUCCESS`);
  return JSON.parse((await blob.downloadToBuffer()).toString("utf8"));
}

async function assertExact(container: string, job: CopyJob, rows: number, partitions: number): Promise<void> {
  const m = await manifest(container, job.metadata.name);
  assert.equal(m.rows, rows, "rows in the manifest");
  assert.equal(m.parts.length, partitions, "one part per partition");
  assert.equal(new Set(m.parts.map((p) => p.partition)).size, partitions);
  assert.equal(
    m.parts.reduce((s, p) => s + p.rows, 0),
    rows,
  );
  assert.equal(job.status?.output?.rows, rows);
}

async function assertNoSecrets(
  kube: Kube,
  ns: string,
  secrets: string[],
  procs: AgentProcess[],
): Promise<void> {
  const texts: string[] = procs.flatMap((a) => a.lines);
  for (const kind of ["CopyJob", "DataStore", "GatewayNode"])
    texts.push(JSON.stringify(await kube.list("ferry.dev/v1alpha1", kind, ns)));
  texts.push(JSON.stringify(await kube.list("v1", "Event", ns)));
  for (const secret of secrets)
    for (const t of texts) assert.ok(!t.includes(secret), `a secret appears in: ${t.slice(0, 300)}`);
}

describe("agents", () => {
  test("dispatch: one dispatcher, no double assignment, every job exact; bad credentials fail fast; no secret leaks", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 2000);
    const procs = spawnAgents(kubeconfig, ns, setup.gateway, ["n1", "n2", "n3"]);
    const names = Array.from({ length: 6 }, (_, i) => `job-${i}`);
    for (const n of names) await kube.create(jobFor(ns, setup.gateway, n));
    await kube.create(jobFor(ns, setup.gateway, "bad", { source: "pg-bad" }));
    const done = await eventually(
      "every job final",
      async () => {
        const jobs = await Promise.all([...names, "bad"].map((n) => getJob(kube, ns, n)));
        return jobs.every((j) => j?.status?.phase === "Succeeded" || j?.status?.phase === "Failed") && jobs;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    for (const j of done.slice(0, 6)) {
      assert.equal(
        j!.status?.phase,
        "Succeeded",
        `${j!.metadata.name}: ${JSON.stringify(j!.status?.conditions)}`,
      );
      await assertExact(setup.container, j!, setup.rows, 4);
    }
    const bad = done[6]!;
    assert.equal(bad.status?.phase, "Failed");
    assert.equal(bad.status?.attempts?.length, 1, "a permanent error is not retried");
    console.log(
      `bad credentials: ${bad.status?.attempts?.[0]?.reason}: ${bad.status?.attempts?.[0]?.message}`,
    );
    const assigned = assignmentsIn(procs);
    const keys = assigned.map((a) => `${a.job}#${a.attempt}`);
    assert.equal(new Set(keys).size, keys.length, `an attempt was assigned twice: ${keys}`);
    const holders = new Set(
      procs.filter((p) => p.lines.some((l) => l.includes("this node is the dispatcher"))).map((p) => p.node),
    );
    assert.equal(holders.size, 1, "exactly one dispatcher");
    console.log(
      `jobs per node: ${JSON.stringify(Object.fromEntries(["n1", "n2", "n3"].map((n) => [n, assigned.filter((a) => a.node === n).length])))}`,
    );
    // The heartbeat and status the operator reads.
    const node = await kube.get<{ status?: Record<string, unknown> } & import("@ferry/common").KubeObject>({
      apiVersion: "ferry.dev/v1alpha1",
      kind: "GatewayNode",
      namespace: ns,
      name: "n1",
    });
    assert.ok(node?.status?.lastHeartbeatTime && node.status.resources && node.status.jobs);
    const lease = await kube.get<Lease>({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      namespace: ns,
      name: "ferry-node-n1",
    });
    assert.equal(lease?.metadata.labels?.["ferry.dev/gateway"], setup.gateway);
    // Graceful stop: exit 0, lease released.
    procs[0]!.kill("SIGTERM");
    assert.equal(await procs[0]!.exited, 0);
    const released = await kube.get<Lease>({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      namespace: ns,
      name: "ferry-node-n1",
    });
    assert.equal(released?.spec.holderIdentity, "");
    await assertNoSecrets(kube, ns, setup.secrets, procs);
    for (const p of procs) p.kill("SIGKILL");
  });

  test("a burst of jobs: the dispatcher's writes overlap, yet no node ever runs more jobs than its slots or holds more than slots + queue", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 200);
    // Every state the API server went through, in order: one watch sees each write once.
    const phase = new Map<string, { phase?: string; node?: string }>();
    let mostRunning = 0;
    let mostHeld = 0;
    const watch = await kube.watch<CopyJob>("ferry.dev/v1alpha1", "CopyJob", { namespace: ns }, (e) => {
      if (e.type === "BOOKMARK") return;
      phase.set(e.object.metadata.name, { phase: e.object.status?.phase, node: e.object.status?.node });
      const held = new Map<string, number>();
      const running = new Map<string, number>();
      for (const s of phase.values()) {
        if (!s.node) continue;
        if (s.phase === "Assigned" || s.phase === "Running") held.set(s.node, (held.get(s.node) ?? 0) + 1);
        if (s.phase === "Running") running.set(s.node, (running.get(s.node) ?? 0) + 1);
      }
      mostHeld = Math.max(mostHeld, ...held.values());
      mostRunning = Math.max(mostRunning, ...running.values());
    });
    t.after(() => watch.abort());
    const procs = ["b1", "b2"].map((n) =>
      devAgent(kubeconfig, ns, setup.gateway, n, [], { FERRY_CONCURRENCY: "2" }),
    );
    agents.push(...procs);
    const names = Array.from({ length: 16 }, (_, i) => `burst-${i}`);
    await Promise.all(names.map((n) => kube.create(jobFor(ns, setup.gateway, n, { partitions: 1 }))));
    await eventually(
      "every job Succeeded",
      async () =>
        (await Promise.all(names.map((n) => getJob(kube, ns, n)))).every(
          (j) => j?.status?.phase === "Succeeded",
        ),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    assert.ok(mostRunning >= 1, "the watch saw the jobs run");
    assert.ok(mostRunning <= 2, `a node ran ${mostRunning} jobs at once with 2 slots`);
    assert.ok(mostHeld > 2, `the queues were used: at most ${mostHeld} jobs on a node with 2 slots`);
    assert.ok(mostHeld <= 6, `a node held ${mostHeld} jobs with 2 slots and a queue of 4`);
    const assigned = assignmentsIn(procs);
    assert.equal(assigned.length, names.length, "one assignment per job, no retries");
    for (const p of procs) p.kill("SIGKILL");
  });

  test("a node's queue: a job waits there while the slot is busy, goes back when its node stops, and moves to a node whose slot frees", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 2000);
    const oneSlot = { FERRY_CONCURRENCY: "1" };
    const start = (node: string) => {
      const proc = devAgent(kubeconfig, ns, setup.gateway, node, ["--drain-seconds", "1"], oneSlot);
      agents.push(proc);
      return proc;
    };
    /** The job once it is in `phase` (on `node`, when given). */
    const reaches = (name: string, phase: string, node?: string, timeoutMs = 30_000) =>
      eventually(
        `${name} ${phase}${node ? ` on ${node}` : ""}`,
        async () => {
          const j = await getJob(kube, ns, name);
          return j?.status?.phase === phase && (!node || j.status.node === node) ? j : undefined;
        },
        { timeoutMs, intervalMs: 50 },
      );
    const q1 = start("q1");
    await kube.create(jobFor(ns, setup.gateway, "long", { query: SLOW, partitions: 6 }));
    await reaches("long", "Running", "q1", 60_000);
    await kube.create(jobFor(ns, setup.gateway, "quick", { partitions: 1 }));
    const queued = await reaches("quick", "Assigned", "q1");
    await delay(1500);
    const still = await getJob(kube, ns, "quick");
    assert.equal(still?.status?.phase, "Assigned", "it waits while q1's one slot is busy");
    assert.equal(
      still?.metadata.resourceVersion,
      queued.metadata.resourceVersion,
      "nothing touched it meanwhile",
    );

    q1.kill("SIGTERM");
    const handed = await reaches("quick", "Pending", undefined, 10_000);
    assert.equal(handed.status?.attempts?.[0]?.reason, "NodeShutdown");
    assert.match(handed.status?.attempts?.[0]?.message ?? "", /before attempt 1 started/);
    assert.equal(await q1.exited, 0);

    // q2 alone: long (created first) takes its slot, quick waits in its queue; then q3's free slot
    // takes quick away from there.
    const q2 = start("q2");
    await reaches("long", "Running", "q2");
    await reaches("quick", "Assigned", "q2");
    const q3 = start("q3");
    const quick = await reaches("quick", "Succeeded", undefined, 60_000);
    assert.deepEqual(
      quick.status?.attempts?.map((a) => [a.attempt, a.node, a.result]),
      [
        [1, "q1", "Failed"],
        [2, "q3", "Succeeded"],
      ],
      "moved from q2's queue to q3 before it started: still attempt 2",
    );
    assert.ok(
      [q2, q3].some((p) => p.lines.some((l) => l.includes('"msg":"moved to a node whose slot freed first"'))),
      "the dispatcher logged the move",
    );
    // q3 loaded its drivers before it claimed its Lease, not at the first job it took (quick): that
    // stalled its heartbeat while quick ran.
    const at = (msg: string) => q3.lines.findIndex((l) => l.includes(`"msg":"${msg}"`));
    assert.ok(at("connectors loaded") >= 0, "q3 loaded its connectors");
    assert.deepEqual(JSON.parse(q3.lines[at("connectors loaded")]!).connectors.sort(), [
      "AzureBlob",
      "PostgreSQL",
    ]);
    assert.ok(at("connectors loaded") < at("node lease claimed"), "before it claimed its Lease");
    const long = await reaches("long", "Succeeded", undefined, 90_000);
    await assertExact(setup.container, long, setup.rows, 6);
    await assertExact(setup.container, quick, setup.rows, 1);
    for (const p of [q2, q3]) p.kill("SIGKILL");
  });

  test("a one-partition job takes three status writes: its checkpoint comes with Succeeded", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 100);
    spawnAgents(kubeconfig, ns, setup.gateway, ["w1"]);
    await eventually("a dispatcher", () => dispatcherHolder(kube, ns, setup.gateway), { timeoutMs: 30_000 });
    const seen: { phase: string; checkpoint: number }[] = [];
    const watch = await kube.watch<CopyJob>(
      "ferry.dev/v1alpha1",
      "CopyJob",
      { namespace: ns, fieldSelector: "metadata.name=one" },
      (e) => {
        if (e.type === "MODIFIED")
          seen.push({
            phase: e.object.status?.phase ?? "",
            checkpoint: e.object.status?.checkpoint?.committedPartitions?.length ?? 0,
          });
      },
    );
    try {
      await kube.create(jobFor(ns, setup.gateway, "one", { partitions: 1 }));
      const done = await eventually(
        "done",
        async () => {
          const j = await getJob(kube, ns, "one");
          return j?.status?.phase === "Succeeded" && j;
        },
        { timeoutMs: 30_000 },
      );
      await assertExact(setup.container, done, setup.rows, 1);
      assert.equal(done.status?.checkpoint?.committedPartitions?.length, 1, "the final status lists it");
      await eventually("the watch saw Succeeded", async () => seen.some((s) => s.phase === "Succeeded"));
    } finally {
      watch.abort();
    }
    // Progress writes would show as more Running ones; a 100-row copy ends before the first.
    assert.deepEqual(
      seen.map((s) => `${s.phase}:${s.checkpoint}`),
      ["Assigned:0", "Running:0", "Succeeded:1"],
    );
  });

  test("a DataStore changed between two jobs: the next job uses it as changed (the worker's cache follows)", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 100);
    const [proc] = ["c1"].map((n) => devAgent(kubeconfig, ns, setup.gateway, n));
    agents.push(proc!);
    const run = async (name: string) => {
      await kube.create(jobFor(ns, setup.gateway, name, { partitions: 1, maxAttempts: 1 }));
      return eventually(
        `${name} final`,
        async () => {
          const j = await getJob(kube, ns, name);
          return (j?.status?.phase === "Succeeded" || j?.status?.phase === "Failed") && j;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    };
    const storeRef = {
      apiVersion: "ferry.dev/v1alpha1",
      kind: "DataStore",
      namespace: ns,
      name: "pg-source",
    };
    assert.equal((await run("before")).status?.phase, "Succeeded");
    await kube.mergePatch(storeRef, { spec: { connection: { database: "no_such_database" } } });
    const after = await run("after");
    assert.equal(after.status?.phase, "Failed", "the job ran against the changed store");
    assert.match(after.status?.attempts?.at(-1)?.message ?? "", /no_such_database/);
    await kube.mergePatch(storeRef, { spec: { connection: { database: setup.database } } });
    assert.equal((await run("again")).status?.phase, "Succeeded");
    proc!.kill("SIGKILL");
  });

  test("a node whose Lease is deleted creates it again, as its own, and keeps running", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 10);
    const [proc] = spawnAgents(kubeconfig, ns, setup.gateway, ["d1"]);
    const ref = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: ns, name: "ferry-node-d1" };
    const first = await eventually("d1's lease", () => kube.get<Lease>(ref));
    await kube.delete(ref);
    // Before, a renewal's conflict with the deleted Lease was retried at once, forever: the Lease
    // never came back and the agent sent tens of writes a second.
    const again = await eventually(
      "d1's lease back",
      async () => {
        const l = await kube.get<Lease>(ref);
        return l && l.metadata.uid !== first.metadata.uid ? l : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    assert.equal(again.spec.holderIdentity, "d1");
    assert.equal(
      again.metadata.annotations?.["ferry.dev/instance-id"],
      first.metadata.annotations?.["ferry.dev/instance-id"],
      "the same instance holds it",
    );
    assert.ok(proc!.lines.some((l) => l.includes("this node's lease was deleted; creating it again")));
    await kube.create(jobFor(ns, setup.gateway, "after", { partitions: 1 }));
    await eventually(
      "a job after it",
      async () => (await getJob(kube, ns, "after"))?.status?.phase === "Succeeded",
      {
        timeoutMs: 60_000,
      },
    );
    proc!.kill("SIGKILL");
  });

  test("dispatcher failover: SIGKILL the dispatcher, another takes over within one lease period", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 500);
    const procs = spawnAgents(kubeconfig, ns, setup.gateway, ["a1", "a2", "a3"]);
    const first = await eventually("a dispatcher", () => dispatcherHolder(kube, ns, setup.gateway), {
      timeoutMs: 30_000,
    });
    await kube.create(jobFor(ns, setup.gateway, "before"));
    await eventually(
      "first job done",
      async () => (await getJob(kube, ns, "before"))?.status?.phase === "Succeeded",
      { timeoutMs: 60_000 },
    );
    const killed = procs.find((p) => p.node === first)!;
    const killedAt = Date.now();
    killed.kill("SIGKILL");
    const next = await eventually(
      "another dispatcher",
      async () => {
        const h = await dispatcherHolder(kube, ns, setup.gateway);
        return h && h !== first ? h : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const failoverMs = Date.now() - killedAt;
    console.log(`dispatcher failover: ${first} -> ${next} in ${failoverMs} ms (lease 3 s)`);
    assert.ok(failoverMs < 3000 + 2500, `failover took ${failoverMs} ms`);
    for (const n of ["after-1", "after-2"]) await kube.create(jobFor(ns, setup.gateway, n));
    for (const n of ["after-1", "after-2"]) {
      const j = await eventually(
        `${n} done`,
        async () => {
          const j = await getJob(kube, ns, n);
          return j?.status?.phase === "Succeeded" && j;
        },
        { timeoutMs: 60_000 },
      );
      assert.notEqual(j.status?.node, first);
    }
    const keys = assignmentsIn(procs).map((a) => `${a.job}#${a.attempt}`);
    assert.equal(new Set(keys).size, keys.length, `an attempt was assigned twice: ${keys}`);
    for (const p of procs) p.kill("SIGKILL");
  });

  test("a node's status says its role and its slots as soon as they change, not a status period later", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 1);
    // A status period far longer than the test: only a write made for the role change can pass.
    const procs = ["r1", "r2"].map((n) =>
      devAgent(kubeconfig, ns, setup.gateway, n, ["--status-seconds", "120"]),
    );
    agents.push(...procs);
    const roles = async () => {
      const nodes = await kube.list<GatewayNode>("ferry.dev/v1alpha1", "GatewayNode", ns);
      return new Map(nodes.map((n) => [n.metadata.name, n.status?.role]));
    };
    const holder = await eventually("a dispatcher", () => dispatcherHolder(kube, ns, setup.gateway), {
      timeoutMs: 30_000,
    });
    const other = holder === "r1" ? "r2" : "r1";
    const seen = await eventually(
      "the holder's status says Dispatcher",
      async () => {
        const r = await roles();
        return r.get(holder) === "Dispatcher" && r.get(other) !== undefined && r;
      },
      { timeoutMs: 10_000 },
    );
    assert.equal(seen.get(other), "Worker");
    // The operator tunes a node's slots in its spec; the node's status follows at once.
    await kube.mergePatch(
      { apiVersion: "ferry.dev/v1alpha1", kind: "GatewayNode", namespace: ns, name: other },
      { spec: { concurrencyLimit: 5 } },
    );
    await eventually(
      "the node's status shows its new slots",
      async () => (await getNode(kube, ns, other))?.status?.jobs?.limit === 5,
      { timeoutMs: 10_000 },
    );
    for (const p of procs) p.kill("SIGKILL");
  });

  test("worker crash: SIGKILL mid-copy, the job is taken back (NodeLost) and finished elsewhere, exactly", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 1200);
    const procs = spawnAgents(kubeconfig, ns, setup.gateway, ["w1", "w2"]);
    await eventually("a dispatcher", () => dispatcherHolder(kube, ns, setup.gateway), { timeoutMs: 30_000 });
    await kube.create(jobFor(ns, setup.gateway, "slow", { query: SLOW, partitions: 6 }));
    const running = await eventually(
      "a committed partition",
      async () => {
        const j = await getJob(kube, ns, "slow");
        return (
          (j?.status?.checkpoint?.committedPartitions?.length ?? 0) >= 1 &&
          j?.status?.phase === "Running" &&
          j
        );
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const victim = procs.find((p) => p.node === running.status?.node)!;
    victim.kill("SIGKILL");
    const done = await eventually(
      "job done elsewhere",
      async () => {
        const j = await getJob(kube, ns, "slow");
        return j?.status?.phase === "Succeeded" && j;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    assert.equal(done.status?.attempts?.[0]?.reason, "NodeLost");
    assert.notEqual(done.status?.node, victim.node);
    await assertExact(setup.container, done, setup.rows, 6);
    for (const p of procs) p.kill("SIGKILL");
  });

  test("fencing: a worker whose lease went stale stops and commits nothing more", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 1200);
    const procs = spawnAgents(kubeconfig, ns, setup.gateway, ["f1", "f2"]);
    await eventually("a dispatcher", () => dispatcherHolder(kube, ns, setup.gateway), { timeoutMs: 30_000 });
    // The paused worker must not be the dispatcher, or no one takes its job back until failover.
    const holder = await dispatcherHolder(kube, ns, setup.gateway);
    const other = procs.find((p) => p.node !== holder)!;
    await kube.mergePatch(
      { apiVersion: "ferry.dev/v1alpha1", kind: "GatewayNode", namespace: ns, name: holder! },
      { spec: { cordoned: true } },
    );
    await kube.create(jobFor(ns, setup.gateway, "fenced", { query: SLOW, partitions: 6 }));
    // Only the fenced attempt counts: once resumed, the node may rightly be given a later one.
    const fencedCommits = () =>
      other.lines
        .filter((l) => l.includes("partition committed") && l.includes('"attempt":1,'))
        .map((l) => String((JSON.parse(l) as { partition: unknown }).partition));
    await eventually(
      "a committed partition",
      async () => {
        const j = await getJob(kube, ns, "fenced");
        return (
          (j?.status?.checkpoint?.committedPartitions?.length ?? 0) >= 1 && j?.status?.node === other.node
        );
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    other.kill("SIGSTOP");
    await kube.mergePatch(
      { apiVersion: "ferry.dev/v1alpha1", kind: "GatewayNode", namespace: ns, name: holder! },
      { spec: { cordoned: false } },
    );
    const takenBack = await eventually(
      "taken back",
      async () => {
        const j = await getJob(kube, ns, "fenced");
        return j?.status?.attempts?.[0]?.reason === "NodeLost" && j;
      },
      { timeoutMs: 30_000 },
    );
    // What the fenced attempt had committed when it was taken back. The worker logs a commit
    // just after writing it, so a commit written right before the stop may be logged only on
    // resuming: the log is checked against this set, not against a count taken now.
    const committedByThen = new Set(takenBack.status?.checkpoint?.committedPartitions?.map((p) => p.id));
    assert.ok(committedByThen.size >= 1, "the fenced attempt committed before it was stopped");
    other.kill("SIGCONT");
    const done = await eventually(
      "job done",
      async () => {
        const j = await getJob(kube, ns, "fenced");
        return j?.status?.phase === "Succeeded" && j;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    await delay(1500);
    const logged = fencedCommits();
    assert.ok(logged.length >= 1, "the fenced attempt's commits are seen in its log");
    const late = logged.filter((id) => !committedByThen.has(id));
    assert.deepEqual(late, [], "the fenced worker committed after it was taken back");
    assert.ok(
      other.lines.some((l) => l.includes("heartbeat lease is stale") || l.includes("fenced")),
      "the worker noticed",
    );
    await assertExact(setup.container, done, setup.rows, 6);
    for (const p of procs) p.kill("SIGKILL");
  });

  test("fencing: a live worker whose attempt was ended for it (Timeout) commits no part after it sees that", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 1200);
    const [proc] = spawnAgents(kubeconfig, ns, setup.gateway, ["t1"]);
    // Six partitions of ~0.6 s, one at a time: the attempt runs ~4 s and is failed at 2 s.
    const job = jobFor(ns, setup.gateway, "timed", { query: SLOW, partitions: 6, maxAttempts: 1 });
    job.spec.timeoutSeconds = 2;
    await kube.create(job);
    const failed = await eventually(
      "failed by the dispatcher",
      async () => {
        const j = await getJob(kube, ns, "timed");
        return j?.status?.phase === "Failed" && j;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    assert.equal(failed.status?.attempts?.at(-1)?.reason, "Timeout");
    const checkpointed = new Set(failed.status?.checkpoint?.committedPartitions?.map((p) => p.id));
    assert.ok(checkpointed.size < 6, "the attempt was still copying when it was failed");
    await eventually("the worker noticed", async () => proc!.lines.some((l) => l.includes("fenced")), {
      timeoutMs: 10_000,
    });
    await delay(1500);
    const { BlobServiceClient } = await import("@azure/storage-blob");
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      setup.container,
    );
    const parts: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: "out/timed/part-" })) parts.push(b.name);
    // At most the one partition whose fence passed before the Failed write: once the worker's
    // watch shows the job is not its attempt, the next fence reads the API server and refuses.
    assert.ok(
      parts.length <= checkpointed.size + 1,
      `parts committed: ${parts.length}, checkpointed when failed: ${checkpointed.size}`,
    );
    const after = await getJob(kube, ns, "timed");
    assert.equal(after?.status?.phase, "Failed", "the worker did not overwrite the dispatcher's verdict");
    assert.equal(after?.status?.checkpoint?.committedPartitions?.length ?? 0, checkpointed.size);
    proc!.kill("SIGKILL");
  });

  test("connection tests: each DataStore's Reachable condition says whether and why, and who tested it", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 100);
    const procs = spawnAgents(kubeconfig, ns, setup.gateway, ["c1"]);
    const reachable = (name: string) =>
      eventually(
        `${name} tested`,
        async () => {
          const ds = await getStore(kube, ns, name);
          const c = ds?.status?.conditions?.find((x) => x.type === "Reachable");
          return c ? { c, ds: ds! } : undefined;
        },
        { timeoutMs: 30_000 },
      );
    const good = await reachable("pg-source");
    assert.equal(good.c.status, "True");
    assert.equal(good.ds.status?.testedBy, "c1");
    assert.ok(good.ds.status?.lastTestedTime);
    const bad = await reachable("pg-bad");
    assert.equal(bad.c.status, "False");
    assert.equal(bad.c.reason, "AuthenticationFailed");
    assert.match(bad.c.message, /password/, "a message a user can act on");
    assert.doesNotMatch(bad.c.message, /wrong-password/, "never the credential itself");
    const blob = await reachable("blob-sink");
    assert.equal(blob.c.status, "True");

    // A DataStore applied before its Secret (GitOps applies in any order) reads False until the
    // Secret is there, then True within seconds, not after the 5-minute test interval.
    const late = dataStoreFixture(
      "blob-late",
      set("spec.gatewayRef.name", setup.gateway),
      set("spec.type", "AzureBlob"),
      set("spec.connection", { accountUrl: azurite.blobEndpoint, container: setup.container }),
    );
    late.metadata.namespace = ns;
    late.spec.credentials = { secretRef: { name: "blob-late-key", keys: { accountKey: "key" } } };
    await kube.create<DataStore>(late);
    const missing = await reachable("blob-late");
    assert.equal(missing.c.status, "False");
    assert.equal(missing.c.reason, "SecretNotFound");
    await kube.create({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "blob-late-key", namespace: ns },
      stringData: { key: azurite.accountKey },
    });
    const found = Date.now();
    await eventually(
      "blob-late Reachable once its Secret exists",
      async () =>
        (await getStore(kube, ns, "blob-late"))?.status?.conditions?.find(
          (x) => x.type === "Reachable" && x.status === "True",
        ),
      { timeoutMs: 30_000 },
    );
    assert.ok(Date.now() - found < 25_000, "tested again within seconds");

    // Progress flows to the job's status, which is what `kubectl get cj` shows.
    await kube.create(jobFor(ns, setup.gateway, "progress", { partitions: 2 }));
    const done = await eventually(
      "job done",
      async () => {
        const j = await getJob(kube, ns, "progress");
        return j?.status?.phase === "Succeeded" ? j : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(done.status?.progress?.rows, 100);
    assert.equal(done.status?.progress?.percent, 100);
    assert.equal(done.status?.progress?.partitionsDone, 2);
    for (const p of procs) p.kill("SIGKILL");
  });

  test("graceful stop: SIGTERM mid-copy hands the job back, another node resumes it from its checkpoint", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    const setup = await setupGateway(kube, ns, pg, azurite, 1200);
    const procs = spawnAgents(kubeconfig, ns, setup.gateway, ["g1", "g2"]);
    await eventually("a dispatcher", () => dispatcherHolder(kube, ns, setup.gateway), { timeoutMs: 30_000 });
    await kube.create(jobFor(ns, setup.gateway, "handed", { query: SLOW, partitions: 6 }));
    const first = await eventually(
      "a partition committed by the first node",
      async () => {
        const j = await getJob(kube, ns, "handed");
        return (j?.status?.checkpoint?.committedPartitions?.length ?? 0) >= 1 &&
          j?.status?.phase === "Running"
          ? j
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const leaving = procs.find((p) => p.node === first.status?.node)!;
    const committedBefore = first.status?.checkpoint?.committedPartitions?.length ?? 0;
    leaving.kill("SIGTERM");
    assert.equal(await leaving.exited, 0, "a graceful stop exits 0");
    const done = await eventually(
      "finished elsewhere",
      async () => {
        const j = await getJob(kube, ns, "handed");
        return j?.status?.phase === "Succeeded" ? j : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const attempts = done.status?.attempts ?? [];
    assert.equal(attempts[0]?.node, leaving.node);
    assert.equal(attempts[0]?.reason, "NodeShutdown", "handed back, not lost");
    assert.notEqual(attempts.at(-1)?.node, leaving.node, "resumed on the other node");
    assert.ok(committedBefore >= 1);
    const nodeLease = await kube.get<Lease>({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      namespace: ns,
      name: `ferry-node-${leaving.node}`,
    });
    assert.ok(!nodeLease?.spec.holderIdentity, "the node Lease was released");
    await assertExact(setup.container, done, setup.rows, 6);
    for (const p of procs) p.kill("SIGKILL");
  });

  test("keys and names: malformed, revoked and foreign keys, a duplicate node: one line, non-zero exit", async (t) => {
    const { kube, kubeconfig, namespace: ns } = await testNamespace(t);
    await kube.create({
      apiVersion: "ferry.dev/v1alpha1",
      kind: "LogicalGateway",
      metadata: { name: "gw", namespace: ns },
      spec: {},
    });
    const access = kubeconfigAccess(kubeconfig);
    const ca = access.caPem ?? "";
    // A token of a ServiceAccount with no rights on the gateway: what a key of another gateway holds.
    await kube.create({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "other", namespace: ns },
    });
    await kube.create({
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/service-account-token",
      metadata: {
        name: "other-token",
        namespace: ns,
        annotations: { "kubernetes.io/service-account.name": "other" },
      },
    });
    const token = await eventually("a token", async () => {
      const s = await kube.get<{ data?: { token?: string } } & import("@ferry/common").KubeObject>({
        apiVersion: "v1",
        kind: "Secret",
        namespace: ns,
        name: "other-token",
      });
      return s?.data?.token && Buffer.from(s.data.token, "base64").toString();
    });
    const key = (tok: string) =>
      encodeRegistrationKey({ v: 1, server: access.server, ca, token: tok, namespace: ns, gateway: "gw" });
    const cases = [
      { name: "malformed", args: ["--key", "not a key!"], want: /malformed/ },
      { name: "revoked", args: ["--key", key("revoked-token")], want: /rotated or revoked/ },
      { name: "foreign", args: ["--key", key(token)], want: /another gateway/ },
    ];
    for (const c of cases) {
      const p = startAgent([...c.args, "--node", "k1", "--ops-port=-1"], c.name);
      const code = await p.exited;
      assert.notEqual(code, 0, c.name);
      assert.equal(p.lines.length, 1, `${c.name}: ${p.lines.join("\n")}`);
      assert.match(p.lines[0]!, c.want);
      console.log(`${c.name} key: exit ${code}: ${p.lines[0]}`);
    }
    const first = devAgent(kubeconfig, ns, "gw", "dup");
    agents.push(first);
    await eventually("node lease", () =>
      kube.get({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        namespace: ns,
        name: "ferry-node-dup",
      }),
    );
    const second = devAgent(kubeconfig, ns, "gw", "dup");
    const code = await second.exited;
    assert.equal(code, 4);
    const line = second.lines.find((l) => l.startsWith("ferry-agent:"));
    assert.match(line ?? "", /already running/);
    console.log(`duplicate: exit ${code}: ${line}`);
    first.kill("SIGKILL");
  });
});
