/**
 * The fear: "the node running my copy died and I lost (or doubled) rows." A slow copy runs on a
 * gateway of agent pods; its node's agent is SIGKILLed at a random point; the job is taken back
 * (NodeLost) and finished on another node, and the output is checked row by row.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { random, startStack, testScope, useServices, workerCrashTrial } from "./support/index.ts";

const services = useServices();

test("worker crash: SIGKILL the node running a copy; another node finishes it, every row once", async (t) => {
  const stack = await startStack(await testScope(t), services, { spec: { nodes: { min: 2, max: 2 } } });
  const seed = Number(process.env.FERRY_E2E_SEED ?? Date.now() % 100_000);
  const result = await workerCrashTrial(stack, "crash", random(seed));
  t.diagnostic(`seed ${seed}: killed ${result.killPoint}; resumed elsewhere in ${result.failoverMs} ms`);
  assert.deepEqual(result.violations, []);
  assert.equal(result.failedJobs, 0);
  assert.equal(result.rowsLost, 0, "rows lost");
  assert.equal(result.rowsDuplicated, 0, "rows duplicated");
  const job = await stack.kube.get<import("@ferry/crds").CopyJob>({
    apiVersion: "ferry.dev/v1alpha1",
    kind: "CopyJob",
    namespace: stack.namespace,
    name: "crash",
  });
  assert.equal(job?.status?.attempts?.[0]?.reason, "NodeLost", JSON.stringify(job?.status?.attempts));
});
