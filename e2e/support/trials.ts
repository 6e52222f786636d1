/**
 * The kill scenarios as trials: each creates work, kills something at a random point, waits for
 * the gateway to finish the work, and reports what a user would count — rows lost, rows duplicated,
 * how long the failover took. The scenario files run one trial each; the reliability runner
 * (e2e/reliability) runs many with different seeds and tabulates them.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Lease, Pod } from "@ferry/common";
import type { CopyJob, GatewayNode, LogicalGateway } from "@ferry/crds";
import { eventually } from "@ferry/hack/testing";
import { checkOutput } from "./output.ts";
import {
  agentPod,
  copyJob,
  FERRY,
  getGateway,
  getJob,
  killNode,
  listNodes,
  SLOW_QUERY,
  type Stack,
  waitFinal,
} from "./stack.ts";

/** Annotations the operator keeps on a node while a rollout drains or replaces it (docs/architecture.md). */
const ROLLOUT_PROGRESS = [
  "ferry.dev/drain-started-at",
  "ferry.dev/was-cordoned",
  "ferry.dev/upgrade-started-at",
];

export interface TrialResult {
  jobs: number;
  /** Jobs that did not end Succeeded. */
  failedJobs: number;
  rowsLost: number;
  rowsDuplicated: number;
  /** From the kill to the gateway working again (what "failover" means per scenario). */
  failoverMs: number;
  /** Where the kill landed, for the record. */
  killPoint: string;
  /** Attempts assigned to two nodes at once, or other broken promises, as text. */
  violations: string[];
}

/** A small deterministic generator, so a trial can be re-run from its seed. */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function account(
  stack: Stack,
  jobs: CopyJob[],
  result: Omit<TrialResult, "jobs" | "failedJobs" | "rowsLost" | "rowsDuplicated">,
): Promise<TrialResult> {
  let failedJobs = 0;
  let rowsLost = 0;
  let rowsDuplicated = 0;
  const violations = [...result.violations];
  for (const job of jobs) {
    if (job.status?.phase !== "Succeeded") {
      failedJobs++;
      rowsLost += stack.rows;
      violations.push(`${job.metadata.name} ${job.status?.phase}: ${JSON.stringify(job.status?.attempts)}`);
      continue;
    }
    const out = await checkOutput(stack, job);
    rowsLost += out.lost;
    rowsDuplicated += out.duplicated;
    if (out.strayFiles.length)
      violations.push(`${job.metadata.name}: stray files ${out.strayFiles.join(", ")}`);
    const numbers = (job.status.attempts ?? []).map((a) => a.attempt);
    if (new Set(numbers).size !== numbers.length)
      violations.push(`${job.metadata.name}: attempt numbers repeat: ${numbers.join(",")}`);
  }
  return { jobs: jobs.length, failedJobs, rowsLost, rowsDuplicated, ...result, violations };
}

