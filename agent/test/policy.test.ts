/** Table tests of the agent's pure decisions: assignment, take-back, retry, lease claim, resources. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Lease } from "@ferry/common";
import { metaTime } from "@ferry/common/runtime";
import type { CopyJob, CopyJobStatus } from "@ferry/crds";
import { copyJobFixture, nodeFixture } from "@ferry/crds/fixtures";
import { parseConfig, UsageError } from "../src/config.ts";
import {
  type DispatchAction,
  type NodeView,
  nodeView,
  planAround,
  planDispatch,
  queueDepth,
  takeBack,
} from "../src/policy/dispatch.ts";
import {
  assigned,
  failed,
  moved,
  requeued,
  retryingInPlace,
  running,
  succeeded,
  withCommittedPartition,
} from "../src/policy/job-status.ts";
import { decideRetry } from "../src/policy/retry.ts";
import { decideClaim, nodeLease } from "../src/registration.ts";
import { cpuPercent, parseNetDev, perSecond } from "../src/resources.ts";

const NOW = new Date("2025-01-01T12:00:00Z");

function job(
  name: string,
  opts: {
    priority?: number;
    created?: string;
    status?: CopyJobStatus;
    maxAttempts?: number;
    timeout?: number;
  } = {},
): CopyJob {
  const j = copyJobFixture(name);
  j.metadata.creationTimestamp = opts.created ?? "2025-01-01T11:00:00Z";
  if (opts.priority !== undefined) j.spec.priority = opts.priority;
  if (opts.maxAttempts !== undefined) j.spec.retry = { maxAttempts: opts.maxAttempts };
  if (opts.timeout !== undefined) j.spec.timeoutSeconds = opts.timeout;
  if (opts.status) j.status = opts.status;
  return j;
}
const node = (name: string, mods: Partial<NodeView> = {}): NodeView => ({
  name,
  alive: true,
  cordoned: false,
  excluded: false,
  limit: 2,
  queue: 0,
  ...mods,
});
const on = (
  n: string,
  attempt = 1,
  phase: "Assigned" | "Running" = "Running",
  startTime = "2025-01-01T11:59:00Z",
): CopyJobStatus => ({
  phase,
  node: n,
  attempt,
  attempts: [{ attempt, node: n, result: "Running", startTime }],
});

/** An action as a line; "(queue)" when it sends the job to a queue rather than a free slot. */
const show = (actions: DispatchAction[]) =>
  actions.map((a) =>
    a.type === "assign"
      ? `assign ${a.job} ${a.node}${a.queued ? " (queue)" : ""}`
      : a.type === "move"
        ? `move ${a.job} ${a.from} ${a.node}${a.queued ? " (queue)" : ""}`
        : `${a.type} ${a.job} ${a.reason}`,
  );

describe("planDispatch", () => {
  const cases: { name: string; jobs: CopyJob[]; nodes: NodeView[]; want: string[] }[] = [
    { name: "no nodes: nothing", jobs: [job("a")], nodes: [], want: [] },
    {
      name: "least loaded first",
      jobs: [job("a"), job("busy", { status: on("n1") })],
      nodes: [node("n1"), node("n2")],
      want: ["assign a n2"],
    },
    {
      name: "priority then FIFO",
      jobs: [
        job("old", { created: "2025-01-01T10:00:00Z" }),
        job("new", { created: "2025-01-01T11:00:00Z" }),
        job("urgent", { priority: 5, created: "2025-01-01T11:30:00Z" }),
      ],
      nodes: [node("n1", { limit: 2 })],
      want: ["assign urgent n1", "assign old n1"],
    },
    {
      name: "cordoned, excluded and dead nodes get nothing",
      jobs: [job("a")],
      nodes: [node("c", { cordoned: true }), node("x", { excluded: true }), node("d", { alive: false })],
      want: [],
    },
    {
      name: "full node gets nothing",
      jobs: [job("a"), job("r", { status: on("n1") })],
      nodes: [node("n1", { limit: 1 })],
      want: [],
    },
    {
      name: "node lost: requeue and the slot is reused",
      jobs: [job("r", { status: on("dead") }), job("a")],
      nodes: [node("dead", { alive: false }), node("n1", { limit: 1 })],
      want: ["requeue r NodeLost", "assign a n1"],
    },
    {
      name: "node lost on the last attempt: fail",
      jobs: [job("r", { status: on("dead", 3), maxAttempts: 3 })],
      nodes: [node("dead", { alive: false })],
      want: ["fail r NodeLost"],
    },
    {
      name: "timeout fails even on a live node",
      jobs: [job("r", { status: on("n1"), timeout: 30 })],
      nodes: [node("n1")],
      want: ["fail r Timeout"],
    },
    {
      name: "final jobs are left alone",
      jobs: [job("s", { status: { phase: "Succeeded" } })],
      nodes: [node("n1")],
      want: [],
    },
    {
      name: "balances across nodes",
      jobs: [job("a"), job("b"), job("c")],
      nodes: [node("n1"), node("n2")],
      want: ["assign a n1", "assign b n2", "assign c n1"],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(show(planDispatch(c.jobs, c.nodes, NOW)), c.want);
    });
  }
  test("takeBack leaves healthy jobs", () =>
    assert.equal(takeBack(job("r", { status: on("n1") }), true, NOW), undefined));
});

