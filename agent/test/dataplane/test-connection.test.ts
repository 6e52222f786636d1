/**
 * Test connection against real servers with every kind of mistake a user makes: each gives a
 * reason the Reachable condition can carry and a message that never contains the secret.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../../../hack/src/cluster/ports.ts";
import {
  type AzuriteServer,
  type MariaDbServer,
  type PostgresServer,
  startAzurite,
  startMariaDb,
  startPostgres,
} from "../../../hack/src/services/index.ts";
import { testConnection } from "../../src/dataplane/index.ts";
import type { StoreConfig } from "../../src/dataplane/types.ts";
import { blobStore, createContainer, fileStore, mariaStore, postgresStore, uniqueName } from "./helpers.ts";

let pg: PostgresServer;
let pgTls: PostgresServer;
let maria: MariaDbServer;
let azurite: AzuriteServer;
let azuriteTls: AzuriteServer;
let dir: string;

before(async () => {
  [pg, pgTls, maria, azurite, azuriteTls] = await Promise.all([
    startPostgres(),
    startPostgres({ tls: true }),
    startMariaDb(),
    startAzurite(),
    startAzurite({ tls: true }),
  ]);
  dir = await mkdtemp(join(tmpdir(), "ferry-tc-"));
});
after(async () => {
  await Promise.all([pg?.stop(), pgTls?.stop(), maria?.stop(), azurite?.stop(), azuriteTls?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

async function expect(store: StoreConfig, reason: string | string[], secret?: string) {
  const r = await testConnection({ store, timeoutMs: 10_000 });
  const reasons = Array.isArray(reason) ? reason : [reason];
  assert.ok(reasons.includes(r.reason), `expected ${reasons.join("/")}, got ${r.reason}: ${r.message}`);
  assert.equal(r.reachable, r.reason === "Connected");
  assert.ok(r.message.length > 10);
  if (secret) assert.ok(!r.message.includes(secret), `message leaks the secret: ${r.message}`);
  return r;
}

describe("PostgreSQL", () => {
  test("reachable, and each mistake with its reason", async () => {
    const ok = await expect(postgresStore(pg, "postgres"), "Connected");
    assert.match(ok.message, /PostgreSQL 15/);
    await expect(
      postgresStore(pg, "postgres", { username: "postgres", password: "wrong-secret-1" }),
      "AuthenticationFailed",
      "wrong-secret-1",
    );
    await expect(postgresStore(pg, "no_such_db"), "DatabaseNotFound", pg.password);
    const closed = {
      ...postgresStore(pg, "postgres"),
      connection: {
        host: "127.0.0.1",
        port: await freePort(),
        database: "postgres",
        tlsMode: "Disable" as const,
      },
    };
    await expect(closed, "ConnectionRefused", pg.password);
    const nowhere = {
      ...postgresStore(pg, "postgres"),
      connection: { host: "no-such-host.invalid", database: "postgres", tlsMode: "Disable" as const },
    };
    await expect(nowhere, "DnsFailure", pg.password);
    // TLS: required by the store but not offered by the server; offered but not verifiable.
    await expect(
      {
        ...postgresStore(pg, "postgres"),
        connection: { ...postgresStore(pg, "postgres").connection, tlsMode: "Require" },
      },
      "TlsError",
    );
    const tls = postgresStore(pgTls, "postgres");
    await expect({ ...tls, connection: { ...tls.connection, tlsMode: "Require" } }, "Connected");
    await expect({ ...tls, connection: { ...tls.connection, tlsMode: "VerifyFull" } }, "TlsError");
  });

  test("a user without CONNECT on the database is told so", async () => {
    const db = uniqueName("db");
    await pg.psql(`CREATE DATABASE ${db}`);
    await pg.psql(
      `REVOKE CONNECT ON DATABASE ${db} FROM PUBLIC; CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw'`,
    );
    await expect(
      postgresStore(pg, db, { username: "outsider", password: "outsider-pw" }),
      "PermissionDenied",
      "outsider-pw",
    );
  });
});

describe("MariaDB", () => {
  test("reachable, wrong password, no access to the database, refused", async () => {
    await expect(mariaStore(maria, "mysql"), "Connected");
    await expect(
      mariaStore(maria, "mysql", { username: maria.user, password: "wrong-secret-2" }),
      "AuthenticationFailed",
      "wrong-secret-2",
    );
    await maria.sql(`CREATE DATABASE tc_private; CREATE USER 'limited'@'%' IDENTIFIED BY 'limited-pw'`);
    await expect(
      mariaStore(maria, "tc_private", { username: "limited", password: "limited-pw" }),
      "PermissionDenied",
      "limited-pw",
    );
    await expect(mariaStore(maria, "no_such_db"), "DatabaseNotFound");
    const closed = {
      ...mariaStore(maria, "mysql"),
      connection: {
        host: "127.0.0.1",
        port: await freePort(),
        database: "mysql",
        tlsMode: "Disable" as const,
      },
    };
    await expect(closed, "ConnectionRefused");
    await expect(
      {
        ...mariaStore(maria, "mysql"),
        connection: { ...mariaStore(maria, "mysql").connection, tlsMode: "Require" },
      },
      "TlsError",
    );
  });
});

describe("Azure Blob (Azurite)", () => {
  test("reachable, wrong key, missing container, refused, untrusted certificate", async () => {
    const container = uniqueName("c");
    await createContainer(azurite, container);
    await expect(blobStore(azurite, container), "Connected");
    await expect(
      { ...blobStore(azurite, container), credentials: { connectionString: azurite.connectionString } },
      "Connected",
    );
    const badKey = Buffer.from("not the key at all, not the key at all!!").toString("base64");
    await expect(
      { ...blobStore(azurite, container), credentials: { accountKey: badKey } },
      "AuthenticationFailed",
      badKey,
    );
    await expect(blobStore(azurite, "missing-container"), "ContainerNotFound", azurite.accountKey);
    const port = await freePort();
    await expect(
      {
        ...blobStore(azurite, container),
        connection: { accountUrl: `http://127.0.0.1:${port}/devstoreaccount1`, container },
      },
      "ConnectionRefused",
      azurite.accountKey,
    );
    await expect(blobStore(azuriteTls, container), "TlsError", azurite.accountKey);
  });
});

describe("file share", () => {
  test("reachable, missing, not a directory", async () => {
    await expect(fileStore(dir), "Connected");
    await expect(fileStore(join(dir, "missing")), "PathNotFound");
    await writeFile(join(dir, "file"), "x");
    await expect(fileStore(join(dir, "file")), "NotADirectory");
  });
});
