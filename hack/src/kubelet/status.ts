/**
 * A pod's status from what its processes are doing. Pure (the clock is passed in), so phase and
 * condition rules are table-tested; the writer (status-writer.ts) only compares and patches.
 */
import {
  type ContainerState,
  type ContainerStatus,
  POD_IP,
  type Pod,
  type PodCondition,
  type PodPhase,
  type PodStatus,
} from "./types.ts";

/** A metav1.Time: RFC 3339 in whole seconds, as the API server stores it (or every write would differ). */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** What the runtime knows of one container. */
export interface ContainerView {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  state: ContainerState;
  lastState: ContainerState;
  ready: boolean;
  started: boolean;
  restartCount: number;
}

export interface PodView {
  containers: ContainerView[];
  startTime: string;
  /** The pod's folder and volumes are in place (kubelet's PodReadyToStartContainers). */
  sandboxReady: boolean;
  /** Set once the pod is over: its phase no longer follows the containers' states. */
  terminal?: "Succeeded" | "Failed";
  reason?: string;
  message?: string;
  /** Extra conditions the runtime sets (DisruptionTarget on node shutdown). */
  extraConditions?: PodCondition[];
}

/** The conditions this runtime owns on a pod; any other type is kept as it is stored. */
export const OWN_CONDITIONS = [
  "PodReadyToStartContainers",
  "Initialized",
  "ContainersReady",
  "Ready",
  "PodScheduled",
];

/** Kubelet's getPhase, without init containers. `terminal`: the pod will not run again. */
export function podPhase(
  restartPolicy: string | undefined,
  containers: Pick<ContainerView, "state" | "lastState">[],
  terminal = false,
): PodPhase {
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of containers) {
    if (c.state.running) running++;
    else if (c.state.terminated) {
      stopped++;
      if (c.state.terminated.exitCode === 0) succeeded++;
    } else if (c.lastState.terminated) stopped++;
    else waiting++;
  }
  if (terminal) {
    // A pod being removed, or stopped by a node shutdown: kubelet ends it in a terminal phase.
    return stopped > 0 && stopped === succeeded && waiting === 0 ? "Succeeded" : "Failed";
  }
  if (waiting > 0) return "Pending";
  if (running > 0) return "Running";
  if (stopped === 0) return "Pending";
  if (restartPolicy === "Always" || restartPolicy === undefined) return "Running";
  if (stopped === succeeded) return "Succeeded";
  if (restartPolicy === "Never") return "Failed";
  return "Running";
}

function condition(
  stored: PodCondition[],
  type: string,
  status: boolean,
  now: string,
  reason?: string,
  message?: string,
): PodCondition {
  const value = status ? "True" : "False";
  const previous = stored.find((c) => c.type === type);
  return {
    type,
    status: value,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
    // Only a flip moves the transition time (design.md, "one status writer").
    lastTransitionTime:
      previous?.status === value && previous.lastTransitionTime ? previous.lastTransitionTime : now,
  };
}

export function desiredStatus(pod: Pod, view: PodView, now: string): PodStatus {
  const stored = pod.status?.conditions ?? [];
  const phase = view.terminal ?? podPhase(pod.spec.restartPolicy, view.containers);
  const over = phase === "Succeeded" || phase === "Failed";
  const unready = view.containers.filter((c) => !c.ready).map((c) => c.name);
  const containersReady = !over && unready.length === 0;
  const gates = (pod.spec.readinessGates ?? []).map((g) => g.conditionType);
  const missingGates = gates.filter((g) => !stored.some((c) => c.type === g && c.status === "True"));
  const notReadyReason = over ? "PodCompleted" : "ContainersNotReady";
  const notReadyMessage = over ? undefined : `containers with unready status: [${unready.join(" ")}]`;
  const conditions: PodCondition[] = [
    condition(stored, "PodReadyToStartContainers", view.sandboxReady, now),
    condition(stored, "Initialized", true, now),
    containersReady
      ? condition(stored, "ContainersReady", true, now)
      : condition(stored, "ContainersReady", false, now, notReadyReason, notReadyMessage),
    containersReady && missingGates.length === 0
      ? condition(stored, "Ready", true, now)
      : containersReady
        ? condition(
            stored,
            "Ready",
            false,
            now,
            "ReadinessGatesNotReady",
            `corresponding condition of pod readiness gate "${missingGates[0]}" does not exist.`,
          )
        : condition(stored, "Ready", false, now, notReadyReason, notReadyMessage),
    // The scheduler writes PodScheduled; for a pod bound by nodeName, kubelet adds it.
    stored.find((c) => c.type === "PodScheduled") ?? condition(stored, "PodScheduled", true, now),
    ...(view.extraConditions ?? []),
  ];
  const extraTypes = new Set(conditions.map((c) => c.type));
  const containerStatuses: ContainerStatus[] = view.containers.map((c) => ({
    name: c.name,
    state: c.state,
    lastState: c.lastState,
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    image: c.image,
    imageID: c.imageID,
    ...(c.containerID ? { containerID: c.containerID } : {}),
  }));
  return {
    phase,
    conditions: [...stored.filter((c) => !extraTypes.has(c.type)), ...conditions],
    ...(view.reason ? { reason: view.reason } : {}),
    ...(view.message ? { message: view.message } : {}),
    hostIP: POD_IP,
    hostIPs: [{ ip: POD_IP }],
    podIP: POD_IP,
    podIPs: [{ ip: POD_IP }],
    startTime: pod.status?.startTime ?? view.startTime,
    containerStatuses,
  };
}

/** Key order does not matter to the API server; it must not matter to the comparison either. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .filter(
          (k) =>
            (value as Record<string, unknown>)[k] !== undefined &&
            (value as Record<string, unknown>)[k] !== null,
        )
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

const WRITTEN: (keyof PodStatus)[] = [
  "phase",
  "conditions",
  "reason",
  "message",
  "hostIP",
  "hostIPs",
  "podIP",
  "podIPs",
  "startTime",
  "containerStatuses",
];

/** The merge patch from `stored` to `desired` over the fields this runtime writes; undefined: nothing to do. */
export function statusPatch(
  stored: PodStatus | undefined,
  desired: PodStatus,
): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  for (const key of WRITTEN) {
    const want = desired[key];
    const have = stored?.[key];
    if (JSON.stringify(canonical(want)) === JSON.stringify(canonical(have))) continue;
    patch[key] = want ?? null;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}