describe("planDispatch with queues: a node holds up to `queue` jobs beyond its slots", () => {
  const q = (name: string, mods: Partial<NodeView> = {}) => node(name, { limit: 1, queue: 1, ...mods });
  const waitingOn = (n: string, startTime = "2025-01-01T11:59:59Z") => on(n, 1, "Assigned", startTime);
  const retrying = retryingInPlace(on("n1"), "SourceUnavailable", "refused", 5_000, NOW);
  const cases: { name: string; jobs: CopyJob[]; nodes: NodeView[]; want: string[] }[] = [
    {
      name: "no free slot: the queue with room takes the first job, a full one no more",
      jobs: [job("r", { status: on("n1") }), job("a", { created: "2025-01-01T10:00:00Z" }), job("b")],
      nodes: [q("n1")],
      want: ["assign a n1 (queue)"],
    },
    {
      name: "a free slot anywhere comes before any queue",
      jobs: [job("r", { status: on("n1") }), job("a", { created: "2025-01-01T10:00:00Z" }), job("b")],
      nodes: [q("n1"), q("n2")],
      want: ["assign a n2", "assign b n1 (queue)"],
    },
    {
      name: "a waiting job moves to a node whose slot freed",
      jobs: [job("r", { status: on("n1") }), job("w", { status: waitingOn("n1") })],
      nodes: [q("n1"), q("n2")],
      want: ["move w n1 n2"],
    },
    {
      name: "an older waiting job takes a free slot before a newer Pending one",
      jobs: [
        job("r", { status: on("n1") }),
        job("w", { status: waitingOn("n1"), created: "2025-01-01T10:00:00Z" }),
        job("p", { created: "2025-01-01T11:00:00Z" }),
      ],
      nodes: [q("n1"), q("n2")],
      want: ["move w n1 n2", "assign p n1 (queue)"],
    },
    {
      name: "the waiting ones are the last in order: the first Assigned beyond Running takes the slot",
      jobs: [
        job("r", { status: on("n1") }),
        job("a", { status: waitingOn("n1"), created: "2025-01-01T10:00:00Z" }),
        job("b", { status: waitingOn("n1"), created: "2025-01-01T10:30:00Z" }),
      ],
      nodes: [q("n1", { limit: 2, queue: 2 }), q("n2", { queue: 0 })],
      want: ["move b n1 n2"],
    },
    {
      name: "no slot anywhere: a job that has waited briefly stays",
      jobs: [
        job("r", { status: on("n1") }),
        job("w", { status: waitingOn("n1", "2025-01-01T11:59:55Z") }),
        job("r2", { status: on("n2") }),
      ],
      nodes: [q("n1"), q("n2")],
      want: [],
    },
    {
      name: "stuck behind long jobs: after STUCK_AFTER_MS it moves to another queue with room",
      jobs: [
        job("r", { status: on("n1") }),
        job("w", { status: waitingOn("n1", "2025-01-01T11:59:40Z") }),
        job("r2", { status: on("n2") }),
      ],
      nodes: [q("n1"), q("n2")],
      want: ["move w n1 n2 (queue)"],
    },
    {
      name: "a job waiting on a cordoned node moves to another queue at once",
      jobs: [
        job("r", { status: on("n1") }),
        job("w", { status: waitingOn("n1") }),
        job("r2", { status: on("n2") }),
      ],
      nodes: [q("n1", { cordoned: true }), q("n2")],
      want: ["move w n1 n2 (queue)"],
    },
    {
      name: "a retry in place holds its slot and never moves; the job behind it waits",
      jobs: [
        job("t", { status: retrying, created: "2025-01-01T10:00:00Z" }),
        job("w", { status: waitingOn("n1") }),
      ],
      nodes: [q("n1"), q("n2")],
      want: ["move w n1 n2"],
    },
    {
      name: "a waiting job does not time out: its attempt has not started",
      jobs: [
        job("r", { status: on("n1") }),
        job("w", { status: waitingOn("n1", "2025-01-01T11:00:00Z"), timeout: 30 }),
      ],
      nodes: [q("n1")],
      want: [],
    },
    {
      name: "a job waiting on a lost node goes back to the line, even on its last attempt",
      jobs: [job("w", { status: on("dead", 3, "Assigned"), maxAttempts: 3 })],
      nodes: [q("dead", { alive: false })],
      want: ["requeue w NodeLost"],
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(show(planDispatch(c.jobs, c.nodes, NOW)), c.want));
  }
  test("a node's queue is twice as deep as its slots", () => {
    const gn = nodeFixture("n1");
    gn.spec.concurrencyLimit = 6;
    const view = nodeView(gn, true);
    assert.deepEqual([view.limit, view.queue], [6, 12]);
    assert.equal(queueDepth(0), 0);
    assert.equal(view.excluded, false);
    assert.equal(nodeView(gn, true, true).excluded, true, "a draining node takes nothing more");
  });
  test("a move writes the same attempt on the other node, started when it moved; running restarts its clock", () => {
    const later = new Date(NOW.getTime() + 60_000);
    const m = moved(waitingOn("n1", "2025-01-01T11:00:00Z"), "n2", NOW);
    assert.deepEqual([m.node, m.attempt, m.phase], ["n2", 1, "Assigned"]);
    assert.deepEqual(m.attempts, [{ attempt: 1, node: "n2", result: "Running", startTime: metaTime(NOW) }]);
    assert.equal(running(m, later).attempts?.at(-1)?.startTime, metaTime(later));
  });
});

