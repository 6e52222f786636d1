/**
 * One scenario's world: a namespace on a real control plane, the operator as a process, a
 * LogicalGateway whose agent pods run as real processes on the process node, a PostgreSQL
 * database with an `orders` table read by its own role (the password sealed with `ferry encrypt`),
 * and an Azurite container written with an account key from a Secret.
 *
 * Scenarios and the reliability runner both build on it, so it takes a `Scope` (where, and how to
 * clean up) rather than a test context.
 */
import type { Kube, KubeObject, Pod } from "@ferry/common";
import type { CopyJob, DataStore, GatewayNode, LogicalGateway, LogicalGatewaySpec } from "@ferry/crds";
import { copyJobFixture, dataStoreFixture, set } from "@ferry/crds/fixtures";
import { podProcessId } from "@ferry/hack/kubelet";
import type { AzuriteServer, PostgresServer } from "@ferry/hack/services";
import {
  agentsOnProcessNode,
  blobContainer,
  eventually,
  FAST_AGENT_ENV,
  sourceDatabase,
} from "@ferry/hack/testing";
import { startOperator } from "./operator.ts";
import { ferryCli, type Logged } from "./processes.ts";

export const FERRY = "ferry.dev/v1alpha1";

export interface Scope {
  kube: Kube;
  kubeconfig: string;
  namespace: string;
  /** Runs fn when the scenario (or trial) ends, last registered first. */
  defer(fn: () => unknown): void;
}

export interface Services {
  pg: PostgresServer;
  azurite: AzuriteServer;
}

export interface StackOptions {
  gateway?: string;
  /** Merged over the default spec: 2 nodes, 2 jobs per node, agents on the process node. */
  spec?: Partial<LogicalGatewaySpec>;
  rows?: number;
  operatorEnv?: Record<string, string>;
  /** Wait for this many Ready nodes (default nodes.min). */
  ready?: number;
}

export interface Stack extends Scope, Services {
  gateway: string;
  database: string;
  container: string;
  rows: number;
  /** Every credential's plaintext, for secret hygiene. */
  secrets: string[];
  operator: Logged;
  /** Starts another operator process (after a kill, or a second replica). */
  restartOperator(env?: Record<string, string>): Logged;
}

