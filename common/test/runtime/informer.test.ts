import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import type { Kube, KubeObject } from "@ferry/common/kube";
import { compactEtcd, eventually, testNamespace } from "@ferry/hack/testing";
import { Informer, type InformerEvent, type InformerSpec } from "../../src/runtime/informer.ts";
import { Metrics } from "../../src/runtime/metrics.ts";
import { testLog } from "./log.ts";
import { startProxy } from "./proxy.ts";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const cm = (namespace: string, name: string, v: string): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace, labels: { "ferry.dev/test": "informer" } },
  data: { v },
});
const ref = (namespace: string, name: string) => ({ apiVersion: "v1", kind: "ConfigMap", namespace, name });

/** Starts an informer of the namespace's ConfigMaps, recording what it delivers. */
async function informerOf(t: TestContext, kube: Kube, namespace: string, spec: Partial<InformerSpec> = {}) {
  const { log, lines } = testLog();
  const metrics = new Metrics();
  const informer = new Informer<ConfigMap>(
    kube,
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      namespace,
      // Not the namespace's kube-root-ca.crt, which the controller-manager adds at any moment.
      labelSelector: "ferry.dev/test=informer",
      backoff: { baseMs: 200, capMs: 2_000 },
      ...spec,
    },
    log,
    metrics,
  );
  const events: InformerEvent<ConfigMap>[] = [];
  informer.on((e) => events.push(e));
  const stop = new AbortController();
  t.after(async () => {
    stop.abort();
    await informer.stopped();
  });
  await informer.start(stop.signal);
  const restarts = (reason: string) =>
    metrics
      .counter("ferry_informer_restarts_total", "", ["kind", "reason"])
      .get({ kind: "ConfigMap", reason });
  const lists = () => metrics.counter("ferry_informer_lists_total", "", ["kind"]).get({ kind: "ConfigMap" });
  /** The events delivered since `from`, as [type, name, data.v] (resyncs left out). */
  const seen = (from = 0) =>
    events
      .slice(from)
      .filter((e) => !(e.type === "update" && e.resync))
      .map((e) => [e.type, e.object.metadata.name, e.object.data?.v]);
  return { informer, events, seen, restarts, lists, lines, metrics, stop };
}

test("an informer lists, then delivers adds, updates and deletes, and its cache follows", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create(cm(namespace, "a", "1"));
  await kube.create(cm(namespace, "b", "1"));
  const { informer, seen, lines } = await informerOf(t, kube, namespace);
  assert.equal(informer.hasSynced, true);
  assert.deepEqual(seen().sort(), [
    ["add", "a", "1"],
    ["add", "b", "1"],
  ]);
  assert.equal(informer.store.size, 2);

  // A handler that throws is logged and does not stop the others or the cache.
  informer.onAdd(() => {
    throw new Error("broken handler");
  });
  const a = await kube.get<ConfigMap>(ref(namespace, "a"));
  await kube.replace({ ...a!, data: { v: "2" } });
  await kube.create(cm(namespace, "c", "1"));
  await kube.delete(ref(namespace, "b"));
  await eventually("three changes delivered", async () => seen(2).length >= 3 || undefined);
  assert.deepEqual(seen(2), [
    ["update", "a", "2"],
    ["add", "c", "1"],
    ["delete", "b", "1"],
  ]);
  assert.deepEqual(
    informer.store
      .list(namespace)
      .map((o) => [o.metadata.name, o.data?.v])
      .sort(),
    [
      ["a", "2"],
      ["c", "1"],
    ],
  );
  assert.equal(informer.store.get(namespace, "c")?.kind, "ConfigMap");
  assert.equal(informer.store.get(namespace, "b"), undefined);
  assert.ok(lines.some((l) => l.msg === "informer handler threw"));
});

test("a transform shapes what the cache keeps and what handlers see, listed or watched", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create({ ...cm(namespace, "a", "1"), data: { v: "1", bulky: "x".repeat(1000) } });
  const { informer, seen } = await informerOf(t, kube, namespace, {
    transform: (o) => ({ ...o, data: { v: (o as ConfigMap).data?.v ?? "" } }) as KubeObject,
  });
  await kube.create({ ...cm(namespace, "b", "1"), data: { v: "1", bulky: "y" } });
  await eventually("b seen", async () => informer.store.size === 2);
  assert.deepEqual(seen().sort(), [
    ["add", "a", "1"],
    ["add", "b", "1"],
  ]);
  for (const name of ["a", "b"])
    assert.deepEqual(
      informer.store.get(namespace, name)?.data,
      { v: "1" },
      `${name}: only what the transform kept`,
    );
});

