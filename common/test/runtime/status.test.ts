import assert from "node:assert/strict";
import { test } from "node:test";
import { isConflict, type Kube } from "@ferry/common/kube";
import type { Condition, GatewayNode, LogicalGateway } from "@ferry/crds";
import { installCrds, testNamespace } from "@ferry/hack/testing";
import { setCondition } from "../../src/runtime/conditions.ts";
import { applyStatus, StatusWriter } from "../../src/runtime/status.ts";

const API = "ferry.dev/v1alpha1";

function gatewayFixture(
  namespace: string,
  name: string,
  mods: ((g: LogicalGateway) => void)[] = [],
): LogicalGateway {
  const gw: LogicalGateway = {
    apiVersion: API,
    kind: "LogicalGateway",
    metadata: { name, namespace },
    spec: { nodes: { min: 1, max: 3 } },
  };
  for (const mod of mods) mod(gw);
  return gw;
}

function nodeFixture(namespace: string, name: string): GatewayNode {
  return {
    apiVersion: API,
    kind: "GatewayNode",
    metadata: { name, namespace },
    spec: { gatewayRef: { name: "gw" }, managed: false },
  };
}

const condition = (type: string, status: Condition["status"], reason: string, message = ""): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: "2026-01-01T00:00:00Z",
});

async function setup(t: Parameters<typeof testNamespace>[0]): Promise<{ kube: Kube; namespace: string }> {
  const env = await testNamespace(t);
  await installCrds(env.kube);
  return env;
}

test("two field managers write disjoint status fields without clobbering each other", async (t) => {
  const { kube, namespace } = await setup(t);
  await kube.create(nodeFixture(namespace, "gw-0"));
  const ref = { apiVersion: API, kind: "GatewayNode", namespace, name: "gw-0" };
  const operator = (state: string, ready: Condition["status"], extra: object = {}) =>
    applyStatus<GatewayNode>(kube, ref, "ferry-operator/node", {
      state,
      ...extra,
      conditions: [condition("Ready", ready, ready === "True" ? "Online" : "HeartbeatExpired")],
    });
  const agent = () =>
    applyStatus<GatewayNode>(kube, ref, "ferry-agent", {
      version: "1.2.0",
      role: "Worker",
      conditions: [condition("CredentialKeyLoaded", "True", "Loaded")],
    });

  await operator("Online", "True", { podName: "gw-0" });
  await agent();
  let node = (await operator("Offline", "False", { podName: "gw-0" })).object;
  assert.equal(node.status?.state, "Offline");
  assert.equal(node.status?.version, "1.2.0", "the agent's field survived the operator's write");
  assert.equal(node.status?.role, "Worker");
  assert.deepEqual(node.status?.conditions?.map((c) => [c.type, c.status]).sort(), [
    ["CredentialKeyLoaded", "True"],
    ["Ready", "False"],
  ]);

  // The agent writing the same again changes nothing: no request, no new resourceVersion.
  const again = await agent();
  assert.equal(again.written, false);
  assert.equal(again.object.metadata.resourceVersion, node.metadata.resourceVersion);

  // A field the operator owned and no longer sends is removed; the agent's stay.
  const dropped = await operator("Offline", "False");
  assert.equal(dropped.written, true, "leaving out an owned field is a change");
  node = dropped.object;
  assert.equal(node.status?.podName, undefined);
  assert.equal(node.status?.version, "1.2.0");
});

