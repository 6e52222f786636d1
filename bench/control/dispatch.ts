/**
 * The dispatch benchmark: a gateway of several real agent processes (and the operator, as in
 * production) is given many tiny CopyJobs at once, each a real copy of a five-row PostgreSQL query
 * to CSV files in a local folder. Measured: how long each job waits (latency.ts defines it), the
 * time until every job Succeeded, and the API writes and requests per job from the API server's
 * own audit log and request counters.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CopyJob, GatewayNode } from "@ferry/crds";
import { copyJobFixture, dataStoreFixture, fileShare, set } from "@ferry/crds/fixtures";
import { type PostgresServer, startPostgres } from "@ferry/hack/services";
import { cpuSeconds, ownCpuSeconds, serverPid, treeCpuSeconds } from "../src/index.ts";
import {
  type AuditWrite,
  auditLogOf,
  auditOffset,
  type RequestDelta,
  readWrites,
  requestCounts,
  requestDelta,
} from "./audit.ts";
import { type BenchCluster, benchGateway, createNamespace, pool, until } from "./cluster.ts";
import { type Latencies, latencies } from "./latency.ts";
import { type JobTimes, startObserver } from "./observer.ts";
import { type Proc, startAgent, startOperator, stopAll, waitForLog } from "./processes.ts";

export interface DispatchOptions {
  jobs: number;
  agents: number;
  perNode: number;
  operator: boolean;
  /** Creates in flight at once. */
  createConcurrency: number;
  logDir: string;
  log: (message: string) => void;
}

export interface DispatchResult {
  options: Omit<DispatchOptions, "log" | "logDir">;
  namespace: string;
  slots: number;
  /** First create sent → last job seen final, ms. */
  totalMs: number;
  /** First create sent → last create answered, ms. */
  createMs: number;
  latency: Latencies;
  /** What the stopwatch saw per job, with when each was created (for --dump). */
  seen: (JobTimes & { created: number })[];
  phases: Record<string, number>;
  /** Jobs with more than one attempt. */
  retried: number;
  /** _SUCCESS manifests found in the sink folder. */
  manifests: number;
  /** Successful writes in the gateway's namespace, and the refused ones (409 and other errors). */
  writes: AuditWrite[];
  refused: AuditWrite[];
  /** Writes elsewhere in the cluster during the window (the control plane's own). */
  otherWrites: number;
  requests: RequestDelta[];
  /** CPU seconds each part used over the window: the cost per job, whatever the machine's load. */
  cpu: { part: string; seconds: number }[];
}

const GATEWAY = "gw";
const API = "ferry.dev/v1alpha1";

export async function runDispatch(cluster: BenchCluster, o: DispatchOptions): Promise<DispatchResult> {
  const { kube } = cluster;
  const { kubeconfig } = cluster.state;
  const namespace = await createNamespace(kube, "bench-dispatch");
  const share = await mkdtemp(join(tmpdir(), "ferry-bench-share-"));
  const procs: Proc[] = [];
  let pg: PostgresServer | undefined;
  try {
    pg = await startPostgres();
    await pg.psql("CREATE DATABASE bench");
    await pg.psql(
      "CREATE TABLE tiny AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5) g",
      "bench",
    );
    await createGateway(cluster, namespace, pg, share, o.perNode);

    if (o.operator) {
      const operator = startOperator(kubeconfig, namespace, o.logDir);
      procs.push(operator);
      await waitForLog(operator, "informers synced; starting workers");
    }
    const nodes = Array.from({ length: o.agents }, (_, i) => `n${i}`);
    const agents = nodes.map((n) => startAgent(kubeconfig, namespace, GATEWAY, n, o.logDir));
    procs.push(...agents);
    await Promise.all(agents.map((a) => waitForLog(a, "node lease claimed")));
    await Promise.any(agents.map((a) => waitForLog(a, "dispatcher started")));
    // The dispatcher counts a node's slots from what the node reports, and skips nodes the
    // operator has not (yet) found Online: start only when every slot is offered.
    await until("every node reporting its slots", async () => {
      const list = await kube.list<GatewayNode>(API, "GatewayNode", namespace);
      return (
        list.length === o.agents &&
        list.every(
          (n) =>
            n.status?.jobs?.limit === o.perNode &&
            (!o.operator || n.status.state === "Online" || n.status.state === "Limited"),
        )
      );
    });
    o.log(`${o.agents} agents ready (${o.perNode} slots each)${o.operator ? ", operator ready" : ""}`);

    const expected = o.jobs;
    const observer = await startObserver({ kubeconfig, namespace, expected }, (finished) =>
      o.log(`  ${finished}/${expected} final`),
    );
    const auditFile = auditLogOf(cluster.state.dir);
    const offset = await auditOffset(auditFile);
    const countsBefore = await requestCounts(kubeconfig);
    const parts = await cpuParts(cluster, procs, pg);
    const cpuBefore = await cpuOf(parts);
    const names = Array.from({ length: o.jobs }, (_, i) => `job-${String(i).padStart(5, "0")}`);
    const created = new Map<string, number>();
    const t0 = Date.now();
    await pool(names, o.createConcurrency, async (name) => {
      await kube.create(tinyJob(namespace, name));
      created.set(name, Date.now());
    });
    const createMs = Date.now() - t0;
    o.log(`${o.jobs} CopyJobs created in ${(createMs / 1000).toFixed(1)} s`);
    const timeoutMs = Math.max(180_000, o.jobs * 300);
    const timer = setTimeout(() => {
      o.log(`not every job final after ${timeoutMs / 1000} s: stopping the stopwatch`);
      observer.stop();
    }, timeoutMs);
    const seen = await observer.done.finally(() => clearTimeout(timer));
    const tEnd = Date.now();
    const cpuAfter = await cpuOf(parts);
    const countsAfter = await requestCounts(kubeconfig);
    // The audit backend writes before it answers; a moment covers the file system.
    await new Promise((r) => setTimeout(r, 500));
    const all = await readWrites(auditFile, offset, t0, tEnd);
    const ours = all.filter((w) => w.namespace === namespace);

    // The API server's view, not the stopwatch's: every job final and Succeeded.
    const jobs = await kube.list<CopyJob>(API, "CopyJob", namespace);
    const phases: Record<string, number> = {};
    for (const j of jobs)
      phases[j.status?.phase ?? "Pending"] = (phases[j.status?.phase ?? "Pending"] ?? 0) + 1;
    const born = new Map<string, number>();
    for (const job of seen) born.set(job.name, Math.min(created.get(job.name) ?? job.seen, job.seen));
    return {
      options: {
        jobs: o.jobs,
        agents: o.agents,
        perNode: o.perNode,
        operator: o.operator,
        createConcurrency: o.createConcurrency,
      },
      namespace,
      slots: o.agents * o.perNode,
      totalMs: lastFinal(seen) - t0,
      createMs,
      latency: latencies(seen, born, o.agents * o.perNode, t0 + createMs),
      seen: seen.map((j) => ({ ...j, created: born.get(j.name) ?? j.seen })),
      phases,
      retried: seen.filter((j) => j.attempt > 1).length,
      manifests: await countManifests(join(share, "out")),
      writes: ours.filter((w) => w.code < 400),
      refused: ours.filter((w) => w.code >= 400),
      otherWrites: all.length - ours.length,
      requests: requestDelta(countsBefore, countsAfter),
      cpu: [...cpuAfter].map(([part, seconds]) => ({ part, seconds: seconds - (cpuBefore.get(part) ?? 0) })),
    };
  } finally {
    await stopAll(procs);
    await pg?.stop();
    await rm(share, { recursive: true, force: true });
  }
}

