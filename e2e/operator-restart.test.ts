/**
 * The fear: "the operator crashed half-way through a change and left a mess." The operator is
 * SIGKILLed while it scales the gateway, and again in the middle of a rolling update; a new one
 * converges each time — as many pods as nodes, all on the wanted version, status matching spec,
 * no orphan pod — and the copy that ran meanwhile is exact.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Pod } from "@ferry/common";
import { FERRY, operatorRestartTrial, random, startStack, testScope, useServices } from "./support/index.ts";

const services = useServices();

test("operator restart: killed mid-reconcile and mid-rollout, it converges with no orphan pods or stuck status", async (t) => {
  const stack = await startStack(await testScope(t), services, { rows: 3_000 });
  const seed = Number(process.env.FERRY_E2E_SEED ?? Date.now() % 100_000);
  const rand = random(seed);
  for (const change of ["scale", "rollout"] as const) {
    const result = await operatorRestartTrial(stack, `during-${change}`, rand, change);
    t.diagnostic(`seed ${seed}: ${result.killPoint}; converged ${result.failoverMs} ms after the kill`);
    assert.deepEqual(result.violations, []);
    assert.equal(result.failedJobs, 0);
    assert.equal(result.rowsLost, 0, "rows lost");
    assert.equal(result.rowsDuplicated, 0, "rows duplicated");
  }
  // Every agent pod belongs to a GatewayNode of the gateway, and the other way round.
  const nodes = (await stack.kube.list(FERRY, "GatewayNode", stack.namespace))
    .map((n) => n.metadata.name)
    .sort();
  const pods = (
    await stack.kube.list<Pod>("v1", "Pod", stack.namespace, {
      labelSelector: "app.kubernetes.io/component=agent",
    })
  )
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => p.metadata.labels?.["ferry.dev/node"])
    .sort();
  assert.deepEqual(pods, nodes);
});