test("a status writer stamps observedGeneration, writes only on change, and keeps transition times", async (t) => {
  const { kube, namespace } = await setup(t);
  await kube.create(gatewayFixture(namespace, "gw"));
  const ref = { apiVersion: API, kind: "LogicalGateway", namespace, name: "gw" };
  let clock = new Date("2026-03-01T10:00:00.250Z");
  const writer = new StatusWriter<LogicalGateway>(kube, "ferry-operator/gateway", { now: () => clock });
  let ready: Omit<Condition, "lastTransitionTime"> = {
    type: "Ready",
    status: "True",
    reason: "AllNodesOnline",
    message: "1/1 nodes online",
  };
  const compute = (gw: LogicalGateway) => ({
    phase: ready.status === "True" ? ("Online" as const) : ("Offline" as const),
    conditions: setCondition(gw.status?.conditions, ready, clock),
  });

  const first = await writer.update(ref, compute);
  assert.equal(first?.written, true);
  assert.equal(first?.object.status?.observedGeneration, 1);
  assert.deepEqual(first?.object.status?.conditions, [
    { ...ready, observedGeneration: 1, lastTransitionTime: "2026-03-01T10:00:00Z" },
  ]);
  const written = first?.object.metadata.resourceVersion;

  clock = new Date("2026-03-01T11:00:00Z");
  const same = await writer.update(ref, compute);
  assert.equal(same?.written, false, "nothing changed: nothing written");
  const stored = await kube.get<LogicalGateway>(ref);
  assert.equal(stored?.metadata.resourceVersion, written, "the object was not touched");

  // A condition built afresh (new transition time) with the same status is not a change either.
  const fresh = await applyStatus<LogicalGateway>(kube, ref, "ferry-operator/gateway", {
    phase: "Online",
    observedGeneration: 1,
    conditions: [{ ...ready, observedGeneration: 1, lastTransitionTime: "2026-03-01T11:00:00Z" }],
  });
  assert.equal(fresh.written, false);

  ready = { ...ready, message: "2/2 nodes online" };
  const reworded = await writer.update(ref, compute);
  assert.equal(reworded?.written, true);
  assert.equal(reworded?.object.status?.conditions?.[0]?.lastTransitionTime, "2026-03-01T10:00:00Z");

  ready = { type: "Ready", status: "False", reason: "NoNodeOnline", message: "0/2 nodes online" };
  const flipped = await writer.update(ref, compute);
  assert.equal(flipped?.object.status?.phase, "Offline");
  assert.equal(flipped?.object.status?.conditions?.[0]?.lastTransitionTime, "2026-03-01T11:00:00Z");

  // A spec change is a new generation: the same status is written again, for generation 2.
  const gw = (await kube.get<LogicalGateway>(ref))!;
  await kube.replace({ ...gw, spec: { nodes: { min: 1, max: 5 } } });
  const observed = await writer.update(ref, compute);
  assert.equal(observed?.written, true);
  assert.equal(observed?.object.status?.observedGeneration, 2);
  assert.equal(observed?.object.status?.conditions?.[0]?.observedGeneration, 2);
});

test("a status computed from a stale read conflicts, and is recomputed from a fresh one", async (t) => {
  const { kube, namespace } = await setup(t);
  const created = await kube.create(gatewayFixture(namespace, "gw"));
  const ref = { apiVersion: API, kind: "LogicalGateway", namespace, name: "gw" };
  // Someone else writes after our cache saw the object.
  await applyStatus(kube, ref, "ferry-agent", { dispatcher: "gw-1" });

  await assert.rejects(
    applyStatus(
      kube,
      ref,
      "ferry-operator/gateway",
      { phase: "Online" },
      { current: created, precondition: true },
    ),
    (err) => isConflict(err),
    "the precondition is checked by the server",
  );

  const seen: (string | undefined)[] = [];
  const writer = new StatusWriter<LogicalGateway>(kube, "ferry-operator/gateway", {
    read: (r) => (r.name === "gw" ? created : undefined),
  });
  const result = await writer.update(ref, (gw) => {
    seen.push(gw.metadata.resourceVersion);
    return { phase: "Online" };
  });
  assert.equal(seen.length, 2, "computed twice: from the cache, then from the server");
  assert.equal(seen[0], created.metadata.resourceVersion);
  assert.notEqual(seen[1], created.metadata.resourceVersion);
  assert.equal(result?.written, true);
  assert.equal(result?.object.status?.phase, "Online");
  assert.equal(result?.object.status?.dispatcher, "gw-1");

  assert.equal(await writer.update({ ...ref, name: "absent" }, () => ({ phase: "Online" })), undefined);
});
