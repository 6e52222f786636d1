import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { reapOrphanServices, startAzurite, startMariaDb, startPostgres } from "../src/services/index.ts";

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });
}

describe("test servers start on loopback and stop cleanly", () => {
  test("PostgreSQL: superuser over the socket, password over TCP, folder removed at stop", async () => {
    const pg = await startPostgres();
    try {
      assert.equal(await pg.psql("SELECT current_setting('listen_addresses')"), "127.0.0.1");
      assert.equal(await pg.psql("SELECT current_setting('server_encoding')"), "UTF8");
      assert.match(await pg.psql("SHOW port"), new RegExp(`^${pg.port}$`));
    } finally {
      await pg.stop();
    }
    assert.equal(existsSync(pg.dir), false);
    assert.ok(await refused(pg.port));
  });

  test("MariaDB: administrator account, loopback only", async () => {
    const my = await startMariaDb();
    try {
      assert.equal(await my.sql("SELECT @@bind_address"), "127.0.0.1");
      assert.match(await my.sql("SELECT GRANTEE FROM information_schema.USER_PRIVILEGES LIMIT 1"), /'/);
      assert.equal(await my.sql("SELECT COUNT(*) FROM mysql.user WHERE User='ferry'"), "1");
    } finally {
      await my.stop();
    }
    assert.equal(existsSync(my.dir), false);
    assert.ok(await refused(my.port));
  });

  test("Azurite: blob endpoint answers with the development account", async () => {
    const az = await startAzurite();
    try {
      const res = await fetch(`${az.blobEndpoint}?comp=list`);
      // Unsigned requests are refused by Azurite's authentication, which proves it is the blob service.
      assert.ok([200, 403].includes(res.status), `status ${res.status}`);
      assert.match(az.connectionString, /AccountName=devstoreaccount1/);
    } finally {
      await az.stop();
    }
    assert.equal(existsSync(az.dir), false);
    assert.ok(await refused(az.port));
  });
});

describe("TLS variants", () => {
  let pg: Awaited<ReturnType<typeof startPostgres>>;
  before(async () => {
    pg = await startPostgres({ tls: true });
  });
  after(() => pg.stop());
  test("PostgreSQL with TLS serves its self-signed certificate", async () => {
    assert.equal(await pg.psql("SHOW ssl"), "on");
    assert.ok(pg.tlsCert && existsSync(pg.tlsCert));
  });
});

test("servers of a test process killed with SIGKILL are reaped by the next start", async () => {
  const script = `import("${new URL("../src/services/index.ts", import.meta.url).pathname}").then(async (m) => {
    const a = await m.startAzurite();
    console.log(JSON.stringify({ dir: a.dir, port: a.port }));
    setInterval(() => {}, 1000);
  })`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout }).once("line", resolve),
  );
  const { dir, port } = JSON.parse(line) as { dir: string; port: number };
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  assert.equal(await refused(port), false, "the orphan still runs");
  assert.ok((await reapOrphanServices()) >= 1);
  assert.equal(existsSync(dir), false);
  assert.ok(await refused(port));
});
