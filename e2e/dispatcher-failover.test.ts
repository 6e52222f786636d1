/**
 * The fear: "the node that hands out work died, so nothing runs — or everything runs twice." Jobs
 * stream in while the dispatcher's agent is SIGKILLed at a random point; another node takes the
 * dispatcher lease within about one lease period, and every job ends exactly once.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { dispatcherFailoverTrial, random, startStack, testScope, useServices } from "./support/index.ts";

const services = useServices();
/** FAST_AGENT_ENV's dispatcher lease, plus a poll and the API's round trips. */
const LEASE_MS = 4_000;

test("dispatcher failover: SIGKILL the dispatcher; another takes over, no job assigned twice", async (t) => {
  const stack = await startStack(await testScope(t), services, {
    rows: 3_000,
    spec: { nodes: { min: 3, max: 3 } },
  });
  const seed = Number(process.env.FERRY_E2E_SEED ?? Date.now() % 100_000);
  const result = await dispatcherFailoverTrial(stack, "stream", random(seed));
  t.diagnostic(`seed ${seed}: killed ${result.killPoint}; new dispatcher in ${result.failoverMs} ms`);
  assert.deepEqual(result.violations, []);
  assert.equal(result.failedJobs, 0);
  assert.equal(result.rowsLost, 0, "rows lost");
  assert.equal(result.rowsDuplicated, 0, "rows duplicated");
  assert.ok(result.failoverMs < LEASE_MS + 4_000, `failover took ${result.failoverMs} ms`);
});
