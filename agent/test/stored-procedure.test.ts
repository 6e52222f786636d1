/**
 * The stored procedure activity through the gateway: a CopyJob with spec.storedProcedure is
 * dispatched to a node like a copy; the node runs the procedure on the SQL DataStore and records
 * its outputs, result rows and the node that ran it. PostgreSQL and MariaDB, real servers.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { generateCredentialKeyPair, type KubeObject, sealCredentials } from "@ferry/common";
import type { CopyJob, DataStore } from "@ferry/crds";
import { copyJobFixture, dataStoreFixture, gatewayFixture, set } from "@ferry/crds/fixtures";
import { type MariaDbServer, type PostgresServer, startMariaDb, startPostgres } from "@ferry/hack/services";
import { eventually, installCrds, testKube, testNamespace } from "@ferry/hack/testing";
import { type AgentProcess, devAgent } from "./support/agents.ts";

let pg: PostgresServer;
let maria: MariaDbServer;
before(async () => {
  await installCrds(testKube());
  [pg, maria] = await Promise.all([startPostgres(), startMariaDb()]);
});
after(async () => {
  await Promise.all([pg?.stop(), maria?.stop()]);
});

async function gatewayWithStore(
  kube: ReturnType<typeof testKube>,
  namespace: string,
  store: {
    type: "PostgreSQL" | "MySQL";
    host: string;
    port: number;
    database: string;
    username: string;
    password: string;
  },
): Promise<void> {
  await kube.create({ ...gatewayFixture("gw"), metadata: { name: "gw", namespace } });
  const keys = generateCredentialKeyPair();
  await kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "gw-credential-key", namespace },
    stringData: { "private.key": keys.privateKeyPem, "public.key": keys.publicKey },
  } as KubeObject);
  const ds = dataStoreFixture(
    "ledger",
    set("spec.gatewayRef.name", "gw"),
    set("spec.type", store.type),
    set("spec.connection", {
      host: store.host,
      port: store.port,
      database: store.database,
      tlsMode: "Disable",
    }),
  );
  ds.metadata.namespace = namespace;
  ds.spec.credentials = {
    encrypted: sealCredentials(keys.publicKey, { username: store.username, password: store.password }),
  };
  await kube.create<DataStore>(ds);
}

function procedureJob(
  namespace: string,
  name: string,
  procedure: string,
  parameters: NonNullable<CopyJob["spec"]["storedProcedure"]>["parameters"],
): CopyJob {
  const j = copyJobFixture(name, set("spec.gatewayRef.name", "gw"));
  j.metadata.namespace = namespace;
  delete j.spec.source;
  delete j.spec.sink;
  j.spec.storedProcedure = { dataStoreRef: { name: "ledger" }, procedure, parameters: parameters ?? [] };
  j.spec.retry = { maxAttempts: 1, backoffSeconds: 1 };
  return j;
}

async function finished(
  kube: ReturnType<typeof testKube>,
  namespace: string,
  name: string,
): Promise<CopyJob> {
  return eventually(
    `${name} finished`,
    async () => {
      const j = await kube.get<CopyJob>({
        apiVersion: "ferry.dev/v1alpha1",
        kind: "CopyJob",
        namespace,
        name,
      });
      return j?.status?.phase === "Succeeded" || j?.status?.phase === "Failed" ? j : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

describe("stored procedures through the gateway", () => {
  test("PostgreSQL: a procedure with IN and INOUT parameters runs on a node, its outputs recorded", async (t) => {
    const { kube, kubeconfig, namespace } = await testNamespace(t);
    const database = `db_${randomBytes(4).toString("hex")}`;
    await pg.psql(`CREATE DATABASE ${database}`);
    await pg.psql(
      `CREATE TABLE ledger (day date, amount numeric(12,2));
       INSERT INTO ledger VALUES ('2026-11-20', 10.50), ('2026-11-20', 4.25), ('2026-11-19', 100);
       CREATE PROCEDURE close_day(d date, INOUT total numeric) LANGUAGE plpgsql AS $$
       BEGIN SELECT coalesce(sum(amount), 0) INTO total FROM ledger WHERE day = d; END $$;
       CREATE FUNCTION fail_always() RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'books are locked'; END $$;`,
      database,
    );
    await gatewayWithStore(kube, namespace, {
      type: "PostgreSQL",
      host: pg.host,
      port: pg.port,
      database,
      username: pg.user,
      password: pg.password,
    });
    const agents: AgentProcess[] = ["s1", "s2"].map((n) => devAgent(kubeconfig, namespace, "gw", n));
    t.after(() => {
      for (const a of agents) a.kill("SIGKILL");
    });
    await kube.create(
      procedureJob(namespace, "close", "close_day", [
        { name: "d", type: "Date", value: "2026-11-20" },
        { name: "total", type: "Decimal", direction: "InOut" },
      ]),
    );
    const done = await finished(kube, namespace, "close");
    assert.equal(done.status?.phase, "Succeeded", JSON.stringify(done.status?.conditions));
    assert.equal(done.status?.procedure?.outputs?.total, "14.75");
    assert.match(done.status?.node ?? "", /^s[12]$/, "the node that ran it is recorded");
    assert.equal(done.status?.attempts?.[0]?.node, done.status?.node);

    await kube.create(procedureJob(namespace, "locked", "fail_always", []));
    const failed = await finished(kube, namespace, "locked");
    assert.equal(failed.status?.phase, "Failed");
    assert.match(
      JSON.stringify(failed.status?.conditions),
      /books are locked/,
      "the procedure's own error, for the user",
    );
    assert.equal(failed.status?.attempts?.length, 1, "a procedure that reached the server is not retried");
  });

  test("MariaDB: a procedure with OUT parameters and a result set", async (t) => {
    const { kube, kubeconfig, namespace } = await testNamespace(t);
    const database = `db_${randomBytes(4).toString("hex")}`;
    await maria.sql(`CREATE DATABASE ${database}`);
    // The mariadb client splits statements on ";": a procedure body needs another delimiter.
    await maria.sql(
      `CREATE TABLE ${database}.stock (sku VARCHAR(16), qty INT);
       INSERT INTO ${database}.stock VALUES ('a', 3), ('b', 0), ('c', 7);
       DELIMITER //
       CREATE PROCEDURE ${database}.restock(IN threshold INT, OUT low INT)
       BEGIN SELECT count(*) INTO low FROM ${database}.stock WHERE qty < threshold;
             SELECT sku, qty FROM ${database}.stock WHERE qty < threshold ORDER BY sku; END //
       DELIMITER ;`,
    );
    await gatewayWithStore(kube, namespace, {
      type: "MySQL",
      host: maria.host,
      port: maria.port,
      database,
      username: maria.user,
      password: maria.password,
    });
    const agent = devAgent(kubeconfig, namespace, "gw", "m1");
    t.after(() => agent.kill("SIGKILL"));
    await kube.create(
      procedureJob(namespace, "restock", "restock", [
        { name: "threshold", type: "Int", value: "5" },
        { name: "low", type: "Int", direction: "Out" },
      ]),
    );
    const done = await finished(kube, namespace, "restock");
    assert.equal(done.status?.phase, "Succeeded", JSON.stringify(done.status?.conditions));
    assert.equal(done.status?.procedure?.outputs?.low, "2");
    const rows = done.status?.procedure?.resultSets?.[0]?.rows;
    assert.deepEqual(rows, [
      ["a", "3"],
      ["b", "0"],
    ]);
    assert.equal(done.status?.node, "m1");
  });
});