type CpuReader = [part: string, read: () => Promise<number>][];

/** The processes whose CPU time is counted, grouped as the report shows them. */
async function cpuParts(cluster: BenchCluster, procs: Proc[], pg: PostgresServer): Promise<CpuReader> {
  const pids = cluster.state.pids;
  const postmaster = await serverPid(pg.dir);
  const sum = (list: number[]) => async () =>
    (await Promise.all(list.map(cpuSeconds))).reduce((a, b) => a + b, 0);
  const agents = procs.filter((p) => p.name.startsWith("agent-")).map((p) => p.pid);
  const operator = procs.filter((p) => p.name === "operator").map((p) => p.pid);
  return [
    ["kube-apiserver", sum([pids["kube-apiserver"]!])],
    ["etcd", sum([pids.etcd!])],
    [`agents (${agents.length})`, sum(agents)],
    ...(operator.length ? ([["operator", sum(operator)]] as CpuReader) : []),
    // Its backends too: an agent keeps an idle session open for the next job's reads.
    ["PostgreSQL", () => treeCpuSeconds(postmaster)],
    [
      "controller-manager, scheduler, kwok",
      sum([pids["kube-controller-manager"]!, pids["kube-scheduler"]!, pids.kwok!]),
    ],
    ["this benchmark (creates, stopwatch)", ownCpuSeconds],
  ];
}

async function cpuOf(parts: CpuReader): Promise<Map<string, number>> {
  return new Map(await Promise.all(parts.map(async ([part, read]) => [part, await read()] as const)));
}

function lastFinal(jobs: JobTimes[]): number {
  let last = 0;
  for (const j of jobs) for (const p of ["Succeeded", "Failed"]) last = Math.max(last, j.phases[p] ?? 0);
  return last;
}

async function countManifests(dir: string): Promise<number> {
  const jobs = await readdir(dir).catch((): string[] => []);
  let n = 0;
  for (const job of jobs) {
    const files = await readdir(join(dir, job)).catch((): string[] => []);
    if (files.includes("_SUCCESS")) n++;
  }
  return n;
}

/** The gateway, its PostgreSQL source (superuser credentials from a Secret) and its folder sink. */
async function createGateway(
  cluster: BenchCluster,
  namespace: string,
  pg: PostgresServer,
  share: string,
  perNode: number,
): Promise<void> {
  const { kube } = cluster;
  await kube.create(benchGateway(namespace, GATEWAY, perNode));
  await kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "pg-credentials", namespace },
    stringData: { username: pg.user, password: pg.password },
  });
  const source = dataStoreFixture(
    "pg-source",
    set("spec.gatewayRef.name", GATEWAY),
    set("spec.connection", { host: pg.host, port: pg.port, database: "bench", tlsMode: "Disable" }),
    set("spec.credentials", { secretRef: { name: "pg-credentials" } }),
  );
  const sink = dataStoreFixture("share", set("spec.gatewayRef.name", GATEWAY), fileShare);
  sink.spec.connection = { path: share };
  for (const store of [source, sink]) {
    store.metadata.namespace = namespace;
    await kube.create(store);
  }
}

function tinyJob(namespace: string, name: string): CopyJob {
  const job = copyJobFixture(
    name,
    set("spec.gatewayRef.name", GATEWAY),
    set("spec.source", { dataStoreRef: { name: "pg-source" }, query: "SELECT id, note FROM tiny" }),
    set("spec.sink", { dataStoreRef: { name: "share" }, path: `out/${name}`, format: "Csv" }),
  );
  job.metadata.namespace = namespace;
  return job;
}
