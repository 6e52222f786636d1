import assert from "node:assert/strict";
import { test } from "node:test";
import { isConflict, KubeError, type KubeObject, type WatchEvent } from "@ferry/common/kube";
import { compactEtcd, eventually, installCrds, testNamespace } from "@ferry/hack/testing";

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
