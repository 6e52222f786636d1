/**
 * update.policy Manual: a new agent version is reported as available and nothing is replaced
 * until the policy allows it. The node is a real agent process on the test cluster's process node.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Pod } from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import {
  agentsOnProcessNode,
  eventually,
  FAST_AGENT_ENV,
  installCrds,
  testNamespace,
} from "@ferry/hack/testing";
import { gatewayIn } from "./support/fixtures.ts";
import { runOperator } from "./support/operator.ts";

test("Manual policy reports the update as available and waits; Auto then rolls it", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  const ref = { apiVersion: "ferry.dev/v1alpha1", kind: "LogicalGateway", namespace, name: "east" };
  await kube.create(
    gatewayFixture(
      "east",
      gatewayIn(namespace, {
        nodes: { min: 1, max: 1 },
        agent: { version: "1.0.0", ...agentsOnProcessNode(), env: FAST_AGENT_ENV },
        update: { policy: "Manual" },
      }),
    ),
  );
  await runOperator(t, kube, namespace);
  const image = async () =>
    (await kube.get<Pod>({ apiVersion: "v1", kind: "Pod", namespace, name: "east-0" }))?.spec.containers[0]
      ?.image;
  await eventually(
    "Online on 1.0.0",
    async () => (await kube.get<LogicalGateway>(ref))?.status?.version === "1.0.0",
    { timeoutMs: 90_000 },
  );

  await kube.mergePatch(ref, { spec: { agent: { version: "1.1.0" } } });
  const progressing = await eventually("UpdateAvailable", async () => {
    const c = (await kube.get<LogicalGateway>(ref))?.status?.conditions?.find(
      (x) => x.type === "Progressing",
    );
    return c?.reason === "UpdateAvailable" ? c : undefined;
  });
  assert.match(progressing.message, /1\.1\.0/);
  assert.equal(await image(), "ferry/agent:1.0.0", "nothing replaced under Manual");

  await kube.mergePatch(ref, { spec: { update: { policy: "Auto" } } });
  await eventually("rolled to 1.1.0", async () => (await image()) === "ferry/agent:1.1.0", {
    timeoutMs: 60_000,
  });
});
