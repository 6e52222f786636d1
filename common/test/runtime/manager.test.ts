import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type TestContext, test } from "node:test";
import type { Kube, KubeObject } from "@ferry/common/kube";
import { eventually, testNamespace } from "@ferry/hack/testing";
import { type Controller, Manager, type ReconcileResult } from "../../src/runtime/controller.ts";
import { selfKey } from "../../src/runtime/keys.ts";
import { Metrics } from "../../src/runtime/metrics.ts";
import { testLog } from "./log.ts";

const LABEL = "ferry.dev/test";
const cm = (namespace: string, name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace, labels: { [LABEL]: "manager", ...labels } },
});

/** A manager of one namespace, stopped (and waited for) after the test. */
function managerFor(t: TestContext, kube: Kube, namespace: string) {
  const { log, lines } = testLog();
  const metrics = new Metrics();
  const manager = new Manager({ kube, log, metrics, namespace });
  const stop = new AbortController();
  t.after(async () => {
    stop.abort();
    await manager.stopped();
  });
  const count = (name: string, labels: Record<string, string>) =>
    metrics.counter(name, "", Object.keys(labels)).get(labels);
  return { manager, metrics, lines, stop, count };
}

test("workers start only once every informer has listed", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  // A kind that does not exist yet: its informer cannot list until the test creates the CRD.
  const suffix = randomBytes(3).toString("hex");
  const group = "runtime.test.ferry.dev";
  const kind = `Probe${suffix}`;
  const plural = `probe${suffix}s`;
  const crd = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural, singular: `probe${suffix}`, kind, listKind: `${kind}List` },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  };
  t.after(() => kube.delete({ apiVersion: crd.apiVersion, kind: crd.kind, name: crd.metadata.name }));

  await kube.create(cm(namespace, "a"));
  const { manager, count, stop } = managerFor(t, kube, namespace);
  const calls: { key: string; allSynced: boolean }[] = [];
  const configMaps = manager.informer("v1", "ConfigMap", { labelSelector: `${LABEL}=manager` });
  const probes = manager.informer(`${group}/v1`, kind);
  manager.register({
    name: "probe",
    watches: [
      { apiVersion: "v1", kind: "ConfigMap", labelSelector: `${LABEL}=manager`, toKeys: selfKey },
      { apiVersion: `${group}/v1`, kind, toKeys: selfKey },
    ],
    async reconcile(key) {
      calls.push({ key, allSynced: configMaps.hasSynced && probes.hasSynced });
      return undefined;
    },
  });
  const started = manager.start(stop.signal);

  await eventually("the ConfigMap informer synced", async () => configMaps.hasSynced);
  await eventually(
    "the probe informer failing",
    async () => count("ferry_informer_restarts_total", { kind, reason: "error" }) >= 2,
  );
  assert.equal(manager.queue("probe")?.length, 1, "the ConfigMap's key waits in the queue");
  assert.deepEqual(calls, [], "no reconcile while an informer has not listed");
  assert.equal(manager.ready, false);

  await kube.create(crd);
  await started;
  await eventually("the waiting key reconciled", async () => calls.length >= 1);
  assert.equal(manager.ready, true);
  assert.deepEqual(calls, [{ key: `${namespace}/a`, allSynced: true }]);
});

test("a failing reconcile is retried with growing backoff until it succeeds; errors are counted", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const { manager, count, lines, stop } = managerFor(t, kube, namespace);
  const times: number[] = [];
  manager.register({
    name: "flaky",
    watches: [{ apiVersion: "v1", kind: "ConfigMap", labelSelector: `${LABEL}=manager`, toKeys: selfKey }],
    async reconcile() {
      times.push(performance.now());
      if (times.length <= 3) throw new Error(`attempt ${times.length} fails`);
      return undefined;
    },
  });
  await manager.start(stop.signal);
  await kube.create(cm(namespace, "x"));
  await eventually("four attempts", async () => times.length >= 4);
  const gaps = times.slice(1).map((at, i) => at - (times[i] ?? 0));
  // 200 ms doubling, jitter shortening by at most 20%: lower bounds only (a busy machine is late, never early).
  for (const [i, min] of [160, 320, 640].entries()) {
    assert.ok((gaps[i] ?? 0) >= min - 5, `gap ${i}: ${gaps[i]} >= ${min}`);
  }
  const key = `${namespace}/x`;
  assert.equal(manager.queue("flaky")?.requeues(key), 0, "success forgets the failures");
  assert.equal(count("ferry_reconcile_total", { controller: "flaky", result: "error" }), 3);
  assert.equal(count("ferry_reconcile_total", { controller: "flaky", result: "success" }), 1);
  assert.equal(count("ferry_reconcile_errors_total", { controller: "flaky" }), 3);
  const failures = lines.filter((l) => l.msg === "reconcile failed; retrying with backoff");
  assert.equal(failures.length, 3);
  assert.deepEqual(
    { controller: failures[0]?.controller, namespace: failures[0]?.namespace, name: failures[0]?.name },
    { controller: "flaky", namespace, name: "x" },
    "the log carries controller, namespace and name",
  );
});

