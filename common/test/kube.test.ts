import assert from "node:assert/strict";
import https from "node:https";
import { test } from "node:test";
import { kubeconfigAccess } from "@ferry/common";
import {
  connectWithToken,
  isConflict,
  KubeError,
  type KubeObject,
  type WatchEvent,
} from "@ferry/common/kube";
import { compactEtcd, eventually, installCrds, testKubeconfig, testNamespace } from "@ferry/hack/testing";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const cm = (namespace: string, name: string, data: Record<string, string>, labels = {}): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace, labels },
  data,
});

test("create, get, apply, merge-patch, list by label, delete", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const ref = { apiVersion: "v1", kind: "ConfigMap", namespace, name: "a" };
  assert.equal(await kube.get(ref), undefined, "absent objects read as undefined");
  await kube.create(cm(namespace, "a", { x: "1" }, { role: "probe" }));
  await kube.create(cm(namespace, "b", { x: "2" }));

  const applied = await kube.apply(cm(namespace, "a", { y: "2" }, { role: "probe" }), "ferry-test/a");
  assert.deepEqual(applied.data, { x: "1", y: "2" }, "apply merges with fields owned by others");
  const patched = await kube.mergePatch<ConfigMap>(ref, { data: { x: null } });
  assert.deepEqual(patched.data, { y: "2" });

  const probes = await kube.list<ConfigMap>("v1", "ConfigMap", namespace, { labelSelector: "role=probe" });
  assert.deepEqual(
    probes.map((p) => [p.kind, p.metadata.name]),
    [["ConfigMap", "a"]],
  );
  assert.equal(await kube.delete(ref), true);
  assert.equal(await kube.delete(ref), false, "deleting twice is not an error");
});

test("a list in pages returns every object once, each mapped as its page arrives", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const names = ["p1", "p2", "p3", "p4", "p5"];
  for (const name of names) await kube.create(cm(namespace, name, { keep: name, drop: "x".repeat(100) }));
  let mapped = 0;
  const paged = await kube.listWithVersion<ConfigMap>(
    "v1",
    "ConfigMap",
    namespace,
    { fieldSelector: "metadata.name!=kube-root-ca.crt", limit: 2 },
    (o) => {
      mapped++;
      return { ...o, data: { keep: o.data?.keep ?? "" } };
    },
  );
  assert.deepEqual(
    paged.items.map((o) => [o.kind, o.metadata.name, o.data]),
    names.map((n) => ["ConfigMap", n, { keep: n }]),
  );
  assert.equal(mapped, 5);
  assert.ok(paged.resourceVersion, "the snapshot's resourceVersion, to watch from");
});

test("a replace with a stale resourceVersion is a conflict", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const first = await kube.create(cm(namespace, "c", { v: "1" }));
  await kube.replace({ ...first, data: { v: "2" } });
  await assert.rejects(
    () => kube.replace({ ...first, data: { v: "3" } }),
    (err) => isConflict(err),
  );
});

test("refusals carry the code, reason and field causes", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await assert.rejects(
    () => kube.create(cm(namespace, "Not_A_Name", {})),
    (err) =>
      err instanceof KubeError && err.code === 422 && err.causes.some((c) => c.field === "metadata.name"),
  );
});

test("a watch delivers changes in order, and a too-old resourceVersion is reported as 410", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const { resourceVersion } = await kube.listWithVersion("v1", "ConfigMap", namespace);
  const events: WatchEvent<ConfigMap>[] = [];
  const watch = await kube.watch<ConfigMap>("v1", "ConfigMap", { namespace, resourceVersion }, (e) =>
    events.push(e),
  );
  t.after(() => watch.abort());
  const created = await kube.create(cm(namespace, "w", { v: "1" }));
  await kube.replace({ ...created, data: { v: "2" } });
  await kube.delete({ apiVersion: "v1", kind: "ConfigMap", namespace, name: "w" });
  const seen = await eventually("three events", async () => {
    const mine = events.filter((e) => e.object.metadata?.name === "w");
    return mine.length >= 3 && mine;
  });
  assert.deepEqual(
    seen.map((e) => [e.type, e.object.data?.v]),
    [
      ["ADDED", "1"],
      ["MODIFIED", "2"],
      ["DELETED", "2"],
    ],
  );
  watch.abort();
  await watch.done;

  await compactEtcd();
  const old = await kube.watch("v1", "ConfigMap", { namespace, resourceVersion: resourceVersion }, () => {});
  t.after(() => old.abort());
  await assert.rejects(old.done, (err) => err instanceof KubeError && err.code === 410);
});

