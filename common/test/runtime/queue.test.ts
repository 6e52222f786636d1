import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { backoffDelay } from "../../src/runtime/backoff.ts";
import { Metrics } from "../../src/runtime/metrics.ts";
import { WorkQueue } from "../../src/runtime/queue.ts";

/** Lets queued promise callbacks (workers picking keys, handlers finishing) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Advances mocked time in small steps, letting workers react between steps. */
async function advance(t: TestContext, ms: number, step = 5): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    t.mock.timers.tick(Math.min(step, ms - done));
    await settle();
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test("backoff doubles from the base, is capped, and jitter only shortens it", () => {
  const backoff = { baseMs: 200, capMs: 60_000 };
  const table: [attempt: number, random: number, expected: number][] = [
    [0, 0, 200],
    [1, 0, 400],
    [2, 0, 800],
    [8, 0, 51_200],
    [9, 0, 60_000],
    [30, 0, 60_000],
    [0, 1, 160],
    [9, 1, 48_000],
    [2, 0.5, 720],
  ];
  for (const [attempt, random, expected] of table) {
    assert.equal(
      backoffDelay(attempt, backoff, () => random),
      expected,
      `attempt ${attempt}, random ${random}`,
    );
  }
  // Worst jitter on one delay, none on the previous: still strictly longer until the cap.
  for (let n = 1; n < 9; n++) {
    assert.ok(backoffDelay(n, backoff, () => 0.999) > backoffDelay(n - 1, backoff, () => 0), `attempt ${n}`);
  }
});

test("a key queued several times before it is processed is processed once", async () => {
  const queue = new WorkQueue();
  const seen: string[] = [];
  const stop = new AbortController();
  for (const key of ["ns/a", "ns/b", "ns/a", "ns/a", "ns/b"]) queue.add(key);
  assert.equal(queue.length, 2);
  const running = queue.run(
    2,
    async (key) => {
      seen.push(key);
    },
    stop.signal,
  );
  while (seen.length < 2) await settle();
  await settle();
  stop.abort();
  await running;
  assert.deepEqual(seen.sort(), ["ns/a", "ns/b"]);
  assert.equal(queue.length, 0);
});

test("a key is never processed twice at once, and re-added while processing it runs once more after", async () => {
  const queue = new WorkQueue();
  const stop = new AbortController();
  const active = new Map<string, number>();
  let maxActiveSameKey = 0;
  const runs: string[] = [];
  const gate = deferred();
  const running = queue.run(
    4,
    async (key) => {
      active.set(key, (active.get(key) ?? 0) + 1);
      maxActiveSameKey = Math.max(maxActiveSameKey, active.get(key) ?? 0);
      runs.push(key);
      if (key === "ns/slow" && runs.filter((k) => k === "ns/slow").length === 1) await gate.promise;
      active.set(key, (active.get(key) ?? 0) - 1);
    },
    stop.signal,
  );
  queue.add("ns/slow");
  while (!runs.includes("ns/slow")) await settle();
  // The first run of ns/slow is blocked: adding it again (twice) must not start a second run, but
  // other keys proceed on the other workers meanwhile.
  queue.add("ns/slow");
  queue.add("ns/slow");
  queue.add("ns/other");
  while (!runs.includes("ns/other")) await settle();
  for (let i = 0; i < 5; i++) await settle();
  assert.deepEqual(runs, ["ns/slow", "ns/other"], "no second run of ns/slow while the first is in progress");
  gate.resolve();
  while (runs.filter((k) => k === "ns/slow").length < 2) await settle();
  for (let i = 0; i < 5; i++) await settle();
  stop.abort();
  await running;
  assert.deepEqual(runs, ["ns/slow", "ns/other", "ns/slow"], "one more run after, for both re-adds");
  assert.equal(maxActiveSameKey, 1);
});

test("failures back off exponentially per key up to the cap, and forget resets", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  const queue = new WorkQueue({ backoff: { baseMs: 100, capMs: 500 }, random: () => 0 });
  const stop = new AbortController();
  const calls: number[] = [];
  let succeedAfter = 6;
  const running = queue.run(
    1,
    async (key) => {
      calls.push(Date.now());
      if (calls.length === succeedAfter) {
        queue.forget(key);
        return;
      }
      throw new Error("not yet");
    },
    stop.signal,
  );
  queue.add("ns/k");
  await settle();
  await advance(t, 2_000);
  const gaps = calls.slice(1).map((at, i) => at - (calls[i] ?? 0));
  assert.deepEqual(gaps, [100, 200, 400, 500, 500], "100 ms doubling, capped at 500 ms");
  assert.equal(queue.requeues("ns/k"), 0, "forgotten after the success");

  // After forget, the next failure starts from the base again.
  succeedAfter = 0;
  calls.length = 0;
  queue.add("ns/k");
  await settle();
  await advance(t, 350);
  assert.deepEqual(
    calls.slice(1).map((at, i) => at - (calls[i] ?? 0)),
    [100, 200],
  );
  assert.equal(queue.requeues("ns/k"), 3);
  stop.abort();
  await running;
});

test("addAfter: of two delays for one key the earliest wins, and the later one is dropped", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  const queue = new WorkQueue();
  const stop = new AbortController();
  const calls: [string, number][] = [];
  const running = queue.run(
    1,
    async (key) => {
      calls.push([key, Date.now()]);
    },
    stop.signal,
  );
  queue.addAfter("ns/a", 1_000);
  queue.addAfter("ns/a", 300);
  queue.addAfter("ns/b", 200);
  queue.addAfter("ns/b", 900);
  await advance(t, 2_000, 50);
  assert.deepEqual(calls, [
    ["ns/b", 200],
    ["ns/a", 300],
  ]);
  stop.abort();
  await running;
});

test("shutdown waits for runs in progress and drops the rest; depth is a gauge", async () => {
  const metrics = new Metrics();
  const queue = new WorkQueue({ name: "probe", metrics });
  const stop = new AbortController();
  const gate = deferred();
  let finished = 0;
  for (const key of ["ns/1", "ns/2", "ns/3"]) queue.add(key);
  const depth = () => metrics.gauge("ferry_workqueue_depth", "", ["controller"]).get({ controller: "probe" });
  assert.equal(depth(), 3);
  const running = queue.run(
    1,
    async () => {
      await gate.promise;
      finished++;
    },
    stop.signal,
  );
  await settle();
  assert.equal(depth(), 2, "one key taken by the worker");
  stop.abort();
  queue.add("ns/4");
  let resolved = false;
  void running.then(() => {
    resolved = true;
  });
  await settle();
  assert.equal(resolved, false, "run() waits for the handler in progress");
  gate.resolve();
  await running;
  assert.equal(finished, 1);
});