test("requeueAfter brings a key back after the delay, without an error", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const { manager, count, stop } = managerFor(t, kube, namespace);
  const times: number[] = [];
  const controller: Controller = {
    name: "poller",
    watches: [{ apiVersion: "v1", kind: "ConfigMap", labelSelector: `${LABEL}=manager`, toKeys: selfKey }],
    async reconcile(): Promise<ReconcileResult> {
      times.push(performance.now());
      return times.length < 3 ? { requeueAfterMs: 700 } : undefined;
    },
  };
  manager.register(controller);
  await manager.start(stop.signal);
  await kube.create(cm(namespace, "p"));
  await eventually("three runs", async () => times.length >= 3);
  for (let i = 1; i < 3; i++) assert.ok((times[i] ?? 0) - (times[i - 1] ?? 0) >= 695, `run ${i} waited`);
  assert.equal(count("ferry_reconcile_total", { controller: "poller", result: "requeue" }), 2);
  assert.equal(count("ferry_reconcile_errors_total", { controller: "poller" }), 0);
});

test("a change maps to keys of both the old and the new object; informers are shared", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const { manager, stop } = managerFor(t, kube, namespace);
  const ownerOf = (o: KubeObject) => [`${o.metadata.namespace}/${o.metadata.labels?.owner ?? "none"}`];
  const reconciled: string[] = [];
  const watches = [
    { apiVersion: "v1", kind: "ConfigMap", labelSelector: `${LABEL}=manager`, toKeys: ownerOf },
  ];
  manager.register({
    name: "owners",
    watches,
    async reconcile(key) {
      reconciled.push(key);
      return undefined;
    },
  });
  manager.register({ name: "second", watches, reconcile: async () => undefined });
  assert.equal(
    manager.informer("v1", "ConfigMap", { labelSelector: `${LABEL}=manager` }),
    manager.informer("v1", "ConfigMap", { labelSelector: `${LABEL}=manager` }),
  );
  await manager.start(stop.signal);
  assert.throws(() => manager.informer("v1", "Secret"), /before the manager starts/);
  const created = await kube.create(cm(namespace, "child", { owner: "first" }));
  await eventually("the first owner", async () => reconciled.includes(`${namespace}/first`));
  reconciled.length = 0;
  await kube.replace({
    ...created,
    metadata: { ...created.metadata, labels: { [LABEL]: "manager", owner: "second" } },
  });
  await eventually("both owners", async () =>
    [`${namespace}/first`, `${namespace}/second`].every((k) => reconciled.includes(k)),
  );
});

test("a watch with delayMs reconciles a burst of changes once, after the delay", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const { manager, stop } = managerFor(t, kube, namespace);
  const DELAY = 600;
  const calls: number[] = [];
  manager.register({
    name: "coalescing",
    watches: [
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        labelSelector: `${LABEL}=manager`,
        // Every ConfigMap wakes one owner key, as a gateway's jobs wake the gateway.
        toKeys: () => [`${namespace}/owner`],
        delayMs: DELAY,
      },
    ],
    async reconcile() {
      calls.push(performance.now());
      return undefined;
    },
  });
  await manager.start(stop.signal);
  const first = performance.now();
  await Promise.all(Array.from({ length: 10 }, (_, i) => kube.create(cm(namespace, `c${i}`))));
  const span = performance.now() - first;
  await eventually("the burst reconciled", async () => calls.length >= 1);
  // Anything late from the burst would come one delay after the first reconcile.
  await new Promise((resolve) => setTimeout(resolve, DELAY + 200));
  // One reconcile per delay the creates spanned (one, unless the machine is very slow).
  assert.ok(
    calls.length <= 1 + Math.floor(span / DELAY),
    `ten changes in ${span} ms, ${calls.length} reconciles`,
  );
  assert.ok(
    (calls[0] ?? 0) - first >= DELAY - 5,
    `reconciled ${(calls[0] ?? 0) - first} ms after the first change`,
  );
});
