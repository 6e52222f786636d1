/**
 * Ferry's side of the copy benchmark: a control plane of its own (named bench-copy, in the cache
 * folder), the CRDs, a gateway with its DataStores, and ONE real agent process — the same
 * `node agent/src/main.ts` a node runs. Each copy is a CopyJob; its time is the agent's attempt
 * (from "attempt started" to "job succeeded" in the agent's log, so the dispatch and this script's
 * polling are not counted), and it only counts once the manifest proves the copy exact.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { Kube } from "@ferry/common";
import type { CopyJob } from "@ferry/crds";
import { type LocalCluster, readState, startCluster, stopClusterAt } from "@ferry/hack";
import type { AzuriteServer, PostgresServer } from "@ferry/hack/services";
import { installCrds } from "@ferry/hack/testing";
import { type AgentProcess, devAgent, jobFor, setupGateway } from "../../agent/test/support/agents.ts";
import type { Cpu, CpuMeter } from "./cpu-meter.ts";
import { containerOf } from "./limits.ts";

export type Format = "Csv" | "JsonLines" | "Parquet";

export interface FerryCase {
  table: string;
  rows: number;
  format: Format;
  /** 1: one partition (mode None); more: Column ranges on the key, read `parallelism` at once. */
  partitions: number;
  parallelism: number;
}

export interface FerryRun {
  /** The agent's attempt, as its log times it. */
  seconds: number;
  /** From creating the CopyJob to seeing it Succeeded (dispatch and polling included). */
  wallSeconds: number;
  rows: number;
  bytes: number;
  /** The agent's peak resident memory during this copy (VmHWM, reset before it). */
  peakRss: number;
  /**
   * The agent's resident memory sampled every ~100 ms while the copy ran: seconds since the CopyJob
   * was created, bytes. Whether memory grows with the rows copied shows within one copy.
   */
  rssTrace: { at: number; rss: number }[];
  /** From creating the CopyJob to seeing it Succeeded, when a meter was given. */
  cpu?: Cpu;
}

export interface Ferry {
  database: string;
  agentPid: number;
  /** `meter` counts CPU from the CopyJob's creation until it is seen Succeeded (not the checks). */
  copy(c: FerryCase, meter?: CpuMeter): Promise<FerryRun>;
  stop(): Promise<void>;
}

export const CLUSTER_NAME = "bench-copy";
const NAMESPACE = "bench-copy";

function clusterDir(): string {
  const cache = process.env.FERRY_CACHE ?? join(process.env.HOME ?? "/tmp", ".cache", "ferry");
  return join(cache, "clusters", CLUSTER_NAME);
}

/** Resets the process's peak RSS (Linux: 5 > clear_refs), so VmHWM is this copy's own peak. */
async function resetPeak(pid: number): Promise<boolean> {
  return writeFile(`/proc/${pid}/clear_refs`, "5").then(
    () => true,
    () => false,
  );
}

async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib("VmRSS"), hwm: kib("VmHWM") };
}

function logTime(agent: AgentProcess, job: string, msg: string): number | undefined {
  for (const line of agent.lines) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    const o = JSON.parse(line) as { job?: string; time?: string };
    if (o.job === job && o.time) return Date.parse(o.time);
  }
  return undefined;
}

/**
 * Starts the control plane, the gateway and the agent. `profileDir`: the agent writes a CPU profile
 * there when it stops (node --cpu-prof), to see where a copy's time goes.
 */
