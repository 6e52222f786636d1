/**
 * The benchmark's own control plane (named cluster `bench-control`, so it never disturbs a dev or
 * test cluster), its namespaces and the objects both benchmarks share.
 */
import { randomBytes } from "node:crypto";
import { connect, type Kube } from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { type ClusterState, ensureNamedCluster, stopNamedCluster } from "@ferry/hack";
import { installCrds } from "@ferry/hack/testing";

export const CLUSTER_NAME = "bench-control";

export interface BenchCluster {
  state: ClusterState;
  kube: Kube;
  reused: boolean;
}

export async function startBenchCluster(log: (message: string) => void): Promise<BenchCluster> {
  const { state, reused } = await ensureNamedCluster(CLUSTER_NAME, 1, 0, (m) => log(`cluster: ${m}`));
  const kube = connect(state.kubeconfig);
  await installCrds(kube);
  return { state, kube, reused };
}

export function stopBenchCluster(): Promise<boolean> {
  return stopNamedCluster(CLUSTER_NAME);
}

/** A fresh namespace per run, so a kept cluster can run the benchmark again. */
export async function createNamespace(kube: Kube, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  return name;
}

/**
 * A gateway of external nodes only (nodes.max 0: the operator runs no pods here), each node
 * running `perNode` jobs. autoTune only ever touches managed nodes; it is off to say so.
 */
export function benchGateway(namespace: string, name: string, perNode: number): LogicalGateway {
  const gw = gatewayFixture(name);
  gw.metadata.namespace = namespace;
  gw.spec.nodes = { min: 0, max: 0 };
  gw.spec.concurrency = { perNode, maxPerNode: Math.max(16, perNode), autoTune: false };
  return gw;
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; rejects on the first failure. */
export async function pool<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `probe` says yes; `what` names the wait in the error. */
export async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}
