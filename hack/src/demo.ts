/**
 * The main job, run by `npm run demo`: a real copy through the operator and its agents on a local
 * control plane.
 *
 *   1. the control plane (built from Go modules on the first run), with a process node whose
 *      kubelet runs pods as real processes;
 *   2. PostgreSQL with a sample `orders` table, and Azurite as the cloud storage;
 *   3. the operator, installed with the Helm chart; its pod runs on the process node;
 *   4. the sample LogicalGateway, whose agent pods the operator creates there too;
 *   5. the DataStores: PostgreSQL with a Secret, Azure Blob with a credential sealed by
 *      `ferry encrypt` to the gateway's public key; then the sample CopyJob;
 *   6. the copy moving (what `kubectl get cj` shows), the output checked against the source, and
 *      a summary.
 *
 * The environment stays up to explore with kubectl until Ctrl-C (or exits at once with
 * `--exit`). `npm run demo -- down` stops the demo cluster. `--rows N` sizes the table (default two
 * million); `--cluster NAME` runs it on another named cluster (the e2e test does). Running it again is safe: the cluster
 * is reused and every object is server-side applied.
 */
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { BlobServiceClient } from "@azure/storage-blob";
import { connect, type Kube, type KubeObject, type Pod, podIsReady } from "@ferry/common";
import { type CopyJob, type DataStore, type LogicalGateway, samples } from "@ferry/crds";
import { stringify } from "yaml";
import { ensureNamedCluster, stopNamedCluster } from "./cluster/named.ts";
import { startAzurite, startPostgres } from "./services/index.ts";
import { installCrds } from "./testing/crds.ts";
import { kubectl } from "./testing/kubectl.ts";
import { onProcessNode } from "./testing/process-node.ts";
import { eventually } from "./testing/wait.ts";

const run = promisify(execFile);

const NAMESPACE = "ferry-demo";
const OPERATOR_NAMESPACE = "ferry-system";
const FERRY = "ferry.dev/v1alpha1";
const root = new URL("../../", import.meta.url).pathname;
const say = (message: string) => console.log(`[demo] ${message}`);

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    rows: { type: "string", default: "2000000" },
    exit: { type: "boolean", default: false },
    cluster: { type: "string", default: "demo" },
  },
});

function sample<T extends KubeObject>(kind: string, name: string): T {
  const found = samples().find((s) => s.object.kind === kind && s.object.metadata.name === name);
  if (!found) throw new Error(`crds/samples has no ${kind} ${name}`);
  return structuredClone(found.object) as unknown as T;
}

async function seed(psql: (sql: string) => Promise<string>, rows: number): Promise<void> {
  await psql(`
    CREATE TABLE IF NOT EXISTS public.orders (
      id bigint PRIMARY KEY,
      customer text NOT NULL,
      amount numeric(12,2) NOT NULL,
      placed_at timestamptz NOT NULL,
      shipped boolean NOT NULL,
      note text
    );
    TRUNCATE public.orders;
    INSERT INTO public.orders
      SELECT i, 'customer "' || (i % 9973) || '", ltd', round((random() * 10000)::numeric, 2),
             timestamptz '2026-01-01' + (i || ' seconds')::interval, i % 3 = 0,
             CASE WHEN i % 7 = 0 THEN NULL ELSE 'note ' || md5(i::text) END
      FROM generate_series(1, ${rows}) AS i;
    ANALYZE public.orders;`);
}

async function installOperator(kubeconfig: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-demo-"));
  const valuesFile = join(dir, "values.yaml");
  await writeFile(valuesFile, stringify({ ...onProcessNode, logLevel: "info" }));
  const helm = join(process.env.FERRY_BIN ?? "", "helm");
  await run(helm, [
    "upgrade",
    "--install",
    "ferry",
    join(root, "charts/ferry"),
    "--kubeconfig",
    kubeconfig,
    "--namespace",
    OPERATOR_NAMESPACE,
    "--create-namespace",
    "--values",
    valuesFile,
    "--wait",
    "--timeout",
    "3m",
  ]);
}