export async function startFerry(
  pg: PostgresServer,
  azurite: AzuriteServer,
  options: { profileDir?: string; log: (m: string) => void },
): Promise<Ferry> {
  const dir = clusterDir();
  // A benchmark killed halfway leaves its cluster behind; this run's is a fresh one.
  if (await readState(dir)) await stopClusterAt(dir, { removeDir: true });
  const cluster: LocalCluster = await startCluster({ dir, nodes: 0, processNodes: 0 });
  let agent: AgentProcess | undefined;
  try {
    const kube: Kube = cluster.kube;
    await installCrds(kube);
    await kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } });
    const setup = await setupGateway(kube, NAMESPACE, pg, azurite, 1);
    const env: Record<string, string> = { FERRY_LOG_LEVEL: "info" };
    if (options.profileDir) env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${options.profileDir}`;
    agent = devAgent(cluster.kubeconfig, NAMESPACE, setup.gateway, "bench-node", [], env);
    const started = agent;
    const deadline = Date.now() + 60_000;
    while (!started.lines.some((l) => l.includes("this node is the dispatcher"))) {
      if (started.proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`the agent did not start:\n${started.lines.slice(-20).join("\n")}`);
      await delay(100);
    }
    const idle = await memory(started.proc.pid!);
    options.log(
      `agent ${started.proc.pid} is up, RSS ${Math.round(idle.rss / 2 ** 20)} MiB (cluster ${dir})`,
    );
    const container = containerOf(azurite, setup.container);
    const pid = started.proc.pid!;
    let copies = 0;
    return {
      database: setup.database,
      agentPid: pid,
      async copy(c, meter) {
        // A repeated copy (--repeat) is a new job: names are not reused.
        const name = `${c.format}-p${c.partitions}-${c.rows}-${++copies}`.toLowerCase();
        const job: CopyJob = jobFor(NAMESPACE, setup.gateway, name, { partitions: c.partitions });
        const spec = job.spec;
        spec.source!.table = c.table;
        spec.source!.partitioning =
          c.partitions === 1 ? { mode: "None" } : { mode: "Column", column: "id", count: c.partitions };
        spec.parallelism = c.parallelism;
        spec.sink!.format = c.format;
        if (c.format === "Parquet") spec.sink!.compression = "Snappy";
        spec.retry = { maxAttempts: 1, backoffSeconds: 1 };
        const reset = await resetPeak(pid);
        await meter?.start();
        const t0 = performance.now();
        await kube.create(job);
        let done: CopyJob | undefined;
        const rssTrace: FerryRun["rssTrace"] = [];
        while (!done) {
          if (started.proc.exitCode !== null) throw new Error(`the agent exited during ${name}`);
          rssTrace.push({ at: (performance.now() - t0) / 1000, rss: (await memory(pid)).rss });
          const j = await kube.get<CopyJob>({
            apiVersion: "ferry.dev/v1alpha1",
            kind: "CopyJob",
            namespace: NAMESPACE,
            name,
          });
          const phase = j?.status?.phase;
          if (phase === "Failed") throw new Error(`${name} failed: ${JSON.stringify(j?.status?.attempts)}`);
          if (phase === "Succeeded") done = j;
          else await delay(100);
        }
        const wallSeconds = (performance.now() - t0) / 1000;
        const cpu = await meter?.stop();
        const { hwm } = await memory(pid);
        if (!reset) options.log("could not reset the agent's peak RSS; VmHWM is its lifetime peak");
        await delay(200); // the log line is written right after the status
        const from = logTime(started, name, "attempt started");
        const to = logTime(started, name, "job succeeded");
        if (from === undefined || to === undefined)
          throw new Error(`${name}: no attempt times in the agent's log`);
        // Exact or it does not count: the manifest lists every partition once and every row.
        const manifest = JSON.parse(
          (await container.getBlobClient(`out/${name}/_SUCCESS`).downloadToBuffer()).toString("utf8"),
        ) as { rows: number; bytes: number; parts: { rows: number }[] };
        const partRows = manifest.parts.reduce((s, p) => s + p.rows, 0);
        if (manifest.rows !== c.rows || partRows !== c.rows || done.status?.output?.rows !== c.rows)
          throw new Error(
            `${name}: copied ${manifest.rows} rows (parts ${partRows}), the table has ${c.rows}`,
          );
        if (manifest.parts.length !== c.partitions)
          throw new Error(`${name}: ${manifest.parts.length} parts for ${c.partitions} partitions`);
        // Azurite keeps blobs in memory: drop each output once checked.
        for await (const b of container.listBlobsFlat({ prefix: `out/${name}/` }))
          await container.getBlobClient(b.name).delete();
        return {
          seconds: (to - from) / 1000,
          wallSeconds,
          rows: c.rows,
          bytes: manifest.bytes,
          peakRss: hwm,
          rssTrace,
          ...(cpu ? { cpu } : {}),
        };
      },
      async stop() {
        started.kill("SIGTERM");
        await Promise.race([started.exited, delay(15_000)]);
        started.kill("SIGKILL");
        await cluster.stop({ removeDir: true });
      },
    };
  } catch (err) {
    agent?.kill("SIGKILL");
    await cluster.stop({ removeDir: true });
    throw err;
  }
}