test("after a transport error the informer resumes its watch where it was, without relisting", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const proxy = await startProxy(t);
  const { seen, restarts, lists } = await informerOf(t, proxy.kube, namespace);
  // Created after the start, so seen through the watch: the watch is established before the cut.
  await kube.create(cm(namespace, "a", "1"));
  await eventually("the first add", async () => seen().length >= 1);
  proxy.cut();
  await eventually("the error counted", async () => restarts("error") >= 1);
  await kube.create(cm(namespace, "b", "1"));
  await eventually("the add after the reconnect", async () => seen().length >= 2 || undefined);
  assert.deepEqual(seen(), [
    ["add", "a", "1"],
    ["add", "b", "1"],
  ]);
  assert.equal(lists(), 1, "resumed from its resourceVersion: no second list");
});

test("when the watch's resourceVersion was compacted (410) it relists and delivers what changed meanwhile", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const proxy = await startProxy(t);
  const { informer, seen, restarts, lists, lines } = await informerOf(t, proxy.kube, namespace);
  for (const name of ["changed", "deleted", "same"]) await kube.create(cm(namespace, name, "1"));
  await eventually("the adds, through the watch", async () => seen().length >= 3);

  // The informer loses the server: changes happen that its watch cannot see, and etcd forgets them.
  proxy.hold();
  proxy.cut();
  await eventually("the disconnect noticed", async () => restarts("error") >= 1);
  const changed = await kube.get<ConfigMap>(ref(namespace, "changed"));
  await kube.replace({ ...changed!, data: { v: "2" } });
  await kube.delete(ref(namespace, "deleted"));
  await kube.create(cm(namespace, "created", "1"));
  await compactEtcd();
  proxy.release();

  await eventually("relisted after 410", async () => lists() >= 2);
  await eventually("the diff delivered", async () => seen(3).length >= 3 || undefined);
  assert.ok(restarts("gone") >= 1);
  assert.deepEqual(seen(3).sort(), [
    ["add", "created", "1"],
    ["delete", "deleted", "1"],
    ["update", "changed", "2"],
  ]);
  assert.deepEqual(
    informer.store
      .list()
      .map((o) => o.metadata.name)
      .sort(),
    ["changed", "created", "same"],
  );
  assert.ok(
    lines.some((l) => l.reason === "gone" && /410/.test(String(l.msg))),
    "the 410 is logged",
  );

  // And it keeps watching from the relist.
  await kube.create(cm(namespace, "later", "1"));
  await eventually("watching again", async () => informer.store.get(namespace, "later"));
});

test("a watch that ends at its timeout is resumed; one that goes silent is abandoned and restarted", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const proxy = await startProxy(t);
  const { informer, restarts, lists } = await informerOf(t, proxy.kube, namespace, {
    watchTimeoutSeconds: [1, 1],
  });
  await eventually("two clean ends", async () => restarts("timeout") >= 2);
  await kube.create(cm(namespace, "a", "1"));
  await eventually("the add", async () => informer.store.get(namespace, "a"));
  assert.equal(lists(), 1, "a clean end resumes the watch, no relist");

  // Silence: nothing arrives and nothing closes. The watchdog (1 s timeout: gives up after 6.2 s).
  proxy.blackhole();
  await eventually("the stalled watch restarted", async () => restarts("stalled") >= 1, {
    timeoutMs: 20_000,
  });
  await kube.create(cm(namespace, "b", "1"));
  await eventually("the add after the restart", async () => informer.store.get(namespace, "b"));
});

test("a resync re-delivers every cached object as an update", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create(cm(namespace, "a", "1"));
  await kube.create(cm(namespace, "b", "1"));
  const { events } = await informerOf(t, kube, namespace, { resyncMs: 300 });
  const resynced = await eventually("two resyncs of each", async () => {
    const r = events.filter((e) => e.type === "update" && e.resync);
    return r.length >= 4 && r;
  });
  for (const e of resynced) assert.ok(e.type === "update" && e.old === e.object);
  assert.deepEqual([...new Set(resynced.map((e) => e.object.metadata.name))].sort(), ["a", "b"]);
});

test("an informer retries its first list until the kind exists, and start() waits for it", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const { log } = testLog();
  const metrics = new Metrics();
  const informer = new Informer(
    kube,
    { apiVersion: "ferry.dev/v1alpha1", kind: "NoSuchKind", namespace, backoff: { baseMs: 50, capMs: 200 } },
    log,
    metrics,
  );
  const stop = new AbortController();
  const started = informer.start(stop.signal);
  await eventually(
    "retries counted",
    async () =>
      metrics
        .counter("ferry_informer_restarts_total", "", ["kind", "reason"])
        .get({ kind: "NoSuchKind", reason: "error" }) >= 3,
  );
  assert.equal(informer.hasSynced, false);
  stop.abort();
  await assert.rejects(started, { name: "AbortError" });
  await informer.stopped();
});
