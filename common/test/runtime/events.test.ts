import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@ferry/common/kube";
import { testNamespace } from "@ferry/hack/testing";
import { EventRecorder } from "../../src/runtime/events.ts";
import { testLog } from "./log.ts";

/** The core v1 view: what `kubectl describe` lists (it selects by involvedObject). */
interface CoreEvent extends KubeObject {
  type: string;
  reason: string;
  message: string;
  count?: number;
  series?: { count: number; lastObservedTime: string };
  action?: string;
  reportingComponent?: string;
  reportingInstance?: string;
  involvedObject: { kind: string; name: string; uid?: string };
}

interface SeriesEvent extends KubeObject {
  note?: string;
  series?: { count: number };
}

test("events are recorded about an object and listed the way kubectl describe lists them", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const target = await kube.create<KubeObject>({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "target", namespace },
  });
  const { log } = testLog();
  const recorder = new EventRecorder(kube, { component: "ferry-operator", host: "pod-1" }, log);
  await recorder.event(target, "Warning", "ProbeFailed", "could not reach the peer gw-1", "Probe");

  const events = await kube.list<CoreEvent>("v1", "Event", namespace, {
    fieldSelector: `involvedObject.uid=${target.metadata.uid}`,
  });
  assert.equal(events.length, 1);
  const [event] = events;
  assert.deepEqual(
    {
      type: event?.type,
      reason: event?.reason,
      message: event?.message,
      action: event?.action,
      component: event?.reportingComponent,
      instance: event?.reportingInstance,
      object: [event?.involvedObject.kind, event?.involvedObject.name],
    },
    {
      type: "Warning",
      reason: "ProbeFailed",
      message: "could not reach the peer gw-1",
      action: "Probe",
      component: "ferry-operator",
      instance: "ferry-operator-pod-1",
      object: ["ConfigMap", "target"],
    },
  );
});

test("a repeated event raises the count of one object instead of creating more", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const target = await kube.create<KubeObject>({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "target", namespace },
  });
  const recorder = new EventRecorder(kube, { component: "ferry-operator" }, testLog().log);
  const list = () =>
    kube.list<SeriesEvent>("events.k8s.io/v1", "Event", namespace, {
      fieldSelector: `regarding.uid=${target.metadata.uid}`,
    });

  for (let i = 0; i < 3; i++)
    await recorder.event(target, "Warning", "ReconcileFailed", "the Secret x is missing");
  let events = await list();
  assert.equal(events.length, 1);
  assert.equal(events[0]?.series?.count, 3);
  const core = await kube.list<CoreEvent>("v1", "Event", namespace, {
    fieldSelector: `involvedObject.uid=${target.metadata.uid}`,
  });
  // kubectl describe prints "(x3 over ...)" from the series of a core v1 Event.
  assert.equal(core[0]?.series?.count, 3);

  // Concurrent repeats of another event: one object, every occurrence counted.
  await Promise.all(
    Array.from({ length: 5 }, () => recorder.event(target, "Normal", "Scaled", "scaled to 2 nodes")),
  );
  events = await list();
  assert.equal(events.length, 2);
  assert.equal(events.find((e) => e.note === "scaled to 2 nodes")?.series?.count, 5);

  // Outside the window, a repeat is a new event.
  const forgetful = new EventRecorder(kube, { component: "ferry-operator", windowMs: 0 }, testLog().log);
  await forgetful.event(target, "Normal", "Restarted", "again");
  await forgetful.event(target, "Normal", "Restarted", "again");
  assert.equal((await list()).filter((e) => e.note === "again").length, 2);
});

test("recording an event never throws; failures are logged and long messages cut", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const { log, lines } = testLog();
  const recorder = new EventRecorder(kube, { component: "ferry-operator" }, log);
  const ghost: KubeObject = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "ghost", namespace: `${namespace}-absent` },
  };
  await recorder.event(ghost, "Warning", "Lost", "nowhere to write this");
  assert.ok(lines.some((l) => l.msg === "could not record an event" && l.level === 40));

  const target = await kube.create<KubeObject>({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "target", namespace },
  });
  await recorder.event(target, "Warning", "Verbose", "é".repeat(2_000));
  const [event] = await kube.list<SeriesEvent>("events.k8s.io/v1", "Event", namespace, {
    fieldSelector: `regarding.uid=${target.metadata.uid}`,
  });
  assert.ok(event?.note?.endsWith("..."));
  assert.ok(Buffer.byteLength(event?.note ?? "") <= 1024);
});
