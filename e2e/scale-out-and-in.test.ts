/**
 * The fear: "it either can't keep up or it kills my jobs to save money." A burst of copies on a
 * one-node gateway grows it to nodes.max (never beyond); when the queue is quiet it shrinks back
 * to nodes.min after the quiet period — and no node is taken away while it runs a copy: every job
 * finishes in its first attempt, every row exactly once.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { eventually } from "@ferry/hack/testing";
import {
  checkOutput,
  copyJob,
  listNodes,
  SLOW_QUERY,
  startStack,
  testScope,
  useServices,
  waitFinal,
} from "./support/index.ts";

const services = useServices();

test("scale out to nodes.max under a burst, back to nodes.min when quiet, never a node with a running job", async (t) => {
  const stack = await startStack(await testScope(t), services, {
    rows: 3_000,
    spec: { nodes: { min: 1, max: 3 }, concurrency: { perNode: 1, maxPerNode: 1, autoTune: false } },
    operatorEnv: { FERRY_SCALE_IN_QUIET_MS: "5000" },
  });
  let most = 0;
  let sampling = true;
  t.after(() => {
    sampling = false;
  });
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, (await listNodes(stack.kube, stack.namespace)).length);
      await delay(200);
    }
  })();
  const names = Array.from({ length: 6 }, (_, i) => `burst-${i}`);
  for (const n of names)
    await stack.kube.create(copyJob(stack, n, { query: SLOW_QUERY, partitions: 2, parallelism: 1 }));
  await eventually(
    "three nodes Online",
    async () => {
      const nodes = await listNodes(stack.kube, stack.namespace);
      return nodes.length === 3 && nodes.every((n) => n.status?.state === "Online");
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );

  const done = [];
  for (const n of names) done.push(await waitFinal(stack, n, 240_000));
  const ran = new Set(done.map((j) => j.status?.node));
  t.diagnostic(`jobs ran on ${[...ran].sort().join(", ")}; at most ${most} nodes`);
  assert.ok(ran.size >= 2, "the burst was spread over the new nodes");
  for (const job of done) {
    assert.equal(job.status?.phase, "Succeeded", JSON.stringify(job.status?.attempts));
    assert.equal(
      job.status?.attempts?.length,
      1,
      `${job.metadata.name} was interrupted: ${JSON.stringify(job.status?.attempts)}`,
    );
    const out = await checkOutput(stack, job);
    assert.deepEqual([out.lost, out.duplicated], [0, 0], `${job.metadata.name}: lost, duplicated`);
  }

  await eventually(
    "back to one node",
    async () => (await listNodes(stack.kube, stack.namespace)).length === 1,
    {
      timeoutMs: 120_000,
      intervalMs: 250,
    },
  );
  await delay(3_000);
  sampling = false;
  await sampler;
  assert.equal(most, 3, "grew to nodes.max and never beyond");
  assert.equal((await listNodes(stack.kube, stack.namespace)).length, 1, "stays at nodes.min");
});