describe("planAround: the next pass while writes are in flight", () => {
  const jobs = [
    job("a", { created: "2025-01-01T10:00:00Z" }),
    job("b", { created: "2025-01-01T10:01:00Z" }),
    job("c", { created: "2025-01-01T10:02:00Z" }),
  ];
  const nodes = [node("n1", { limit: 1 }), node("n2", { limit: 1 })];
  test("an assignment in flight loads its node and is not planned again", () => {
    // n2, where a fresh plan would not put it: only the overlay keeps b off n2.
    const inFlight = new Map<string, DispatchAction>([["a", { type: "assign", job: "a", node: "n2" }]]);
    assert.deepEqual(show(planAround(inFlight, jobs, nodes, NOW, 16)), ["assign b n1"]);
  });
  test("every slot taken in flight: nothing more", () => {
    const inFlight = new Map<string, DispatchAction>([
      ["a", { type: "assign", job: "a", node: "n1" }],
      ["b", { type: "assign", job: "b", node: "n2" }],
    ]);
    assert.deepEqual(show(planAround(inFlight, jobs, nodes, NOW, 16)), []);
  });
  test("a move in flight loads its new node, and its old one until it is answered", () => {
    const q = ["n0", "n1", "n2"].map((n) => node(n, { limit: 1, queue: 1 }));
    const held = [
      job("r", { status: on("n1") }),
      job("w", { status: on("n1", 1, "Assigned"), created: "2025-01-01T09:00:00Z" }),
      job("p", { created: "2025-01-01T10:00:00Z" }),
    ];
    // In flight to n2, where a fresh plan would not put it (n0 sorts first): only the overlay
    // leaves n0's slot to p.
    const inFlight = new Map<string, DispatchAction>([
      ["w", { type: "move", job: "w", from: "n1", node: "n2" }],
    ]);
    assert.deepEqual(show(planAround(inFlight, held, q, NOW, 16)), ["assign p n0"]);
    // Without n0: n2's slot is the move's, and n1 is still full (r and w) until the move is
    // answered; p's assignment could reach the API server first and make n1 hold 3 for 2. So p
    // goes to n2's queue.
    const two = q.slice(1);
    assert.deepEqual(show(planAround(inFlight, held, two, NOW, 16)), ["assign p n2 (queue)"]);
    // Answered: w is on n2, and n1's queue has room again.
    const after = held.map((j) =>
      j.metadata.name === "w"
        ? job("w", { status: on("n2", 1, "Assigned"), created: "2025-01-01T09:00:00Z" })
        : j,
    );
    assert.deepEqual(show(planAround(new Map(), after, two, NOW, 16)), ["assign p n1 (queue)"]);
  });
  test("assignments in flight beyond a node's slots are not taken for waiting jobs that could move", () => {
    // A node's 4 jobs, all still being written: 2 fill its slots, 2 its queue. Were the last 2
    // "waiting", the plan would move them to the new node (a move dropped as in flight) and fill
    // the first node's queue a second time.
    const burst = Array.from({ length: 8 }, (_, i) => job(`j${i}`, { created: `2025-01-01T10:0${i}:00Z` }));
    const first = [node("b2", { limit: 2, queue: 2 })];
    const inFlight = new Map(planDispatch(burst, first, NOW).map((a) => [a.job, a]));
    assert.deepEqual([...inFlight.keys()], ["j0", "j1", "j2", "j3"]);
    const both = [...first, node("b1", { limit: 2, queue: 2 })];
    assert.deepEqual(show(planAround(inFlight, burst, both, NOW, 16)), [
      "assign j4 b1",
      "assign j5 b1",
      "assign j6 b1 (queue)",
      "assign j7 b1 (queue)",
    ]);
  });
  test("a take-back in flight is not repeated", () => {
    const lost = [job("r", { status: on("dead") }), ...jobs];
    const all = [...nodes, node("dead", { alive: false })];
    const requeue: DispatchAction = {
      type: "requeue",
      job: "r",
      node: "dead",
      reason: "NodeLost",
      message: "",
    };
    assert.deepEqual(show(planAround(new Map([["r", requeue]]), lost, all, NOW, 16)), [
      "assign a n1",
      "assign b n2",
    ]);
  });
  test("at most `room` new actions, first in line first", () => {
    const wide = [node("n1", { limit: 4 })];
    assert.deepEqual(show(planAround(new Map(), jobs, wide, NOW, 2)), ["assign a n1", "assign b n1"]);
    assert.deepEqual(show(planAround(new Map(), jobs, wide, NOW, 0)), []);
  });
});

