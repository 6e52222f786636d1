/**
 * A process runtime acting as the kubelet of one local Node: pods bound to the node run as real
 * processes, so rolling updates, rollbacks, crashes and `helm install` are exercised for real.
 * What it does and what it cannot do (no network namespaces: every pod is 127.0.0.1 with host
 * ports of its own, ...) is written down in README.md next to this file.
 *
 *   const node = await startProcessNode({ kubeconfig, nodeName: "process-0", images });
 *   node.kill("ns", "pod-a");          // SIGKILL the pod's process: a crash
 *   await node.stop({ deleteNode: true });
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@ferry/common/kube";
import { rawApi } from "./api.ts";
import { backoffPolicy } from "./backoff.ts";
import { eventRecorder } from "./events.ts";
import type { ImageMap } from "./images.ts";
import { NodeAgent, type Taint } from "./node.ts";
import { PodInformer } from "./pod-informer.ts";
import { PodWorker } from "./pod-worker.ts";
import { claimDataDir, DATA_DIR_PREFIX, reapOrphanedPods } from "./reap.ts";
import { hostExecutable } from "./supervisor.ts";
import { TokenManager } from "./tokens.ts";
import type { Pod } from "./types.ts";

export type { ImageMap, ImageSpec } from "./images.ts";
export { parseImage, repositoryImages } from "./images.ts";
export { PROCESS_NODE_LABEL, type Taint } from "./node.ts";
export { portEnvName } from "./ports.ts";

export { PROCESS_NODE_MAIN, PROCESS_NODE_TITLE } from "./program.ts";

/**
 * The pid of a pod's container process, from its status alone (`containerID: process://<pid>`):
 * how a test in another process than the runtime's finds what to kill.
 */
export function podProcessId(
  pod: {
    status?: { containerStatuses?: { name: string; containerID?: string; state?: { running?: object } }[] };
  },
  container?: string,
): number | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  const status = container ? statuses.find((s) => s.name === container) : statuses[0];
  const match = /^process:\/\/(\d+)$/.exec(status?.state?.running ? (status.containerID ?? "") : "");
  return match ? Number(match[1]) : undefined;
}

export interface ProcessNodeOptions {
  kubeconfig: string;
  nodeName: string;
  /** Image repository (or command word) → local command line; see images.ts for the rule. */
  images: ImageMap;
  /** What pods see as KUBERNETES_SERVICE_PORT; the kubeconfig server's port by default. */
  apiServerPort?: number;
  /** The cluster CA (PEM) written as ca.crt when the runtime mounts the ServiceAccount itself. */
  clusterCaPem?: string;
  /** Where pod folders and logs go; a fresh temporary folder by default (removed on stop). */
  dataDir?: string;
  /** Crash-loop backoff: first delay (kubelet: 10 s) and cap (kubelet: 5 min). */
  restartBackoffBaseMs?: number;
  restartBackoffMaxMs?: number;
  /** The image tag that stands for a broken release ("broken"). */
  brokenTag?: string;
  /** Keep each pod's log after the pod is gone, and the logs folder after stop (for failing tests). */
  keepLogs?: boolean;
  labels?: Record<string, string>;
  /** Registered with the node (kubelet's --register-with-taints). */
  taints?: Taint[];
  /** How often Secrets, ConfigMaps and tokens are re-read into volumes (5 s). */
  volumeSyncMs?: number;
  /** Periodic resync of every pod (30 s). */
  resyncMs?: number;
  /** Node Lease renewal period (10 s, kubelet's) and duration (40 s). */
  leaseRenewMs?: number;
  leaseDurationSeconds?: number;
  log?: (message: string) => void;
}

export interface StopOptions {
  /** A kubelet that died: processes are killed at once and nothing is written to the API. */
  leavePods?: boolean;
  /** Delete the Node object (and its Lease) instead of marking it NotReady. */
  deleteNode?: boolean;
  /** On a clean stop, the most each pod's processes get between SIGTERM and SIGKILL (10 s). */
  graceMs?: number;
}

export interface ProcessNode {
  readonly nodeName: string;
  readonly dataDir: string;
  stop(options?: StopOptions): Promise<void>;
  /** Signals the main process of a pod's container (the first by default); resolves to its pid. */
  kill(namespace: string, podName: string, signal?: NodeJS.Signals, container?: string): number | undefined;
  pid(namespace: string, podName: string, container?: string): number | undefined;
  /** The host ports of a pod's container, by port name: what FERRY_PORT_<NAME> says. */
  ports(namespace: string, podName: string, container?: string): Record<string, number>;
  /** The pod's log (every container's stdout and stderr, and the runtime's notes). */
  logFile(namespace: string, podName: string): string | undefined;
}

/** Private mount and UTS namespaces are how volumes reach their mountPaths: without them, stop here. */
function checkIsolation(): void {
  try {
    execFileSync(hostExecutable("unshare"), ["--mount", "--uts", "--propagation", "private", "true"], {
      stdio: "pipe",
    });
  } catch (err) {
    throw new Error(
      `the process runtime needs private mount namespaces (run as root, with util-linux's unshare): ${(err as Error).message}`,
    );
  }
}

