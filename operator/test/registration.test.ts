/**
 * The registration key: what it lets an agent do (its gateway's objects, nothing else), and that
 * rotating it from the spec revokes the old key while the new one works.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  connectWithToken,
  decodeRegistrationKey,
  KubeError,
  type KubeObject,
  type Secret,
} from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, testNamespace } from "@ferry/hack/testing";
import { notingApplies } from "./support/noting-kube.ts";
import { gatewayToucher, runOperator } from "./support/operator.ts";

const FERRY = "ferry.dev/v1alpha1";

async function keyOf(kube: Parameters<typeof runOperator>[1], namespace: string, rotation: string) {
  const secret = await eventually(`registration key for rotation ${rotation}`, async () => {
    const s = await kube.get<Secret>({
      apiVersion: "v1",
      kind: "Secret",
      namespace,
      name: "east-registration",
    });
    const r = Buffer.from(s?.data?.rotation ?? "", "base64").toString();
    return r === rotation ? s : undefined;
  });
  return decodeRegistrationKey(Buffer.from(secret.data?.key ?? "", "base64").toString());
}

const status = async (p: Promise<unknown>) => {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof KubeError) return err.code;
    throw err;
  }
};

test("the registration key grants the gateway's objects only, and rotation revokes the old key", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const other = await testNamespace(t);
  await installCrds(kube);
  await kube.create(
    gatewayFixture("east", (g: LogicalGateway) => {
      g.metadata.namespace = namespace;
      g.spec = { nodes: { min: 0, max: 0 } };
    }),
  );
  await runOperator(t, kube, namespace);

  const first = await keyOf(kube, namespace, "initial");
  const agent = connectWithToken(first.server, first.ca, first.token);
  // What a node needs...
  assert.equal(await status(agent.list(FERRY, "CopyJob", namespace)), 200);
  assert.equal(await status(agent.list(FERRY, "GatewayNode", namespace)), 200);
  assert.equal(await status(agent.list("coordination.k8s.io/v1", "Lease", namespace)), 200);
  assert.equal(
    await status(agent.get({ apiVersion: "v1", kind: "Secret", namespace, name: "east-credential-key" })),
    200,
    "its gateway's credential key, by name",
  );
  // ...and nothing else.
  assert.equal(await status(agent.list("v1", "Secret", namespace)), 403, "no listing of Secrets");
  assert.equal(
    await status(agent.get({ apiVersion: "v1", kind: "Secret", namespace, name: "east-registration" })),
    403,
  );
  assert.equal(await status(agent.list("v1", "Pod", namespace)), 403);
  assert.equal(await status(agent.list(FERRY, "CopyJob", other.namespace)), 403, "not another namespace");
  assert.equal(
    await status(
      agent.mergePatch(
        { apiVersion: FERRY, kind: "LogicalGateway", namespace, name: "east" },
        { spec: { nodes: { max: 9 } } },
      ),
    ),
    403,
    "nodes cannot change their gateway",
  );

  // Rotation is a spec change, so it works from Git.
  await kube.mergePatch(
    { apiVersion: FERRY, kind: "LogicalGateway", namespace, name: "east" },
    { spec: { registration: { rotation: "2026-11" } } },
  );
  const second = await keyOf(kube, namespace, "2026-11");
  assert.notEqual(second.token, first.token);
  const rotatedAt = Date.now();
  await eventually(
    "old key refused",
    async () => (await status(agent.list(FERRY, "CopyJob", namespace))) === 401,
  );
  const refusedAfterMs = Date.now() - rotatedAt;
  assert.ok(
    refusedAfterMs < 15_000,
    `the old key is refused within one lease period (took ${refusedAfterMs} ms)`,
  );
  const renewed = connectWithToken(second.server, second.ca, second.token);
  assert.equal(await status(renewed.list(FERRY, "CopyJob", namespace)), 200, "the new key works");
  const events = await kube.list<KubeObject & { reason?: string }>("events.k8s.io/v1", "Event", namespace);
  assert.ok(
    events.some((e) => e.reason === "RegistrationKeyRotated"),
    "the rotation is an Event",
  );
});

test("a settled gateway's reconciles apply none of its agents' objects, and a changed or deleted Role comes back", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  await kube.create(
    gatewayFixture("east", (g: LogicalGateway) => {
      g.metadata.namespace = namespace;
      g.spec = { nodes: { min: 0, max: 0 } };
    }),
  );
  const noting = notingApplies(kube);
  // Applies of whole objects; the status has its own rule (gateway-status.test.ts).
  const applied = () => noting.applied.filter((a) => !a.what.endsWith("/status")).map((a) => a.what);
  const operator = await runOperator(t, noting.kube, namespace);
  await keyOf(kube, namespace, "initial");
  const touch = gatewayToucher(kube, operator, {
    apiVersion: FERRY,
    kind: "LogicalGateway",
    namespace,
    name: "east",
  });
  // Until the controller-manager has filled the token, a reconcile still has work to do.
  await eventually("a reconcile that applies nothing", async () => {
    const before = applied().length;
    await touch();
    return applied().length === before;
  });
  const settled = applied().length;
  for (let i = 0; i < 3; i++) await touch();
  assert.deepEqual(applied().slice(settled), [], "three more reconciles applied nothing");

  // Someone else's change to the agents' Role is undone, and so is its deletion.
  const roleRef = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", namespace, name: "east-agent" };
  const original = await kube.get<KubeObject & { rules: unknown[] }>(roleRef);
  assert.ok(original && original.rules.length > 0);
  await kube.mergePatch(roleRef, { rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get"] }] });
  await eventually("the Role's rules put back", async () => {
    const role = await kube.get<KubeObject & { rules: unknown[] }>(roleRef);
    return JSON.stringify(role?.rules) === JSON.stringify(original.rules);
  });
  await kube.delete(roleRef);
  await eventually("the Role recreated", async () => {
    const role = await kube.get<KubeObject & { rules: unknown[] }>(roleRef);
    return (
      role?.metadata.uid !== original.metadata.uid &&
      JSON.stringify(role?.rules) === JSON.stringify(original.rules)
    );
  });
  assert.ok(applied().slice(settled).includes("Role/east-agent"), "by an apply of the operator's");
});