test("a watch whose handler throws ends with that error, not with a crash of the process", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const { resourceVersion } = await kube.listWithVersion("v1", "ConfigMap", namespace);
  let calls = 0;
  const watch = await kube.watch<ConfigMap>("v1", "ConfigMap", { namespace, resourceVersion }, () => {
    calls++;
    throw new Error("handler bug");
  });
  t.after(() => watch.abort());
  const failed = assert.rejects(watch.done, /handler bug/);
  await kube.create(cm(namespace, "x", {}));
  await kube.create(cm(namespace, "y", {}));
  await failed;
  assert.equal(calls, 1, "nothing is delivered after the failure");
});

test("server-side apply of the status subresource, with a resourceVersion precondition", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  const node: KubeObject & { spec: object } = {
    apiVersion: "ferry.dev/v1alpha1",
    kind: "GatewayNode",
    metadata: { name: "n", namespace },
    spec: { gatewayRef: { name: "gw" } },
  };
  const created = await kube.create(node);
  const applied = await kube.apply(
    { ...node, spec: { gatewayRef: { name: "ignored" } }, status: { state: "Online" } },
    "ferry-test/status",
    true,
    "status",
  );
  assert.deepEqual((applied as { status?: object }).status, { state: "Online" });
  assert.deepEqual(
    (applied as { spec?: object }).spec,
    { gatewayRef: { name: "gw" }, managed: false, cordoned: false },
    "only the status is applied",
  );
  await assert.rejects(
    kube.apply(
      {
        ...node,
        metadata: { ...node.metadata, resourceVersion: created.metadata.resourceVersion },
        status: { state: "Offline" },
      },
      "ferry-test/status",
      true,
      "status",
    ),
    (err) => isConflict(err),
  );
});

test("a request the API server turns away with 429 (priority and fairness) is sent again after its Retry-After", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const raw = kube as unknown as { request<T>(method: string, path: string, body?: unknown): Promise<T> };
  // A ServiceAccount whose requests go to a priority level of its own: about 3 seats, no queue.
  await kube.create({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "throttled", namespace } });
  await kube.create({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "read", namespace },
    rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }],
  } as KubeObject);
  await kube.create({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "read", namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read" },
    subjects: [{ kind: "ServiceAccount", name: "throttled", namespace }],
  } as KubeObject);
  const flow = "flowcontrol.apiserver.k8s.io/v1";
  const name = `ferry-test-${namespace}`;
  await kube.create({
    apiVersion: flow,
    kind: "PriorityLevelConfiguration",
    metadata: { name },
    spec: {
      type: "Limited",
      limited: {
        nominalConcurrencyShares: 1,
        lendablePercent: 0,
        borrowingLimitPercent: 0,
        limitResponse: { type: "Reject" },
      },
    },
  } as KubeObject);
  t.after(() => kube.delete({ apiVersion: flow, kind: "PriorityLevelConfiguration", name }));
  await kube.create({
    apiVersion: flow,
    kind: "FlowSchema",
    metadata: { name },
    spec: {
      priorityLevelConfiguration: { name },
      matchingPrecedence: 100,
      distinguisherMethod: { type: "ByUser" },
      rules: [
        {
          subjects: [{ kind: "ServiceAccount", serviceAccount: { name: "throttled", namespace } }],
          resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"] }],
        },
      ],
    },
  } as KubeObject);
  t.after(() => kube.delete({ apiVersion: flow, kind: "FlowSchema", name }));
  for (let i = 0; i < 20; i++) await kube.create(cm(namespace, `c${i}`, { v: "x".repeat(2000) }));
  const { status } = await raw.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/throttled/token`,
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } },
  );
  const access = kubeconfigAccess(testKubeconfig());
  const throttled = connectWithToken(access.server, access.caPem!, status.token);
  // The server's own count of what it turned away at this level.
  const rejected = async () => {
    const options: https.RequestOptions = { method: "GET" };
    await access.apply(options);
    const text = await new Promise<string>((resolve, reject) => {
      https
        .request(new URL(`${access.server}/metrics`), options, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
          res.on("error", reject);
        })
        .on("error", reject)
        .end();
    });
    let n = 0;
    for (const line of text.split("\n"))
      if (line.startsWith("apiserver_flowcontrol_rejected_requests_total{") && line.includes(`"${name}"`))
        n += Number(line.split(" ").at(-1));
    return n;
  };
  // Bursts of 30 lists at once, until the server has turned some away (the level's configuration
  // takes a moment to apply): each of them still answered the caller.
  await eventually(
    "the priority level turning requests away",
    async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, () => throttled.list<ConfigMap>("v1", "ConfigMap", namespace)),
      );
      for (const r of results) {
        if (r.status === "rejected") throw new Error(`a list failed: ${(r.reason as Error).message}`);
        // The 20 made here (every namespace also holds kube-root-ca.crt).
        assert.equal(r.value.filter((c) => /^c\d+$/.test(c.metadata.name)).length, 20);
      }
      return (await rejected()) > 0;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
});