export async function startProcessNode(options: ProcessNodeOptions): Promise<ProcessNode> {
  const { nodeName } = options;
  const log = (message: string) => options.log?.(`[${nodeName}] ${message}`);
  checkIsolation();
  await reapOrphanedPods(tmpdir(), log);
  const ownDir = !options.dataDir;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), `${DATA_DIR_PREFIX}${nodeName}-`)));
  const podsDir = join(dataDir, "pods");
  const logsDir = join(dataDir, "logs");
  await mkdir(podsDir, { recursive: true, mode: 0o700 });
  await mkdir(logsDir, { recursive: true, mode: 0o700 });
  await claimDataDir(dataDir, nodeName);

  const kube = connect(options.kubeconfig);
  const api = rawApi(options.kubeconfig);
  const node = new NodeAgent({
    kube,
    api,
    nodeName,
    ...(options.labels ? { labels: options.labels } : {}),
    ...(options.taints ? { taints: options.taints } : {}),
    ...(options.leaseRenewMs ? { renewMs: options.leaseRenewMs } : {}),
    ...(options.leaseDurationSeconds ? { leaseDurationSeconds: options.leaseDurationSeconds } : {}),
    log,
  });
  await node.register();

  const workers = new Map<string, PodWorker>();
  const finished = new Set<string>();
  const logFiles = new Map<string, string>();
  const deps = {
    kube,
    api,
    tokens: new TokenManager(api),
    images: options.images,
    nodeName,
    podsDir,
    logsDir,
    apiServerPort: options.apiServerPort ?? Number(new URL(api.server).port || 443),
    clusterCaPem: options.clusterCaPem ?? api.caPem,
    brokenTag: options.brokenTag ?? "broken",
    backoff: backoffPolicy(options.restartBackoffBaseMs, options.restartBackoffMaxMs),
    volumeSyncMs: options.volumeSyncMs ?? 5000,
    keepLogs: options.keepLogs ?? false,
    usedPorts: new Set<number>(),
    record: eventRecorder(kube, nodeName, log),
    log,
    gone: (worker: PodWorker) => {
      if (workers.get(worker.uid) === worker) workers.delete(worker.uid);
      // A late event about a pod already torn down must not start it again.
      finished.add(worker.uid);
      if (finished.size > 1000) finished.delete(finished.values().next().value as string);
    },
  };
  let stopping = false;
  const upsert = (pod: Pod) => {
    if (stopping || pod.spec.nodeName !== nodeName || !pod.metadata.uid || finished.has(pod.metadata.uid))
      return;
    const known = workers.get(pod.metadata.uid);
    if (known) return known.update(pod);
    const worker = new PodWorker(pod, deps);
    workers.set(worker.uid, worker);
    logFiles.set(worker.key, worker.logPath);
    worker.kick();
  };
  const informer = new PodInformer(
    kube,
    nodeName,
    {
      upsert,
      remove: (pod) => workers.get(pod.metadata.uid ?? "")?.remove(),
      replace: (pods) => {
        const current = new Set(pods.map((p) => p.metadata.uid));
        for (const worker of workers.values()) if (!current.has(worker.uid)) worker.remove();
        for (const pod of pods) upsert(pod);
      },
      resync: () => {
        for (const worker of workers.values()) worker.kick();
      },
    },
    log,
    options.resyncMs ?? 30_000,
  );
  await informer.start();
  log(`process node ready (data in ${dataDir})`);

  // However this process ends, no pod process outlives it unnoticed (exit handlers run synchronously).
  const killAll = () => {
    for (const worker of workers.values()) {
      for (const c of worker.pod.spec.containers) worker.container(c.name)?.signal("SIGKILL");
    }
  };
  process.on("exit", killAll);

  const find = (namespace: string, podName: string) => {
    const matches = [...workers.values()].filter((w) => w.key === `${namespace}/${podName}` && w.active);
    return matches.find((w) => w.container()?.running) ?? matches[0];
  };

  return {
    nodeName,
    dataDir,
    async stop(stop: StopOptions = {}) {
      if (stopping) return;
      stopping = true;
      await informer.stop();
      const all = [...workers.values()];
      await Promise.all(all.map((w) => w.shutdown(stop.graceMs ?? 10_000, stop.leavePods ?? false)));
      await Promise.all(all.map((w) => w.cleanUp()));
      process.off("exit", killAll);
      await node
        .stop(stop.deleteNode ? "delete" : stop.leavePods ? "leave" : "NotReady")
        .catch((err: Error) => log(`node not updated on stop: ${err.message}`));
      if (options.keepLogs) {
        await rm(podsDir, { recursive: true, force: true });
        log(`stopped; pod logs kept in ${logsDir}`);
      } else if (ownDir) {
        await rm(dataDir, { recursive: true, force: true });
      } else {
        await rm(podsDir, { recursive: true, force: true });
        await rm(logsDir, { recursive: true, force: true });
      }
    },
    kill(namespace, podName, signal = "SIGKILL", container) {
      const runner = find(namespace, podName)?.container(container);
      const pid = runner?.pid;
      return pid !== undefined && runner?.signal(signal) ? pid : undefined;
    },
    pid: (namespace, podName, container) => find(namespace, podName)?.container(container)?.pid,
    ports: (namespace, podName, container) => find(namespace, podName)?.ports(container) ?? {},
    logFile: (namespace, podName) => logFiles.get(`${namespace}/${podName}`),
  };
}