describe("decideRetry", () => {
  const cases = [
    {
      name: "permanent fails at once",
      err: { transient: false, reason: "AuthenticationFailed" },
      attempt: 1,
      max: 3,
      retry: false,
    },
    {
      name: "transient retries",
      err: { transient: true, reason: "ConnectionLost" },
      attempt: 1,
      max: 3,
      retry: true,
      delay: 10_000,
    },
    {
      name: "backoff doubles",
      err: { transient: true, reason: "ConnectionLost" },
      attempt: 2,
      max: 3,
      retry: true,
      delay: 20_000,
    },
    {
      name: "budget exhausted",
      err: { transient: true, reason: "ConnectionLost" },
      attempt: 3,
      max: 3,
      retry: false,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const d = decideRetry(c.err, c.attempt, { maxAttempts: c.max, backoffSeconds: 10 }, () => 0);
      assert.equal(d.retry, c.retry);
      if (d.retry) assert.equal(d.delayMs, c.delay);
    });
  }
  test("jitter only shortens, by at most 20%", () => {
    const d = decideRetry({ transient: true, reason: "X" }, 1, { backoffSeconds: 10 }, () => 1);
    assert.ok(d.retry && d.delayMs === 8000);
  });
});

describe("job status transitions", () => {
  test("assign, lose, reassign, succeed keeps the history and the checkpoint", () => {
    let s = assigned(undefined, "n1", NOW);
    assert.deepEqual([s.phase, s.node, s.attempt, s.attempts?.length], ["Assigned", "n1", 1, 1]);
    s = withCommittedPartition({ ...s, phase: "Running" }, { id: "p0", rows: 10 });
    s = withCommittedPartition(s, { id: "p0", rows: 10 });
    assert.equal(s.checkpoint?.committedPartitions?.length, 1);
    s = requeued(s, "NodeLost", "gone", NOW);
    assert.deepEqual(
      [s.phase, s.node, s.attempts?.[0]?.result, s.attempts?.[0]?.reason],
      ["Pending", undefined, "Failed", "NodeLost"],
    );
    s = assigned(s, "n2", NOW);
    assert.equal(s.attempt, 2);
    s = succeeded(s, { rows: 10 }, undefined, NOW);
    assert.deepEqual(
      [s.phase, s.attempts?.[1]?.result, s.checkpoint?.committedPartitions?.length],
      ["Succeeded", "Succeeded", 1],
    );
  });
  test("retry in place starts the next attempt later on the same node", () => {
    const s = retryingInPlace(on("n1"), "ConnectionLost", "reset", 5000, NOW);
    assert.deepEqual([s.phase, s.node, s.attempt, s.attempts?.[0]?.result], ["Assigned", "n1", 2, "Failed"]);
    assert.equal(s.attempts?.[1]?.startTime, "2025-01-01T12:00:05Z");
  });
  test("failed records the reason in the last attempt and Ready", () => {
    const s = failed(on("n1"), "AuthenticationFailed", "bad password", NOW);
    assert.equal(s.attempts?.[0]?.reason, "AuthenticationFailed");
    assert.equal(s.conditions?.[0]?.reason, "AuthenticationFailed");
  });
});