/** Until every managed node has a running agent again (a crashed pod is replaced, not waited out). */
export async function healGateway(stack: Stack, crashed: string[] = []): Promise<void> {
  for (const node of crashed) {
    const { pod } = await agentPod(stack, node).catch(() => ({ pod: undefined }));
    if (pod)
      await stack.kube.delete({
        apiVersion: "v1",
        kind: "Pod",
        namespace: stack.namespace,
        name: pod.metadata.name,
      });
  }
  await eventually(
    "every node Online again",
    async () => {
      const g = await getGateway(stack.kube, stack.namespace, stack.gateway);
      const nodes = await listNodes(stack.kube, stack.namespace);
      return (
        g?.status?.phase === "Online" &&
        nodes.length > 0 &&
        nodes.every((n) => n.status?.state === "Online") &&
        (g.status.nodes?.ready ?? 0) >= (g.spec.nodes?.min ?? 1)
      );
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

/**
 * worker-crash: a slow copy runs; after a random number of committed partitions (and a random
 * extra delay) its node's agent is SIGKILLed. Failover: from the kill until the job runs again on
 * another node.
 */
export async function workerCrashTrial(stack: Stack, name: string, rand: () => number): Promise<TrialResult> {
  const partitions = 6;
  const after = Math.floor(rand() * (partitions - 1));
  const extraMs = Math.floor(rand() * 1000);
  await stack.kube.create(copyJob(stack, name, { query: SLOW_QUERY, partitions }));
  const running = await eventually(
    `${name} running with ${after} committed partitions`,
    async () => {
      const j = await getJob(stack.kube, stack.namespace, name);
      return j?.status?.phase === "Running" &&
        j.status.node &&
        (j.status.checkpoint?.committedPartitions?.length ?? 0) >= after
        ? j
        : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  );
  await delay(extraMs);
  const victim = running.status!.node!;
  const killedAttempt = running.status!.attempt ?? 1;
  const killedAt = Date.now();
  await killNode(stack, victim);
  const resumed = await eventually(
    `${name} running again elsewhere`,
    async () => {
      const j = await getJob(stack.kube, stack.namespace, name);
      return (j?.status?.attempt ?? 0) > killedAttempt &&
        (j?.status?.phase === "Running" || j?.status?.phase === "Succeeded")
        ? j
        : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  );
  const failoverMs = Date.now() - killedAt;
  const done = await waitFinal(stack, name, 180_000);
  const violations: string[] = [];
  if (resumed.status?.node === victim) violations.push(`${name} resumed on the node that was killed`);
  const result = await account(stack, [done], {
    failoverMs,
    killPoint: `after ${after} partitions +${extraMs} ms (${victim})`,
    violations,
  });
  await healGateway(stack, [victim]);
  return result;
}

async function dispatcherOf(stack: Stack): Promise<string | undefined> {
  const lease = await stack.kube.get<Lease>({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    namespace: stack.namespace,
    name: `ferry-dispatcher-${stack.gateway}`,
  });
  return lease?.spec.holderIdentity || undefined;
}

/**
 * dispatcher-failover: jobs are created in a stream; at a random moment of it the dispatcher's
 * agent is SIGKILLed. Failover: from the kill until another node holds the dispatcher lease. Every
 * job must finish exactly once, none assigned to two nodes for the same attempt.
 */
export async function dispatcherFailoverTrial(
  stack: Stack,
  name: string,
  rand: () => number,
): Promise<TrialResult> {
  const count = 4;
  const killAfter = Math.floor(rand() * count);
  const extraMs = Math.floor(rand() * 500);
  const first = await eventually("a dispatcher", () => dispatcherOf(stack), { timeoutMs: 60_000 });
  const names = Array.from({ length: count }, (_, i) => `${name}-${i}`);
  let killedAt = 0;
  const killer = async () => {
    await delay(extraMs);
    killedAt = Date.now();
    await killNode(stack, first);
  };
  let kill: Promise<void> | undefined;
  for (const [i, n] of names.entries()) {
    if (i === killAfter) kill = killer();
    await stack.kube.create(copyJob(stack, n, { partitions: 2 }));
    await delay(150);
  }
  await kill;
  const next = await eventually(
    "another dispatcher",
    async () => {
      const h = await dispatcherOf(stack);
      return h && h !== first ? h : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  const failoverMs = Date.now() - killedAt;
  const done: CopyJob[] = [];
  for (const n of names) done.push(await waitFinal(stack, n, 180_000));
  const violations: string[] = [];
  if (next === first) violations.push("the killed node still holds the dispatcher lease");
  const result = await account(stack, done, {
    failoverMs,
    killPoint: `after job ${killAfter} +${extraMs} ms (${first})`,
    violations,
  });
  await healGateway(stack, [first]);
  return result;
}

/**
 * operator-restart: a copy runs while the gateway is changed (scaled, or moved to a new version);
 * at a random moment of the reconcile the operator is SIGKILLed and a new one started. Failover:
 * from the kill until the gateway has converged again (status matches spec, pods match nodes, no
 * node left cordoned or mid-rollout).
 */
export async function operatorRestartTrial(
  stack: Stack,
  name: string,
  rand: () => number,
  change: "scale" | "rollout" = rand() < 0.5 ? "scale" : "rollout",
): Promise<TrialResult> {
  const ref = { apiVersion: FERRY, kind: "LogicalGateway", namespace: stack.namespace, name: stack.gateway };
  const gw = (await stack.kube.get<LogicalGateway>(ref))!;
  await stack.kube.create(copyJob(stack, name, { partitions: 4 }));
  const killMs = Math.floor(rand() * (change === "rollout" ? 6000 : 1500));
  let patch: Partial<LogicalGateway["spec"]>;
  if (change === "scale") {
    const min = gw.spec.nodes?.min ?? 2;
    const target = min === 2 ? 3 : 2;
    patch = { nodes: { min: target, max: target } };
  } else {
    const [major, minor, patchLevel] = (gw.spec.agent?.version ?? "1.0.0").split(".").map(Number);
    patch = { agent: { ...gw.spec.agent, version: `${major}.${minor}.${(patchLevel ?? 0) + 1}` } };
  }
  await stack.kube.mergePatch(ref, { spec: patch });
  await delay(killMs);
  const killedAt = Date.now();
  stack.operator.kill("SIGKILL");
  await stack.operator.exited;
  stack.restartOperator();
  await eventually(
    "the gateway converged after the operator restart",
    async () => {
      const g = await stack.kube.get<LogicalGateway>(ref);
      if (!g?.status || g.status.observedGeneration !== g.metadata.generation) return undefined;
      const want = g.spec.nodes?.min ?? 1;
      const nodes = await stack.kube.list<GatewayNode>(FERRY, "GatewayNode", stack.namespace);
      // No rollout left half-way: nothing cordoned, no node still marked as being drained or
      // replaced (the progress the operator keeps in annotations to survive its own restart).
      const midRollout = nodes.filter(
        (n) => n.spec.cordoned || ROLLOUT_PROGRESS.some((a) => n.metadata.annotations?.[a] !== undefined),
      );
      const pods = await stack.kube.list<Pod>("v1", "Pod", stack.namespace, {
        labelSelector: "app.kubernetes.io/component=agent",
      });
      const live = pods.filter((p) => !p.metadata.deletionTimestamp);
      const versions = new Set(live.map((p) => p.spec.containers[0]?.image?.split(":")[1]));
      return g.status.phase === "Online" &&
        g.status.nodes?.ready === want &&
        nodes.length === want &&
        midRollout.length === 0 &&
        live.length === want &&
        versions.size === 1 &&
        versions.has(g.spec.agent?.version) &&
        g.status.version === g.spec.agent?.version
        ? g
        : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 250 },
  );
  const failoverMs = Date.now() - killedAt;
  const done = await waitFinal(stack, name, 180_000);
  return account(stack, [done], {
    failoverMs,
    killPoint: `${change}, kill at +${killMs} ms`,
    violations: [],
  });
}
