/**
 * The memory benchmark: the operator's and an agent's resident memory with many CopyJobs and
 * GatewayNodes present, against the same processes on an empty gateway measured first.
 *
 * The jobs are finished history: Succeeded, with the status a worker leaves (four committed
 * partitions, output, progress, one attempt), written by server-side apply as `ferry-agent` so their
 * managedFields are what a real gateway stores, and labelled with the node that ran them. That is
 * what thousands of present jobs are in practice (only a few dozen can run at a time), it is the
 * largest form a job takes, and being final it keeps the agents from running any of them.
 *
 * The nodes are external GatewayNodes as agents register them; one real agent runs as the first of
 * them and is the dispatcher, so it holds every job in its dispatcher informer and its own share in
 * its worker informer. Both processes start after the objects exist: a cold start lists everything
 * at once, the worst moment for memory (an operator upgrade or failover does exactly this).
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { CopyJob, CopyJobStatus, GatewayNode } from "@ferry/crds";
import { copyJobFixture, set } from "@ferry/crds/fixtures";
import { parse } from "yaml";
import { type BenchCluster, benchGateway, createNamespace, pool } from "./cluster.ts";
import {
  type Memory,
  type MemoryCgroup,
  memoryCgroup,
  memoryOf,
  type Proc,
  sampleMemory,
  startAgent,
  startOperator,
  stopAll,
  waitForLog,
} from "./processes.ts";

export interface MemoryOptions {
  /** Run the operator a second time under this memory limit (the chart's), when a cgroup allows. */
  limitMiB?: number;
  jobs: number;
  nodes: number;
  /** Writes in flight while creating the objects. */
  createConcurrency: number;
  /** How long the processes run after they are ready before the settled RSS is read, ms. */
  settleMs: number;
  logDir: string;
  log: (message: string) => void;
}

export interface ProcessMemory {
  /** RSS once settled, MiB. */
  settled: number;
  /** Highest RSS sampled (every 250 ms) since the process started, MiB. */
  sampledPeak: number;
  /** VmHWM: the kernel's own high-water mark, MiB. */
  peak: number;
  /** Start → ready (informers listed), ms. */
  readyMs: number;
}

export interface MemoryResult {
  options: Omit<MemoryOptions, "log" | "logDir">;
  namespace: string;
  /** Objects written per second while creating them (create + status apply per job). */
  createMs: number;
  /** The same processes on the same gateway before any job or extra node existed. */
  idle: Measured;
  loaded: Measured;
  /** The limit the operator also ran under, undefined when no memory cgroup could be made here. */
  limitMiB: number | undefined;
}

export interface Measured {
  operator: ProcessMemory;
  agent: ProcessMemory;
  /** The operator again, alone, under `limitMiB`. */
  limitedOperator?: ProcessMemory;
}

/** The operator's memory limit in the Helm chart (charts/ferry/values.yaml), MiB. */
export async function chartMemoryLimitMiB(): Promise<number | undefined> {
  const file = fileURLToPath(new URL("../../charts/ferry/values.yaml", import.meta.url));
  const values = parse(await readFile(file, "utf8")) as { resources?: { limits?: { memory?: string } } };
  const m = /^(\d+)(Mi|Gi)$/.exec(values.resources?.limits?.memory ?? "");
  return m ? Number(m[1]) * (m[2] === "Gi" ? 1024 : 1) : undefined;
}

const GATEWAY = "gw";
const API = "ferry.dev/v1alpha1";
const PARTITIONS = 4;
const nodeName = (i: number) => `node-${String(i).padStart(2, "0")}`;

export async function runMemory(cluster: BenchCluster, o: MemoryOptions): Promise<MemoryResult> {
  const { kube } = cluster;
  const namespace = await createNamespace(kube, "bench-memory");
  await kube.create(benchGateway(namespace, GATEWAY, 8));
  const cgroup = o.limitMiB ? await memoryCgroup(`ferry-bench-${process.pid}`, o.limitMiB) : undefined;
  if (o.limitMiB && !cgroup)
    o.log(`memory: no memory cgroup can be made here; no run under ${o.limitMiB} MiB`);
  try {
    return await measureAll(cluster, namespace, cgroup, o);
  } finally {
    await cgroup?.remove();
  }
}

async function measureAll(
  cluster: BenchCluster,
  namespace: string,
  cgroup: MemoryCgroup | undefined,
  o: MemoryOptions,
): Promise<MemoryResult> {
  const { kube } = cluster;
  o.log("memory: idle operator and agent (empty gateway)");
  const idle = await measure(cluster, namespace, "idle", o, cgroup);

  o.log(`memory: creating ${o.nodes} GatewayNodes and ${o.jobs} Succeeded CopyJobs`);
  const t0 = Date.now();
  await pool(
    Array.from({ length: o.nodes }, (_, i) => i),
    o.createConcurrency,
    async (i) => {
      // node-00 exists already: the idle agent registered it.
      if (i === 0) return;
      await kube.create<GatewayNode>({
        apiVersion: API,
        kind: "GatewayNode",
        metadata: {
          name: nodeName(i),
          namespace,
          labels: { "app.kubernetes.io/part-of": "ferry", "ferry.dev/gateway": GATEWAY },
        },
        spec: { gatewayRef: { name: GATEWAY }, managed: false },
      });
    },
  );
  let done = 0;
  await pool(
    Array.from({ length: o.jobs }, (_, i) => i),
    o.createConcurrency,
    async (i) => {
      const { job, status } = finishedJob(namespace, i, nodeName(i % o.nodes));
      await kube.create(job);
      // As the worker writes it: the status alone, applied by the agent's field manager.
      const { apiVersion, kind, metadata } = job;
      const ref = { apiVersion, kind, metadata: { name: metadata.name, namespace } };
      await kube.apply({ ...ref, status }, "ferry-agent", true, "status");
      if (++done % 2000 === 0) o.log(`  ${done}/${o.jobs}`);
    },
  );
  const createMs = Date.now() - t0;
  o.log(`memory: created in ${(createMs / 1000).toFixed(0)} s; cold start with everything present`);
  const loaded = await measure(cluster, namespace, "loaded", o, cgroup);
  return {
    options: { jobs: o.jobs, nodes: o.nodes, createConcurrency: o.createConcurrency, settleMs: o.settleMs },
    namespace,
    createMs,
    idle,
    loaded,
    limitMiB: cgroup?.limitMiB,
  };
}

