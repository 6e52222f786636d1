/**
 * External nodes as users add them: `ferry register` prints the `ferry-agent` command (or writes
 * the key to a file), and that command runs as a process outside the cluster — here, a process of
 * this test, with lease timings short enough for scenarios. Also small readers of the objects the
 * external-node scenarios look at (GatewayNodes, node Leases, Events, the registration Secret).
 */
import type { KubeObject, Lease, Secret } from "@ferry/common";
import type { CopyJob, GatewayNode } from "@ferry/crds";
import { agentLaunch, eventually, FAST_AGENT_FLAGS, launcherEnv } from "@ferry/hack/testing";
import { AGENT_MAIN, ferryCli, type Logged, spawnLogged } from "./processes.ts";
import { FERRY, getGateway, type Stack } from "./stack.ts";

/** Agent timings for tests (production: 15 s leases, 12 s status, 30 s drain). */
export const FAST_EXTERNAL = FAST_AGENT_FLAGS;

export interface Registration {
  /** What `ferry register` printed. */
  output: string;
  /** The arguments of the printed `ferry-agent` command (after the program name). */
  args: string[];
}

/** `ferry register --gateway <gw> --node <node>`: the printed `ferry-agent ...` command's arguments. */
export async function register(stack: Stack, node: string, extra: string[] = []): Promise<Registration> {
  const output = await ferryCli([
    "register",
    "--gateway",
    stack.gateway,
    "-n",
    stack.namespace,
    "--kubeconfig",
    stack.kubeconfig,
    "--node",
    node,
    ...extra,
  ]);
  const command = /^ {2}ferry-agent (.+)$/m.exec(output)?.[1];
  if (!command) throw new Error(`ferry register printed no ferry-agent command:\n${output}`);
  return { output, args: command.trim().split(/\s+/) };
}

/** The key in `--key <key>` of a registration's command. */
export function keyOf(registration: Registration): string {
  const i = registration.args.indexOf("--key");
  const key = i >= 0 ? registration.args[i + 1] : undefined;
  if (!key) throw new Error(`no --key in: ferry-agent ${registration.args.join(" ")}`);
  return key;
}

/**
 * Runs `ferry-agent <args>` as an external node would (no pod, no mounted files: identity, gateway
 * and namespace come from the key; the launcher's node options and environment), killed when the
 * scenario ends if still running. FERRY_VERSION
 * is the gateway's agent version, as an operator installing the same release would have.
 */
export async function startExternalAgent(stack: Stack, name: string, args: string[]): Promise<Logged> {
  const gw = await getGateway(stack.kube, stack.namespace, stack.gateway);
  // As agent/bin/ferry-agent starts it on a machine: its node options and environment defaults.
  const launch = agentLaunch();
  const agent = spawnLogged(name, [...launch.nodeFlags, AGENT_MAIN, ...args, ...FAST_EXTERNAL], {
    ...launcherEnv(launch),
    FERRY_VERSION: gw?.spec.agent?.version ?? "1.0.0",
  });
  let exited = false;
  void agent.exited.then(() => {
    exited = true;
  });
  stack.defer(() => {
    if (!exited) agent.kill("SIGKILL");
  });
  return agent;
}

/** The exit code, or a failure naming the process and its last lines when it does not exit. */
export async function exitOf(agent: Logged, timeoutMs = 30_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `${agent.name} did not exit within ${timeoutMs} ms; last lines:\n${agent.lines.slice(-10).join("\n")}`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([agent.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const getNode = (stack: Stack, name: string) =>
  stack.kube.get<GatewayNode>({ apiVersion: FERRY, kind: "GatewayNode", namespace: stack.namespace, name });

export const nodeLease = (stack: Stack, node: string) =>
  stack.kube.get<Lease>({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    namespace: stack.namespace,
    name: `ferry-node-${node}`,
  });

export const getSecret = (stack: Stack, name: string) =>
  stack.kube.get<Secret>({ apiVersion: "v1", kind: "Secret", namespace: stack.namespace, name });

export const secretText = (secret: Secret | undefined, key: string) =>
  Buffer.from(secret?.data?.[key] ?? "", "base64").toString("utf8");

export async function waitNodeState(
  stack: Stack,
  node: string,
  state: string,
  timeoutMs = 90_000,
): Promise<GatewayNode> {
  return eventually(
    `node ${node} ${state}`,
    async () => {
      const n = await getNode(stack, node);
      return n?.status?.state === state ? n : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

export async function setCordoned(stack: Stack, node: string, cordoned: boolean): Promise<void> {
  await stack.kube.mergePatch(
    { apiVersion: FERRY, kind: "GatewayNode", namespace: stack.namespace, name: node },
    { spec: { cordoned } },
  );
}

/** A job Running on `node` with at least `committed` partitions committed. */
export async function runningOn(
  stack: Stack,
  job: string,
  node: string,
  committed = 1,
  timeoutMs = 90_000,
): Promise<CopyJob> {
  return eventually(
    `${job} running on ${node} with ${committed} committed partitions`,
    async () => {
      const j = await stack.kube.get<CopyJob>({
        apiVersion: FERRY,
        kind: "CopyJob",
        namespace: stack.namespace,
        name: job,
      });
      if (j?.status?.phase === "Succeeded" || j?.status?.phase === "Failed")
        throw new Error(`${job} ended ${j.status.phase} before it was seen running on ${node}`);
      return j?.status?.phase === "Running" &&
        j.status.node === node &&
        (j.status.checkpoint?.committedPartitions?.length ?? 0) >= committed
        ? j
        : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

export interface EventRecord extends KubeObject {
  reason?: string;
  note?: string;
  type?: string;
  regarding?: { kind?: string; name?: string };
}

/** Events (events.k8s.io/v1) about `kind/name`, optionally of one reason. */
export async function eventsAbout(
  stack: Stack,
  kind: string,
  name: string,
  reason?: string,
): Promise<EventRecord[]> {
  const events = await stack.kube.list<EventRecord>("events.k8s.io/v1", "Event", stack.namespace);
  return events.filter(
    (e) =>
      e.regarding?.kind === kind &&
      e.regarding.name === name &&
      (reason === undefined || e.reason === reason),
  );
}
