/**
 * Test support: a gateway with real data stores (PostgreSQL source, Azurite sink) and real agent
 * processes (`node agent/src/main.ts`) with short leases, whose every output line is kept so tests
 * can grep them (secret hygiene) and wait on them.
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { generateCredentialKeyPair, type Kube, sealCredentials } from "@ferry/common";
import type { CopyJob, DataStore } from "@ferry/crds";
import { copyJobFixture, dataStoreFixture, gatewayFixture, set } from "@ferry/crds/fixtures";
import type { AzuriteServer, PostgresServer } from "@ferry/hack/services";
import {
  AGENT_LAUNCHER,
  agentLaunch,
  blobContainer,
  FAST_AGENT_FLAGS,
  launcherEnv,
  sourceDatabase,
  spawnLogged,
} from "@ferry/hack/testing";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
export const LAUNCHER = AGENT_LAUNCHER;

export interface AgentProcess {
  node: string;
  proc: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export const FAST = FAST_AGENT_FLAGS;

export function startAgent(args: string[], node: string, env: Record<string, string> = {}): AgentProcess {
  const launch = agentLaunch();
  const argv = [...launch.nodeFlags, MAIN, ...args];
  const started = spawnLogged(node, argv, { ...launcherEnv(launch), ...env }, (line) => {
    if (process.env.FERRY_AGENT_LOGS) process.stderr.write(`[${node}] ${line}\n`);
  });
  return { node, proc: started.proc, lines: started.lines, exited: started.exited, kill: started.kill };
}

export function devAgent(
  kubeconfig: string,
  namespace: string,
  gateway: string,
  node: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): AgentProcess {
  return startAgent(
    [
      "--kubeconfig",
      kubeconfig,
      "--namespace",
      namespace,
      "--gateway",
      gateway,
      "--node",
      node,
      ...FAST,
      ...extra,
    ],
    node,
    env,
  );
}

export interface GatewaySetup {
  gateway: string;
  secrets: string[];
  sourceTable: string;
  rows: number;
  database: string;
  container: string;
}

/**
 * A LogicalGateway with its credential key, a PostgreSQL database with `orders` (rows rows) read by
 * a dedicated role whose password is sealed to the gateway (DataStore pg-source, encrypted), and an
 * Azurite container written with an account key from a Secret (DataStore blob-sink, secretRef).
 */
export async function setupGateway(
  kube: Kube,
  namespace: string,
  pg: PostgresServer,
  azurite: AzuriteServer,
  rows: number,
): Promise<GatewaySetup> {
  const gateway = "gw";
  await kube.create({ ...gatewayFixture(gateway), metadata: { name: gateway, namespace } });
  const keys = generateCredentialKeyPair();
  await kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: `${gateway}-credential-key`, namespace },
    stringData: { "private.key": keys.privateKeyPem, "public.key": keys.publicKey },
  });
  const { database, role, password } = await sourceDatabase(
    pg,
    (role) =>
      `CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, ${rows}) g;
     CREATE FUNCTION slow_ok(i int) RETURNS boolean LANGUAGE plpgsql VOLATILE COST 10000 AS $$ BEGIN PERFORM pg_sleep(0.003); RETURN true; END $$;
     GRANT SELECT ON orders TO ${role}; GRANT EXECUTE ON FUNCTION slow_ok(int) TO ${role};`,
  );
  const container = await blobContainer(azurite);
  await createStores(kube, namespace, gateway, pg, azurite, database, container, keys.publicKey, {
    username: role,
    password,
  });
  return {
    gateway,
    secrets: [password, pg.password, keys.privateKeyPem.split("\n")[1]!],
    sourceTable: "public.orders",
    rows,
    database,
    container,
  };
}

async function createStores(
  kube: Kube,
  namespace: string,
  gateway: string,
  pg: PostgresServer,
  azurite: AzuriteServer,
  database: string,
  container: string,
  publicKey: string,
  creds: { username: string; password: string },
): Promise<void> {
  const source = dataStoreFixture(
    "pg-source",
    set("spec.gatewayRef.name", gateway),
    set("spec.connection", { host: pg.host, port: pg.port, database, tlsMode: "Disable" }),
  );
  source.metadata.namespace = namespace;
  source.spec.credentials = { encrypted: sealCredentials(publicKey, creds) };
  await kube.create<DataStore>(source);
  const bad = dataStoreFixture(
    "pg-bad",
    set("spec.gatewayRef.name", gateway),
    set("spec.connection", { host: pg.host, port: pg.port, database, tlsMode: "Disable" }),
  );
  bad.metadata.namespace = namespace;
  bad.spec.credentials = {
    encrypted: sealCredentials(publicKey, { username: creds.username, password: "wrong-password" }),
  };
  await kube.create<DataStore>(bad);
  await kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "blob-key", namespace },
    stringData: { key: azurite.accountKey },
  });
  const sink = dataStoreFixture(
    "blob-sink",
    set("spec.gatewayRef.name", gateway),
    set("spec.type", "AzureBlob"),
    set("spec.connection", { accountUrl: azurite.blobEndpoint, container }),
  );
  sink.metadata.namespace = namespace;
  sink.spec.credentials = { secretRef: { name: "blob-key", keys: { accountKey: "key" } } };
  await kube.create<DataStore>(sink);
}

export function jobFor(
  namespace: string,
  gateway: string,
  name: string,
  mods: { query?: string; partitions?: number; source?: string; maxAttempts?: number } = {},
): CopyJob {
  const j = copyJobFixture(name, set("spec.gatewayRef.name", gateway), set("spec.sink.path", `out/${name}`));
  j.metadata.namespace = namespace;
  const source = j.spec.source!;
  if (mods.source) source.dataStoreRef.name = mods.source;
  if (mods.query) {
    delete source.table;
    source.query = mods.query;
  }
  source.partitioning = { mode: "Column", column: "id", count: mods.partitions ?? 4 };
  j.spec.parallelism = 1;
  j.spec.retry = { maxAttempts: mods.maxAttempts ?? 3, backoffSeconds: 1 };
  return j;
}

/** Every assignment the agents logged, as [job, node, attempt]. */
export function assignmentsIn(agents: AgentProcess[]): { job: string; node: string; attempt: number }[] {
  const out: { job: string; node: string; attempt: number }[] = [];
  for (const a of agents) {
    for (const l of a.lines) {
      if (!l.includes('"msg":"assigned"')) continue;
      const o = JSON.parse(l) as { job: string; node: string; attempt: number };
      out.push({ job: o.job, node: o.node, attempt: o.attempt });
    }
  }
  return out;
}
