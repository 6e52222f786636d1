/**
 * Pod events with kubelet's reasons (Started, Killing, BackOff, Unhealthy, FailedMount, Failed),
 * so `kubectl describe pod` tells a failing e2e run what happened. Fire and forget: an event that
 * cannot be written is not worth failing a sync for.
 */
import type { Kube, KubeObject } from "@ferry/common/kube";
import type { Pod } from "./types.ts";

export type EventRecorder = (
  pod: Pod,
  type: "Normal" | "Warning",
  reason: string,
  message: string,
  container?: string,
) => void;

export function eventRecorder(kube: Kube, nodeName: string, log: (message: string) => void): EventRecorder {
  return (pod, type, reason, message, container) => {
    const now = new Date().toISOString();
    const event = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${pod.metadata.name}.`, namespace: pod.metadata.namespace },
      involvedObject: {
        apiVersion: "v1",
        kind: "Pod",
        name: pod.metadata.name,
        namespace: pod.metadata.namespace,
        uid: pod.metadata.uid,
        ...(container ? { fieldPath: `spec.containers{${container}}` } : {}),
      },
      type,
      reason,
      message,
      source: { component: "kubelet", host: nodeName },
      reportingComponent: "kubelet",
      reportingInstance: nodeName,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as unknown as KubeObject;
    kube
      .create(event)
      .catch((err: Error) => log(`event ${reason} for pod ${pod.metadata.name}: ${err.message}`));
  };
}
