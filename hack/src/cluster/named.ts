import { join } from "node:path";
import { type ClusterState, readState, startCluster, stopClusterAt } from "./cluster.ts";
import { runs } from "./process.ts";

/** Long-lived clusters (`npm run cluster`, the demo) live in the cache, one folder per name. */
export function namedClusterDir(name: string): string {
  const cache = process.env.FERRY_CACHE ?? join(process.env.HOME ?? "/tmp", ".cache", "ferry");
  return join(cache, "clusters", name);
}

export function isRunning(state: ClusterState): boolean {
  return Object.entries(state.pids).every(([binary, pid]) => runs(pid, binary));
}

/** Starts the named cluster detached, or returns the running one: safe to call again. */
export async function ensureNamedCluster(
  name: string,
  nodes: number,
  processNodes: number,
  log: (message: string) => void,
): Promise<{ state: ClusterState; reused: boolean }> {
  const dir = namedClusterDir(name);
  const state = await readState(dir);
  if (state && isRunning(state)) return { state, reused: true };
  if (state) await stopClusterAt(dir, { removeDir: true });
  const cluster = await startCluster({ dir, nodes, processNodes, detached: true, log });
  return { state: cluster, reused: false };
}

export function stopNamedCluster(name: string): Promise<boolean> {
  return stopClusterAt(namedClusterDir(name), { removeDir: true });
}