describe("decideClaim", () => {
  const lease = (instance: string, holder = "n1"): Lease => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: "l", annotations: { "ferry.dev/instance-id": instance }, resourceVersion: "1" },
    spec: { holderIdentity: holder, leaseDurationSeconds: 4 },
  });
  const cases: {
    name: string;
    lease?: Lease;
    watch: { watchedMs?: number; changed: boolean };
    want: string;
  }[] = [
    { name: "no lease", watch: { changed: false }, want: "take" },
    { name: "released", lease: lease("x", ""), watch: { changed: false }, want: "take" },
    { name: "our own instance (restart)", lease: lease("me"), watch: { changed: false }, want: "take" },
    { name: "another instance: watch", lease: lease("x"), watch: { changed: false }, want: "watch" },
    {
      name: "renewed while watched: refuse",
      lease: lease("x"),
      watch: { watchedMs: 1000, changed: true },
      want: "refuse",
    },
    {
      name: "unchanged for a duration: take",
      lease: lease("x"),
      watch: { watchedMs: 4000, changed: false },
      want: "take",
    },
  ];
  for (const c of cases) test(c.name, () => assert.equal(decideClaim(c.lease, "me", c.watch), c.want));
  test("the node Lease says draining only while the instance that stops says so", () => {
    const stopping = nodeLease("ns", "gw", "n1", "old", 15_000, NOW, lease("old"), {
      "ferry.dev/draining": "true",
    });
    assert.equal(stopping.metadata.annotations?.["ferry.dev/draining"], "true");
    // The replacement (a new pod of the same node) renews from that Lease without the mark.
    const next = nodeLease("ns", "gw", "n1", "new", 15_000, NOW, stopping, {
      "ferry.dev/peer-endpoint": "e",
    });
    assert.equal(next.metadata.annotations?.["ferry.dev/draining"], undefined);
    assert.equal(next.metadata.annotations?.["ferry.dev/peer-endpoint"], "e");
    assert.equal(next.metadata.annotations?.["ferry.dev/instance-id"], "new");
  });
});

describe("resources and config", () => {
  test("cpu percent from deltas", () =>
    assert.equal(cpuPercent({ idle: 100, total: 200 }, { idle: 150, total: 400 }), 75));
  test("/proc/net/dev without loopback", () => {
    const text =
      "Inter-|\n face |\n    lo: 999 0 0 0 0 0 0 0 999 0 0 0 0 0 0 0\n  eth0: 1000 1 0 0 0 0 0 0 2000 1 0 0 0 0 0 0\n";
    assert.deepEqual(parseNetDev(text), { rx: 1000, tx: 2000 });
    assert.equal(perSecond(1000, 3000, 2000), 1000);
  });
  test("config: flags over env, fractional seconds", () => {
    const c = parseConfig(
      ["--node", "n1", "--lease-seconds", "3", "--renew-seconds", "0.5"],
      { FERRY_NODE: "x", FERRY_DRAIN_SECONDS: "2" },
      "host",
    );
    assert.deepEqual([c?.node, c?.leaseMs, c?.renewMs, c?.drainMs], ["n1", 3000, 500, 2000]);
    assert.equal(parseConfig([], {}, "myhost")?.node, "myhost");
    assert.throws(() => parseConfig(["--node", "Bad_Name"], {}, "h"), UsageError);
    assert.throws(() => parseConfig(["--bogus"], {}, "h"), UsageError);
  });
});
