import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import type { Lease } from "@ferry/common";
import type { Kube } from "@ferry/common/kube";
import { eventually, testNamespace } from "@ferry/hack/testing";
import { runLeaderElection } from "../../src/runtime/leader.ts";
import { testLog } from "./log.ts";
import { startProxy } from "./proxy.ts";

/** Who leads, when each started and stopped, and the most that ever led at once. */
function scoreboard() {
  const leading = new Set<string>();
  const started = new Map<string, number>();
  const stopped = new Map<string, number>();
  let most = 0;
  return {
    leading,
    started,
    stopped,
    most: () => most,
    start(id: string) {
      leading.add(id);
      started.set(id, Date.now());
      most = Math.max(most, leading.size);
    },
    stop(id: string) {
      leading.delete(id);
      stopped.set(id, Date.now());
    },
  };
}

type Board = ReturnType<typeof scoreboard>;

function candidate(
  t: TestContext,
  board: Board,
  options: { kube: Kube; namespace: string; name: string; identity: string; leaseDurationMs: number },
) {
  const stop = new AbortController();
  let workDone = 0;
  const done = runLeaderElection({
    ...options,
    renewEveryMs: 500,
    log: testLog().log,
    signal: stop.signal,
    onStartedLeading: async (signal) => {
      board.start(options.identity);
      // The leader's work: runs until leadership ends, like a manager would.
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      workDone = Date.now();
    },
    onStoppedLeading: () => board.stop(options.identity),
  });
  t.after(async () => {
    stop.abort();
    await done;
  });
  return { stop, done, workDone: () => workDone };
}

/** Waits until the lease has been renewed `times` more times (by whoever holds it). */
async function renewals(kube: Kube, namespace: string, name: string, times: number): Promise<void> {
  const seen = new Set<string>();
  await eventually(`${times} renewals`, async () => {
    const lease = await kube.get<Lease>({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      namespace,
      name,
    });
    if (lease?.spec.renewTime) seen.add(lease.spec.renewTime);
    return seen.size > times;
  });
}

test("of candidates racing for a free lease exactly one leads, and keeps leading", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const board = scoreboard();
  for (const identity of ["a", "b", "c"]) {
    candidate(t, board, { kube, namespace, name: "race", identity, leaseDurationMs: 3_000 });
  }
  await eventually("a leader", async () => board.leading.size === 1);
  await renewals(kube, namespace, "race", 4);
  assert.equal(board.most(), 1, "never two leaders at once");
  assert.equal(board.started.size, 1, "the first leader kept the lease");
  const lease = await kube.get<Lease>({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    namespace,
    name: "race",
  });
  assert.equal(lease?.spec.holderIdentity, [...board.leading][0]);
});

test("when the leader cannot renew, it stops before the standby takes over, within a lease duration", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const proxy = await startProxy(t);
  const board = scoreboard();
  const leaseDurationMs = 3_000;
  // The leader talks to the API server through the proxy; the standby directly.
  const leader = candidate(t, board, {
    kube: proxy.kube,
    namespace,
    name: "ha",
    identity: "leader",
    leaseDurationMs,
  });
  await eventually("the first leader", async () => board.leading.has("leader"));
  candidate(t, board, { kube, namespace, name: "ha", identity: "standby", leaseDurationMs });
  await renewals(kube, namespace, "ha", 2);
  assert.deepEqual([...board.leading], ["leader"]);

  // The leader's network dies: renewals hang, then fail.
  const cutAt = Date.now();
  proxy.hold();
  proxy.cut();
  await eventually("the standby leads", async () => board.leading.has("standby"), { timeoutMs: 15_000 });
  await leader.done;
  const stoppedAt = board.stopped.get("leader") ?? Number.NaN;
  const takenAt = board.started.get("standby") ?? Number.NaN;
  assert.ok(stoppedAt < takenAt, "the old leader stopped before the new one started");
  assert.equal(board.most(), 1);
  // Not before the lease could have expired (its last renewal was at most 0.5 s before the cut)...
  assert.ok(takenAt - cutAt >= leaseDurationMs - 1_000, `took over after ${takenAt - cutAt} ms`);
  // ...and about one lease duration after it (a poll period and a busy machine of slack).
  assert.ok(takenAt - cutAt <= leaseDurationMs + 2_500, `took over after ${takenAt - cutAt} ms`);
});

test("a leader shutting down stops its work, then releases the lease, and the standby takes over at once", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const board = scoreboard();
  // A long lease: only the release explains a takeover within seconds.
  const leaseDurationMs = 60_000;
  const first = candidate(t, board, {
    kube,
    namespace,
    name: "handover",
    identity: "first",
    leaseDurationMs,
  });
  await eventually("the first leader", async () => board.leading.has("first"));
  candidate(t, board, { kube, namespace, name: "handover", identity: "second", leaseDurationMs });
  await renewals(kube, namespace, "handover", 2);

  const stoppingAt = Date.now();
  first.stop.abort();
  await first.done;
  assert.ok(!board.leading.has("first"));
  await eventually("the standby leads", async () => board.leading.has("second"), { timeoutMs: 10_000 });
  assert.ok((board.started.get("second") ?? 0) - stoppingAt < 10_000);
  assert.ok(
    first.workDone() > 0 && first.workDone() <= (board.started.get("second") ?? 0),
    "work ended first",
  );
  const lease = await kube.get<Lease>({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    namespace,
    name: "handover",
  });
  assert.equal(lease?.spec.holderIdentity, "second");
  assert.equal(lease?.spec.leaseTransitions, 1);
  assert.equal(lease?.spec.leaseDurationSeconds, 60);
});