async function ferryCli(args: string[], input?: string): Promise<string> {
  const child = execFile(process.execPath, [join(root, "agent/src/cli/main.ts"), ...args]);
  if (input !== undefined) child.stdin?.end(input);
  let out = "";
  child.stdout?.on("data", (c) => (out += c));
  let err = "";
  child.stderr?.on("data", (c) => (err += c));
  const code = await new Promise<number | null>((r) => child.on("exit", r));
  if (code !== 0) throw new Error(`ferry ${args[0]} failed: ${err.trim()}`);
  return out.trim();
}

function progressLine(job: CopyJob): string {
  const s = job.status;
  const p = s?.progress;
  const pct = p?.percent !== undefined ? `${p.percent.toFixed(0)}%` : "-";
  const rate = p?.rowsPerSecond ? `${Math.round(p.rowsPerSecond).toLocaleString()} rows/s` : "";
  return `${s?.phase ?? "Pending"} node=${s?.node ?? "-"} attempt=${s?.attempt ?? 0} ${pct} rows=${(p?.rows ?? 0).toLocaleString()} ${rate}`;
}

async function up(): Promise<void> {
  const started = Date.now();
  say("starting the local control plane (the first run on a machine builds it from Go modules: minutes)");
  const { state, reused } = await ensureNamedCluster(values.cluster, 1, 1, (m) => say(m));
  say(reused ? "reusing the running demo cluster" : `control plane up: ${state.server}`);
  const kube: Kube = connect(state.kubeconfig);
  const kubeconfig = state.kubeconfig;

  say("starting PostgreSQL and Azurite on loopback");
  const [pg, azurite] = await Promise.all([startPostgres(), startAzurite()]);
  await BlobServiceClient.fromConnectionString(azurite.connectionString)
    .getContainerClient("exports")
    .createIfNotExists();
  const rows = Number(values.rows);
  say(`seeding public.orders with ${rows.toLocaleString()} rows`);
  await seed((sql) => pg.psql(sql), rows);

  await installCrds(kube);
  say("installing the operator with Helm (its pod runs on the process node)");
  await installOperator(kubeconfig);

  await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } }, "ferry-demo");
  const gateway = sample<LogicalGateway>("LogicalGateway", "demo");
  gateway.metadata.namespace = NAMESPACE;
  gateway.spec = {
    ...gateway.spec,
    nodes: { min: 2, max: 3 },
    agent: {
      nodeSelector: { ...onProcessNode.nodeSelector },
      tolerations: onProcessNode.tolerations.map((t) => ({ ...t })),
    },
  };
  await kube.apply(gateway, "ferry-demo");
  say("waiting for the gateway's agents to come Online");
  const online = await eventually(
    "gateway Online",
    async () => {
      const g = await kube.get<LogicalGateway>({
        apiVersion: FERRY,
        kind: "LogicalGateway",
        namespace: NAMESPACE,
        name: "demo",
      });
      return g?.status?.phase === "Online" && (g.status.nodes?.ready ?? 0) >= 2 ? g : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  say(`gateway Online: ${online.status?.nodes?.ready} nodes, dispatcher ${online.status?.dispatcher ?? "-"}`);

  await kube.apply(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "pg-source-credentials", namespace: NAMESPACE },
      type: "Opaque",
      data: {
        username: Buffer.from(pg.user).toString("base64"),
        password: Buffer.from(pg.password).toString("base64"),
      },
    } as KubeObject,
    "ferry-demo",
  );
  const source = sample<DataStore>("DataStore", "pg-source");
  source.metadata.namespace = NAMESPACE;
  source.spec.connection = { host: pg.host, port: pg.port, database: pg.database, tlsMode: "Disable" };
  await kube.apply(source, "ferry-demo");
  say("sealing the Blob account key to the gateway's public key with `ferry encrypt`");
  const sealed = await ferryCli(
    ["encrypt", "--gateway", "demo", "-n", NAMESPACE, "--kubeconfig", kubeconfig, "--from-file", "-"],
    `accountKey=${azurite.accountKey}\n`,
  );
  const sink = sample<DataStore>("DataStore", "blob-sink");
  sink.metadata.namespace = NAMESPACE;
  sink.spec.connection = { accountUrl: azurite.blobEndpoint, container: "exports" };
  sink.spec.credentials = { encrypted: sealed };
  await kube.apply(sink, "ferry-demo");

  const job = sample<CopyJob>("CopyJob", "orders-to-blob");
  const jobName = `orders-${Date.now().toString(36)}`;
  job.metadata = { name: jobName, namespace: NAMESPACE };
  job.spec.source!.partitioning = { mode: "Column", column: "id", count: 8 };
  job.spec.sink!.path = `orders/${jobName}`;
  job.spec.parallelism = 4;
  await kube.create(job);
  say(`copy job ${jobName} created: public.orders → blob exports/orders/${jobName} (Csv, 8 partitions)`);

  const copyStarted = Date.now();
  let last = "";
  const done = await eventually(
    "the copy to finish",
    async () => {
      const j = await kube.get<CopyJob>({
        apiVersion: FERRY,
        kind: "CopyJob",
        namespace: NAMESPACE,
        name: jobName,
      });
      if (!j) return undefined;
      const line = progressLine(j);
      if (line !== last) say(line);
      last = line;
      return j.status?.phase === "Succeeded" || j.status?.phase === "Failed" ? j : undefined;
    },
    { timeoutMs: 30 * 60_000, intervalMs: 1_000 },
  );
  const seconds = (Date.now() - copyStarted) / 1000;
  if (done.status?.phase !== "Succeeded") {
    const reason = done.status?.conditions?.find((c) => c.status === "False" || c.type === "Failed");
    throw new Error(`the copy failed: ${reason?.reason ?? ""} ${reason?.message ?? ""}`);
  }
  const sourceRows = Number(await pg.psql("SELECT count(*) FROM public.orders"));
  const copied = done.status?.output?.rows ?? 0;
  const bytes = done.status?.output?.bytes ?? 0;
  const ok = copied === sourceRows;
  console.log(await kubectl(["get", "ferry", "-n", NAMESPACE], kubeconfig));
  const attempts = (done.status?.attempts ?? [])
    .map((a) => `attempt ${a.attempt} on ${a.node}: ${a.result}`)
    .join("; ");
  console.log(`Summary
  rows copied   ${copied.toLocaleString()} of ${sourceRows.toLocaleString()} in the source ${ok ? "(exact)" : "(MISMATCH)"}
  bytes         ${(bytes / 1024 ** 2).toFixed(1)} MiB
  time          ${seconds.toFixed(1)} s (whole demo ${((Date.now() - started) / 1000).toFixed(0)} s)
  throughput    ${Math.round(copied / seconds).toLocaleString()} rows/s, ${(bytes / 1024 ** 2 / seconds).toFixed(1)} MiB/s
  ran on        ${attempts}
  output        ${done.status?.output?.manifestUri ?? ""}`);
  if (!ok) throw new Error("the output does not match the source");

  const agents = await kube.list<Pod>("v1", "Pod", NAMESPACE, {
    labelSelector: "app.kubernetes.io/component=agent",
  });
  say(`${agents.filter(podIsReady).length} agent pods running as processes on the process node`);
  console.log(`Explore it (the environment stays up until Ctrl-C):
  export KUBECONFIG=${kubeconfig}
  kubectl get ferry -n ${NAMESPACE}
  kubectl describe copyjob ${jobName} -n ${NAMESPACE}
  PATH=${join(root, "agent/bin")}:$PATH kubectl ferry status -n ${NAMESPACE}
Stop the cluster afterwards with: npm run demo -- down`);
  const stop = async () => {
    say("stopping PostgreSQL and Azurite");
    await Promise.all([pg.stop(), azurite.stop()]);
  };
  if (values.exit) {
    await stop();
    return;
  }
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await stop();
}

if (positionals[0] === "down") {
  say((await stopNamedCluster(values.cluster)) ? "demo cluster stopped" : "no demo cluster was running");
} else {
  try {
    await up();
  } catch (err) {
    console.error(`[demo] ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