/**
 * Starts the operator and the agent of node-00, waits until both listed everything and settled;
 * then, given a cgroup, the operator once more, alone, inside it.
 */
async function measure(
  cluster: BenchCluster,
  namespace: string,
  label: string,
  o: MemoryOptions,
  cgroup: MemoryCgroup | undefined,
): Promise<Measured> {
  const { kubeconfig } = cluster.state;
  const operator = () => startOperator(kubeconfig, namespace, o.logDir, `operator-${label}`);
  const agent = () => startAgent(kubeconfig, namespace, GATEWAY, nodeName(0), o.logDir, `agent-${label}`);
  const [op, ag] = await settled([operator, agent], o.settleMs);
  const limited = cgroup
    ? await settled(
        [() => startOperator(kubeconfig, namespace, o.logDir, `operator-${label}-limited`, cgroup)],
        o.settleMs,
      )
    : undefined;
  return { operator: op!, agent: ag!, ...(limited ? { limitedOperator: limited[0]! } : {}) };
}

const READY: Record<string, string> = {
  operator: "informers synced; starting workers",
  agent: "dispatcher started",
};

/** Starts the processes together, waits until each listed everything, then `settleMs` more. */
async function settled(starts: (() => Proc)[], settleMs: number): Promise<ProcessMemory[]> {
  const procs: Proc[] = [];
  try {
    const t0 = Date.now();
    for (const start of starts) procs.push(start());
    const samplers = procs.map((p) => sampleMemory(p.pid));
    const ready = await Promise.all(
      procs.map((p) => waitForLog(p, READY[p.name.split("-")[0]!]!).then(() => Date.now() - t0)),
    );
    await new Promise((r) => setTimeout(r, settleMs));
    const now = await Promise.all(procs.map((p) => memoryOf(p.pid)));
    return await Promise.all(
      procs.map(async (_, i) => {
        const samples = await samplers[i]!.stop();
        const m: Memory = now[i]!;
        return { settled: m.rss, sampledPeak: Math.max(m.rss, ...samples), peak: m.peak, readyMs: ready[i]! };
      }),
    );
  } finally {
    await stopAll(procs);
  }
}

/** A job as a worker leaves it after copying `public.orders` in four partitions. */
function finishedJob(namespace: string, i: number, node: string): { job: CopyJob; status: CopyJobStatus } {
  const name = `job-${String(i).padStart(5, "0")}`;
  const job = copyJobFixture(
    name,
    set("spec.gatewayRef.name", GATEWAY),
    set("spec.sink.path", `exports/orders/${name}`),
    set("spec.source.partitioning", { mode: "Column", column: "id", count: PARTITIONS }),
  );
  job.metadata.namespace = namespace;
  const start = new Date(Date.UTC(2025, 0, 1) + i * 60_000);
  const end = new Date(start.getTime() + 42_000);
  const t = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
  const rows = 250_000;
  const bytes = 21_500_000;
  const uri = (p: number) =>
    `https://ferrydemo.blob.core.windows.net/exports/orders/${name}/part-p${p}-a1.csv`;
  const partitions = Array.from({ length: PARTITIONS }, (_, p) => ({
    id: `p${p}`,
    rows: rows / PARTITIONS,
    bytes: bytes / PARTITIONS,
    checksum: `sha256:${(i * 7919 + p).toString(16).padStart(64, "0")}`,
    uri: uri(p),
  }));
  const status: CopyJobStatus = {
    phase: "Succeeded",
    node,
    attempt: 1,
    attempts: [
      {
        attempt: 1,
        node,
        result: "Succeeded",
        reason: "Completed",
        message: "copied",
        startTime: t(start),
        completionTime: t(end),
      },
    ],
    startTime: t(start),
    completionTime: t(end),
    progress: {
      rows,
      bytes,
      partitionsDone: PARTITIONS,
      partitionsTotal: PARTITIONS,
      rowsPerSecond: Math.round(rows / 42),
      bytesPerSecond: Math.round(bytes / 42),
      percent: 100,
    },
    checkpoint: { committedPartitions: partitions },
    output: {
      uris: partitions.map((p) => p.uri),
      rows,
      bytes,
      manifestUri: `https://ferrydemo.blob.core.windows.net/exports/orders/${name}/_SUCCESS`,
    },
    conditions: [
      {
        type: "Ready",
        status: "True",
        reason: "Succeeded",
        message: `copied ${rows} rows`,
        lastTransitionTime: t(end),
      },
    ],
  };
  return { job, status };
}
