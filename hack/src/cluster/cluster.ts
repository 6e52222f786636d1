import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Kube, type KubeObject } from "@ferry/common/kube";
import { PROCESS_NODE_MAIN, PROCESS_NODE_TITLE } from "../kubelet/program.ts";
import {
  AUDIT_POLICY,
  apiserverUrl,
  type ClusterLayout,
  type ComponentSpec,
  componentSpecs,
  KWOK_ANNOTATION,
  kubeconfigYaml,
  SERVICE_CIDR,
  SERVICE_IP,
} from "./components.ts";
import { probe } from "./health.ts";
import { createPki } from "./pki.ts";
import { freePorts } from "./ports.ts";
import { isAlive, runs, type Started, startProcess, stopPids } from "./process.ts";

export interface ClusterOptions {
  /** Folder for this cluster (PKI, etcd data, logs); a fresh temporary one by default. */
  dir?: string;
  /** Fake kwok nodes to create; pods scheduled on them become Running. */
  nodes?: number;
  /**
   * Process nodes (hack/src/kubelet) to start, named process-node-<i> and labelled
   * ferry.dev/process-node=true: pods bound to them run as real processes of this repository's
   * images. One runtime process serves them all; it stops with the cluster.
   */
  processNodes?: number;
  /** Folder of the binaries (hack/build-control-plane.sh prints it); $FERRY_BIN, else PATH. */
  bin?: string;
  /** Let the components outlive this process (the `cluster up` command). */
  detached?: boolean;
  log?: (message: string) => void;
}

/** What a started cluster leaves in `<dir>/state.json`, so another process can stop it. */
export interface ClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  /** etcd's client URL (tests use it to force compaction, hence 410 Gone on old watches). */
  etcdUrl: string;
  /** The process that owns the components, or null when they were started detached. */
  owner: number | null;
  pids: Record<string, number>;
}

export interface LocalCluster extends ClusterState {
  logDir: string;
  kube: Kube;
  stop(options?: { removeDir?: boolean }): Promise<void>;
  /**
   * Stops one control-plane component (etcd, kube-apiserver, ...) and starts it again on the same
   * ports and data, waiting until it is healthy: what an upgrade or a crash of the component does
   * to its clients.
   */
  restart(component: string, options?: { downMs?: number }): Promise<void>;
}

