/**
 * Node's test runner calls this once per run (--test-global-setup): one control plane serves
 * every test file, each test taking a fresh namespace (see testing/namespace.ts). The test
 * processes inherit FERRY_KUBECONFIG from here.
 *
 * FERRY_KUBECONFIG already set: use that cluster instead (e.g. one from `npm run cluster -- up`).
 * FERRY_TEST_CLUSTER_DIR: where the cluster lives; hack/run keeps it when the run fails, so the
 * logs of every component can be read.
 */
import { type LocalCluster, startCluster } from "./cluster/cluster.ts";

let cluster: LocalCluster | undefined;

export async function globalSetup(): Promise<void> {
  if (process.env.FERRY_KUBECONFIG) return;
  const started = Date.now();
  cluster = await startCluster({
    nodes: 2,
    processNodes: 1,
    ...(process.env.FERRY_TEST_CLUSTER_DIR ? { dir: process.env.FERRY_TEST_CLUSTER_DIR } : {}),
  });
  process.env.FERRY_KUBECONFIG = cluster.kubeconfig;
  process.env.FERRY_CLUSTER_DIR = cluster.dir;
  process.env.FERRY_ETCD_URL = cluster.etcdUrl;
  process.stderr.write(`[ferry] control plane ready in ${Date.now() - started} ms (${cluster.dir})\n`);
}

export async function globalTeardown(): Promise<void> {
  await cluster?.stop();
}