export async function startStack(
  scope: Scope,
  services: Services,
  options: StackOptions = {},
): Promise<Stack> {
  const { kube, kubeconfig, namespace } = scope;
  const gateway = options.gateway ?? "gw";
  const rows = options.rows ?? 6_000;
  const spec: LogicalGatewaySpec = {
    nodes: { min: 2, max: 2 },
    concurrency: { perNode: 2, maxPerNode: 4, autoTune: false },
    ...options.spec,
    agent: { version: "1.0.0", ...agentsOnProcessNode(), env: FAST_AGENT_ENV, ...options.spec?.agent },
  };
  await kube.create<LogicalGateway>({
    apiVersion: FERRY,
    kind: "LogicalGateway",
    metadata: { name: gateway, namespace },
    spec,
  });
  let operator: Logged;
  let operators = 0;
  const restartOperator = (env: Record<string, string> = {}) => {
    const started = startOperator(
      kubeconfig,
      namespace,
      { ...options.operatorEnv, ...env },
      `operator-${++operators}`,
    );
    scope.defer(() => started.kill("SIGKILL"));
    operator = started;
    // What its Deployment does: an operator that exits on its own (it does when it loses the
    // leader lease, to start clean) is started again. One killed by a signal is the scenario's.
    void started.exited.then((code) => {
      if (!ended && code !== null && operator === started) restartOperator(env);
    });
    return started;
  };
  let ended = false;
  scope.defer(() => {
    ended = true;
  });
  restartOperator();

  const { pg, azurite } = services;
  const { database, role, password } = await sourceDatabase(
    pg,
    (role) =>
      `CREATE TABLE orders AS SELECT g::bigint AS id, 'customer "' || g || '", north' AS customer,
       (g % 977) * 1.25 AS amount, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' AS placed,
       CASE WHEN g % 7 = 0 THEN NULL ELSE md5(g::text) END AS note
     FROM generate_series(1, ${rows}) g;
     ALTER TABLE orders ADD PRIMARY KEY (id);
     CREATE FUNCTION slow_ok(i bigint) RETURNS boolean LANGUAGE plpgsql VOLATILE COST 10000 AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN true; END $$;
     GRANT SELECT ON orders TO ${role}; GRANT EXECUTE ON FUNCTION slow_ok(bigint) TO ${role};`,
  );
  const container = await blobContainer(azurite);

  // The operator publishes the gateway's public key; `ferry encrypt` seals to it, as users do.
  await eventually(
    "the gateway's public key",
    async () => (await getGateway(kube, namespace, gateway))?.status?.publicKey,
    { timeoutMs: 60_000 },
  );
  const sealed = await ferryCli(
    ["encrypt", "--gateway", gateway, "-n", namespace, "--kubeconfig", kubeconfig, "--from-file", "-"],
    `username=${role}\npassword=${password}\n`,
  );
  const source = dataStoreFixture(
    "pg-source",
    set("spec.gatewayRef.name", gateway),
    set("spec.connection", { host: pg.host, port: pg.port, database, tlsMode: "Disable" }),
  );
  source.metadata.namespace = namespace;
  source.spec.credentials = { encrypted: sealed };
  await kube.create<DataStore>(source);
  await kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "blob-key", namespace },
    stringData: { key: azurite.accountKey },
  } as KubeObject);
  const sink = dataStoreFixture(
    "blob-sink",
    set("spec.gatewayRef.name", gateway),
    set("spec.type", "AzureBlob"),
    set("spec.connection", { accountUrl: azurite.blobEndpoint, container }),
  );
  sink.metadata.namespace = namespace;
  sink.spec.credentials = { secretRef: { name: "blob-key", keys: { accountKey: "key" } } };
  await kube.create<DataStore>(sink);

  const want = options.ready ?? spec.nodes?.min ?? 1;
  await eventually(
    `gateway ${gateway} Online with ${want} ready nodes`,
    async () => {
      const g = await getGateway(kube, namespace, gateway);
      return g?.status?.phase === "Online" && (g.status.nodes?.ready ?? 0) >= want;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  return {
    ...scope,
    pg,
    azurite,
    gateway,
    database,
    container,
    rows,
    secrets: [password, pg.password, azurite.accountKey],
    get operator() {
      return operator;
    },
    restartOperator,
  };
}

export const getGateway = (kube: Kube, namespace: string, name: string) =>
  kube.get<LogicalGateway>({ apiVersion: FERRY, kind: "LogicalGateway", namespace, name });
export const getJob = (kube: Kube, namespace: string, name: string) =>
  kube.get<CopyJob>({ apiVersion: FERRY, kind: "CopyJob", namespace, name });
export const listNodes = (kube: Kube, namespace: string) =>
  kube.list<GatewayNode>(FERRY, "GatewayNode", namespace);

export interface JobOptions {
  /** A query instead of the table (e.g. one slowed by slow_ok, to have time to kill something). */
  query?: string;
  partitions?: number;
  source?: string;
  maxAttempts?: number;
  parallelism?: number;
}

/** A slow read of the whole table: about 2 ms per row, spread over the partitions. */
export const SLOW_QUERY = "SELECT id, customer, amount, placed, note FROM orders WHERE slow_ok(id)";

export function copyJob(stack: Stack, name: string, options: JobOptions = {}): CopyJob {
  const job = copyJobFixture(
    name,
    set("spec.gatewayRef.name", stack.gateway),
    set("spec.sink.path", `out/${name}`),
  );
  job.metadata.namespace = stack.namespace;
  const source = job.spec.source!;
  if (options.source) source.dataStoreRef.name = options.source;
  if (options.query) {
    delete source.table;
    source.query = options.query;
  }
  source.partitioning = { mode: "Column", column: "id", count: options.partitions ?? 4 };
  job.spec.parallelism = options.parallelism ?? 2;
  job.spec.retry = { maxAttempts: options.maxAttempts ?? 5, backoffSeconds: 1 };
  return job;
}

export async function waitFinal(stack: Stack, name: string, timeoutMs = 120_000): Promise<CopyJob> {
  return eventually(
    `job ${name} Succeeded or Failed`,
    async () => {
      const j = await getJob(stack.kube, stack.namespace, name);
      return j?.status?.phase === "Succeeded" || j?.status?.phase === "Failed" ? j : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/** The agent pod of a gateway node, and the pid of its process on the process node. */
export async function agentPod(stack: Stack, node: string): Promise<{ pod: Pod; pid: number | undefined }> {
  const [pod] = await stack.kube.list<Pod>("v1", "Pod", stack.namespace, {
    labelSelector: `app.kubernetes.io/component=agent,ferry.dev/node=${node}`,
  });
  if (!pod) throw new Error(`no agent pod for node ${node}`);
  return { pod, pid: podProcessId(pod) };
}

/** SIGKILLs a node's agent process: a crash, as the machine or the OOM killer would do it. */
export async function killNode(stack: Stack, node: string): Promise<void> {
  const { pid } = await agentPod(stack, node);
  if (pid === undefined) throw new Error(`node ${node}'s agent is not running`);
  process.kill(pid, "SIGKILL");
}
