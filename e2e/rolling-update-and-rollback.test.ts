/**
 * The fear: "an upgrade breaks the gateway, or the copy that was running." A new agent version
 * rolls through the gateway's nodes one at a time while a copy runs, and the copy ends exact; a
 * release whose agent never starts (the runtime's `broken` tag) is rolled back on the node that
 * tried it, the rollout halts with a reason, and the gateway keeps copying on the good version.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import type { KubeObject, Pod } from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { eventually } from "@ferry/hack/testing";
import {
  checkOutput,
  copyJob,
  FERRY,
  getGateway,
  listNodes,
  SLOW_QUERY,
  startStack,
  testScope,
  useServices,
  waitFinal,
} from "./support/index.ts";

const services = useServices();

test("a good version rolls through under a running copy; a bad one is rolled back", async (t) => {
  const stack = await startStack(await testScope(t), services, {
    rows: 4_000,
    spec: { update: { policy: "Auto", drainTimeoutSeconds: 60 } },
  });
  const ref = { apiVersion: FERRY, kind: "LogicalGateway", namespace: stack.namespace, name: stack.gateway };
  const images = async () =>
    (
      await stack.kube.list<Pod>("v1", "Pod", stack.namespace, {
        labelSelector: "app.kubernetes.io/component=agent",
      })
    ).map((p) => p.spec.containers[0]?.image);
  let bothOut = false;
  let sampling = true;
  t.after(() => {
    sampling = false;
  });
  const sampler = (async () => {
    while (sampling) {
      const out = (await listNodes(stack.kube, stack.namespace)).filter(
        (n) => n.spec.cordoned || n.status?.state === "Upgrading" || n.status?.state === "Offline",
      );
      if (out.length > 1) bothOut = true;
      await delay(200);
    }
  })();

  await stack.kube.create(
    copyJob(stack, "during-rollout", { query: SLOW_QUERY, partitions: 4, parallelism: 1 }),
  );
  await eventually(
    "the copy running",
    async () => {
      const j = await stack.kube.get<import("@ferry/crds").CopyJob>({
        ...ref,
        kind: "CopyJob",
        name: "during-rollout",
      });
      return j?.status?.phase === "Running";
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  await stack.kube.mergePatch(ref, { spec: { agent: { version: "1.1.0" } } });
  await eventually(
    "every pod on 1.1.0, the gateway Online on it",
    async () => {
      const g = await getGateway(stack.kube, stack.namespace, stack.gateway);
      const i = await images();
      return (
        g?.status?.phase === "Online" &&
        g.status.version === "1.1.0" &&
        i.length === 2 &&
        i.every((image) => image === "ferry/agent:1.1.0") &&
        (await listNodes(stack.kube, stack.namespace)).every((n) => !n.spec.cordoned)
      );
    },
    { timeoutMs: 180_000, intervalMs: 250 },
  );
  sampling = false;
  await sampler;
  assert.equal(bothOut, false, "one node at a time");
  const during = await waitFinal(stack, "during-rollout", 180_000);
  assert.equal(during.status?.phase, "Succeeded", JSON.stringify(during.status?.attempts));
  t.diagnostic(
    `copy during the rollout: ${(during.status?.attempts ?? []).map((a) => `${a.node}: ${a.result} ${a.reason ?? ""}`).join("; ")}`,
  );
  const out = await checkOutput(stack, during);
  assert.deepEqual([out.lost, out.duplicated], [0, 0], "rows lost, duplicated");

  await stack.kube.mergePatch(ref, { spec: { agent: { version: "broken" } } });
  await eventually(
    "rolled back: the failed version recorded, every pod on 1.1.0, Online",
    async () => {
      const g = await stack.kube.get<LogicalGateway>(ref);
      const i = await images();
      return (
        g?.metadata.annotations?.["ferry.dev/rollout-failed-version"] === "broken" &&
        g.status?.phase === "Online" &&
        i.length === 2 &&
        i.every((image) => image === "ferry/agent:1.1.0") &&
        (await listNodes(stack.kube, stack.namespace)).every((n) => !n.spec.cordoned)
      );
    },
    { timeoutMs: 180_000, intervalMs: 250 },
  );
  const events = await stack.kube.list<KubeObject & { reason?: string; note?: string }>(
    "events.k8s.io/v1",
    "Event",
    stack.namespace,
  );
  const rolledBack = events.find((e) => e.reason === "UpdateRolledBack");
  assert.ok(rolledBack, "an Event says the update was rolled back");
  assert.match(rolledBack.note ?? "", /broken/);

  await stack.kube.create(copyJob(stack, "after-rollback", { partitions: 2 }));
  const after = await waitFinal(stack, "after-rollback");
  assert.equal(after.status?.phase, "Succeeded");
  const out2 = await checkOutput(stack, after);
  assert.deepEqual([out2.lost, out2.duplicated], [0, 0], "rows lost, duplicated after the rollback");
});