const STATE_FILE = "state.json";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, timeoutMs: number, test: () => Promise<boolean>, started?: Started) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (started && started.child.exitCode !== null) {
      throw new Error(
        `${what}: the process exited with code ${started.child.exitCode} (log: ${started.logFile})`,
      );
    }
    if (await test().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what}: not ready after ${timeoutMs / 1000}s`);
}

export function kwokNode(name: string): KubeObject & { spec: object } {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_ANNOTATION]: "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        type: "kwok",
      },
    },
    spec: {},
  };
}

interface NodeStatus {
  status?: { conditions?: { type: string; status: string }[] };
}

async function nodesReady(kube: Kube, names: string[]): Promise<boolean> {
  const nodes = await kube.list<KubeObject & NodeStatus>("v1", "Node");
  return names.every((n) =>
    nodes
      .find((node) => node.metadata.name === n)
      ?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
}

/** The taint of process nodes; pods tolerate it (and select the node) to run as real processes. */
export const PROCESS_NODE_TAINT = "ferry.dev/process-node=true";
export const PROCESS_NODE_LABEL = "ferry.dev/process-node";

export async function startCluster(options: ClusterOptions = {}): Promise<LocalCluster> {
  const log = options.log ?? (() => {});
  await reapOrphans();
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "ferry-cluster-")));
  const logDir = join(dir, "logs");
  await mkdir(logDir, { recursive: true });
  await mkdir(join(dir, "pki"), { recursive: true });
  const bin = options.bin ?? process.env.FERRY_BIN;
  const ports = await freePorts([
    "etcdClient",
    "etcdPeer",
    "apiserver",
    "controllerManager",
    "scheduler",
    "kwok",
  ] as const);
  const pki = await createPki(join(dir, "pki"), SERVICE_IP);
  const kubeconfig = join(dir, "kubeconfig");
  const layout: ClusterLayout = { dir, ports, pki, kubeconfig, serviceCidr: SERVICE_CIDR };
  const server = apiserverUrl(layout);
  const read = (p: string) => readFile(p, "utf8");
  await writeFile(
    kubeconfig,
    kubeconfigYaml(server, await read(pki.caCert), await read(pki.adminCert), await read(pki.adminKey)),
    { mode: 0o600 },
  );
  await writeFile(join(dir, "audit-policy.yaml"), AUDIT_POLICY);

  const started: Started[] = [];
  const state: ClusterState = {
    dir,
    kubeconfig,
    server,
    etcdUrl: `http://127.0.0.1:${ports.etcdClient}`,
    owner: options.detached ? null : process.pid,
    pids: {},
  };
  const saveState = () => writeFile(join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  const launch = (spec: ComponentSpec) => {
    const s = startProcess(
      spec.name,
      bin ? join(bin, spec.binary) : spec.binary,
      spec.args,
      logDir,
      process.env,
      options.detached ?? false,
    );
    started.push(s);
    if (s.child.pid) state.pids[spec.name] = s.child.pid;
    return s;
  };
  const stop = async (opts: { removeDir?: boolean } = {}) => {
    await stopPids(Object.values(state.pids));
    if (opts.removeDir) await rm(dir, { recursive: true, force: true });
    else await saveState();
  };

  try {
    const [etcd, apiserver, ...rest] = componentSpecs(layout);
    const t0 = Date.now();
    for (const spec of [etcd!, apiserver!]) {
      const s = launch(spec);
      await saveState();
      await waitFor(spec.name, 60_000, () => probe(spec.health, pki), s);
      log(`${spec.name} ready (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    }
    const others = rest.map((spec) => ({ spec, s: launch(spec) }));
    await saveState();
    await Promise.all(
      others.map(({ spec, s }) => waitFor(spec.name, 60_000, () => probe(spec.health, pki), s)),
    );
    log(`controller-manager, scheduler and kwok ready (${((Date.now() - t0) / 1000).toFixed(1)}s)`);

    const kube = connect(kubeconfig);
    const names = Array.from({ length: options.nodes ?? 1 }, (_, i) => `kwok-node-${i}`);
    for (const name of names) await kube.apply(kwokNode(name), "ferry-hack");
    await waitFor("kwok nodes Ready", 60_000, () => nodesReady(kube, names));
    if (options.processNodes) {
      const processNodes = Array.from({ length: options.processNodes }, (_, i) => `process-node-${i}`);
      // Tainted: only pods that ask for a real process (toleration + nodeSelector) land here;
      // everything else stays on the kwok nodes.
      const args = [
        PROCESS_NODE_MAIN,
        "--kubeconfig",
        kubeconfig,
        "--on-stop",
        "leave",
        "--taint",
        `${PROCESS_NODE_TAINT}:NoSchedule`,
      ];
      const s = startProcess(
        PROCESS_NODE_TITLE,
        process.execPath,
        [...args, ...processNodes.flatMap((n) => ["--node", n])],
        logDir,
        process.env,
        options.detached ?? false,
      );
      started.push(s);
      if (s.child.pid) state.pids[PROCESS_NODE_TITLE] = s.child.pid;
      await saveState();
      await waitFor("process nodes Ready", 60_000, () => nodesReady(kube, processNodes), s);
    }
    // Pods need the default ServiceAccount, which the controller-manager creates per namespace.
    await waitFor("default ServiceAccount", 60_000, async () =>
      Boolean(
        await kube.get({ apiVersion: "v1", kind: "ServiceAccount", namespace: "default", name: "default" }),
      ),
    );
    log(`cluster ready in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${server}`);
    const specs = [etcd!, apiserver!, ...rest];
    const restart = async (component: string, opts: { downMs?: number } = {}) => {
      const spec = specs.find((c) => c.name === component);
      const pid = state.pids[component];
      if (!spec || pid === undefined) throw new Error(`no component ${component} in this cluster`);
      await stopPids([pid]);
      if (opts.downMs) await sleep(opts.downMs);
      const s = launch(spec);
      await saveState();
      await waitFor(spec.name, 60_000, () => probe(spec.health, pki), s);
    };
    return { ...state, logDir, kube, stop, restart };
  } catch (err) {
    await stop();
    throw new Error(`local cluster failed to start (logs kept in ${logDir}): ${(err as Error).message}`);
  }
}

/** The recorded pids that are still the cluster's own components. */
function ownPids(state: ClusterState): number[] {
  return Object.entries(state.pids)
    .filter(([name, pid]) => runs(pid, name))
    .map(([, pid]) => pid);
}

export async function readState(dir: string): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, STATE_FILE), "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Stops the cluster described by `<dir>/state.json` (started by this or another process). */
export async function stopClusterAt(dir: string, options: { removeDir?: boolean } = {}): Promise<boolean> {
  const state = await readState(dir);
  if (!state) return false;
  await stopPids(ownPids(state));
  if (options.removeDir) await rm(dir, { recursive: true, force: true });
  return true;
}

/**
 * Kills the components of temporary clusters whose owning process died without stopping them
 * (a test run killed with SIGKILL), so that a crashed run never leaves a control plane behind.
 */
export async function reapOrphans(root = tmpdir()): Promise<number> {
  let reaped = 0;
  const entries = existsSync(root) ? await readdir(root) : [];
  for (const entry of entries.filter((e) => e.startsWith("ferry-cluster-"))) {
    const state = await readState(join(root, entry));
    if (!state || state.owner === null || isAlive(state.owner)) continue;
    const alive = ownPids(state);
    if (alive.length > 0) {
      await stopPids(alive);
      reaped++;
    }
  }
  return reaped;
}
